"""Zonal ``autoscalers`` and ``regionAutoscalers`` of the emulated Compute API.

What is covered: insert, get, list, patch (JSON merge patch, ``?autoscaler=NAME``), update
(PUT, the whole resource) and delete, each answering an Operation in the autoscaler's zone or
region (kinds ``autoscalers.insert`` / ``.patch`` / ``.update`` / ``.delete`` for both
scopes). Inserts validate the target (a managed instance group of the same zone or region,
404 if missing, 400 if already autoscaled) and the policy (``maxNumReplicas`` required,
``0 <= minNumReplicas <= maxNumReplicas``, ``cpuUtilization.utilizationTarget`` in (0, 1],
``mode`` one of ON, OFF, ONLY_SCALE_OUT, ONLY_UP), filling the API's defaults (CPU target 0.6,
cool-down 60 s, mode ON). A group cannot be deleted while an autoscaler targets it (400
``resourceInUseByAnotherResource``), as gcloud's practice of deleting the autoscaler first
suggests.

How the emulator scales: there is no load, so an autoscaler that scales (mode ON or ONLY_UP /
ONLY_SCALE_OUT) only keeps its group's ``targetSize`` within its bounds: ON raises it to
``minNumReplicas`` and lowers it to ``maxNumReplicas``, the scale-out-only modes only raise it;
``recommendedSize`` is that size. A manual ``resize`` of such a group is accepted and then put
back within bounds, not at once: on the autoscaler's next evaluation, and scale-in only after a
stabilisation period (``Timing.autoscaler_seconds``, ``Timing.scale_in_seconds``). OFF leaves
the size alone. Not covered: ``aggregatedList``, scaling
schedules' and custom metrics' effects, ``statusDetails`` beyond none.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from cloudops_testing.gcp_emulator.errors import (
    already_exists,
    invalid,
    not_found,
)
from cloudops_testing.gcp_emulator.links import check_name, link, timestamp
from cloudops_testing.gcp_emulator.operations import Operation, Scope
from cloudops_testing.gcp_emulator.policy import bounded_size

if TYPE_CHECKING:
    from cloudops_testing.gcp_emulator.compute import ComputeState

__all__ = [
    "MODES",
    "change_autoscaler",
    "delete_autoscaler",
    "get_autoscaler",
    "insert_autoscaler",
    "list_autoscalers",
    "render_autoscaler",
]

#: ``AutoscalingPolicy.mode`` values the API accepts.
MODES = ("ON", "OFF", "ONLY_SCALE_OUT", "ONLY_UP")
_SIGNALS = ("cpuUtilization", "loadBalancingUtilization", "customMetricUtilizations")


def autoscaler_path(state: ComputeState, scope: Scope, name: str) -> str:
    """``projects/p/zones/z/autoscalers/NAME`` (or ``regions/r``)."""
    return f"{scope.path(state.project)}/autoscalers/{name}"


def get_autoscaler(state: ComputeState, scope: Scope, name: str) -> dict[str, Any]:
    """The stored autoscaler or 404."""
    state.check_scope(scope)
    path = autoscaler_path(state, scope, name)
    found = state.autoscalers.get(path)
    if found is None:
        raise not_found(path)
    return found


def render_autoscaler(state: ComputeState, scaler: dict[str, Any]) -> dict[str, Any]:
    """The autoscaler as the API shows it, with its current ``recommendedSize``."""
    body = {k: copy.deepcopy(v) for k, v in scaler.items() if not k.startswith("_")}
    group = state.groups.get(scaler["_target"])
    if group is not None:
        body["recommendedSize"] = bounded_size(scaler["autoscalingPolicy"], group["targetSize"])
    return body


def list_autoscalers(state: ComputeState, scope: Scope) -> list[dict[str, Any]]:
    """The rendered autoscalers of one zone or region, by name."""
    state.check_scope(scope)
    prefix = f"{scope.path(state.project)}/autoscalers/"
    return [
        render_autoscaler(state, scaler)
        for path, scaler in sorted(state.autoscalers.items())
        if path.startswith(prefix)
    ]


def _number(value: Any, field: str, *, required: bool = False) -> int | None:
    if value is None:
        if required:
            raise invalid(f"Required field '{field}' not specified", reason="required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid(f"Invalid value for field '{field}': '{value}'.")
    try:
        number = int(value)
    except ValueError:
        raise invalid(f"Invalid value for field '{field}': '{value}'.") from None
    if number < 0:
        raise invalid(f"Invalid value for field '{field}': '{value}'. Must be >= 0.")
    return number


def _policy(raw: Any) -> dict[str, Any]:
    """A validated policy with the API's defaults filled in."""
    field = "resource.autoscalingPolicy"
    if not isinstance(raw, dict):
        raise invalid(f"Required field '{field}' not specified", reason="required")
    policy = copy.deepcopy(raw)
    high = _number(policy.get("maxNumReplicas"), f"{field}.maxNumReplicas", required=True)
    assert high is not None
    low = _number(policy.get("minNumReplicas"), f"{field}.minNumReplicas")
    low = min(1, high) if low is None else low
    if low > high:
        raise invalid(
            f"Invalid value for field '{field}.minNumReplicas': '{low}'. Must be less than or "
            f"equal to maxNumReplicas ({high})."
        )
    cool = _number(policy.get("coolDownPeriodSec"), f"{field}.coolDownPeriodSec")
    mode = policy.get("mode", "ON")
    if mode not in MODES:
        raise invalid(f"Invalid value for field '{field}.mode': '{mode}'.")
    if not any(policy.get(signal) for signal in _SIGNALS):
        policy["cpuUtilization"] = {"utilizationTarget": 0.6}
    cpu = policy.get("cpuUtilization")
    if cpu:
        target = cpu.get("utilizationTarget", 0.6) if isinstance(cpu, dict) else None
        if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 1:
            raise invalid(
                f"Invalid value for field '{field}.cpuUtilization.utilizationTarget': "
                f"'{target}'. Must be in the range (0, 1]."
            )
        policy["cpuUtilization"] = {
            "predictiveMethod": "NONE",
            **cpu,
            "utilizationTarget": float(target),
        }
    policy.update(
        minNumReplicas=low,
        maxNumReplicas=high,
        coolDownPeriodSec=60 if cool is None else cool,
        mode=mode,
    )
    return policy


