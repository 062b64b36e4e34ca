"""Activities: the only code of cloudops-azure that talks to Azure (azure-mgmt-compute).

Every activity takes one model and returns one, runs its blocking SDK calls in a worker thread
(so it works on any worker, with or without an activity executor), and turns azure-core's
exceptions into cloudops' taxonomy through :func:`cloudops_azure.errors.classify`.

Mutations are split in two so that a worker crash never re-issues one: a ``begin_*`` activity
sends the PUT/PATCH/DELETE/POST and returns the SDK poller's continuation token (recorded in the
workflow history), and ``azure.poll_operation`` resumes from that token with one status check
per attempt, answering ``NotReady`` while the operation runs. Every ``begin_*`` first reads the
scale set, so a rerun after a lost answer finds its own change (tagged with the request id, or
already in the wanted state) instead of sending it again; deletes treat "not found" as success.

The Azure SDK is imported lazily (through :mod:`.clients` and :mod:`.lro`), so importing this
module, which the plugin module does to register the activities, stays cheap.
"""

from __future__ import annotations

from typing import Any, TypeVar

from temporalio import activity

from cloudops import BusinessError, ErrorCode, NotReady
from cloudops.servergroups.contract import TAG_REQUEST_ID
from cloudops.servergroups.models import (
    Capacity,
    ServerGroupName,
    cluster_name,
    next_server_group_name,
)
from cloudops.servergroups.translate import activity_maker, not_settled, require_ours
from cloudops_azure import arm, lro
from cloudops_azure.clients import account_settings, compute_client, resource_group_of
from cloudops_azure.errors import arm_error, classify
from cloudops_azure.models import (
    TAG_MAX,
    TAG_MIN,
    TAG_POOLS,
    TAG_TRAFFIC,
    AzureCreateServerGroupInput,
    AzureServerGroupList,
    Begun,
    ClusterCall,
    DeleteInstancesBegun,
    DeleteInstancesInput,
    DeleteScaleSetInput,
    DeleteScaleSetOutput,
    InstancesStatus,
    NextNameInput,
    NextNameOutput,
    PollInput,
    PollOutput,
    ResizeBegun,
    ResizeInput,
    ScaleSetCall,
    ScaleSetSpec,
    ServerGroupLookup,
    TrafficBegun,
    TrafficInput,
    UpgradeInstancesInput,
    VmTrafficInput,
    WaitForInstancesInput,
)
from cloudops_azure.network_activities import application_security_groups

__all__ = [
    "ACTIVITIES",
    "begin_create_scale_set",
    "begin_delete_instances",
    "begin_delete_scale_set",
    "begin_resize",
    "begin_set_traffic",
    "begin_upgrade_instances",
    "delete_scale_set",
    "describe_server_group",
    "list_server_groups",
    "next_name",
    "poll_operation",
    "read_server_group_template",
    "set_vm_traffic",
    "wait_for_instances",
]

InT = TypeVar("InT")
OutT = TypeVar("OutT")


azure_activity = activity_maker(classify)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


class _Where:
    """The client, subscription and resource group of one call."""

    def __init__(self, call: ScaleSetCall | NextNameInput | ClusterCall) -> None:
        self.client = compute_client(call.account)
        self.settings = account_settings(call.account)
        self.subscription = self.settings.subscription_id
        self.resource_group = resource_group_of(call.account, call.resource_group)
        self.region = call.region
        self.account = call.account
        self.scale_sets = self.client.virtual_machine_scale_sets


def _location(value: Any) -> str:
    return str(value or "").replace(" ", "").lower()


def _find(where: _Where, name: str, *, user_data: bool = False) -> dict[str, Any] | None:
    """The scale set as ARM JSON, or None when it does not exist in the request's region.

    Resource groups span locations; a request acts in one region (the account's allow-list is
    checked against it), so a scale set of that name in another location is not its concern
    (a create then meets ARM's 409 ``InvalidResourceLocation``). The group must exist.
    """
    from azure.core.exceptions import ResourceNotFoundError

    try:
        found = where.scale_sets.get(
            where.resource_group, name, expand="userData" if user_data else None
        )
    except ResourceNotFoundError as err:
        code, _, _ = arm_error(err)
        if code in ("ResourceNotFound", "NotFound", ""):
            return None
        raise  # ResourceGroupNotFound: a required resource is missing
    data = dict(found.as_dict())
    if _location(data.get("location")) != _location(where.region):
        return None
    return data


