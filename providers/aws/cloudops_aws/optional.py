"""Activities of the optional verbs on AWS: boto3 calls, each idempotent.

Scaling policies, launch template versions, tags, reboots, detaching, scaling processes and
image sharing.

The kit's skeletons (:mod:`cloudops.servergroups.optional`) call them by their conventional
names and register their undos; every one reads first, so a repeated call changes nothing.
"""

from __future__ import annotations

from typing import Any

import cloudops
from cloudops import BusinessError, ErrorCode
from cloudops.accounts import current_account, current_account_names
from cloudops.servergroups.models import ScalingResource, ScalingSettings
from cloudops.servergroups.optional import (
    AllowLaunchCall,
    AllowLaunchOutput,
    InstancesCall,
    InstancesChange,
    PolicyCall,
    PolicyRestore,
    ProcessesCall,
    ScalingPolicyInput,
    TagsCall,
    TagsChange,
    TemplateCall,
    TemplateChange,
    not_members,
)
from cloudops.servergroups.translate import user_data_base64
from cloudops_aws.activities import (
    _ALARM_FIELDS,
    _POLICY_FIELDS,
    _alarms_of,
    _delete_alarms_of,
    _gone_ok,
    _is_not_found,
    _launch_template_spec,
    _pick,
    _policies,
    _require_group,
    _resolve_image,
    _retarget,
    _tags,
    aws_activity,
)
from cloudops_aws.clients import aws_client

__all__ = ["OPTIONAL_ACTIVITIES", "ImageOwner"]

#: The predefined metric of each common target-tracking metric.
_PREDEFINED = {
    "cpu": "ASGAverageCPUUtilization",
    "network_in": "ASGAverageNetworkIn",
    "network_out": "ASGAverageNetworkOut",
}


def _alarm_name(group: str, policy: str) -> str:
    """The alarm cloudops makes for a step policy: named after the group and the policy."""
    return f"{group}-{policy}"


def _policy_state(asg: Any, cw: Any, group: str, policy: str) -> ScalingSettings:
    found = [p for p in _policies(asg, group) if p["PolicyName"] == policy]
    resources = [
        ScalingResource(kind="policy", name=policy, spec=_pick(p, _POLICY_FIELDS)) for p in found
    ]
    resources += [
        ScalingResource(kind="alarm", name=name, spec=_pick(alarm, _ALARM_FIELDS))
        for name, alarm in sorted(_alarms_of(cw, found).items())
    ]
    return ScalingSettings(source=group, resources=resources)


@aws_activity("aws.read_scaling_policy")
def read_scaling_policy(arg: PolicyCall) -> ScalingSettings:
    """The policy (and the alarms that drive it) of the group, or nothing. Read-only."""
    asg = aws_client("autoscaling", arg.account, arg.region)
    cw = aws_client("cloudwatch", arg.account, arg.region)
    return _policy_state(asg, cw, arg.name, arg.policy.policy_name)


def _arn(asg: Any, group: str, policy: str) -> str:
    # moto's PutScalingPolicy answer lacks PolicyARN (cloud-apis.md): read it back.
    return str(next(p["PolicyARN"] for p in _policies(asg, group) if p["PolicyName"] == policy))


