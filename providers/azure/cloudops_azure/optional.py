"""Activities of ``updateLaunchTemplate`` and ``rebootInstances`` on Azure (azure-mgmt-compute).

A scale set has no launch templates: what its new VMs boot is its *model* (the image
reference, the VM size in ``sku.name``, ``userData``). ``updateLaunchTemplate`` reads the model
in one activity (recorded in the workflow history, so a retry never mistakes its own change for
the state before) and PATCHes it in another; each "version" the kit passes around is the JSON of
the touched settings, so the undo PATCHes the previous values back. Both the PATCH and the undo
answer NotReady until the scale set's update has Succeeded. ``rebootInstances`` is one POST
``restart`` with the VMs' instance ids, waited for from its continuation token.
"""

from __future__ import annotations

import json
from typing import Any

from cloudops import BusinessError, ErrorCode, NotReady
from cloudops.servergroups.optional import (
    InstancesCall,
    TemplateCall,
    TemplateChange,
    not_members,
)
from cloudops.servergroups.translate import user_data_base64
from cloudops_azure import arm, lro
from cloudops_azure.activities import (
    _instance_id,
    _require,
    _settled,
    _vms,
    _Where,
    azure_activity,
)
from cloudops_azure.models import RestartBegun, ScaleSetCall

__all__ = ["OPTIONAL_ACTIVITIES"]


def _where(arg: TemplateCall | InstancesCall) -> _Where:
    return _Where(
        ScaleSetCall(
            account=arg.account,
            region=arg.region,
            name=arg.name,
            resource_group=arg.scope.get("resource_group"),
        )
    )


def _invalid(field: str, reason: str) -> BusinessError:
    return BusinessError(
        ErrorCode.INVALID_INPUT,
        f"{field}: {reason}",
        {"errors": [{"field": field, "reason": reason}]},
    )


def _model(scale_set: dict[str, Any], keys: list[str]) -> str:
    """The scale set's settings ``keys`` (image, instance_type, user_data) as canonical JSON."""
    profile = (scale_set.get("properties") or {}).get("virtualMachineProfile") or {}
    image = ((profile.get("storageProfile") or {}).get("imageReference")) or {}
    values = {
        "image": arm._image_string(image),
        "instance_type": (scale_set.get("sku") or {}).get("name"),
        "user_data": profile.get("userData") or None,
    }
    return json.dumps({k: values[k] for k in sorted(keys)}, sort_keys=True)


def _wanted(changes: dict[str, str]) -> str:
    """The model ``changes`` ask for, as :func:`_model` renders it; bad values: INVALID_INPUT."""
    if "key_name" in changes:
        raise _invalid(
            "key_name",
            "Azure has no key pairs: a scale set's SSH keys are set when it is created",
        )
    wanted: dict[str, Any] = {}
    if "image" in changes:
        image = changes["image"]
        if not image.startswith("/subscriptions/") and (
            image.count(":") != 3 or not all(image.split(":"))
        ):
            raise _invalid("image", "give publisher:offer:sku:version or an image resource id")
        wanted["image"] = image
    if "instance_type" in changes:
        wanted["instance_type"] = changes["instance_type"]
    if "user_data" in changes:
        wanted["user_data"] = user_data_base64(changes["user_data"], None)
    return json.dumps(wanted, sort_keys=True)


@azure_activity("azure.read_launch_template")
def read_launch_template(arg: TemplateCall) -> TemplateChange:
    """The touched settings of the scale set's model now (previous) and as wanted (current).

    Read-only; bad values are ``INVALID_INPUT`` naming the field, before anything changes.
    """
    current = _wanted(arg.changes)
    keys = list(json.loads(current))
    scale_set = _require(_where(arg), arg.name, user_data="user_data" in keys)
    return TemplateChange(previous=_model(scale_set, keys), current=current)


@azure_activity("azure.set_launch_template")
def set_launch_template(arg: TemplateCall) -> TemplateChange:
    """Make the scale set's model what ``version`` says (a PATCH); NotReady until it is done.

    The forward change and its undo alike: the model is read first, so a PATCH is sent only
    while it differs; then each attempt waits for the update to end (Failed:
    ``CLOUD_REJECTED``). Under the Manual upgrade policy running VMs keep the model they have.
    """
    assert arg.version is not None
    wanted: dict[str, Any] = json.loads(arg.version)
    where = _where(arg)
    scale_set = _require(where, arg.name, user_data="user_data" in wanted)
    now = _model(scale_set, list(wanted))
    if now == arg.version:
        _settled(scale_set, arg.name)
        return TemplateChange(previous=now, current=arg.version)
    patch: dict[str, Any] = {}
    profile: dict[str, Any] = {}
    if "instance_type" in wanted:
        patch["sku"] = {**(scale_set.get("sku") or {}), "name": wanted["instance_type"]}
    if "image" in wanted:
        profile["storageProfile"] = {"imageReference": arm._image_reference(wanted["image"])}
    if "user_data" in wanted:
        profile["userData"] = wanted["user_data"] or ""
    if profile:
        patch["properties"] = {"virtualMachineProfile": profile}
    lro.begin(
        where.scale_sets.begin_update,
        where.resource_group,
        arg.name,
        patch,
        etag=scale_set.get("etag"),  # only over the model that was read
    )
    raise NotReady(f"updating the model of scale set {arg.name}")


@azure_activity("azure.reboot_instances")
def reboot_instances(arg: InstancesCall) -> RestartBegun:
    """POST ``restart`` with the VMs' instance ids (``3`` or ``vmss_3``), for the wait.

    Every id must be a VM of the scale set (else ``NOT_FOUND``, nothing restarted).
    """
    where = _where(arg)
    _require(where, arg.name)
    alive = {
        str(vm.get("instanceId"))
        for vm in _vms(where, arg.name)
        if (vm.get("properties") or {}).get("provisioningState") != "Deleting"
    }
    ids = {given: _instance_id(given, arg.name) for given in arg.instance_ids}
    outside = [given for given, found in ids.items() if found not in alive]
    if outside:
        raise not_members(arg.name, outside)
    token, done = lro.begin(
        where.scale_sets.begin_restart,
        where.resource_group,
        arg.name,
        {"instanceIds": sorted(str(i) for i in ids.values())},
    )
    return RestartBegun(
        token=token,
        done=done,
        resource_group=where.resource_group,
        instance_ids=list(arg.instance_ids),
    )


#: The activities of the optional verbs above.
OPTIONAL_ACTIVITIES = (read_launch_template, set_launch_template, reboot_instances)