def _require(where: _Where, name: str, *, user_data: bool = False) -> dict[str, Any]:
    found = _find(where, name, user_data=user_data)
    if found is None:
        raise BusinessError(
            ErrorCode.NOT_FOUND,
            f"server group {name!r} (scale set) does not exist in resource group "
            f"{where.resource_group!r}",
            {"server_group": name, "resource_group": where.resource_group},
        )
    return found


def _state(scale_set: dict[str, Any]) -> str:
    return str((scale_set.get("properties") or {}).get("provisioningState") or "")


def _vms(where: _Where, name: str) -> list[dict[str, Any]]:
    pages = where.client.virtual_machine_scale_set_vms.list(
        where.resource_group, name, expand="instanceView"
    )
    return [dict(vm.as_dict()) for vm in pages]


def _stale(where: _Where, name: str) -> list[str]:
    """Instance ids of the VMs (not being deleted) that run an older model than the scale set."""
    return [
        str(vm["instanceId"])
        for vm in _vms(where, name)
        if (vm.get("properties") or {}).get("latestModelApplied") is False
        and (vm.get("properties") or {}).get("provisioningState") != "Deleting"
    ]


def _settled(scale_set: dict[str, Any], name: str) -> str:
    """The scale set's provisioning state once Succeeded: NotReady before, Failed a failure."""
    state = _state(scale_set)
    if state == "Failed":
        raise BusinessError(
            ErrorCode.CLOUD_REJECTED,
            f"scale set {name!r} ended in provisioning state Failed",
            {"server_group": name},
        )
    if state != "Succeeded":
        raise NotReady(f"scale set {name} is {state}")
    return state


def _unchanged(where: _Where, scale_set: dict[str, Any]) -> Begun:
    """Nothing to send: wait (without a token) only if an operation is still running."""
    return Begun(
        token=None,
        done=_state(scale_set) == "Succeeded",
        changed=False,
        resource_group=where.resource_group,
    )


# --------------------------------------------------------------------------------------------
# Naming and creating
# --------------------------------------------------------------------------------------------


@azure_activity("azure.next_server_group_name")
def next_name(arg: NextNameInput) -> NextNameOutput:
    """Choose the next free ``app-stack-detail-vNNN`` scale set name in the resource group.

    Read-only: running it twice is harmless, and the workflow records the first answer. A
    missing resource group is a ``NOT_FOUND`` business failure.
    """
    where = _Where(arg)
    existing = []
    for found in where.scale_sets.list(where.resource_group):
        data = found.as_dict()
        existing.append(
            (str(data["name"]), arm.timestamp((data.get("properties") or {}).get("timeCreated")))
        )
    chosen = next_server_group_name(arg.application, arg.stack, arg.detail, existing)
    assert chosen.sequence is not None
    return NextNameOutput.of(chosen)


@azure_activity("azure.begin_create_scale_set")
def begin_create_scale_set(spec: ScaleSetSpec) -> Begun:
    """Send the PUT that creates a scale set, or find the one this request already made.

    Idempotent: a scale set of that name tagged with this request id is the answer (no second
    PUT; the wait then reads its provisioning state); one made by anyone else is a ``CONFLICT``.
    """
    where = _Where(spec)
    existing = _find(where, spec.name)
    if existing is not None:
        owner = (existing.get("tags") or {}).get(TAG_REQUEST_ID)
        require_ours("scale set", spec.name, owner, spec.request_id, "server_group")
        return _unchanged(where, existing)
    body = arm.build_scale_set(
        spec,
        subscription=where.subscription,
        resource_group=where.resource_group,
        default_subnet=where.settings.default_subnet,
        admin_username=where.settings.admin_username,
        ssh_public_key=where.settings.ssh_public_key,
        application_security_groups=application_security_groups(
            spec.account, where.resource_group, spec.security_groups
        ),
    )
    token, done = lro.begin(
        where.scale_sets.begin_create_or_update, where.resource_group, spec.name, body, etag="*"
    )
    return Begun(token=token, done=done, resource_group=where.resource_group)


