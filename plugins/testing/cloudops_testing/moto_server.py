"""A moto server on a free loopback port, for tests that talk to AWS over real HTTP."""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

__all__ = ["DUMMY_AWS_ENV", "AwsNetwork", "MotoServer", "discover_moto_network"]

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
    """moto's default network in ``us-east-1``: what a createServerGroup input needs."""

    vpc_id: str
    subnets: dict[str, str]  # availability zone -> subnet id
    security_group_id: str
    image_id: str

    @property
    def zones(self) -> list[str]:
        """Availability zones, sorted."""
        return sorted(self.subnets)


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
        subnets={s["AvailabilityZone"]: s["SubnetId"] for s in subnets["Subnets"]},
        security_group_id=groups[0]["GroupId"],
        image_id=sorted(i["ImageId"] for i in images)[0],
    )


class MotoServer:
    """Runs moto's HTTP server in a background thread on 127.0.0.1 and a free port.

    Why: boto3 clients (and the fault proxy in front of them) need a real endpoint to exercise
    signing, serialisation, retries and connection handling; ``mock_aws`` patches all of that away.
    The port is chosen by binding port 0, so parallel test runs never collide.

    moto keeps its state in process-wide globals: every ``MotoServer`` in one process sees the
    same resources, and ``reset()`` clears them all.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._server: ThreadedMotoServer | None = None
        self._port: int | None = None

    @property
    def url(self) -> str:
        """Base URL to pass as ``endpoint_url``; only valid while the server runs."""
        if self._port is None:
            raise RuntimeError("MotoServer is not running; call start() first")
        return f"http://{self._host}:{self._port}"

    def start(self) -> None:
        """Start the server; port 0 lets the OS pick a free port without a race."""
        from moto.server import ThreadedMotoServer

        if self._server is not None:
            raise RuntimeError("MotoServer already started")
        server = ThreadedMotoServer(ip_address=self._host, port=0, verbose=False)
        server.start()
        self._server = server
        self._port = server.get_host_and_port()[1]

    def stop(self) -> None:
        """Stop the server and join its thread; safe to call twice."""
        server, self._server, self._port = self._server, None, None
        if server is not None:
            server.stop()
            # moto only shuts the werkzeug server down; close its listening socket too
            wsgi_server = getattr(server, "_server", None)
            if wsgi_server is not None:
                wsgi_server.server_close()

    def reset(self) -> None:
        """Forget every resource (``POST /moto-api/reset``) so each test starts clean."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
