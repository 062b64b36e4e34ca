"""Pure helpers on ARM JSON: resource ids, the scale set body, and reading one back.

Why apart from the activities: these are the Azure-specific decisions (how a server group maps
onto a scale set, where min/max and the backend pools are remembered, what "disabled" means)
and they do no I/O, so they are easy to read and to test. Scale sets travel as plain ARM JSON
(the SDK's models are mappings of exactly that JSON), so the same shapes serve the SDK and the
emulator.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cloudops import BusinessError, ErrorCode
from cloudops.servergroups import translate
from cloudops.servergroups.models import (
    RESERVED_TAG_PREFIX,
    Capacity,
    HealthState,
    ServerGroupInstance,
)
from cloudops.servergroups.translate import name_parts, user_data_base64
from cloudops_azure.models import (
    TAG_MAX,
    TAG_MIN,
    TAG_POOLS,
    TAG_TRAFFIC,
    AzureCreateServerGroupInput,
    AzureServerGroupDescription,
    ScaleSetSpec,
)

__all__ = [
    "backend_pools",
    "build_scale_set",
    "capacity_of",
    "clone_source",
    "compact_pools",
    "configured_pools",
    "describe",
    "is_disabled",
    "network_of",
    "network_with_pools",
    "pool_id",
    "subnet_id",
    "timestamp",
]

_TAG_VALUE_LIMIT = 256


def _prefix(subscription: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers"


def _reference(ref: str, template: str, what: str, field: str) -> str:
    if ref.startswith("/subscriptions/"):
        return ref
    parts = ref.split("/")
    if len(parts) != 2 or not all(parts):
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"{what} {ref!r} must be a resource id or '{template}' in the resource group",
            {"errors": [{"field": field, "reason": f"not a {what} reference"}]},
        )
    return "/".join(parts)


def subnet_id(ref: str, subscription: str, resource_group: str) -> str:
    """A subnet id from an id or ``vnet/subnet`` in the resource group."""
    ref = _reference(ref, "vnet/subnet", "subnet", "subnets")
    if ref.startswith("/"):
        return ref
    vnet, subnet = ref.split("/")
    return (
        f"{_prefix(subscription, resource_group)}/Microsoft.Network/virtualNetworks/{vnet}"
        f"/subnets/{subnet}"
    )


def pool_id(ref: str, subscription: str, resource_group: str) -> str:
    """A backend pool id from an id or ``loadBalancer/pool`` in the resource group."""
    ref = _reference(ref, "loadBalancer/pool", "backend pool", "load_balancers")
    if ref.startswith("/"):
        return ref
    balancer, pool = ref.split("/")
    return (
        f"{_prefix(subscription, resource_group)}/Microsoft.Network/loadBalancers/{balancer}"
        f"/backendAddressPools/{pool}"
    )


def _nsg_id(ref: str, subscription: str, resource_group: str) -> str:
    if ref.startswith("/subscriptions/"):
        return ref
    return f"{_prefix(subscription, resource_group)}/Microsoft.Network/networkSecurityGroups/{ref}"


def compact_pools(ids: Iterable[str], subscription: str, resource_group: str) -> str:
    """Pool ids as a tag value: ``lb/pool`` for the resource group's own, else the full id."""
    local = f"{_prefix(subscription, resource_group)}/Microsoft.Network/loadBalancers/".lower()
    items = []
    for ref in ids:
        if ref.lower().startswith(local):
            balancer, _, pool = ref[len(local) :].partition("/backendAddressPools/")
            items.append(f"{balancer}/{pool}")
        else:
            items.append(ref)
    return ",".join(items)


def _expand_pools(value: str, subscription: str, resource_group: str) -> list[str]:
    """Pool ids from a tag value; an entry edited into something unreadable is skipped."""
    pools = []
    for item in value.split(","):
        if item.startswith("/"):
            pools.append(item)
        elif item.count("/") == 1 and all(item.split("/")):
            pools.append(pool_id(item, subscription, resource_group))
    return pools


def _image_reference(image: str) -> dict[str, str]:
    if image.startswith("/subscriptions/"):
        return {"id": image}
    publisher, offer, sku, version = image.split(":")
    return {"publisher": publisher, "offer": offer, "sku": sku, "version": version}


