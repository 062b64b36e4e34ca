"""One small adapter per cloud, so the deploy scenarios are written once and run on each.

An adapter knows three things about its cloud: which plugin and accounts a worker needs, what a
deploy's ``server_group`` (the provider's ``createServerGroup`` input) looks like there, and how
to read the cloud's *real* state of a cluster (not what cloudops says about it): each group's
size and whether it serves traffic.

"Serving" is each cloud's own notion of being in traffic:

- AWS: the Auto Scaling group's ``AddToLoadBalancer`` process is not suspended;
- GCP: the group's instance group is a backend of its backend service and the group sets its
  target pool;
- Azure: the scale set's model puts its NICs in the backend pool and every VM is in the pool.

A group half in and half out of traffic fails the test at once: it is never a valid end state.
Groups are created with a load balancer on every cloud: a GCP group without backend services or
target pools can never be disabled.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import pytest

__all__ = ["CLOUDS", "AzureCloud", "Cloud", "GroupState", "cloud_for"]

#: Every cloud the deploy scenarios run on (each skipped when its provider is not installed).
CLOUDS = ("aws", "gcp", "azure")


@dataclass(frozen=True)
class GroupState:
    """What the cloud itself says about one server group."""

    desired: int
    serving: bool


class Cloud(Protocol):
    """What a deploy scenario needs from a cloud."""

    name: str
    plugin: ModuleType
    accounts: dict[str, Any]
    where: dict[str, str]
    #: Provider fields that locate the groups (Azure: a resource group other than the account's).
    scope: dict[str, str]

    def server_group(self, app: str, **overrides: Any) -> dict[str, Any]:
        """A small createServerGroup input of cluster ``{app}-prod``, behind a load balancer."""
        ...

    def broken_server_group(self, app: str) -> dict[str, Any]:
        """A createServerGroup input whose load balancer does not exist (NOT_FOUND)."""
        ...

    async def groups(self, cluster: str) -> dict[str, GroupState]:
        """The cluster's groups as the cloud holds them, by name."""
        ...


def _agree(name: str, what: dict[str, bool]) -> bool:
    """Every traffic signal of a group says the same thing; a mix fails the test."""
    values = set(what.values())
    assert len(values) == 1, f"{name} is half in traffic: {what}"
    return values.pop()


def _cluster_member(name: str, cluster: str) -> bool:
    head, _, sequence = name.rpartition("-v")
    return head == cluster and sequence.isdigit()


# --------------------------------------------------------------------------------------------
# AWS: moto
# --------------------------------------------------------------------------------------------


class AwsCloud:
    """Auto Scaling groups in moto; traffic is the ``AddToLoadBalancer`` process."""

    name = "aws"

    def __init__(self, request: pytest.FixtureRequest) -> None:
        import cloudops_aws.plugin
        from cloudops_testing.fixtures_aws import MOTO_ACCOUNT, MOTO_REGION

        self.plugin: ModuleType = cloudops_aws.plugin
        self.accounts = request.getfixturevalue("aws_accounts")
        self.network = request.getfixturevalue("moto_network")
        self.client = request.getfixturevalue("moto_client")
        self.where = {"account": MOTO_ACCOUNT, "region": MOTO_REGION}
        self.scope: dict[str, str] = {}

    def server_group(self, app: str, **overrides: Any) -> dict[str, Any]:
        return {
            "application": app,
            "stack": "prod",
            "image": self.network.image_id,
            "instance_type": "t3.micro",
            "capacity": {"min": 1, "max": 4, "desired": 2},
            "zones": ["us-east-1a"],
            "security_groups": [self.network.security_group_id],
            **overrides,
        }

    def broken_server_group(self, app: str) -> dict[str, Any]:
        return self.server_group(app, target_groups=["no-such-target-group"])

    async def groups(self, cluster: str) -> dict[str, GroupState]:
        return await asyncio.to_thread(self._groups, cluster)

    def _groups(self, cluster: str) -> dict[str, GroupState]:
        found = {}
        asg = self.client("autoscaling")
        for page in asg.get_paginator("describe_auto_scaling_groups").paginate():
            for group in page["AutoScalingGroups"]:
                name = group["AutoScalingGroupName"]
                if _cluster_member(name, cluster):
                    suspended = {p["ProcessName"] for p in group.get("SuspendedProcesses", [])}
                    found[name] = GroupState(
                        desired=group["DesiredCapacity"],
                        serving="AddToLoadBalancer" not in suspended,
                    )
        return found


# --------------------------------------------------------------------------------------------
# GCP: the Compute Engine emulator
# --------------------------------------------------------------------------------------------


