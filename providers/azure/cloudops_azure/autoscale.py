"""Activities of Azure autoscale settings (``Microsoft.Insights/autoscalesettings``).

A scale set is scaled by the one autoscale setting whose ``targetResourceUri`` is the scale
set; its profiles hold the capacity bounds and the rules. A clone or deploy copies the
source's setting under a name derived from the new group, re-targeted (the target and every
rule's ``metricResourceUri`` that named the source). A scaling policy is one profile of that
setting (``policy_name``) with one rule. Autoscale settings are written synchronously (PUT
200/201, DELETE 200/204), so each activity is one idempotent upsert or delete by name.
"""

from __future__ import annotations

import json
from typing import Any

from cloudops import BusinessError, ErrorCode
from cloudops.servergroups.contract import GroupCall, ScalingCopyInput, ScalingCopyOutput
from cloudops.servergroups.models import ScalingResource, ScalingSettings, copied_name
from cloudops.servergroups.optional import PolicyCall, PolicyRestore, ScalingPolicyInput
from cloudops_azure import arm
from cloudops_azure.activities import _require, _Where, azure_activity
from cloudops_azure.clients import monitor_client
from cloudops_azure.models import ScaleSetCall

__all__ = ["AUTOSCALE_ACTIVITIES", "TAG_UNPINNED", "follow_group_min", "follow_min"]

_OPERATORS = {
    "GreaterThanOrEqualToThreshold": "GreaterThanOrEqual",
    "GreaterThanThreshold": "GreaterThan",
    "LessThanThreshold": "LessThan",
    "LessThanOrEqualToThreshold": "LessThanOrEqual",
}
_STATISTICS = {"Average": "Average", "Sum": "Sum", "Minimum": "Min", "Maximum": "Max"}
_STATISTICS["SampleCount"] = "Count"
_ADJUSTMENTS = {
    "ChangeInCapacity": "ChangeCount",
    "ExactCapacity": "ExactCount",
    "PercentChangeInCapacity": "PercentChangeCount",
}


class _Group:
    """One scale set, its ARM id, and the autoscale settings of its resource group."""

    def __init__(self, call: GroupCall, scope: dict[str, Any], name: str | None = None) -> None:
        ref = ScaleSetCall(
            account=call.account,
            region=call.region,
            name=name or call.name,
            resource_group=scope.get("resource_group"),
        )
        self.where = _Where(ref)
        self.name = ref.name
        self.settings = monitor_client(call.account).autoscale_settings
        rg, sub = self.where.resource_group, self.where.subscription
        self.id = (
            f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
            f"Microsoft.Compute/virtualMachineScaleSets/{self.name}"
        )

    def scale_set(self) -> dict[str, Any]:
        return _require(self.where, self.name)

    def setting(self) -> dict[str, Any] | None:
        """The setting (wire JSON, with its ``name``) that targets this scale set, or None."""
        for found in self.settings.list_by_resource_group(self.where.resource_group):
            data: dict[str, Any] = found.serialize(keep_readonly=True)
            target = str((data.get("properties") or {}).get("targetResourceUri") or "")
            if target.lower() == self.id.lower():
                return data
        return None

    def put(self, name: str, setting: dict[str, Any]) -> None:
        body = {k: v for k, v in setting.items() if k not in ("id", "name", "type")}
        self.settings.create_or_update(self.where.resource_group, name, json.dumps(body).encode())

    def delete(self, name: str) -> None:
        self.settings.delete(self.where.resource_group, name)


def _retarget(value: Any, source: str, target: str) -> Any:
    if isinstance(value, str):
        return target if value.lower() == source.lower() else value
    if isinstance(value, list):
        return [_retarget(v, source, target) for v in value]
    if isinstance(value, dict):
        return {k: _retarget(v, source, target) for k, v in value.items()}
    return value


#: The autoscale setting's tag that remembers, per profile, the capacity (minimum, maximum,
#: default) a raised minimum replaced: the profile gets it back when the group's min drops.
TAG_UNPINNED = "cloudops:unpinned"