def _image_string(reference: dict[str, Any]) -> str | None:
    if reference.get("id"):
        return str(reference["id"])
    parts = [reference.get(k) for k in ("publisher", "offer", "sku", "version")]
    return ":".join(str(p) for p in parts) if all(parts) else None


def _computer_name_prefix(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9-]", "-", name).strip("-")
    return (cleaned[:9].rstrip("-") or "vm").lower()


def build_scale_set(
    spec: ScaleSetSpec,
    *,
    subscription: str,
    resource_group: str,
    default_subnet: str | None,
    admin_username: str,
) -> dict[str, Any]:
    """The PUT body of a new scale set (Uniform orchestration, one NIC, one IP configuration).

    Capacity min and max and the backend pools are also written as ``cloudops:`` tags: a scale
    set has only one size, and enable must know which pools to go back to.
    """
    subnets = spec.subnets or ([default_subnet] if default_subnet else [])
    if not subnets:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            "an Azure scale set needs a subnet: give one in subnets (id or vnet/subnet) or set "
            "default_subnet on the account",
            {"errors": [{"field": "subnets", "reason": "required on Azure"}]},
        )
    pools = [pool_id(p, subscription, resource_group) for p in spec.load_balancers]
    tags = {
        **spec.tags,
        TAG_MIN: str(spec.capacity.min),
        TAG_MAX: str(spec.capacity.max),
    }
    if pools:
        tags[TAG_POOLS] = compact_pools(pools, subscription, resource_group)
        if len(tags[TAG_POOLS]) > _TAG_VALUE_LIMIT:
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                "too many backend pools: their references must fit in one 256-character tag",
                {"errors": [{"field": "load_balancers", "reason": "too long for a tag"}]},
            )
    user = spec.admin_username or admin_username
    linux: dict[str, Any] = {"disablePasswordAuthentication": True}
    if spec.ssh_public_key:
        linux["ssh"] = {
            "publicKeys": [
                {"path": f"/home/{user}/.ssh/authorized_keys", "keyData": spec.ssh_public_key}
            ]
        }
    ip_configuration: dict[str, Any] = {
        "name": f"{spec.name}-ipconfig",
        "properties": {
            "primary": True,
            "subnet": {"id": subnet_id(subnets[0], subscription, resource_group)},
            "loadBalancerBackendAddressPools": [{"id": p} for p in pools],
        },
    }
    nic: dict[str, Any] = {
        "name": f"{spec.name}-nic",
        "properties": {"primary": True, "ipConfigurations": [ip_configuration]},
    }
    if spec.security_groups:
        nic["properties"]["networkSecurityGroup"] = {
            "id": _nsg_id(spec.security_groups[0], subscription, resource_group)
        }
    profile: dict[str, Any] = {
        "osProfile": {
            "computerNamePrefix": _computer_name_prefix(spec.name),
            "adminUsername": user,
            "linuxConfiguration": linux,
        },
        "storageProfile": {
            "imageReference": _image_reference(spec.image),
            "osDisk": {
                "createOption": "FromImage",
                "caching": "ReadWrite",
                "managedDisk": {"storageAccountType": "Standard_LRS"},
            },
        },
        "networkProfile": {"networkInterfaceConfigurations": [nic]},
    }
    user_data = user_data_base64(spec.user_data, spec.user_data_base64)
    if user_data is not None:
        profile["userData"] = user_data
    body: dict[str, Any] = {
        "location": spec.region,
        "tags": tags,
        "sku": {"name": spec.instance_type, "tier": "Standard", "capacity": spec.capacity.desired},
        "properties": {
            "orchestrationMode": "Uniform",
            "upgradePolicy": {"mode": spec.upgrade_policy or "Automatic"},
            "overprovision": False,
            "singlePlacementGroup": False,
            "virtualMachineProfile": profile,
        },
    }
    if spec.zones:
        body["zones"] = list(spec.zones)
    return body


