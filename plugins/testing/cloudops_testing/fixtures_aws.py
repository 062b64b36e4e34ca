"""AWS fixtures: moto in server mode, a fault proxy in front of it, accounts pointed at them.

Why server mode and a proxy rather than ``mock_aws``: the provider's activities must be tested
through boto3's real HTTP stack (signing, parsing, botocore retries, connection errors), because
that is where production failures come from. ``mock_aws`` patches all of that away.

Fixtures (loaded by the ``cloudops`` pytest plugin):

- ``moto_server`` (session): moto on a free loopback port, with dummy credentials in the
  environment (never real ones: profiles and config files are pointed at nothing).
- ``aws_accounts``: a ``cloudops.toml``-shaped dict with one account ``moto`` on moto; pass it
  to ``cloudops_worker(accounts=...)``.
- ``aws_fault_proxy``: factory of :class:`~cloudops_testing.faults.FaultProxy` in front of
  moto (with the fidelity rules of ``AWS_FIDELITY``: AlreadyExists, lifecycle hooks);
  stopped at teardown.
- ``moto_client``: factory of boto3 clients straight to moto, for arranging and asserting.
- ``moto_network``: the default VPC, its subnets, a security group and an image to boot.

Helpers: :func:`aws_account_config` (an accounts dict for any endpoint) and
:func:`count_tagged` (count Auto Scaling groups, launch templates and live instances by tag:
how tests catch a duplicate that moto itself would hide).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from cloudops_testing.moto_server import AwsNetwork, discover_moto_network

if TYPE_CHECKING:
    from cloudops_testing.faults import FaultProxy, FaultRules
    from cloudops_testing.moto_server import MotoServer

__all__ = [
    "MOTO_ACCOUNT",
    "MOTO_REGION",
    "MotoNetwork",
    "TaggedCounts",
    "aws_account_config",
    "aws_accounts",
    "aws_fault_proxy",
    "count_tagged",
    "moto_client",
    "moto_network",
    "moto_server",
]

#: Name of the account the fixtures configure, and its region.
MOTO_ACCOUNT = "moto"
MOTO_REGION = "us-east-1"

#: Environment for boto3 while tests run: dummy keys, and no way to find real credentials.
_DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": MOTO_REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_CLEARED_ENV = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def aws_account_config(
    endpoint: str,
    *,
    name: str = MOTO_ACCOUNT,
    regions: tuple[str, ...] = (MOTO_REGION,),
    **settings: Any,
) -> dict[str, Any]:
    """A ``cloudops.toml``-shaped dict with one AWS account whose API is at ``endpoint``.

    ``settings`` are extra AWS account keys (``max_attempts``, ``role_arn``...).
    """
    account = {"provider": "aws", "regions": list(regions), "endpoint": endpoint, **settings}
    return {"accounts": {name: account}}


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server for the whole session, with dummy AWS credentials in the environment.

    moto's state is process-wide: give each test its own names (application, target group) or
    call ``moto_server.reset()``.
    """
    from cloudops_testing.moto_server import MotoServer

    nowhere = tmp_path_factory.mktemp("aws-config") / "absent"
    saved = {k: os.environ.get(k) for k in (*_DUMMY_ENV, *_CLEARED_ENV)}
    saved.update({k: os.environ.get(k) for k in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")})
    os.environ.update(_DUMMY_ENV)
    os.environ["AWS_CONFIG_FILE"] = str(nowhere)
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(nowhere)
    for key in _CLEARED_ENV:
        os.environ.pop(key, None)
    server = MotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def aws_accounts(moto_server: MotoServer) -> dict[str, Any]:
    """Accounts for ``cloudops_worker(accounts=...)``: ``moto`` in ``us-east-1``, on moto."""
    return aws_account_config(moto_server.url)


@pytest.fixture
def aws_fault_proxy(moto_server: MotoServer) -> Iterator[Callable[..., FaultProxy]]:
    """Factory of fault proxies in front of moto.

    ``proxy = aws_fault_proxy(FaultRules(throttle=0.3, seed=1))`` starts one.
    The proxy also answers ``AlreadyExists`` to a second CreateAutoScalingGroup of one name and
    creates the hooks of its LifecycleHookSpecificationList,
    as AWS does and moto does not (pass ``fidelity=[]`` to turn that off). Point an account at
    it with ``aws_account_config(proxy.url)``. Every proxy is stopped when the test ends.
    """
    from cloudops_testing.faults import AWS_FIDELITY, FaultProxy

    started: list[FaultProxy] = []

    def start(rules: FaultRules | None = None, *, fidelity: Any = None) -> FaultProxy:
        proxy = FaultProxy(
            moto_server.url,
            rules,
            fidelity=list(AWS_FIDELITY) if fidelity is None else fidelity,
        )
        proxy.start()
        started.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in started:
            proxy.stop()


@pytest.fixture
def moto_client(moto_server: MotoServer) -> Callable[[str], Any]:
    """Factory of boto3 clients straight to moto: ``moto_client("autoscaling")``."""
    import boto3

    cache: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in cache:
            cache[service] = boto3.client(
                service, region_name=MOTO_REGION, endpoint_url=moto_server.url
            )
        return cache[service]

    return client


#: moto's default network (the ``moto_network`` fixture's value).
MotoNetwork = AwsNetwork


@pytest.fixture
def moto_network(moto_client: Callable[[str], Any]) -> MotoNetwork:
    """The default VPC, its subnets, its ``default`` security group and a bootable image."""
    return discover_moto_network(moto_client("ec2"))


@dataclass(frozen=True)
class TaggedCounts:
    """Resources carrying one tag: what a test asserts to prove nothing was made twice."""

    auto_scaling_groups: list[str] = field(default_factory=list)
    launch_templates: list[str] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)  # pending or running


def count_tagged(client: Callable[[str], Any], key: str, value: str) -> TaggedCounts:
    """Auto Scaling groups, launch templates and live instances tagged ``key=value``.

    ``client`` is a factory like the ``moto_client`` fixture. Counting instances too catches
    the duplicate moto hides: a replaced Auto Scaling group leaves its instances behind.
    """
    asg = client("autoscaling")
    ec2 = client("ec2")
    groups = [
        g["AutoScalingGroupName"]
        for page in asg.get_paginator("describe_auto_scaling_groups").paginate()
        for g in page["AutoScalingGroups"]
        if any(t["Key"] == key and t["Value"] == value for t in g.get("Tags", []))
    ]
    tag_filter = [{"Name": f"tag:{key}", "Values": [value]}]
    templates = [
        t["LaunchTemplateName"]
        for t in ec2.describe_launch_templates(Filters=tag_filter)["LaunchTemplates"]
    ]
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": f"tag:{key}", "Values": [value]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    instances = [i["InstanceId"] for r in reservations for i in r["Instances"]]
    return TaggedCounts(sorted(groups), sorted(templates), sorted(instances))
