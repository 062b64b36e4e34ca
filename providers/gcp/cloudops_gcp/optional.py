"""Activities of the optional verbs on GCP: the autoscaler, instance templates, reboots.

GCP scales a managed instance group with one autoscaler, so the group has one policy (its
autoscaler, whatever ``policy_name`` says) and it tracks a target: CPU utilisation. What a
group boots, and its labels, are its instance template's: templates cannot change, so
``updateLaunchTemplate`` and the tag verbs copy the group's template with the change and set
the copy on the group (``instanceGroupManagers.setInstanceTemplate``), as Clouddriver's Google
provider does. A reboot is ``instances.reset`` of each instance. Every change is a Compute
Operation: the activities start it and answer :class:`Started`; the adapter waits for it
(:func:`cloudops_gcp.operations.mutate`) and reads the result back. The ``requestId`` is the
adapter's, or (an undo called directly) derived from the call, so a retried start is
deduplicated by the API. Undos called directly wait for their Operations themselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from typing import Any

from cloudops import BusinessError, ErrorCode
from cloudops.servergroups.models import ScalingResource, ScalingSettings
from cloudops.servergroups.optional import (
    InstancesCall,
    PolicyCall,
    PolicyRestore,
    ScalingPolicyInput,
    TemplateCall,
    TemplateChange,
)
from cloudops.servergroups.translate import require_ours
from cloudops_gcp.activities import (
    _Autoscalers,
    _being_created,
    _conflict_type,
    _get_operation,
    _get_template,
    _group_link,
    _Groups,
    _image,
    _instance_zone,
    _locate,
    _op_ref,
    _snake,
    _sub_request_id,
    _template_ref,
    _v1,
    gcp_activity,
)
from cloudops_gcp.clients import GcpClients, gcp_clients
from cloudops_gcp.models import (
    META_STARTUP_SCRIPT,
    GroupRef,
    InstancesStarted,
    OperationRef,
    Started,
    TemplateCopy,
    TemplateStarted,
)
from cloudops_gcp.resources import (
    COPY_BY,
    COPY_CHANGE,
    COPY_FROM,
    copy_marks,
    last,
    template_link,
    template_name,
)

__all__ = ["OPTIONAL_ACTIVITIES"]

_NAMESPACE = uuid.UUID("0b7f3f0e-2f5c-4b4e-9c44-7a9d3c1f6e21")


def _group_of(clients: GcpClients, arg: Any) -> tuple[Any, _Groups]:
    found = _locate(clients, arg, arg.name)
    if found is None:
        raise BusinessError(
            ErrorCode.NOT_FOUND, f"server group {arg.name!r} does not exist", {"name": arg.name}
        )
    group, zone = found
    ref = GroupRef(account=arg.account, region=arg.region, name=arg.name, zone=zone)
    return group, _Groups(clients, ref)


def _autoscaler(arg: PolicyCall) -> tuple[GcpClients, GroupRef, _Autoscalers, Any, int]:
    """Clients, the group's ref, its autoscalers, its autoscaler (or None), its target size."""
    clients = gcp_clients(arg.account)
    group, groups = _group_of(clients, arg)
    ref = groups.ref
    scalers = _Autoscalers(clients, ref)
    return clients, ref, scalers, scalers.of_group(group.self_link), int(group.target_size)


def _request_id(arg: Any) -> str:
    given = arg.scope.get("gcp_request_id")
    return str(given or uuid.uuid5(_NAMESPACE, arg.model_dump_json()))