# --------------------------------------------------------------------------------------------
# Waiting
# --------------------------------------------------------------------------------------------


def _resume(where: _Where, arg: PollInput) -> Any:
    assert arg.token is not None
    ops = where.scale_sets
    rg = where.resource_group
    if arg.kind == "create":
        return lro.resume(ops.begin_create_or_update, rg, arg.name, None, token=arg.token)
    if arg.kind == "update":
        return lro.resume(ops.begin_update, rg, arg.name, None, token=arg.token)
    if arg.kind == "delete":
        return lro.resume(ops.begin_delete, rg, arg.name, token=arg.token)
    if arg.kind == "upgrade_instances":
        return lro.resume(ops.begin_update_instances, rg, arg.name, None, token=arg.token)
    if arg.kind == "restart":
        return lro.resume(ops.begin_restart, rg, arg.name, token=arg.token)
    return lro.resume(ops.begin_delete_instances, rg, arg.name, None, token=arg.token)


def _poll_by_state(where: _Where, arg: PollInput) -> PollOutput:
    """Without a usable token: read the scale set's own state."""
    found = _find(where, arg.name)
    if arg.kind == "delete":
        if found is None:
            return PollOutput(status="Succeeded")
        raise NotReady(f"scale set {arg.name} is {_state(found) or 'still there'}")
    if found is None:
        raise BusinessError(
            ErrorCode.NOT_FOUND,
            f"scale set {arg.name!r} disappeared while waiting for it",
            {"server_group": arg.name},
        )
    state = _settled(found, arg.name)
    return PollOutput(
        status="Succeeded",
        provisioning_state=state,
        capacity=(found.get("sku") or {}).get("capacity"),
    )


@azure_activity("azure.poll_operation")
def poll_operation(arg: PollInput) -> PollOutput:
    """Check a long-running operation once; NotReady while it runs (use with ``ctx.poll``).

    Resumes from the continuation token, so the mutation is never sent again. A Failed or
    Canceled operation is a business failure carrying ARM's error code. Without a token (or
    with one this SDK version cannot read) it reads the scale set's state instead.
    """
    where = _Where(arg)
    if arg.token:
        try:
            result = _resume(where, arg)
        except lro.Pending as pending:
            raise NotReady(f"{arg.kind} of scale set {arg.name} is {pending.status}") from None
        except ValueError:
            activity.logger.warning("unreadable continuation token; polling %s by state", arg.name)
        else:
            data = dict(result.as_dict()) if hasattr(result, "as_dict") else {}
            policy = (data.get("properties") or {}).get("upgradePolicy") or {}
            if arg.kind == "update" and policy.get("mode") == "Rolling":
                # Rolling: the update Succeeded, but the VMs follow in batches (and, e.g., leave
                # a backend pool only then): wait until every VM runs the latest model.
                behind = _stale(where, arg.name)
                if behind:
                    raise NotReady(f"rolling upgrade of {arg.name}: {len(behind)} VMs to go")
            return PollOutput(
                status="Succeeded",
                provisioning_state=_state(data) or None,
                capacity=(data.get("sku") or {}).get("capacity"),
            )
    return _poll_by_state(where, arg)


def _is_running(vm: dict[str, Any]) -> bool:
    properties = vm.get("properties") or {}
    statuses = {
        str(s.get("code", "")) for s in (properties.get("instanceView") or {}).get("statuses") or []
    }
    return properties.get("provisioningState") == "Succeeded" and "PowerState/running" in statuses


