"""The reads of concurrent waits, shared per account and resource group (:mod:`cloudops.batching`).

``azure.wait_for_instances`` attempts that arrive in one worker within the batch window read
their scale sets with one ``virtualMachineScaleSets.list`` of the resource group, and each
scale set's VMs once (``virtualMachineScaleSetVMs.list``: ARM has no call listing the VMs of
several scale sets), whatever the number of operations waiting on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudops.batching import ReadBatcher
from cloudops_azure.clients import compute_client

__all__ = ["SCALE_SETS", "VMS", "shared_scale_set", "shared_vms"]


def _fetch_scale_sets(
    account: str, resource_group: str, names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    listed = {
        str(found.name).lower(): dict(found.as_dict())
        for found in compute_client(account).virtual_machine_scale_sets.list(resource_group)
    }
    # ARM names are case-insensitive: answer each name as it was asked.
    return {name: listed[name.lower()] for name in names if name.lower() in listed}


def _fetch_vms(
    account: str, resource_group: str, scale_set: str, names: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    vms = compute_client(account).virtual_machine_scale_set_vms
    listed = vms.list(resource_group, scale_set, expand="instanceView")
    return {scale_set: [dict(vm.as_dict()) for vm in listed]}


#: Scale sets as ARM JSON, by (account, resource group).
SCALE_SETS: ReadBatcher[dict[str, Any]] = ReadBatcher(_fetch_scale_sets)
#: VMs of one scale set, by (account, resource group, scale set): one read per scale set per
#: window, shared by every wait on it.
VMS: ReadBatcher[list[dict[str, Any]]] = ReadBatcher(_fetch_vms)


def shared_scale_set(account: str, resource_group: str, name: str) -> dict[str, Any] | None:
    """The scale set from a shared list of its resource group, or None when it does not exist."""
    return SCALE_SETS.get((account, resource_group), name)


def shared_vms(account: str, resource_group: str, name: str) -> list[dict[str, Any]]:
    """The scale set's VMs (with their instance view), read once for every wait on it."""
    return VMS.get((account, resource_group, name), name) or []