def _as_json(policy: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(_v1().AutoscalingPolicy.to_json(policy))
    return found


@gcp_activity("gcp.read_scaling_policy")
def read_scaling_policy(arg: PolicyCall) -> ScalingSettings:
    """The group's autoscaler as its one policy (kind ``autoscaler``), or nothing. Read-only."""
    scaler = _autoscaler(arg)[3]
    resources = []
    if scaler is not None:
        resources.append(
            ScalingResource(
                kind="autoscaler", name=scaler.name, spec=_as_json(scaler.autoscaling_policy)
            )
        )
    return ScalingSettings(source=arg.name, resources=resources)


def _covers(now: Any, wanted: Any) -> bool:
    """Whether ``now`` has every value ``wanted`` sets (the API fills in defaults)."""
    if isinstance(wanted, dict) and isinstance(now, dict):
        return all(_covers(now.get(k), v) for k, v in wanted.items() if v not in ([], {}))
    return bool(now == wanted)


def _put(arg: PolicyCall, policy: Any, name: str | None) -> Started:
    """Insert the group's autoscaler with ``policy``, or patch its policy; Started."""
    clients, ref, scalers, scaler, _ = _autoscaler(arg)
    v1 = _v1()
    if scaler is not None:
        if _covers(_as_json(scaler.autoscaling_policy), _as_json(policy)):
            return Started(changed=False, reason="already set")
        body = v1.Autoscaler(name=scaler.name, autoscaling_policy=policy)
        return Started(operations=[_op_ref(scalers.patch(scaler.name, body, _request_id(arg)))])
    body = v1.Autoscaler(
        name=name or arg.name, target=_group_link(clients, ref), autoscaling_policy=policy
    )
    return Started(operations=[_op_ref(scalers.insert(body, _request_id(arg)))])


@gcp_activity("gcp.put_scaling_policy")
def put_scaling_policy(arg: PolicyCall) -> Started:
    """Start setting the autoscaler's CPU target (creating one bounded by the group's size).

    Only CPU target tracking exists here: a step policy or another metric is ``INVALID_INPUT``.
    ``disable_scale_in`` is mode ``ONLY_SCALE_OUT``; ``warmup_seconds`` the cool-down period.
    """
    policy = arg.policy
    assert isinstance(policy, ScalingPolicyInput)
    tracking = policy.target_tracking
    if tracking is None or tracking.metric != "cpu" or tracking.target > 100:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            "a GCP autoscaler tracks a CPU utilisation target (percent); it has no step "
            "policies and no network targets",
            {"errors": [{"field": "target_tracking", "reason": "cpu target tracking only"}]},
        )
    v1 = _v1()
    scaler, size = _autoscaler(arg)[3:]
    current = scaler.autoscaling_policy if scaler is not None else None
    changed = v1.AutoscalingPolicy(
        min_num_replicas=current.min_num_replicas if current else size,
        max_num_replicas=current.max_num_replicas if current else max(size, 1),
        cool_down_period_sec=tracking.warmup_seconds
        if tracking.warmup_seconds is not None
        else (current.cool_down_period_sec if current else 60),
        cpu_utilization=v1.AutoscalingPolicyCpuUtilization(
            utilization_target=tracking.target / 100
        ),
        mode="ONLY_SCALE_OUT" if tracking.disable_scale_in else "ON",
    )
    return _put(arg, changed, None)


@gcp_activity("gcp.restore_scaling_policy")
def restore_scaling_policy(arg: PolicyRestore) -> Started:
    """Start making the autoscaler what ``snapshot`` read: its policy back, or deleted.

    Called as an undo (no ``gcp_request_id`` from the adapter), it also waits until the
    Operation is DONE, so the rollback ends with the policy restored.
    """
    saved = arg.snapshot.of_kind("autoscaler")
    if saved:
        text = json.dumps(saved[0].spec)
        policy = _v1().AutoscalingPolicy.from_json(text, ignore_unknown_fields=True)
        started = _put(arg, policy, saved[0].name)
    else:
        scalers, scaler = _autoscaler(arg)[2:4]
        if scaler is None:
            return Started(changed=False, reason="no autoscaler")
        started = Started(operations=[_op_ref(scalers.delete(scaler.name, _request_id(arg)))])
    if "gcp_request_id" not in arg.scope:
        _wait_done(gcp_clients(arg.account), started.operations)
    return started


def _wait_done(clients: GcpClients, operations: list[OperationRef], seconds: float = 120) -> None:
    """Wait (within this activity) until the Operations are DONE: for undos called directly."""
    done, deadline = _v1().Operation.Status.DONE, time.monotonic() + seconds
    for ref in operations:
        while _get_operation(clients, ref).status != done and time.monotonic() < deadline:
            time.sleep(0.5)


# --------------------------------------------------------------------------------------------
# Instance templates: updateLaunchTemplate and labels (upsert/deleteServerGroupTags)
# --------------------------------------------------------------------------------------------

#: Keys of the JSON a copied template's ``description`` holds: who made it, from which template,
#: for which change (so a retry finds it, and an undo knows where to go back to).
_BY, _FROM, _CHANGE = COPY_BY, COPY_FROM, COPY_CHANGE


