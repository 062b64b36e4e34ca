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

``never_healthy(group)`` gives accounts on which the cloud reports the instances of one server
group as never healthy, the way each provider reads health (nothing in the SDKs is patched): a
fault proxy in front of the cloud rewrites that group's health answers, and only those.

- AWS: Auto Scaling reports the group's instances ``Unhealthy`` (failing health checks);
- GCP: the backend service's ``getHealth`` reports them ``UNHEALTHY`` (the same backend
  service still reports the other groups' instances healthy);
- Azure: the scale set's VMs stay ``PowerState/starting`` (they never boot).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import json
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import pytest

from cloudops_testing.faults import FaultProxy, ProxyRequest, ProxyResponse

__all__ = ["CLOUDS", "AzureCloud", "Cloud", "GroupState", "cloud_for", "require_provider"]

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

    def never_healthy(self, group: str) -> dict[str, Any]:
        """Accounts on which the instances of server group ``group`` never become healthy."""
        ...

    def balanced(self, app: str) -> dict[str, Any]:
        """Overrides putting the cluster's groups behind a per-instance load balancer."""
        ...

    def traffic_share(self, app: str, group: str) -> float:
        """The share of ``group``'s traffic its load balancer gives it, read from the cloud."""
        ...


def _agree(name: str, what: dict[str, bool]) -> bool:
    """Every traffic signal of a group says the same thing; a mix fails the test."""
    values = set(what.values())
    assert len(values) == 1, f"{name} is half in traffic: {what}"
    return values.pop()


def _cluster_member(name: str, cluster: str) -> bool:
    head, _, sequence = name.rpartition("-v")
    return head == cluster and sequence.isdigit()


Rewrite = Callable[[ProxyRequest], bool]


def _rewriting_proxy(
    request: pytest.FixtureRequest,
    upstream: str,
    wanted: Rewrite,
    rewrite: Callable[[bytes], bytes],
    *rules: Callable[[ProxyRequest], Awaitable[ProxyResponse | None]],
) -> FaultProxy:
    """A proxy (no faults) that rewrites the upstream's successful answers to ``wanted`` ones."""

    async def rule(call: ProxyRequest) -> ProxyResponse | None:
        if not wanted(call):
            return None
        answer = await call.send_upstream()
        if answer.status != 200:
            return answer
        return ProxyResponse(answer.status, answer.headers, rewrite(answer.body))

    proxy = FaultProxy(upstream, fidelity=[*rules, rule])
    proxy.start()
    request.addfinalizer(proxy.stop)
    return proxy


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
        self.request = request
        self.arns: dict[str, str] = {}

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

    def balanced(self, app: str) -> dict[str, Any]:
        elbv2 = self.client("elbv2")
        name = f"{app}-tg"[:32]
        try:
            arn = elbv2.describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]
        except Exception:
            arn = elbv2.create_target_group(
                Name=name, Protocol="HTTP", Port=80, VpcId=self.network.vpc_id
            )["TargetGroups"][0]["TargetGroupArn"]
        self.arns[app] = arn
        return {"target_groups": [name]}

    def traffic_share(self, app: str, group: str) -> float:
        arn = self.arns[app]
        found = self.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[group]
        )["AutoScalingGroups"]
        ids = {i["InstanceId"] for i in found[0]["Instances"]} if found else set()
        health = self.client("elbv2").describe_target_health(TargetGroupArn=arn)
        serving = {
            t["Target"]["Id"]
            for t in health["TargetHealthDescriptions"]
            if t["TargetHealth"]["State"] not in ("unused", "draining")
        }
        return len(ids & serving) / len(ids) if ids else 0.0

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

    def never_healthy(self, group: str) -> dict[str, Any]:
        from cloudops_testing.faults import aws_reject_duplicate_asg
        from cloudops_testing.fixtures_aws import aws_account_config

        def unhealthy(body: bytes) -> bytes:
            root = ET.fromstring(body)
            ns = root.tag.partition("}")[0] + "}" if root.tag.startswith("{") else ""
            for member in root.iter(f"{ns}member"):
                if member.findtext(f"{ns}AutoScalingGroupName") == group:
                    for status in member.iter(f"{ns}HealthStatus"):
                        status.text = "Unhealthy"
            if ns:
                ET.register_namespace("", ns[1:-1])
            return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))

        proxy = _rewriting_proxy(
            self.request,
            self.request.getfixturevalue("moto_server").url,
            lambda call: call.action == "DescribeAutoScalingGroups",
            unhealthy,
            aws_reject_duplicate_asg,
        )
        return aws_account_config(proxy.url)


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
        self.request = request

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

    def balanced(self, app: str) -> dict[str, Any]:
        return {}

    def traffic_share(self, app: str, group: str) -> float:
        service = self.emulator.backend_service(f"{app}-web") or {}
        for backend in service.get("backends", []):
            if backend["group"].rsplit("/", 1)[-1] == group:
                return float(backend.get("capacityScaler", 1.0))
        return 0.0

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

    def never_healthy(self, group: str) -> dict[str, Any]:
        from cloudops_testing.fixtures_gcp import gcp_account_config

        def asks_for_group(call: ProxyRequest) -> bool:
            if call.method != "POST" or not call.path.endswith("/getHealth"):
                return False
            if "/backendServices/" not in call.path:
                return False
            link = str(json.loads(call.body or b"{}").get("group", ""))
            return link.rsplit("/", 1)[-1] == group

        def unhealthy(body: bytes) -> bytes:
            answer = json.loads(body)
            for status in answer.get("healthStatus", []):
                status["healthState"] = "UNHEALTHY"
            return json.dumps(answer).encode()

        proxy = _rewriting_proxy(self.request, self.emulator.url, asks_for_group, unhealthy)
        return gcp_account_config(proxy.url)


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
        self.request = request
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

    def balanced(self, app: str) -> dict[str, Any]:
        return {}

    def traffic_share(self, app: str, group: str) -> float:
        members = set(self.emulator.pool_members(self.pool))
        vms = {
            f"{group}_{vm['instanceId']}"
            for vm in self.emulator.instances(self.resource_group, group)
            if vm["properties"]["provisioningState"] != "Deleting"
        }
        return len(vms & members) / len(vms) if vms else 0.0

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

    def never_healthy(self, group: str) -> dict[str, Any]:
        from cloudops_testing.fixtures_azure import azure_account_config

        vms = f"/virtualmachinescalesets/{group}/virtualmachines".lower()
        proxy = _rewriting_proxy(
            self.request,
            self.emulator.url,
            lambda call: call.method == "GET" and vms in call.path.lower(),
            lambda body: body.replace(b"PowerState/running", b"PowerState/starting"),
        )
        return azure_account_config(proxy.url)


_ADAPTERS: dict[str, type[AwsCloud] | type[GcpCloud] | type[AzureCloud]] = {
    "aws": AwsCloud,
    "gcp": GcpCloud,
    "azure": AzureCloud,
}


def require_provider(name: str) -> None:
    """Skip the test if the distribution ``cloudops-{name}`` is not installed.

    An installed provider that fails to import fails the test: a skip would hide it.
    """
    try:
        importlib.metadata.distribution(f"cloudops-{name}")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"cloudops-{name} is not installed")
    importlib.import_module(f"cloudops_{name}.plugin")


def cloud_for(name: str, request: pytest.FixtureRequest) -> Cloud:
    """The adapter of cloud ``name``; the test is skipped if its provider is not installed."""
    require_provider(name)
    return _ADAPTERS[name](request)