# --------------------------------------------------------------------------------------------
# Reading a scale set back
# --------------------------------------------------------------------------------------------


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def capacity_of(scale_set: dict[str, Any]) -> Capacity:
    """The server group capacity: ``sku.capacity`` with min and max from the cloudops tags.

    A scale set changed outside cloudops may have a size outside its remembered bounds; the
    bounds then widen to include it, so the answer is always a valid Capacity.
    """
    desired = _int((scale_set.get("sku") or {}).get("capacity"), 0)
    tags = scale_set.get("tags") or {}
    low = min(_int(tags.get(TAG_MIN), desired), desired)
    high = max(_int(tags.get(TAG_MAX), desired), desired)
    return Capacity(min=low, max=high, desired=desired)


def network_of(scale_set: dict[str, Any]) -> list[dict[str, Any]]:
    """The NIC configurations of a scale set's model."""
    profile = (scale_set.get("properties") or {}).get("virtualMachineProfile") or {}
    configs = (profile.get("networkProfile") or {}).get("networkInterfaceConfigurations")
    return list(configs or [])


def backend_pools(network: Iterable[dict[str, Any]]) -> list[str]:
    """Backend pool ids the NIC configurations are in."""
    found: list[str] = []
    for nic in network:
        for ipc in (nic.get("properties") or {}).get("ipConfigurations") or []:
            for pool in (ipc.get("properties") or {}).get("loadBalancerBackendAddressPools") or []:
                if isinstance(pool, dict) and pool.get("id") and pool["id"] not in found:
                    found.append(str(pool["id"]))
    return found


def configured_pools(
    scale_set: dict[str, Any], subscription: str, resource_group: str
) -> list[str]:
    """The pools the group serves from when enabled: the tag, else the model's current pools."""
    tag = (scale_set.get("tags") or {}).get(TAG_POOLS)
    if tag is not None:
        return _expand_pools(tag, subscription, resource_group)
    return backend_pools(network_of(scale_set))


def is_disabled(scale_set: dict[str, Any]) -> bool:
    """Spinnaker's "disabled": out of its backend pools (recorded in the traffic tag)."""
    return (scale_set.get("tags") or {}).get(TAG_TRAFFIC) == "disabled"


def network_with_pools(
    scale_set: dict[str, Any], managed: list[str], enabled: bool
) -> list[dict[str, Any]]:
    """The NIC configurations with the ``managed`` pools added (enabled) or removed.

    Pools cloudops does not manage (e.g. an outbound pool) are kept either way; added pools go
    on the primary IP configuration of the primary NIC, as Spinnaker does.
    """
    network = copy.deepcopy(network_of(scale_set))
    wanted = {p.lower() for p in managed}
    primary_done = False
    for nic in network:
        nic_props = nic.setdefault("properties", {})
        for ipc in nic_props.get("ipConfigurations") or []:
            ipc_props = ipc.setdefault("properties", {})
            pools = [
                p
                for p in ipc_props.get("loadBalancerBackendAddressPools") or []
                if str(p.get("id", "")).lower() not in wanted
            ]
            primary = nic_props.get("primary", True) and ipc_props.get("primary", True)
            if enabled and primary and not primary_done:
                pools += [{"id": p} for p in managed]
                primary_done = True
            ipc_props["loadBalancerBackendAddressPools"] = pools
    return network


def _instance_health(
    vm: dict[str, Any], disabled: bool, pools: list[str]
) -> tuple[str, HealthState, dict[str, str]]:
    properties = vm.get("properties") or {}
    state = str(properties.get("provisioningState") or "Unknown")
    statuses = [
        str(s.get("code", "")) for s in (properties.get("instanceView") or {}).get("statuses") or []
    ]
    power = next((s.split("/", 1)[1] for s in statuses if s.startswith("PowerState/")), None)
    vm_network = (properties.get("networkProfileConfiguration") or {}).get(
        "networkInterfaceConfigurations"
    ) or []
    member_of = {p.lower() for p in backend_pools(vm_network)}
    in_pools = {p.rsplit("/", 1)[-1]: ("in" if p.lower() in member_of else "out") for p in pools}
    if state in ("Deleting", "Failed") or power in ("stopped", "deallocated", "stopping"):
        health = HealthState.DOWN
    elif state in ("Creating", "Updating") or power in (None, "starting"):
        health = HealthState.STARTING
    elif disabled or (pools and "out" in in_pools.values()):
        health = HealthState.OUT_OF_SERVICE
    else:
        health = HealthState.UP
    return f"{state}/{power}" if power else state, health, in_pools