class GcpCloud:
    """Regional managed instance groups behind a backend service and a target pool."""

    name = "gcp"

    def __init__(self, request: pytest.FixtureRequest) -> None:
        import cloudops_gcp.plugin
        from cloudops_testing.fixtures_gcp import GCP_ACCOUNT, GCP_REGION

        self.plugin: ModuleType = cloudops_gcp.plugin
        self.accounts = request.getfixturevalue("gcp_accounts")
        self.emulator = request.getfixturevalue("gcp_emulator")
        self.region = GCP_REGION
        self.where = {"account": GCP_ACCOUNT, "region": GCP_REGION}
        self.scope: dict[str, str] = {}

    def _balancers(self, app: str) -> tuple[str, str]:
        service, pool = f"{app}-web", f"{app}-pool"
        if self.emulator.backend_service(service) is None:
            self.emulator.add_backend_service(service)
        if self.emulator.target_pool(self.region, pool) is None:
            self.emulator.add_target_pool(self.region, pool)
        return service, pool

    def server_group(self, app: str, **overrides: Any) -> dict[str, Any]:
        service, pool = self._balancers(app)
        return {
            "application": app,
            "stack": "prod",
            "image": "projects/debian-cloud/global/images/family/debian-12",
            "instance_type": "e2-small",
            "capacity": {"min": 1, "max": 4, "desired": 2},
            "zones": ["us-central1-a", "us-central1-b"],  # a regional group
            "load_balancers": [service],
            "target_pools": [pool],
            **overrides,
        }

    def broken_server_group(self, app: str) -> dict[str, Any]:
        return self.server_group(app, load_balancers=[f"{app}-no-such-service"])

    async def groups(self, cluster: str) -> dict[str, GroupState]:
        found = {}
        app = cluster.split("-", 1)[0]
        service = self.emulator.backend_service(f"{app}-web")
        backends = {b["group"].rsplit("/", 1)[-1] for b in (service or {}).get("backends", [])}
        for group in self.emulator.groups():
            name = group["name"]
            if _cluster_member(name, cluster):
                serving = _agree(
                    name,
                    {
                        "backend service": name in backends,
                        "target pool": bool(group.get("targetPools")),
                    },
                )
                found[name] = GroupState(desired=int(group["targetSize"]), serving=serving)
        return found


# --------------------------------------------------------------------------------------------
# Azure: the ARM emulator
# --------------------------------------------------------------------------------------------


class AzureCloud:
    """VM scale sets in the load balancer's ``web`` pool, in the fixtures' resource group.

    With ``resource_group`` the groups go to that resource group instead (arranged with its own
    subnet and load balancer), named in the inputs: a deploy must then act there throughout.
    """

    name = "azure"

    def __init__(self, request: pytest.FixtureRequest, resource_group: str | None = None) -> None:
        import cloudops_azure.plugin
        from cloudops_testing.fixtures_azure import (
            AZURE_ACCOUNT,
            AZURE_IMAGE,
            AZURE_LOAD_BALANCER,
            AZURE_REGION,
            AZURE_RESOURCE_GROUP,
            AZURE_SUBNET,
            AZURE_SUBSCRIPTION,
        )

        self.plugin: ModuleType = cloudops_azure.plugin
        self.accounts = request.getfixturevalue("azure_accounts")
        self.emulator = request.getfixturevalue("azure_emulator")
        self.where = {"account": AZURE_ACCOUNT, "region": AZURE_REGION}
        self.image = AZURE_IMAGE
        self.balancer = AZURE_LOAD_BALANCER
        self.resource_group = resource_group or AZURE_RESOURCE_GROUP
        self.scope = {"resource_group": resource_group} if resource_group else {}
        if resource_group:
            vnet, subnet = AZURE_SUBNET.split("/")  # the account's default subnet, relative
            self.emulator.add_resource_group(resource_group, AZURE_REGION)
            self.emulator.add_subnet(resource_group, vnet, subnet)
            self.emulator.add_load_balancer(resource_group, AZURE_LOAD_BALANCER, ("web",))
        self.pool = (
            f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{self.resource_group}/"
            f"providers/Microsoft.Network/loadBalancers/{AZURE_LOAD_BALANCER}"
            "/backendAddressPools/web"
        )

    def server_group(self, app: str, **overrides: Any) -> dict[str, Any]:
        return {
            "application": app,
            "stack": "prod",
            "image": self.image,
            "instance_type": "Standard_B1s",
            "capacity": {"min": 1, "max": 4, "desired": 2},
            "zones": ["1"],
            "load_balancers": [f"{self.balancer}/web"],
            **self.scope,
            **overrides,
        }

    def broken_server_group(self, app: str) -> dict[str, Any]:
        return self.server_group(app, load_balancers=[f"{self.balancer}/no-such-pool"])

    async def groups(self, cluster: str) -> dict[str, GroupState]:
        found = {}
        members = set(self.emulator.pool_members(self.pool))
        for scale_set in self.emulator.scale_sets(self.resource_group):
            name = scale_set["name"]
            if not _cluster_member(name, cluster):
                continue
            if scale_set["properties"]["provisioningState"] == "Deleting":
                continue
            nics = scale_set["properties"]["virtualMachineProfile"]["networkProfile"]
            pools = {
                pool["id"].lower()
                for nic in nics["networkInterfaceConfigurations"]
                for ip in nic["properties"]["ipConfigurations"]
                for pool in ip["properties"].get("loadBalancerBackendAddressPools") or []
            }
            vms = {
                f"{name}_{vm['instanceId']}"
                for vm in self.emulator.instances(self.resource_group, name)
                if vm["properties"]["provisioningState"] != "Deleting"
            }
            signals = {"scale set model": self.pool.lower() in pools}
            if vms:
                signals["every VM in the pool"] = vms <= members
                signals["a VM in the pool"] = bool(vms & members)
            found[name] = GroupState(
                desired=int(scale_set["sku"]["capacity"]), serving=_agree(name, signals)
            )
        return found


_ADAPTERS: dict[str, type[AwsCloud] | type[GcpCloud] | type[AzureCloud]] = {
    "aws": AwsCloud,
    "gcp": GcpCloud,
    "azure": AzureCloud,
}


def cloud_for(name: str, request: pytest.FixtureRequest) -> Cloud:
    """The adapter of cloud ``name``; the test is skipped if its provider is not installed."""
    pytest.importorskip(f"cloudops_{name}")
    return _ADAPTERS[name](request)