@azure_activity("azure.wait_for_instances")
def wait_for_instances(arg: WaitForInstancesInput) -> InstancesStatus:
    """Answer once the scale set runs its desired number of VMs; NotReady until then.

    Scale-in must be finished too (no more VMs than desired), and ``exclude_instances`` must have
    left. A VM that failed to provision, or a scale set being deleted, is a business failure:
    waiting longer would not help.
    """
    from cloudops_azure.shared_reads import shared_scale_set, shared_vms

    where = _Where(arg)
    scale_set = shared_scale_set(arg.account, where.resource_group, arg.name)
    if scale_set is None or _location(scale_set.get("location")) != _location(where.region):
        scale_set = _require(where, arg.name)  # answers NOT_FOUND as a lone read would
    if _state(scale_set) == "Deleting":
        raise BusinessError(
            ErrorCode.CONFLICT, f"scale set {arg.name!r} is being deleted", {"name": arg.name}
        )
    capacity = arm.capacity_of(scale_set)
    desired = arg.desired if arg.desired is not None else capacity.desired
    alive = [
        vm
        for vm in shared_vms(arg.account, where.resource_group, arg.name)
        if (vm.get("properties") or {}).get("provisioningState") != "Deleting"
    ]
    failed = [
        vm["name"]
        for vm in alive
        if (vm.get("properties") or {}).get("provisioningState") == "Failed"
    ]
    if failed:
        raise BusinessError(
            ErrorCode.CLOUD_REJECTED,
            f"VMs of scale set {arg.name} failed to provision: {', '.join(failed)}",
            {"instances": failed},
        )
    running = [vm for vm in alive if _is_running(vm)]
    excluded = {i.lower() for i in arg.exclude_instances}
    leaving = sorted(
        str(vm["name"])
        for vm in alive
        if str(vm["name"]).lower() in excluded or str(vm.get("instanceId")) in excluded
    )
    progress = f"{len(running)} of {desired} VMs running, {len(alive)} in the scale set"
    why = not_settled(
        arg.name, progress, ready=len(running), alive=len(alive), desired=desired, leaving=leaving
    )
    if why is not None:
        raise NotReady(why)
    return InstancesStatus(
        name=arg.name,
        capacity=capacity,
        instances=len(alive),
        running=len(running),
        disabled=arm.is_disabled(scale_set),
    )


# --------------------------------------------------------------------------------------------
# Resize and traffic
# --------------------------------------------------------------------------------------------


@azure_activity("azure.begin_resize")
def begin_resize(arg: ResizeInput) -> ResizeBegun:
    """Send the PATCH that sets ``sku.capacity`` (and the min/max tags); nothing if already so.

    Returns the capacity before, for the rollback. A disabled group stays disabled. A new min
    also goes to the group's autoscale setting first: its profiles' minimum never stays below
    the group's min (a deploy's pin), and gets its own value back when the min drops again.
    """
    where = _Where(arg)
    scale_set = _require(where, arg.name)
    before = arm.capacity_of(scale_set)
    if before.min != arg.capacity.min:
        from cloudops_azure.autoscale import follow_group_min  # it imports this module

        follow_group_min(where, arg.name, arg.capacity.min)
    tags = dict(scale_set.get("tags") or {})
    wanted = {**tags, TAG_MIN: str(arg.capacity.min), TAG_MAX: str(arg.capacity.max)}
    disabled = arm.is_disabled(scale_set)
    if before.desired == arg.capacity.desired and wanted == tags:
        same = _unchanged(where, scale_set)
        return ResizeBegun(**same.model_dump(), before=before, disabled=disabled)
    sku = {**(scale_set.get("sku") or {}), "capacity": arg.capacity.desired}
    token, done = lro.begin(
        where.scale_sets.begin_update,
        where.resource_group,
        arg.name,
        {"sku": sku, "tags": wanted},
        etag=scale_set.get("etag"),  # tags are rewritten whole: only over what was read
    )
    return ResizeBegun(
        token=token,
        done=done,
        resource_group=where.resource_group,
        before=before,
        disabled=disabled,
    )


