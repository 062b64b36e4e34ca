"""Activities of the optional verbs on GCP: a group's autoscaler as its scaling policy.

GCP scales a managed instance group with one autoscaler, so the group has one policy (its
autoscaler, whatever ``policy_name`` says) and it tracks a target: CPU utilisation. Every
change is a Compute Operation: the activities start it and answer :class:`Started`; the
adapter waits for it (:func:`cloudops_gcp.operations.mutate`) and reads the result back. The
``requestId`` is the adapter's, or (an undo called directly) derived from the call, so a
retried start is deduplicated by the API.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from cloudops import BusinessError, ErrorCode
from cloudops.servergroups.models import ScalingResource, ScalingSettings
from cloudops.servergroups.optional import PolicyCall, PolicyRestore, ScalingPolicyInput
from cloudops_gcp.activities import (
    _Autoscalers,
    _get_operation,
    _group_link,
    _locate,
    _op_ref,
    _v1,
    gcp_activity,
)
from cloudops_gcp.clients import GcpClients, gcp_clients
from cloudops_gcp.models import GroupRef, Started

__all__ = ["OPTIONAL_ACTIVITIES"]

_NAMESPACE = uuid.UUID("0b7f3f0e-2f5c-4b4e-9c44-7a9d3c1f6e21")


def _autoscaler(arg: PolicyCall) -> tuple[GcpClients, GroupRef, _Autoscalers, Any, int]:
    """Clients, the group's ref, its autoscalers, its autoscaler (or None), its target size."""
    clients = gcp_clients(arg.account)
    found = _locate(clients, arg, arg.name)
    if found is None:
        raise BusinessError(
            ErrorCode.NOT_FOUND, f"server group {arg.name!r} does not exist", {"name": arg.name}
        )
    group, zone = found
    ref = GroupRef(account=arg.account, region=arg.region, name=arg.name, zone=zone)
    scalers = _Autoscalers(clients, ref)
    return clients, ref, scalers, scalers.of_group(group.self_link), int(group.target_size)


def _request_id(arg: PolicyCall) -> str:
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
        clients, done = gcp_clients(arg.account), _v1().Operation.Status.DONE
        deadline = time.monotonic() + 120
        for ref in started.operations:
            while _get_operation(clients, ref).status != done and time.monotonic() < deadline:
                time.sleep(0.5)
    return started


#: The activities of the optional verbs GCP offers.
OPTIONAL_ACTIVITIES = (read_scaling_policy, put_scaling_policy, restore_scaling_policy)
