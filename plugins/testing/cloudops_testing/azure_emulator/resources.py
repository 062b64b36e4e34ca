"""The emulator's resources: scale sets, their VMs, load balancers, long-running operations.

Why plain dataclasses: they are the state tests inspect and the wire module renders; keeping
them apart from the rules (``state``) and the validation (``checks``) keeps each module small.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "VMSS_TYPE",
    "EmulatorSettings",
    "Instance",
    "LoadBalancer",
    "Operation",
    "ScaleSet",
    "iso",
    "merge_patch",
    "now",
    "pool_refs",
    "subnet_refs",
]

VMSS_TYPE = "Microsoft.Compute/virtualMachineScaleSets"


def now() -> datetime:
    """The current time, as ARM timestamps it (UTC)."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ARM's timestamp format (ISO 8601 with fractional seconds and an offset)."""
    return moment.isoformat(timespec="microseconds")


@dataclass
class EmulatorSettings:
    """Timing and limits of the emulated service; change them on a running emulator freely.

    ``lro_seconds``: how long a long-running operation stays InProgress; ``lro_polls``: how many
    status polls it needs on top (0: time only); ``retry_after``: the ``Retry-After`` header
    (seconds) on accepted mutations and InProgress polls; ``page_size``: items per list page
    before a ``nextLink``; ``instance_quota``: VMs allowed per subscription and location (None:
    no limit); ``boot_seconds``: how long provisioned VMs report ``PowerState/starting``.
    """

    lro_seconds: float = 0.3
    lro_polls: int = 0
    retry_after: int = 1
    page_size: int = 50
    instance_quota: int | None = None
    boot_seconds: float = 0.0


@dataclass
class Instance:
    """One VM of a scale set (a Uniform orchestration instance)."""

    instance_id: str
    zone: str | None
    state: str  # Creating, Succeeded, Deleting, Failed
    vm_id: str
    created: datetime
    model_version: int
    network: list[dict[str, Any]]  # the NIC configurations this VM runs with
    running_at: float | None = None
    restarts: int = 0  # completed restarts (POST .../restart)

    def power_state(self, now: float) -> str:
        """``PowerState/...`` suffix as the instance view reports it."""
        if self.state == "Deleting":
            return "stopping"
        if self.state == "Failed":
            return "stopped"
        if self.state == "Creating" or self.running_at is None or now < self.running_at:
            return "starting"
        return "running"


@dataclass
class Operation:
    """A long-running operation, answered by the operation-status resource."""

    id: str
    kind: str  # create, update, delete, deleteInstances, upgradeInstances, restart
    subscription: str
    resource_group: str
    name: str
    location: str
    started: float
    start_time: datetime
    polls: int = 0
    status: str = "InProgress"
    error: dict[str, Any] | None = None
    end_time: datetime | None = None
    fail: tuple[str, str] | None = None
    instance_ids: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        """Lower-cased (subscription, resource group, scale set) of the target."""
        return (self.subscription.lower(), self.resource_group.lower(), self.name.lower())


@dataclass
class ScaleSet:
    """A virtual machine scale set: its model, instances and current operation."""

    subscription: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str]
    sku: dict[str, Any]
    zones: list[str]
    properties: dict[str, Any]
    provisioning_state: str
    unique_id: str
    time_created: datetime
    model_version: int = 1
    next_instance: int = 0
    instances: dict[str, Instance] = field(default_factory=dict)
    operation: str | None = None
    rolling_at: float | None = None  # a Rolling upgrade's last batch (see rolling.py)
    etag: int = 1  # changes with every PUT and PATCH (If-Match, see ArmState.check_etag)

    @property
    def id(self) -> str:
        """The ARM resource id."""
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{VMSS_TYPE}/{self.name}"
        )

    @property
    def network(self) -> list[dict[str, Any]]:
        """The model's NIC configurations."""
        profile = self.properties.get("virtualMachineProfile") or {}
        configs = (profile.get("networkProfile") or {}).get("networkInterfaceConfigurations")
        return list(configs or [])

    def alive(self) -> list[Instance]:
        """Instances not being deleted, by instance id."""
        return sorted(
            (i for i in self.instances.values() if i.state != "Deleting"),
            key=lambda i: int(i.instance_id),
        )

    def automatic_upgrades(self) -> bool:
        """Whether model changes reach existing instances without a manual upgrade."""
        mode = (self.properties.get("upgradePolicy") or {}).get("mode", "Manual")
        return str(mode).lower() == "automatic"


@dataclass
class LoadBalancer:
    """A Microsoft.Network load balancer with named backend pools."""

    subscription: str
    resource_group: str
    name: str
    location: str
    pools: dict[str, str]  # lower-cased name -> name
    probes: dict[str, str] = field(default_factory=dict)  # lower-cased name -> name

    @property
    def id(self) -> str:
        """The ARM resource id."""
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Network/loadBalancers/{self.name}"
        )


def pool_refs(network: Iterable[dict[str, Any]]) -> list[str]:
    """Backend pool ids referenced by NIC configurations."""
    refs = []
    for nic in network:
        for ipc in (nic.get("properties") or {}).get("ipConfigurations") or []:
            for pool in (ipc.get("properties") or {}).get("loadBalancerBackendAddressPools") or []:
                if isinstance(pool, dict) and pool.get("id"):
                    refs.append(str(pool["id"]))
    return refs


def subnet_refs(network: Iterable[dict[str, Any]]) -> list[str]:
    """Subnet ids referenced by NIC configurations."""
    refs = []
    for nic in network:
        for ipc in (nic.get("properties") or {}).get("ipConfigurations") or []:
            subnet = (ipc.get("properties") or {}).get("subnet") or {}
            if subnet.get("id"):
                refs.append(str(subnet["id"]))
    return refs


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """ARM PATCH semantics: objects merge recursively, arrays and scalars replace."""
    merged = copy.deepcopy(target)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patch(merged[key], value)
        elif value is None:
            merged.pop(key, None)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