def _target(state: ComputeState, scope: Scope, value: Any) -> str:
    """The group an autoscaler targets: of the same zone or region, existing, not autoscaled."""
    path = state._rel(value, "resource.target")
    parts = path.split("/")
    if len(parts) != 6 or parts[4] != "instanceGroupManagers":
        raise invalid(f"Invalid value for field 'resource.target': '{value}'.")
    if f"{parts[2]}/{parts[3]}" != f"{scope.kind}/{scope.location}":
        raise invalid(
            f"Invalid value for field 'resource.target': '{value}'. The target must be in "
            f"{scope.kind[:-1]} '{scope.location}'."
        )
    if path not in state.groups:
        raise not_found(path)
    return path


def insert_autoscaler(
    state: ComputeState, scope: Scope, body: dict[str, Any], request_id: str | None
) -> Operation:
    """Validate and schedule the creation of an autoscaler."""
    again = state.ops.dedupe(state.project, request_id, "autoscalers.insert")
    if again is not None:
        return again
    state.check_scope(scope)
    name = check_name(body.get("name"))
    path = autoscaler_path(state, scope, name)
    if path in state.autoscalers or path in state.reserved:
        raise already_exists(path)
    target = _target(state, scope, body.get("target"))
    for other in state.autoscalers.values():
        if other["_target"] == target:
            raise invalid(
                f"Invalid value for field 'resource.target': '{link(target)}'. The instance "
                f"group manager is already autoscaled by '{other['name']}'."
            )
    scope_path = scope.path(state.project)
    resource: dict[str, Any] = {
        "kind": "compute#autoscaler",
        "id": state.ops.new_id(),
        "creationTimestamp": timestamp(),
        "name": name,
        "description": str(body.get("description") or ""),
        "target": link(target),
        "autoscalingPolicy": _policy(body.get("autoscalingPolicy")),
        "selfLink": link(path),
        "status": "ACTIVE",
        "_target": target,
        "_scope": scope,
    }
    resource["zone" if scope.kind == "zones" else "region"] = link(scope_path)
    state.reserved.add(path)

    def apply() -> None:
        state.reserved.discard(path)
        if target not in state.groups:
            raise not_found(target)
        state.autoscalers[path] = resource
        state.enforce_bounds()

    return state._op(scope, "autoscalers.insert", "insert", path, resource["id"], request_id, apply)


def _merge(current: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, ``null`` removes, others replace."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(current) if isinstance(current, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


def change_autoscaler(
    state: ComputeState,
    scope: Scope,
    name: str | None,
    body: dict[str, Any],
    request_id: str | None,
    *,
    replace: bool,
) -> Operation:
    """``patch`` (merge) or ``update`` (replace) the autoscaler ``name`` (query or body)."""
    kind = "autoscalers.update" if replace else "autoscalers.patch"
    again = state.ops.dedupe(state.project, request_id, kind)
    if again is not None:
        return again
    name = name or body.get("name")
    if not name:
        raise invalid("Required field 'autoscaler' not specified", reason="required")
    scaler = get_autoscaler(state, scope, str(name))
    if body.get("name") not in (None, scaler["name"]):
        raise invalid(f"Invalid value for field 'resource.name': '{body['name']}'.")
    if "target" in body and state._rel(body["target"], "resource.target") != scaler["_target"]:
        raise invalid("Invalid value for field 'resource.target': the target cannot change.")
    if replace:
        policy = _policy(body.get("autoscalingPolicy"))
        description = str(body.get("description") or "")
    else:
        current = scaler["autoscalingPolicy"]
        policy = _policy(_merge(current, body.get("autoscalingPolicy") or {}))
        description = str(body.get("description", scaler["description"]) or "")
    path = autoscaler_path(state, scope, scaler["name"])

    def apply() -> None:
        scaler["autoscalingPolicy"] = policy
        scaler["description"] = description
        state.enforce_bounds()

    return state._op(
        scope, kind, "update" if replace else "patch", path, scaler["id"], request_id, apply
    )


def delete_autoscaler(
    state: ComputeState, scope: Scope, name: str, request_id: str | None
) -> Operation:
    """Schedule the deletion of an autoscaler; 404 if absent."""
    again = state.ops.dedupe(state.project, request_id, "autoscalers.delete")
    if again is not None:
        return again
    scaler = get_autoscaler(state, scope, name)
    path = autoscaler_path(state, scope, name)

    def apply() -> None:
        state.autoscalers.pop(path, None)

    return state._op(scope, "autoscalers.delete", "delete", path, scaler["id"], request_id, apply)
