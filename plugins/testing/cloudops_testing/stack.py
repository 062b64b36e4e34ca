"""A local cloud for demos and chaos runs: moto behind the fault proxy, with an account for it.

Why outside pytest: ``cloudops demo`` and the chaos harness need the same emulators the tests
use, started from plain code, with the faults turned on.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from cloudops_testing.faults import FaultProxy, FaultRules, aws_reject_duplicate_asg
from cloudops_testing.moto_server import MotoServer

__all__ = ["DUMMY_AWS_ENV", "AwsNetwork", "LocalCloud", "discover_moto_network"]

#: boto3 settings for emulators: dummy keys, and no way to find real credentials.
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@dataclass(frozen=True)
class AwsNetwork:
    """What a createServerGroup input needs from moto's default network."""

    vpc_id: str
    zones: list[str]
    security_group_id: str
    image_id: str


def discover_moto_network(ec2: Any) -> AwsNetwork:
    """The default VPC, its zones, its ``default`` security group and a bootable image."""
    vpc = next(v for v in ec2.describe_vpcs()["Vpcs"] if v.get("IsDefault"))
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
    groups = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"]
    # Listing all of moto's ~1300 images takes seconds; a name filter answers in milliseconds.
    images = ec2.describe_images(Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*"]}])
    images = images["Images"] or ec2.describe_images()["Images"]
    return AwsNetwork(
        vpc_id=vpc["VpcId"],
        zones=sorted({s["AvailabilityZone"] for s in subnets["Subnets"]}),
        security_group_id=groups[0]["GroupId"],
        image_id=sorted(i["ImageId"] for i in images)[0],
    )


@dataclass
class LocalCloud:
    """moto (server mode) behind a seeded fault proxy, and a ``cloudops.toml`` pointing at it."""

    faults: FaultRules = field(default_factory=FaultRules)
    account: str = "local-aws"
    region: str = "us-east-1"
    moto: MotoServer | None = None
    proxy: FaultProxy | None = None

    def start(self) -> LocalCloud:
        """Start moto and the proxy; set the dummy AWS environment in this process."""
        os.environ.update(DUMMY_AWS_ENV)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
        self.moto = MotoServer()
        self.moto.start()
        self.proxy = FaultProxy(self.moto.url, self.faults, fidelity=[aws_reject_duplicate_asg])
        self.proxy.start()
        return self

    def stop(self) -> None:
        """Stop the proxy and moto."""
        if self.proxy is not None:
            self.proxy.stop()
        if self.moto is not None:
            self.moto.stop()

    def write_config(self, path: Path) -> Path:
        """Write the ``cloudops.toml`` of the account whose API goes through the proxy."""
        assert self.proxy is not None
        path.write_text(
            f'[accounts."{self.account}"]\nprovider = "aws"\nregions = ["{self.region}"]\n'
            f'endpoint = "{self.proxy.url}"\n'
        )
        return path

    def client(self, service: str) -> Any:
        """A boto3 client straight to moto (no faults), for setting up and checking."""
        import boto3

        assert self.moto is not None
        return boto3.client(service, region_name=self.region, endpoint_url=self.moto.url)

    def network(self) -> AwsNetwork:
        """The default network of moto."""
        return discover_moto_network(self.client("ec2"))

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