def _marks(template: Any) -> dict[str, str]:
    return copy_marks(template.description) if template is not None else {}


def _template_url(project: str, ref: str) -> str:
    """The partial URL of a template as ``_template_ref`` names it (global or regional)."""
    return template_link(project, ref) if "/" not in ref else f"projects/{project}/{ref}"


def _as_dict(properties: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(_v1().InstanceProperties.to_json(properties))
    return found


def _changed_properties(properties: Any, arg: TemplateCopy, project: str) -> Any:
    """A copy of a template's properties with the call's changes and label changes."""
    v1 = _v1()
    data = _as_dict(properties)
    copy = v1.InstanceProperties.from_json(json.dumps(data), ignore_unknown_fields=True)
    changes = arg.changes
    if "image" in changes:
        boot = next(d for d in copy.disks if d.boot)
        boot.initialize_params.source_image = _image(changes["image"], project)
    if "instance_type" in changes:
        copy.machine_type = last(changes["instance_type"])  # a name, as inserts need
    if "user_data" in changes:
        items = {i.key: i.value for i in copy.metadata.items}
        items[META_STARTUP_SCRIPT] = changes["user_data"]
        copy.metadata = v1.Metadata(items=[v1.Items(key=k, value=v) for k, v in items.items()])
    labels = {**dict(copy.labels), **arg.labels}
    for key in arg.drop_labels:
        labels.pop(key, None)
    copy.labels = labels
    return copy


@gcp_activity("gcp.copy_instance_template")
def copy_instance_template(arg: TemplateCopy) -> TemplateStarted:
    """Start inserting a copy of the group's instance template with the changes; or find it.

    The copy is named after the group, the request, the change and the template it copies
    (deterministic) and records them in its description: one that exists and is this
    request's is the answer; a group already on this request's copy is done (a retry after the
    set); a change that changes nothing makes no template (``previous == current``).
    """
    clients = gcp_clients(arg.account)
    group = _group_of(clients, arg)[0]
    current = _template_ref(group.instance_template)
    template = _get_template(clients, current)
    if template is None:
        raise BusinessError(
            ErrorCode.CONFLICT,
            f"the instance template of {arg.name} ({current}) cannot be read",
            {"name": arg.name, "instance_template": current},
        )
    change = json.dumps(
        {"changes": arg.changes, "labels": arg.labels, "drop": sorted(arg.drop_labels)},
        sort_keys=True,
    )
    digest = hashlib.sha256(change.encode()).hexdigest()[:12]
    marks = _marks(template)
    if marks.get(_BY) == arg.request_id and marks.get(_CHANGE) == digest:
        return TemplateStarted(previous=marks.get(_FROM, current), current=current, changed=False)
    wanted = _changed_properties(template.properties, arg, clients.project)
    if _as_dict(wanted) == _as_dict(template.properties):
        return TemplateStarted(previous=current, current=current, changed=False)
    name = template_name(arg.name, f"{arg.request_id}|{digest}|{current}")
    made = TemplateStarted(previous=current, current=name)

    def ours() -> TemplateStarted:
        existing = _get_template(clients, name)
        if existing is None:
            raise _being_created(name)
        require_ours("instance template", name, _marks(existing).get(_BY), arg.request_id, "name")
        return made

    if _get_template(clients, name) is not None:
        return ours()
    v1 = _v1()
    description = {_BY: arg.request_id, _FROM: current, _CHANGE: digest}
    body = v1.InstanceTemplate(
        name=name, description=json.dumps(description, sort_keys=True), properties=wanted
    )
    request = v1.InsertInstanceTemplateRequest(
        project=clients.project, instance_template_resource=body, request_id=arg.gcp_request_id
    )
    client = clients.get("InstanceTemplatesClient")
    try:
        op = client.insert_unary(request=request, retry=None, timeout=clients.timeout)
    except _conflict_type():
        return ours()
    made.operations = [_op_ref(op)]
    return made


def _set_template(clients: GcpClients, groups: _Groups, ref: str, request_id: str) -> Any:
    """Start ``setInstanceTemplate`` of the group (zonal or regional)."""
    v1, url = _v1(), _template_url(clients.project, ref)
    body_class, kind = (
        ("InstanceGroupManagersSetInstanceTemplateRequest", "")
        if groups.zonal
        else ("RegionInstanceGroupManagersSetTemplateRequest", "Region")
    )
    request = getattr(v1, f"SetInstanceTemplate{kind}InstanceGroupManagerRequest")(
        **groups.where,
        instance_group_manager=groups.ref.name,
        request_id=request_id,
        **{f"{_snake(body_class)}_resource": getattr(v1, body_class)(instance_template=url)},
    )
    return groups.client.set_instance_template_unary(
        request=request, retry=None, timeout=clients.timeout
    )


@gcp_activity("gcp.set_instance_template")
def set_instance_template(arg: TemplateCopy) -> Started:
    """Start setting the group's instance template to ``version``; nothing if it has it."""
    clients = gcp_clients(arg.account)
    group, groups = _group_of(clients, arg)
    assert arg.version is not None
    if _template_ref(group.instance_template) == arg.version:
        return Started(changed=False, reason="already set")
    op = _set_template(clients, groups, arg.version, arg.gcp_request_id)
    return Started(operations=[_op_ref(op)])


@gcp_activity("gcp.set_launch_template")
def set_launch_template(arg: TemplateCall) -> TemplateChange:
    """The undo: set the group's template back, wait, and delete the copy this request made.

    Back to ``version``, or (none given) to the template the group's current one was copied
    from, if this request made it. The copy is deleted when this request made it and nothing
    uses it any more; a failure to delete it leaves it (a cheap clean-up, not a must).
    """
    clients = gcp_clients(arg.account)
    group, groups = _group_of(clients, arg)
    current = _template_ref(group.instance_template)
    marks = _marks(_get_template(clients, current))
    made_here = bool(arg.request_id) and marks.get(_BY) == arg.request_id
    target = arg.version or (marks.get(_FROM) if made_here else None)
    if not target or target == current:
        return TemplateChange(previous=current, current=current)
    base = str(uuid.uuid5(_NAMESPACE, f"{arg.request_id}|{arg.name}|{current}|{target}"))
    _wait_done(clients, [_op_ref(_set_template(clients, groups, target, base))])
    if made_here and "/" not in current:
        request = _v1().DeleteInstanceTemplateRequest(
            project=clients.project,
            instance_template=current,
            request_id=_sub_request_id(base, "delete"),
        )
        with contextlib.suppress(Exception):  # in use, gone or throttled: the copy stays
            op = clients.get("InstanceTemplatesClient").delete_unary(
                request=request, retry=None, timeout=clients.timeout
            )
            _wait_done(clients, [_op_ref(op)], seconds=30)
    return TemplateChange(previous=current, current=target)


# --------------------------------------------------------------------------------------------
# rebootInstances: instances.reset
# --------------------------------------------------------------------------------------------


@gcp_activity("gcp.reboot_instances")
def reboot_instances(arg: InstancesCall) -> InstancesStarted:
    """Start ``instances.reset`` of instances of the group (others: NOT_FOUND, none reset).

    A reset is a hard reset (no graceful shutdown); repeating one is harmless, and each
    instance's reset carries its own ``requestId`` derived from the call's.
    """
    clients = gcp_clients(arg.account)
    groups = _group_of(clients, arg)[1]
    members = {m.name or last(m.instance): m for m in groups.managed()}
    outside = sorted(set(arg.instance_ids) - set(members))
    if outside:
        raise BusinessError(
            ErrorCode.NOT_FOUND,
            f"not instances of {arg.name}: {', '.join(outside)}",
            {"name": arg.name, "instances": outside},
        )
    v1, base = _v1(), _request_id(arg)
    client = clients.get("InstancesClient")
    operations = []
    for name in arg.instance_ids:
        request = v1.ResetInstanceRequest(
            project=clients.project,
            zone=_instance_zone(members[name].instance),
            instance=name,
            request_id=_sub_request_id(base, f"reset:{name}"),
        )
        op = client.reset_unary(request=request, retry=None, timeout=clients.timeout)
        operations.append(_op_ref(op))
    return InstancesStarted(operations=operations, instances=list(arg.instance_ids))


#: The activities of the optional verbs GCP offers.
OPTIONAL_ACTIVITIES = (
    read_scaling_policy,
    put_scaling_policy,
    restore_scaling_policy,
    copy_instance_template,
    set_instance_template,
    set_launch_template,
    reboot_instances,
)