@azure_activity("azure.begin_set_traffic")
def begin_set_traffic(arg: TrafficInput) -> TrafficBegun:
    """Put the scale set's NICs into (enable) or out of (disable) its backend pools.

    As Spinnaker's Azure provider does: the pools are removed from (or added back to) the scale
    set's NIC IP configuration with one PATCH of the network profile, which the Automatic
    upgrade policy rolls to the VMs. The pools are remembered in a tag so that enable knows where
    to go back; the traffic tag records the state. Nothing is sent when already so.
    """
    where = _Where(arg)
    scale_set = _require(where, arg.name)
    was_disabled = arm.is_disabled(scale_set)
    pools = arm.configured_pools(scale_set, where.subscription, where.resource_group)
    tags = dict(scale_set.get("tags") or {})
    wanted = dict(tags)
    if arg.enabled:
        wanted.pop(TAG_TRAFFIC, None)
    else:
        wanted[TAG_TRAFFIC] = "disabled"
        if pools and TAG_POOLS not in wanted:
            wanted[TAG_POOLS] = arm.compact_pools(pools, where.subscription, where.resource_group)
    network = arm.network_with_pools(scale_set, pools, arg.enabled)
    current = arm.backend_pools(arm.network_of(scale_set))
    target = arm.backend_pools(network)
    result = {"pools": pools, "was_disabled": was_disabled}
    if wanted == tags and {p.lower() for p in current} == {p.lower() for p in target}:
        return TrafficBegun(**_unchanged(where, scale_set).model_dump(), **result)
    patch: dict[str, Any] = {"tags": wanted}
    if network and current != target:
        patch["properties"] = {
            "virtualMachineProfile": {"networkProfile": {"networkInterfaceConfigurations": network}}
        }
    token, done = lro.begin(
        where.scale_sets.begin_update,
        where.resource_group,
        arg.name,
        patch,
        etag=scale_set.get("etag"),  # tags and NIC arrays are rewritten whole
    )
    return TrafficBegun(token=token, done=done, resource_group=where.resource_group, **result)


@azure_activity("azure.set_vm_traffic")
def set_vm_traffic(arg: VmTrafficInput) -> Begun:
    """Put each VM's NICs into the scale set's backend pools, or (``out``) take them out.

    A traffic share: one PUT of each VM whose pools differ (its ``networkProfileConfiguration``
    in the scale set VM model); the scale set's model is untouched. With ``wait`` answers
    NotReady while a VM is updating, so the caller polls it; a rerun sends nothing more.
    """
    where = _Where(arg)
    scale_set = _require(where, arg.name)
    pools = arm.configured_pools(scale_set, where.subscription, where.resource_group)
    busy, changed = [], False
    for vm in _vms(where, arg.name):
        props = vm.get("properties") or {}
        if props.get("provisioningState") == "Deleting":
            continue
        network = (props.get("networkProfileConfiguration") or {}).get(
            "networkInterfaceConfigurations"
        ) or []
        model = {"properties": {"virtualMachineProfile": {"networkProfile": {
            "networkInterfaceConfigurations": network}}}}  # fmt: skip
        wanted = arm.network_with_pools(model, pools, vm.get("name") not in arg.out)
        if {p.lower() for p in arm.backend_pools(wanted)} != {
            p.lower() for p in arm.backend_pools(network)
        }:
            props.pop("instanceView", None)
            props["networkProfileConfiguration"] = {"networkInterfaceConfigurations": wanted}
            update = where.client.virtual_machine_scale_set_vms.begin_update
            lro.begin(update, where.resource_group, arg.name, str(vm["instanceId"]), vm)
            busy.append(str(vm.get("name")))
            changed = True
        elif props.get("provisioningState") == "Updating":
            busy.append(str(vm.get("name")))
    if busy and arg.wait:
        raise NotReady(f"updating the backend pools of {', '.join(busy)}")
    return Begun(done=True, changed=changed, resource_group=where.resource_group)