@aws_activity("aws.put_scaling_policy")
def put_scaling_policy(arg: PolicyCall) -> ScalingSettings:
    """PutScalingPolicy (an upsert by name) and, for a step policy, PutMetricAlarm on the group.

    A policy that was a step policy loses the alarms only it used.
    """
    asg = aws_client("autoscaling", arg.account, arg.region)
    cw = aws_client("cloudwatch", arg.account, arg.region)
    policy, group = arg.policy, arg.name
    assert isinstance(policy, ScalingPolicyInput)
    before = [p for p in _policies(asg, group) if p["PolicyName"] == policy.policy_name]
    params: dict[str, Any]
    if policy.target_tracking is not None:
        tracking = policy.target_tracking
        params = {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingConfiguration": {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": _PREDEFINED[tracking.metric]
                },
                "TargetValue": tracking.target,
                "DisableScaleIn": tracking.disable_scale_in,
            },
        }
        if tracking.warmup_seconds is not None:
            params["EstimatedInstanceWarmup"] = tracking.warmup_seconds
        _delete_alarms_of(arg, before)
    else:
        step = policy.step
        assert step is not None
        params = {
            "PolicyType": "StepScaling",
            "AdjustmentType": step.adjustment_type,
            "MetricAggregationType": step.alarm.statistic
            if step.alarm.statistic in ("Average", "Minimum", "Maximum")
            else "Average",
            "StepAdjustments": [
                {
                    **({"MetricIntervalLowerBound": s.lower} if s.lower is not None else {}),
                    **({"MetricIntervalUpperBound": s.upper} if s.upper is not None else {}),
                    "ScalingAdjustment": s.adjustment,
                }
                for s in step.steps
            ],
        }
        if step.cooldown_seconds is not None:
            params["EstimatedInstanceWarmup"] = step.cooldown_seconds
    asg.put_scaling_policy(AutoScalingGroupName=group, PolicyName=policy.policy_name, **params)
    if policy.step is not None:
        alarm = policy.step.alarm
        cw.put_metric_alarm(
            AlarmName=_alarm_name(group, policy.policy_name),
            MetricName=alarm.metric,
            Namespace=alarm.namespace,
            Statistic=alarm.statistic,
            Dimensions=[{"Name": "AutoScalingGroupName", "Value": group}],
            Period=alarm.period_seconds,
            EvaluationPeriods=alarm.evaluation_periods,
            Threshold=alarm.threshold,
            ComparisonOperator=alarm.comparison,
            AlarmActions=[_arn(asg, group, policy.policy_name)],
        )
    return _policy_state(asg, cw, group, policy.policy_name)


@aws_activity("aws.restore_scaling_policy")
def restore_scaling_policy(arg: PolicyRestore) -> ScalingSettings:
    """Make the policy what ``snapshot`` read: put it and its alarms back, or delete them."""
    asg = aws_client("autoscaling", arg.account, arg.region)
    cw = aws_client("cloudwatch", arg.account, arg.region)
    group, name, snapshot = arg.name, arg.policy.policy_name, arg.snapshot
    now = _policy_state(asg, cw, group, name)
    keep = {r.name for r in snapshot.of_kind("alarm")}
    stale = [r.name for r in now.of_kind("alarm") if r.name not in keep]
    if stale:
        cw.delete_alarms(AlarmNames=stale)
    policies = snapshot.of_kind("policy")
    if not policies:
        _gone_ok(asg.delete_policy, AutoScalingGroupName=group, PolicyName=name)
        return _policy_state(asg, cw, group, name)
    spec = {k: v for k, v in policies[0].spec.items() if k != "PolicyARN"}
    asg.put_scaling_policy(AutoScalingGroupName=group, PolicyName=name, **spec)
    arns = {str(policies[0].spec.get("PolicyARN", "")): _arn(asg, group, name)}
    for alarm in snapshot.of_kind("alarm"):
        cw.put_metric_alarm(AlarmName=alarm.name, **_retarget(alarm.spec, arns, group, group))
    return _policy_state(asg, cw, group, name)


def _versions(ec2: Any, template_id: str) -> list[dict[str, Any]]:
    found = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)
    return list(found.get("LaunchTemplateVersions") or [])


@aws_activity("aws.update_launch_template")
def update_launch_template(arg: TemplateCall) -> TemplateChange:
    """A new version of the group's launch template with ``changes``, default and the group's.

    The version's description holds the request id and what it replaced, so a retry finds it.
    """
    asg = aws_client("autoscaling", arg.account, arg.region)
    ec2 = aws_client("ec2", arg.account, arg.region)
    group = _require_group(asg, arg.name)
    spec = _launch_template_spec(group)
    if not spec or not spec.get("LaunchTemplateId"):
        raise BusinessError(
            ErrorCode.CONFLICT, f"{arg.name} has no launch template to update", {"name": arg.name}
        )
    template_id = spec["LaunchTemplateId"]
    template = ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"][0]
    previous, default = (
        str(spec.get("Version") or "$Default"),
        str(template["DefaultVersionNumber"]),
    )
    marker = f"cloudops:{arg.request_id}|"
    mine = [
        v
        for v in _versions(ec2, template_id)
        if str(v.get("VersionDescription")).startswith(marker)
    ]
    if mine:  # a retry: the version exists, and its description says what it replaced
        version = str(mine[0]["VersionNumber"])
        previous, default = str(mine[0]["VersionDescription"]).split("|")[1:3]
    else:
        changes = arg.changes
        data: dict[str, Any] = {}
        if "image" in changes:
            data["ImageId"] = _resolve_image(ec2, changes["image"])
        if "instance_type" in changes:
            data["InstanceType"] = changes["instance_type"]
        if "key_name" in changes:
            data["KeyName"] = changes["key_name"]
        if "user_data" in changes:
            data["UserData"] = user_data_base64(changes["user_data"], None)
        made = ec2.create_launch_template_version(
            LaunchTemplateId=template_id,
            SourceVersion=default if previous.startswith("$") else previous,
            VersionDescription=f"{marker}{previous}|{default}",
            LaunchTemplateData=data,
        )
        version = str(made["LaunchTemplateVersion"]["VersionNumber"])
    _set_version(asg, ec2, arg.name, template_id, version, version)
    return TemplateChange(previous=previous, current=version, previous_default=default)


