"""How the emulator's resources look on the wire: ARM JSON bodies and LRO headers.

Why here: the official client parses exactly these shapes (``provisioningState`` inside
``properties``, ``value``/``nextLink`` pages, ``{"status": ..., "error": ...}`` operation
resources, ``Azure-AsyncOperation``/``Location``/``Retry-After`` headers), so they are kept in
one place and checked against the SDK's own polling code by the emulator tests.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote

from cloudops_testing.azure_emulator.resources import (
    Instance,
    LoadBalancer,
    Operation,
    ScaleSet,
    iso,
)

__all__ = [
    "async_headers",
    "instance_json",
    "load_balancer_json",
    "operation_json",
    "page",
    "pool_json",
    "scale_set_json",
]


def scale_set_json(scale_set: ScaleSet, *, user_data: bool = False) -> dict[str, Any]:
    """A scale set as GET returns it: write-only secrets removed, userData only on request."""
    properties = copy.deepcopy(scale_set.properties)
    profile = properties.get("virtualMachineProfile")
    if isinstance(profile, dict):
        os_profile = profile.get("osProfile")
        if isinstance(os_profile, dict):
            os_profile.pop("adminPassword", None)
            os_profile.pop("customData", None)
        if not user_data:
            profile.pop("userData", None)
    properties["provisioningState"] = scale_set.provisioning_state
    properties["uniqueId"] = scale_set.unique_id
    properties["timeCreated"] = iso(scale_set.time_created)
    body: dict[str, Any] = {
        "name": scale_set.name,
        "id": scale_set.id,
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "location": scale_set.location,
        "etag": f'"{scale_set.etag}"',
        "tags": dict(scale_set.tags),
        "sku": dict(scale_set.sku),
        "properties": properties,
    }
    if scale_set.zones:
        body["zones"] = list(scale_set.zones)
    return body


def instance_json(
    scale_set: ScaleSet, instance: Instance, now: float, *, instance_view: bool
) -> dict[str, Any]:
    """A VM of a scale set as the ``virtualMachines`` list returns it."""
    properties: dict[str, Any] = {
        "latestModelApplied": instance.model_version == scale_set.model_version,
        "vmId": instance.vm_id,
        "provisioningState": instance.state,
        "timeCreated": iso(instance.created),
        "networkProfileConfiguration": {
            "networkInterfaceConfigurations": copy.deepcopy(instance.network)
        },
    }
    if instance_view:
        prefix = (
            (scale_set.properties.get("virtualMachineProfile") or {}).get("osProfile") or {}
        ).get("computerNamePrefix", scale_set.name)
        state = instance.state.lower()
        power = instance.power_state(now)
        properties["instanceView"] = {
            "platformUpdateDomain": int(instance.instance_id) % 5,
            "platformFaultDomain": int(instance.instance_id) % 2,
            "computerName": f"{prefix}{int(instance.instance_id):06x}",
            "statuses": [
                {
                    "code": f"ProvisioningState/{state}",
                    "level": "Error" if state == "failed" else "Info",
                    "displayStatus": f"Provisioning {state}",
                },
                {
                    "code": f"PowerState/{power}",
                    "level": "Info",
                    "displayStatus": f"VM {power}",
                },
            ],
        }
    body: dict[str, Any] = {
        "name": f"{scale_set.name}_{instance.instance_id}",
        "id": f"{scale_set.id}/virtualMachines/{instance.instance_id}",
        "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
        "instanceId": instance.instance_id,
        "location": scale_set.location,
        "tags": dict(scale_set.tags),
        "sku": {"name": scale_set.sku.get("name"), "tier": scale_set.sku.get("tier", "Standard")},
        "properties": properties,
    }
    if instance.zone:
        body["zones"] = [instance.zone]
    return body


def pool_json(
    balancer: LoadBalancer, name: str, members: list[tuple[ScaleSet, Instance, str, str]]
) -> dict[str, Any]:
    """A backend pool with the VM NIC IP configurations in it (how membership is read)."""
    return {
        "name": name,
        "id": f"{balancer.id}/backendAddressPools/{name}",
        "type": "Microsoft.Network/loadBalancers/backendAddressPools",
        "properties": {
            "provisioningState": "Succeeded",
            "backendIPConfigurations": [
                {
                    "id": f"{scale_set.id}/virtualMachines/{instance.instance_id}"
                    f"/networkInterfaces/{nic}/ipConfigurations/{ipc}"
                }
                for scale_set, instance, nic, ipc in members
            ],
        },
    }


def load_balancer_json(balancer: LoadBalancer, pools: list[dict[str, Any]]) -> dict[str, Any]:
    """A load balancer with its backend pools."""
    return {
        "name": balancer.name,
        "id": balancer.id,
        "type": "Microsoft.Network/loadBalancers",
        "location": balancer.location,
        "sku": {"name": "Standard", "tier": "Regional"},
        "properties": {
            "provisioningState": "Succeeded",
            "frontendIPConfigurations": [],
            "loadBalancingRules": [],
            "probes": [
                {"name": n, "id": f"{balancer.id}/probes/{n}", "properties": {"protocol": "Tcp"}}
                for n in sorted(balancer.probes.values(), key=str.lower)
            ],
            "backendAddressPools": pools,
        },
    }


def operation_json(op: Operation) -> dict[str, Any]:
    """The operation-status resource the ``Azure-AsyncOperation`` header points at."""
    body: dict[str, Any] = {"startTime": iso(op.start_time), "status": op.status, "name": op.id}
    if op.end_time is not None:
        body["endTime"] = iso(op.end_time)
    if op.error is not None:
        body["error"] = dict(op.error)
    return body


def operation_url(base: str, op: Operation, api_version: str, *, monitor: bool = False) -> str:
    """Absolute URL of an operation's status (``monitor``: the ``Location`` variant)."""
    query = f"p={quote(op.kind)}&api-version={quote(api_version)}"
    if monitor:
        query = f"monitor=true&{query}"
    return (
        f"{base}/subscriptions/{op.subscription}/providers/Microsoft.Compute/locations/"
        f"{op.location}/operations/{op.id}?{query}"
    )


def async_headers(
    base: str, op: Operation, api_version: str, retry_after: int, *, location: bool
) -> dict[str, str]:
    """Headers of an accepted mutation: where to poll, and how long to wait first."""
    headers = {
        "Azure-AsyncOperation": operation_url(base, op, api_version),
        "Retry-After": str(retry_after),
    }
    if location:
        headers["Location"] = operation_url(base, op, api_version, monitor=True)
    return headers


def page(
    items: list[dict[str, Any]],
    *,
    base: str,
    path: str,
    query: dict[str, str],
    size: int,
) -> dict[str, Any]:
    """One page of a list: ``value`` and, when more remain, an absolute ``nextLink``."""
    try:
        skip = max(0, int(query.get("$skiptoken", "0")))
    except ValueError:
        skip = 0
    size = max(1, size)
    body: dict[str, Any] = {"value": items[skip : skip + size]}
    if skip + size < len(items):
        kept = {k: v for k, v in query.items() if k != "$skiptoken"}
        kept["$skiptoken"] = str(skip + size)
        body["nextLink"] = f"{base}{path}?" + "&".join(
            f"{k}={quote(v, safe='')}" for k, v in kept.items()
        )
    return body