@azure_activity("azure.begin_upgrade_instances")
def begin_upgrade_instances(arg: UpgradeInstancesInput) -> Begun:
    """Bring VMs that run an older model up to the scale set's model (``manualupgrade``).

    Needed after a model change (e.g. backend pools, an image) under the Manual upgrade
    policy, where Azure leaves running VMs as they are. ``instance_ids`` (``3`` or
    ``vmss_3``) limit it to those VMs. Nothing is sent when they are all up to date.
    """
    where = _Where(arg)
    _require(where, arg.name)
    stale = _stale(where, arg.name)
    if arg.instance_ids is not None:
        chosen = {_instance_id(i, arg.name) for i in arg.instance_ids}
        stale = [i for i in stale if i in chosen]
    if not stale:
        return Begun(done=True, changed=False, resource_group=where.resource_group)
    token, done = lro.begin(
        where.scale_sets.begin_update_instances,
        where.resource_group,
        arg.name,
        {"instanceIds": stale},
    )
    return Begun(token=token, done=done, resource_group=where.resource_group)


# --------------------------------------------------------------------------------------------
# Deleting
# --------------------------------------------------------------------------------------------


#: Provisioning states of a scale set that another operation is still changing.
_BUSY_STATES = frozenset({"Creating", "Updating"})


def _begin_delete(where: _Where, arg: DeleteScaleSetInput) -> DeleteScaleSetOutput:
    found = _find(where, arg.name)
    rg = where.resource_group
    if found is None:
        return DeleteScaleSetOutput(done=True, changed=False, reason="not found", resource_group=rg)
    capacity = arm.capacity_of(found)
    owner = (found.get("tags") or {}).get(TAG_REQUEST_ID)
    if arg.only_if_request_id is not None and owner != arg.only_if_request_id:
        return DeleteScaleSetOutput(
            done=True, changed=False, reason="not created by this request", resource_group=rg
        )
    if _state(found) == "Deleting":
        return DeleteScaleSetOutput(
            reason="already being deleted", resource_group=rg, capacity=capacity
        )
    if _state(found) in _BUSY_STATES:
        # Azure refuses a DELETE while another operation runs on the scale set (409
        # AnotherOperationInProgress): wait for it to end instead of sending one that fails.
        raise NotReady(f"scale set {arg.name} is {_state(found)}; deleting it once that ends")
    token, done = lro.begin(where.scale_sets.begin_delete, rg, arg.name)
    return DeleteScaleSetOutput(
        token=token, done=done, deleted=True, resource_group=rg, capacity=capacity
    )


@azure_activity("azure.begin_delete_scale_set")
def begin_delete_scale_set(arg: DeleteScaleSetInput) -> DeleteScaleSetOutput:
    """Send the DELETE of a scale set (with its VMs); "not found" is success.

    A scale set already being deleted is not deleted again: the wait reads its state.
    """
    return _begin_delete(_Where(arg), arg)


@azure_activity("azure.delete_scale_set")
def delete_scale_set(arg: DeleteScaleSetInput) -> DeleteScaleSetOutput:
    """Delete a scale set and, with ``wait_until_gone``, answer NotReady until it is gone.

    The compensation of ``createServerGroup``: its retries are the wait, and the DELETE is sent
    at most once per deletion (a scale set already Deleting is only watched).
    """
    where = _Where(arg)
    begun = _begin_delete(where, arg)
    if arg.wait_until_gone and begun.changed and _find(where, arg.name) is not None:
        raise NotReady(f"scale set {arg.name} is being deleted")
    return begun


def _instance_id(given: str, scale_set: str) -> str | None:
    """The instance id of ``3`` or ``vmss_3``; None for a VM of another scale set."""
    if given.isdigit():
        return given
    prefix, _, number = given.rpartition("_")
    if prefix.lower() == scale_set.lower() and number.isdigit():
        return number
    return None