def follow_min(setting: dict[str, Any], minimum: int) -> bool:
    """Keep each profile's minimum at least the group's ``minimum``; False: nothing to change.

    Why: a deploy pins the new group's min at its desired while traffic moves; its copied
    setting (or any setting of the group) would otherwise scale it in below that, which cannot
    happen on AWS and GCP (their autoscaling's min is the group's own). A profile raised keeps
    its capacity before in :data:`TAG_UNPINNED`; when the min drops again (the pin released,
    or its compensation) the profile takes that capacity back.
    """
    tags = dict(setting.get("tags") or {})
    saved: dict[str, list[int]] = json.loads(tags.pop(TAG_UNPINNED, "{}"))
    remembered: dict[str, list[int]] = {}
    changed = False
    for profile in (setting.get("properties") or {}).get("profiles") or []:
        capacity = profile.get("capacity") or {}
        now = [int(capacity[k]) for k in ("minimum", "maximum", "default")]
        low, high, default = saved.get(str(profile.get("name")), now)
        if minimum > low:
            remembered[str(profile.get("name"))] = [low, high, default]
            low, high, default = minimum, max(high, minimum), max(default, minimum)
        if [low, high, default] != now:
            profile["capacity"] = {
                "minimum": str(low),
                "maximum": str(high),
                "default": str(default),
            }
            changed = True
    if remembered:
        tags[TAG_UNPINNED] = json.dumps(remembered, separators=(",", ":"), sort_keys=True)
    changed = changed or tags != (setting.get("tags") or {})
    setting["tags"] = tags
    return changed


def follow_group_min(where: _Where, name: str, minimum: int) -> None:
    """Make the autoscale setting of scale set ``name`` (if any) follow its new min."""
    call = ScaleSetCall(
        account=where.account, region=where.region, name=name, resource_group=where.resource_group
    )
    group = _Group(call, {"resource_group": where.resource_group})
    setting = group.setting()
    if setting is not None and follow_min(setting, minimum):
        group.put(setting["name"], setting)


@azure_activity("azure.read_scaling")
def read_scaling(arg: ScaleSetCall) -> ScalingSettings:
    """The autoscale setting that targets the scale set (kind ``autoscale_setting``). Read-only."""
    group = _Group(arg, {"resource_group": arg.resource_group})
    group.scale_set()  # NOT_FOUND for a missing source
    setting = group.setting()
    resources = []
    if setting is not None:
        spec = {k: v for k, v in setting.items() if k not in ("id", "type")}
        resources.append(ScalingResource(kind="autoscale_setting", name=setting["name"], spec=spec))
    return ScalingSettings(source=arg.name, resources=resources)


@azure_activity("azure.copy_scaling")
def copy_scaling(arg: ScalingCopyInput) -> ScalingCopyOutput:
    """PUT the source's setting as ``copied_name``, aimed at the new scale set (an upsert).

    The profiles' minimum is at least the new group's min (:func:`follow_min`).
    """
    out = ScalingCopyOutput()
    source = _Group(arg, arg.scope, arg.settings.source)
    target = _Group(arg, arg.scope)
    minimum = arm.capacity_of(target.scale_set()).min
    for setting in arg.settings.of_kind("autoscale_setting"):
        name = copied_name(setting.name, arg.settings.source, arg.name, limit=260)
        copy = _retarget(setting.spec, source.id, target.id)
        follow_min(copy, minimum)  # a pinned new group: its profiles' minimum follows
        target.put(name, copy)
        out.add("autoscale_setting", name)
    return out


@azure_activity("azure.delete_copied_scaling")
def delete_copied_scaling(arg: ScalingCopyInput) -> ScalingCopyOutput:
    """DELETE what ``azure.copy_scaling`` made (204, already gone, is success): its undo."""
    out = ScalingCopyOutput()
    target = _Group(arg, arg.scope)
    for setting in arg.settings.of_kind("autoscale_setting"):
        name = copied_name(setting.name, arg.settings.source, arg.name, limit=260)
        target.delete(name)
        out.add("autoscale_setting", name)
    return out


def _profile_state(group: _Group, policy: str) -> ScalingSettings:
    setting = group.setting()
    resources = []
    for profile in (setting or {}).get("properties", {}).get("profiles", []):
        if profile.get("name") == policy:
            spec = {"setting": setting["name"] if setting else "", "profile": profile}
            resources.append(ScalingResource(kind="autoscale_profile", name=policy, spec=spec))
    return ScalingSettings(source=group.name, resources=resources)


