"""A local cloud for demos and chaos runs: moto and the emulators behind fault proxies.

Why outside pytest: ``cloudops demo`` and the chaos harness need the same emulators the tests
use, started from plain code, with the faults turned on.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from cloudops_testing.faults import AWS_FIDELITY, FaultProxy, FaultRules, Flavor
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


def toml_accounts(config: dict[str, Any]) -> str:
    """A ``{"accounts": {name: {key: value}}}`` dict as ``cloudops.toml`` text."""
    lines = []
    for name, table in config.get("accounts", {}).items():
        lines.append(f"[accounts.{json.dumps(name)}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
        lines.append("")
    return "\n".join(lines)


def new_gcp_emulator() -> Any:
    """A Compute Engine emulator with fast operations and boots (not started)."""
    from cloudops_testing.fixtures_gcp import GCP_PROJECT
    from cloudops_testing.gcp_emulator import GcpEmulator, Timing

    return GcpEmulator(
        GCP_PROJECT, timing=Timing(operation_seconds=0.2, instance_seconds=0.4), seed=4
    )


def new_azure_emulator() -> Any:
    """An ARM emulator with a resource group, a subnet and a load balancer (not started)."""
    from cloudops_testing.azure_emulator import AzureEmulator
    from cloudops_testing.fixtures_azure import (
        AZURE_LOAD_BALANCER,
        AZURE_POOLS,
        AZURE_REGION,
        AZURE_RESOURCE_GROUP,
        AZURE_SUBNET,
        AZURE_SUBSCRIPTION,
    )

    emulator = AzureEmulator(subscription=AZURE_SUBSCRIPTION)
    emulator.add_resource_group(AZURE_RESOURCE_GROUP, AZURE_REGION)
    vnet, subnet = AZURE_SUBNET.split("/")
    emulator.add_subnet(AZURE_RESOURCE_GROUP, vnet, subnet)
    emulator.add_load_balancer(AZURE_RESOURCE_GROUP, AZURE_LOAD_BALANCER, AZURE_POOLS)
    return emulator


@dataclass
class LocalCloud:
    """Local clouds: moto, optionally the GCP and Azure emulators, each behind a fault proxy.

    Every cloud gets its own seeded :class:`FaultProxy` with ``faults`` (in that cloud's error
    flavour; no faults by default): ``proxy`` for moto, ``proxies["gcp"]`` and
    ``proxies["azure"]`` for the emulators. :meth:`accounts` gives the ``cloudops.toml``
    accounts pointing at the proxies: ``local-aws``, ``local-gcp`` and ``local-azure``.
    """

    faults: FaultRules = field(default_factory=FaultRules)
    account: str = "local-aws"
    region: str = "us-east-1"
    gcp: bool = False
    azure: bool = False
    moto: MotoServer | None = None
    proxy: FaultProxy | None = None
    emulators: dict[str, Any] = field(default_factory=dict)
    proxies: dict[str, FaultProxy] = field(default_factory=dict)

    def start(self) -> LocalCloud:
        """Start moto, the proxy and the asked-for emulators; set dummy AWS credentials here."""
        os.environ.update(DUMMY_AWS_ENV)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
        self.moto = MotoServer()
        self.moto.start()
        self.proxy = FaultProxy(self.moto.url, self.faults, fidelity=list(AWS_FIDELITY))
        self.proxy.start()
        if self.gcp:
            self.emulators["gcp"] = new_gcp_emulator()
        if self.azure:
            self.emulators["azure"] = new_azure_emulator()
        for name, emulator in self.emulators.items():
            emulator.start()
            flavor: Flavor = "gcp" if name == "gcp" else "azure"
            self.proxies[name] = FaultProxy(emulator.url, replace(self.faults, flavor=flavor))
            self.proxies[name].start()
        return self

    def stop(self) -> None:
        """Stop everything started."""
        for proxy in self.proxies.values():
            proxy.stop()
        for emulator in self.emulators.values():
            emulator.stop()
        if self.proxy is not None:
            self.proxy.stop()
        if self.moto is not None:
            self.moto.stop()

    def accounts(self) -> dict[str, Any]:
        """The accounts of every started cloud, shaped like ``cloudops.toml``."""
        assert self.proxy is not None
        accounts: dict[str, Any] = {
            self.account: {"provider": "aws", "regions": [self.region], "endpoint": self.proxy.url}
        }
        if "gcp" in self.emulators:
            from cloudops_testing.fixtures_gcp import gcp_account_config

            accounts.update(
                gcp_account_config(self.proxies["gcp"].url, name="local-gcp")["accounts"]
            )
        if "azure" in self.emulators:
            from cloudops_testing.fixtures_azure import azure_account_config

            accounts.update(
                azure_account_config(self.proxies["azure"].url, name="local-azure")["accounts"]
            )
        return {"accounts": accounts}

    def write_config(self, path: Path) -> Path:
        """Write the ``cloudops.toml`` of every started cloud's account."""
        path.write_text(toml_accounts(self.accounts()))
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