@azure_activity("azure.begin_delete_instances")
def begin_delete_instances(arg: DeleteInstancesInput) -> DeleteInstancesBegun:
    """Send the POST that deletes VMs of a scale set (its capacity drops by as many).

    Every id is checked first: a VM of another scale set is ``INVALID_INPUT``. VMs already gone
    or being deleted count as done, so a rerun neither fails nor shrinks the group twice.
    """
    where = _Where(arg)
    scale_set = _require(where, arg.name)
    before = arm.capacity_of(scale_set)
    vms = {str(vm.get("instanceId")): vm for vm in _vms(where, arg.name)}
    todo: list[tuple[str, str]] = []
    gone: list[str] = []
    for given in arg.instance_ids:
        instance_id = _instance_id(given, arg.name)
        if instance_id is None:
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                f"instance {given!r} is not a VM of server group {arg.name}",
                {"instance": given, "server_group": arg.name},
            )
        vm = vms.get(instance_id)
        if vm is None or (vm.get("properties") or {}).get("provisioningState") == "Deleting":
            gone.append(given)
        else:
            todo.append((given, instance_id))
    desired = max(0, before.desired - len(todo))
    after = Capacity(min=min(before.min, desired), max=before.max, desired=desired)
    if not todo:
        same = _unchanged(where, scale_set)
        return DeleteInstancesBegun(
            **same.model_dump(), already_gone=gone, before=before, after=after
        )
    token, done = lro.begin(
        where.scale_sets.begin_delete_instances,
        where.resource_group,
        arg.name,
        {"instanceIds": [instance_id for _, instance_id in todo]},
    )
    return DeleteInstancesBegun(
        token=token,
        done=done,
        resource_group=where.resource_group,
        terminated=[given for given, _ in todo],
        already_gone=gone,
        before=before,
        after=after,
    )


# --------------------------------------------------------------------------------------------
# Describe and clone source
# --------------------------------------------------------------------------------------------


@azure_activity("azure.describe_server_group")
def describe_server_group(arg: ScaleSetCall) -> ServerGroupLookup:
    """Describe a scale set: capacity, VMs with their power state, pools and traffic state.

    A missing scale set is ``description=None`` rather than an error, so callers decide whether
    that is a failure (describe) or success (destroy).
    """
    where = _Where(arg)
    found = _find(where, arg.name)
    if found is None:
        return ServerGroupLookup()
    return ServerGroupLookup(
        description=arm.describe(
            found,
            _vms(where, arg.name),
            region=arg.region,
            subscription=where.subscription,
            resource_group=where.resource_group,
        )
    )


@azure_activity("azure.list_server_groups")
def list_server_groups(arg: ClusterCall) -> AzureServerGroupList:
    """The scale sets of a cluster in the resource group and region, oldest first.

    Each is described as ``describe_server_group`` does; scale sets being deleted are left out,
    so a deploy neither enables nor counts them. Order: creation time, then sequence.
    """
    where = _Where(arg)
    cluster = cluster_name(arg.application, arg.stack, arg.detail)
    found = []
    for listed in where.scale_sets.list(where.resource_group):
        data = dict(listed.as_dict())
        parsed = ServerGroupName.try_parse(str(data.get("name", "")))
        if parsed is None or parsed.cluster != cluster or parsed.sequence is None:
            continue
        if _location(data.get("location")) != _location(arg.region) or _state(data) == "Deleting":
            continue
        name = str(data["name"])
        found.append(
            arm.describe(
                data,
                _vms(where, name),
                region=arg.region,
                subscription=where.subscription,
                resource_group=where.resource_group,
            )
        )
    return AzureServerGroupList.oldest_first(cluster, found)


@azure_activity("azure.read_server_group_template")
def read_server_group_template(arg: ScaleSetCall) -> AzureCreateServerGroupInput:
    """The create input that would make a copy of a scale set (user data included)."""
    where = _Where(arg)
    found = _require(where, arg.name, user_data=True)
    return arm.clone_source(
        found, subscription=where.subscription, resource_group=where.resource_group
    )


#: Every activity of the plugin, in the order ``register_activities`` adds them.
ACTIVITIES = (
    next_name,
    begin_create_scale_set,
    poll_operation,
    wait_for_instances,
    begin_resize,
    begin_set_traffic,
    set_vm_traffic,
    begin_upgrade_instances,
    begin_delete_scale_set,
    delete_scale_set,
    begin_delete_instances,
    describe_server_group,
    read_server_group_template,
    list_server_groups,
)