@azure_activity("azure.read_scaling_policy")
def read_scaling_policy(arg: PolicyCall) -> ScalingSettings:
    """The profile ``policy_name`` of the scale set's autoscale setting, or nothing."""
    return _profile_state(_Group(arg, arg.scope), arg.policy.policy_name)


def _with_profile(
    group: _Group, name: str, profile: dict[str, Any] | None, setting_name: str | None = None
) -> ScalingSettings:
    """Replace (None: remove) the profile ``name``; a setting left without one is deleted."""
    setting = group.setting()
    if setting is None and profile is None:
        return _profile_state(group, name)
    if setting is None:
        setting = {
            "name": setting_name or group.name,
            "location": group.where.region,
            "properties": {"enabled": True, "targetResourceUri": group.id, "profiles": []},
        }
    profiles = [p for p in setting["properties"].get("profiles", []) if p.get("name") != name]
    profiles += [profile] if profile is not None else []
    if profiles:
        group.put(
            setting["name"],
            {**setting, "properties": {**setting["properties"], "profiles": profiles}},
        )
    else:
        group.delete(setting["name"])
    return _profile_state(group, name)


@azure_activity("azure.put_scaling_policy")
def put_scaling_policy(arg: PolicyCall) -> ScalingSettings:
    """The profile ``policy_name``: the scale set's capacity bounds and one rule of ``step``.

    Azure rules change the capacity by one amount while a metric crosses its threshold, so a
    step policy has one step here; target tracking does not exist (``INVALID_INPUT``).
    """
    policy = arg.policy
    assert isinstance(policy, ScalingPolicyInput)
    step = policy.step
    if step is None or len(step.steps) != 1:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            "Azure autoscale rules have no target tracking and no step intervals: give a step "
            "policy with one step",
            {"errors": [{"field": "step", "reason": "one step only"}]},
        )
    group = _Group(arg, arg.scope)
    capacity = arm.capacity_of(group.scale_set())
    alarm, adjustment = step.alarm, step.steps[0].adjustment
    window = alarm.period_seconds * alarm.evaluation_periods
    profile = {
        "name": policy.policy_name,
        "capacity": {
            "minimum": str(capacity.min),
            "maximum": str(capacity.max),
            "default": str(capacity.desired),
        },
        "rules": [
            {
                "metricTrigger": {
                    "metricName": alarm.metric,
                    "metricNamespace": "",
                    "metricResourceUri": group.id,
                    "timeGrain": f"PT{alarm.period_seconds}S",
                    "statistic": _STATISTICS[alarm.statistic],
                    "timeWindow": f"PT{max(window, 300)}S",
                    "timeAggregation": _STATISTICS[alarm.statistic],
                    "operator": _OPERATORS[alarm.comparison],
                    "threshold": alarm.threshold,
                },
                "scaleAction": {
                    "direction": "Increase" if adjustment >= 0 else "Decrease",
                    "type": _ADJUSTMENTS[step.adjustment_type],
                    "value": str(abs(adjustment)),
                    "cooldown": f"PT{step.cooldown_seconds or 300}S",
                },
            }
        ],
    }
    before = _profile_state(group, policy.policy_name).of_kind("autoscale_profile")
    if before and before[0].spec["profile"] == profile:
        return _profile_state(group, policy.policy_name)
    return _with_profile(group, policy.policy_name, profile)


@azure_activity("azure.restore_scaling_policy")
def restore_scaling_policy(arg: PolicyRestore) -> ScalingSettings:
    """Make the profile what ``snapshot`` read: put back, or removed."""
    saved = arg.snapshot.of_kind("autoscale_profile")
    group = _Group(arg, arg.scope)
    if saved:
        return _with_profile(
            group, arg.policy.policy_name, saved[0].spec["profile"], saved[0].spec["setting"]
        )
    return _with_profile(group, arg.policy.policy_name, None)


#: The autoscale activities of cloudops-azure.
AUTOSCALE_ACTIVITIES = (
    read_scaling,
    copy_scaling,
    delete_copied_scaling,
    read_scaling_policy,
    put_scaling_policy,
    restore_scaling_policy,
)