def timestamp(value: Any) -> datetime | None:
    """An ARM timestamp as a datetime (None when absent or unreadable)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def describe(
    scale_set: dict[str, Any],
    vms: list[dict[str, Any]],
    *,
    region: str,
    subscription: str,
    resource_group: str,
) -> AzureServerGroupDescription:
    """The common description of a scale set and its VMs (instance views expected)."""
    name = str(scale_set["name"])
    properties = scale_set.get("properties") or {}
    profile = properties.get("virtualMachineProfile") or {}
    disabled = is_disabled(scale_set)
    pools = configured_pools(scale_set, subscription, resource_group)
    instances = []
    for vm in vms:
        state, health, in_pools = _instance_health(vm, disabled, pools)
        zones = vm.get("zones") or []
        instances.append(
            ServerGroupInstance(
                id=str(vm.get("name")),
                zone=str(zones[0]) if zones else None,
                state=state,
                health=health,
                load_balancer_health=in_pools,
                launched_at=timestamp((vm.get("properties") or {}).get("timeCreated")),
            )
        )
    network = network_of(scale_set)
    subnets = [
        str(((ipc.get("properties") or {}).get("subnet") or {}).get("id"))
        for nic in network
        for ipc in (nic.get("properties") or {}).get("ipConfigurations") or []
        if ((ipc.get("properties") or {}).get("subnet") or {}).get("id")
    ]
    nsgs = [
        str(((nic.get("properties") or {}).get("networkSecurityGroup") or {}).get("id"))
        for nic in network
        if ((nic.get("properties") or {}).get("networkSecurityGroup") or {}).get("id")
    ]
    return AzureServerGroupDescription(
        **name_parts(name),
        region=str(scale_set.get("location") or region),
        capacity=capacity_of(scale_set),
        instances=instances,
        zones=[str(z) for z in scale_set.get("zones") or []],
        subnets=subnets,
        load_balancers=[compact_pools([p], subscription, resource_group) for p in pools],
        security_groups=nsgs,
        image=_image_string((profile.get("storageProfile") or {}).get("imageReference") or {}),
        instance_type=(scale_set.get("sku") or {}).get("name"),
        disabled=disabled,
        created_at=timestamp(properties.get("timeCreated")),
        tags=dict(scale_set.get("tags") or {}),
        id=scale_set.get("id"),
        resource_group=resource_group,
        provisioning_state=properties.get("provisioningState"),
        upgrade_policy=(properties.get("upgradePolicy") or {}).get("mode"),
        backend_pools=pools,
        admin_username=(profile.get("osProfile") or {}).get("adminUsername"),
    )


def clone_source(
    scale_set: dict[str, Any], *, subscription: str, resource_group: str
) -> AzureCreateServerGroupInput:
    """The create input that would make a copy of a scale set: ``cloneServerGroup``'s source."""
    name = str(scale_set["name"])
    cluster = translate.clone_source(name)
    described = describe(
        scale_set, [], region="", subscription=subscription, resource_group=resource_group
    )
    profile = (scale_set.get("properties") or {}).get("virtualMachineProfile") or {}
    linux = ((profile.get("osProfile") or {}).get("linuxConfiguration") or {}).get("ssh") or {}
    keys = linux.get("publicKeys") or []
    if not described.image or not described.instance_type:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"cannot clone {name!r}: its image or VM size could not be read",
            {"server_group": name},
        )
    tags = {k: v for k, v in described.tags.items() if not k.startswith(RESERVED_TAG_PREFIX)}
    return AzureCreateServerGroupInput(
        **cluster,
        image=described.image,
        instance_type=described.instance_type,
        capacity=described.capacity,
        zones=described.zones,
        subnets=described.subnets[:1],
        load_balancers=described.load_balancers,
        security_groups=described.security_groups[:1],
        tags=tags,
        resource_group=resource_group,
        admin_username=described.admin_username,
        ssh_public_key=keys[0].get("keyData") if keys else None,
        user_data_base64=profile.get("userData"),
        upgrade_policy=described.upgrade_policy
        if described.upgrade_policy in ("Automatic", "Manual", "Rolling")
        else None,
    )