def _set_version(
    asg: Any, ec2: Any, group: str, template_id: str, version: str, default: str
) -> None:
    ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=default)
    asg.update_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": version},
    )


@aws_activity("aws.set_launch_template")
def set_launch_template(arg: TemplateCall) -> TemplateChange:
    """Set the group's launch template version (and the template's default) back: the undo."""
    asg = aws_client("autoscaling", arg.account, arg.region)
    ec2 = aws_client("ec2", arg.account, arg.region)
    spec = _launch_template_spec(_require_group(asg, arg.name)) or {}
    assert arg.version is not None
    current = str(spec.get("Version") or "$Default")
    template_id = spec["LaunchTemplateId"]
    _set_version(asg, ec2, arg.name, template_id, arg.version, arg.default_version or arg.version)
    return TemplateChange(previous=current, current=arg.version)


@aws_activity("aws.set_server_group_tags")
def set_server_group_tags(arg: TagsCall) -> TagsChange:
    """CreateOrUpdateTags (propagated to new instances) and DeleteTags on the group."""
    asg = aws_client("autoscaling", arg.account, arg.region)
    current = _tags(_require_group(asg, arg.name).get("Tags"))
    before = {k: current.get(k) for k in [*arg.upsert, *arg.delete]}
    upsert = {k: v for k, v in arg.upsert.items() if current.get(k) != v}
    ref = {"ResourceId": arg.name, "ResourceType": "auto-scaling-group"}
    if upsert:
        asg.create_or_update_tags(
            Tags=[
                {**ref, "Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in upsert.items()
            ]
        )
    gone = [k for k in arg.delete if k in current]
    if gone:
        asg.delete_tags(Tags=[{**ref, "Key": k} for k in gone])
    return TagsChange(before=before)


def _members(asg: Any, arg: InstancesCall) -> set[str]:
    return {i["InstanceId"] for i in _require_group(asg, arg.name).get("Instances", [])}


@aws_activity("aws.reboot_instances")
def reboot_instances(arg: InstancesCall) -> InstancesChange:
    """RebootInstances of instances of the group (others: NOT_FOUND, nothing rebooted)."""
    asg = aws_client("autoscaling", arg.account, arg.region)
    outside = sorted(set(arg.instance_ids) - _members(asg, arg))
    if outside:
        raise not_members(arg.name, outside)
    aws_client("ec2", arg.account, arg.region).reboot_instances(InstanceIds=arg.instance_ids)
    return InstancesChange(changed=list(arg.instance_ids))


@aws_activity("aws.detach_instances")
def detach_instances(arg: InstancesCall) -> InstancesChange:
    """DetachInstances of those still in the group (the others were detached already)."""
    asg = aws_client("autoscaling", arg.account, arg.region)
    members = _members(asg, arg)
    ids = [i for i in arg.instance_ids if i in members]
    if ids:
        asg.detach_instances(
            InstanceIds=ids,
            AutoScalingGroupName=arg.name,
            ShouldDecrementDesiredCapacity=arg.decrement_desired,
        )
    return InstancesChange(changed=ids)


@aws_activity("aws.attach_instances")
def attach_instances(arg: InstancesCall) -> InstancesChange:
    """AttachInstances of those not in the group yet: the undo of a detach."""
    asg = aws_client("autoscaling", arg.account, arg.region)
    members = _members(asg, arg)
    ids = [i for i in arg.instance_ids if i not in members]
    if ids:
        asg.attach_instances(InstanceIds=ids, AutoScalingGroupName=arg.name)
    return InstancesChange(changed=ids)


@aws_activity("aws.set_processes")
def set_processes(arg: ProcessesCall) -> InstancesChange:
    """SuspendProcesses or ResumeProcesses of those not yet so; answers which changed."""
    asg = aws_client("autoscaling", arg.account, arg.region)
    group = _require_group(asg, arg.name)
    suspended = {p["ProcessName"] for p in group.get("SuspendedProcesses", [])}
    changed = [p for p in arg.processes if (p in suspended) != arg.suspend]
    if changed:
        call = asg.suspend_processes if arg.suspend else asg.resume_processes
        call(AutoScalingGroupName=arg.name, ScalingProcesses=changed)
    return InstancesChange(changed=changed)


def _account_id(arg: AllowLaunchCall) -> str:
    """The AWS account id of ``target_account``: given, or the worker account's own."""
    if arg.target_account.isdigit() and len(arg.target_account) == 12:
        return arg.target_account
    sts = aws_client("sts", arg.target_account, arg.region)
    return str(sts.get_caller_identity()["Account"])


@aws_activity("aws.allow_launch")
def allow_launch(arg: AllowLaunchCall) -> AllowLaunchOutput:
    """Share an image and its snapshots with the target account (``remove``: take it back).

    Launch permission on the image, create-volume permission on its snapshots. Read first: a
    repeat changes nothing.
    """
    ec2 = aws_client("ec2", arg.account, arg.region)
    account_id = _account_id(arg)
    image_id = _resolve_image(ec2, arg.image)
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    snapshots = [
        str(m["Ebs"]["SnapshotId"])
        for m in image.get("BlockDeviceMappings") or []
        if (m.get("Ebs") or {}).get("SnapshotId")
    ]
    out = AllowLaunchOutput(image_id=image_id, account_id=account_id, snapshots=snapshots)
    if image.get("OwnerId") == account_id:
        out.changed = False  # the account owns it: nothing to share
        return out
    granted = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")
    has = any(p.get("UserId") == account_id for p in granted.get("LaunchPermissions") or [])
    out.changed = has == arg.remove
    if out.changed:
        change = "Remove" if arg.remove else "Add"
        ec2.modify_image_attribute(
            ImageId=image_id, LaunchPermission={change: [{"UserId": account_id}]}
        )
    for snapshot in snapshots:
        ec2.modify_snapshot_attribute(
            SnapshotId=snapshot,
            Attribute="createVolumePermission",
            OperationType="remove" if arg.remove else "add",
            UserIds=[account_id],
        )
    return out


class ImageOwner(cloudops.Output):
    """The worker's other AWS account that owns an image (None: this one, or none of them)."""

    account: str | None = None


def _owns(account: str, region: str, image: str) -> bool:
    ec2 = aws_client("ec2", account, region)
    if image.startswith("ami-"):
        key: dict[str, Any] = {"ImageIds": [image]}
    else:
        key = {"Filters": [{"Name": "name", "Values": [image]}]}
    try:
        return bool(ec2.describe_images(Owners=["self"], **key)["Images"])
    except Exception as err:
        if _is_not_found(err):
            return False
        raise


@aws_activity("aws.image_owner")
def image_owner(arg: AllowLaunchCall) -> ImageOwner:
    """Which other configured AWS account owns ``image``, when the request's does not.

    Orca shares the baked image with the deploy's account before every deploy outside the bake
    account; a create does the same when this finds the owner. An account whose credentials
    fail here is skipped (it cannot be the one to share from).
    """
    if _owns(arg.account, arg.region, arg.image):
        return ImageOwner()
    for name in current_account_names("aws"):
        if name == arg.account or not current_account(name).allows(arg.region):
            continue
        try:
            if _owns(name, arg.region, arg.image):
                return ImageOwner(account=name)
        except Exception:
            continue
    return ImageOwner()


#: The activities of the optional verbs AWS offers.
OPTIONAL_ACTIVITIES = (
    read_scaling_policy,
    put_scaling_policy,
    restore_scaling_policy,
    update_launch_template,
    set_launch_template,
    set_server_group_tags,
    reboot_instances,
    detach_instances,
    attach_instances,
    set_processes,
    allow_launch,
    image_owner,
)
