"""Activities: the only code of cloudops-aws that talks to AWS (boto3, through :mod:`.clients`).

Every activity takes one model and returns one, runs its blocking boto3 calls in a worker thread
(so it works on any worker, with or without an activity executor), and turns botocore's
exceptions into cloudops' taxonomy through :func:`cloudops_aws.errors.classify`.

Every activity may run more than once (a retry, a worker crash before the result was recorded),
so each one is idempotent: creates look for the resource first and accept it when it is tagged
with this request's id (``cloudops:request-id``), and use a ClientToken where the API has one;
deletes treat "not found" as success; polls (``NotReady`` while waiting) only read.

boto3 itself is imported lazily by :mod:`cloudops_aws.clients`, so importing this module (which
the plugin module does to register the activities) stays cheap.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

import cloudops
from cloudops import BusinessError, ErrorCode, NotReady, RetryableError
from cloudops.servergroups.contract import (
    TAG_REQUEST_ID,
    TAG_SERVER_GROUP,
    ClusterCall,
    GroupCall,
    NextNameInput,
    NextNameOutput,
    ScalingCopyInput,
    ScalingCopyOutput,
)
from cloudops.servergroups.kit import not_found
from cloudops.servergroups.models import (
    RESERVED_TAG_PREFIX,
    Capacity,
    HealthState,
    ScalingResource,
    ScalingSettings,
    ServerGroupInstance,
    ServerGroupName,
    TerminateInstancesOutput,
    cluster_name,
    copied_name,
    next_server_group_name,
)
from cloudops.servergroups.translate import (
    activity_maker,
    clone_source,
    name_parts,
    not_settled,
    require_ours,
    user_data_base64,
)
from cloudops_aws.clients import aws_client
from cloudops_aws.errors import classify
from cloudops_aws.models import (
    DISABLE_PROCESSES,
    AutoScalingGroupRef,
    AutoScalingGroupSpec,
    AwsCreateServerGroupInput,
    AwsServerGroupDescription,
    AwsServerGroupList,
    BlockDevice,
    CapacityStatus,
    DeleteGroupInput,
    DeleteLaunchTemplateInput,
    DeleteOutput,
    LaunchTemplateRef,
    LaunchTemplateSpec,
    LifecycleHook,
    ScalingProcessesInput,
    ServerGroupLookup,
    TerminateInput,
    TrafficInput,
    TrafficOutput,
    UpdateCapacityInput,
    WaitForCapacityInput,
)
from cloudops_aws.network_activities import split_load_balancers
from cloudops_aws.reads import classic_health, paginate, target_health, traffic_health

__all__ = [
    "ACTIVITIES",
    "copy_scaling",
    "create_auto_scaling_group",
    "create_auto_scaling_group_and_check",
    "create_launch_template",
    "delete_auto_scaling_group",
    "delete_copied_scaling",
    "delete_launch_template",
    "describe_server_group",
    "destroy_server_group",
    "list_server_groups",
    "next_name",
    "read_scaling",
    "read_server_group_template",
    "set_scaling_processes",
    "set_traffic",
    "terminate_instances",
    "update_capacity",
    "wait_for_capacity",
]

InT = TypeVar("InT")
OutT = TypeVar("OutT")

_LT_NOT_FOUND = {
    "InvalidLaunchTemplateName.NotFoundException",
    "InvalidLaunchTemplateId.NotFound",
    "InvalidLaunchTemplateId.NotFoundException",
    "InvalidLaunchTemplateId.VersionNotFound",
}
_LT_EXISTS = {"InvalidLaunchTemplateName.AlreadyExistsException", "IdempotentParameterMismatch"}
_DELETE_IN_PROGRESS = "Delete in progress"


aws_activity = activity_maker(classify)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _error_code(err: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, without importing botocore."""
    response = getattr(err, "response", None)
    if not isinstance(response, dict):
        return None
    code = (response.get("Error") or {}).get("Code")
    return str(code) if code else None


def _tags(items: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items or ()}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _client_token(request_id: str, name: str) -> str:
    """An idempotency token (<= 64 ASCII characters) unique to this request and resource."""
    return hashlib.sha256(f"{request_id}|{name}".encode()).hexdigest()[:64]


def _find_group(asg: Any, name: str) -> dict[str, Any] | None:
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    for group in groups:
        if group["AutoScalingGroupName"] == name:
            return dict(group)
    return None


def _require_group(asg: Any, name: str) -> dict[str, Any]:
    group = _find_group(asg, name)
    if group is None:
        raise not_found(name)
    return group


def _find_launch_template(
    ec2: Any, *, name: str | None = None, template_id: str | None = None
) -> dict[str, Any] | None:
    try:
        if template_id:
            found = ec2.describe_launch_templates(LaunchTemplateIds=[template_id])
        else:
            found = ec2.describe_launch_templates(LaunchTemplateNames=[name])
    except Exception as err:
        if _error_code(err) in _LT_NOT_FOUND:
            return None
        raise
    templates = found.get("LaunchTemplates") or []
    return dict(templates[0]) if templates else None


def _alive(group: dict[str, Any]) -> list[dict[str, Any]]:
    """Instances that count towards capacity: everything not on its way out."""
    return [i for i in group.get("Instances", []) if not i["LifecycleState"].startswith("Terminat")]


def _disabled(group: dict[str, Any]) -> bool:
    """Spinnaker's definition: AddToLoadBalancer is suspended."""
    return any(p["ProcessName"] == "AddToLoadBalancer" for p in group.get("SuspendedProcesses", []))


def _capacity(group: dict[str, Any]) -> Capacity:
    values = {
        "min": group["MinSize"],
        "max": group["MaxSize"],
        "desired": group["DesiredCapacity"],
    }
    try:
        return Capacity.model_validate(values)
    except ValidationError:  # an emulator that accepted desired outside [min, max]
        return Capacity.model_construct(**values)


_HEALTHY_STATES = {"healthy", "InService"}


def _instance_health(
    instance: dict[str, Any], disabled: bool, traffic: dict[str, dict[str, str]]
) -> HealthState:
    state = instance["LifecycleState"]
    if state.startswith("Terminat") or instance.get("HealthStatus") == "Unhealthy":
        return HealthState.DOWN
    if state.startswith("Pending"):
        return HealthState.STARTING
    if state != "InService":
        return HealthState.OUT_OF_SERVICE
    if disabled:
        return HealthState.OUT_OF_SERVICE
    states = [by_id.get(instance["InstanceId"], "unused") for by_id in traffic.values()]
    if any(s == "draining" for s in states):
        return HealthState.DRAINING
    if any(s in ("initial",) for s in states):
        return HealthState.STARTING
    if any(s not in _HEALTHY_STATES for s in states):
        return HealthState.DOWN
    return HealthState.UP


def _short_lb_name(key: str) -> str:
    """``targetgroup/web/0123abcd`` from a target group ARN; classic names unchanged."""
    if key.startswith("arn:") and ":targetgroup/" in key:
        return key.split(":targetgroup/", 1)[1].split("/", 1)[0]
    return key


def _launch_template_spec(group: dict[str, Any]) -> dict[str, Any] | None:
    spec = group.get("LaunchTemplate")
    if spec:
        return dict(spec)
    mixed = group.get("MixedInstancesPolicy") or {}
    spec = (mixed.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification")
    return dict(spec) if spec else None


def _launch_template_data(ec2: Any, spec: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The launch template data a group uses, and the version number it resolves to."""
    if not spec:
        return {}, ""
    key = (
        {"LaunchTemplateId": spec["LaunchTemplateId"]}
        if spec.get("LaunchTemplateId")
        else {"LaunchTemplateName": spec["LaunchTemplateName"]}
    )
    try:
        answer = ec2.describe_launch_template_versions(
            **key, Versions=[str(spec.get("Version") or "$Default")]
        )
    except Exception as err:
        if _error_code(err) in _LT_NOT_FOUND:
            return {}, ""
        raise
    versions = answer.get("LaunchTemplateVersions") or []
    if not versions:
        return {}, ""
    return dict(versions[0].get("LaunchTemplateData") or {}), str(versions[0]["VersionNumber"])


def _security_groups_of(data: dict[str, Any]) -> list[str]:
    groups = list(data.get("SecurityGroupIds") or []) + list(data.get("SecurityGroups") or [])
    for interface in data.get("NetworkInterfaces") or []:
        groups += list(interface.get("Groups") or [])
    return groups


# --------------------------------------------------------------------------------------------
# Naming
# --------------------------------------------------------------------------------------------


_NAMING_LOCK = threading.Lock()


@aws_activity("aws.next_server_group_name")
def next_name(arg: NextNameInput) -> NextNameOutput:
    """Choose the next free ``app-stack-detail-vNNN`` in the account and region.

    Both Auto Scaling groups and launch templates count as taken, so a template left behind by
    an interrupted create is never reused by another request. Read-only: running it twice is
    harmless, and the workflow records the first answer.
    """
    from cloudops_aws.shared_reads import shared_names

    # Concurrent namings of this account and region share one listing (cloudops.batching).
    # Only the cluster's own templates are listed: an account may hold thousands, and moto
    # answers at most one page (MaxResults, 15 by default) with no NextToken, so an unfiltered
    # listing there misses templates and could hand out a name whose template was left behind.
    cluster = cluster_name(arg.application, arg.stack, arg.detail)
    existing = shared_names(arg.account, arg.region, cluster)
    # Namings of one cluster sharing a listing would all pick the same name: the list is the
    # batch's, so each adds its choice for the next one to count as taken.
    with _NAMING_LOCK:
        chosen = next_server_group_name(arg.application, arg.stack, arg.detail, existing)
        existing.append((str(chosen), datetime.now(UTC)))
    assert chosen.sequence is not None
    return NextNameOutput.of(chosen)


# --------------------------------------------------------------------------------------------
# Launch templates
# --------------------------------------------------------------------------------------------


def _resolve_image(ec2: Any, image: str) -> str:
    if image.startswith("ami-"):
        ec2.describe_images(ImageIds=[image])  # InvalidAMIID.NotFound -> NOT_FOUND
        return image
    images = ec2.describe_images(Filters=[{"Name": "name", "Values": [image]}])["Images"]
    if not images:
        raise BusinessError(
            ErrorCode.NOT_FOUND, f"no machine image (AMI) is named {image!r}", {"image": image}
        )
    newest = max(images, key=lambda i: (i.get("CreationDate") or "", i["ImageId"]))
    return str(newest["ImageId"])


def _resolve_security_groups(ec2: Any, groups: list[str], subnets: list[str]) -> list[str]:
    ids = [g for g in groups if g.startswith("sg-")]
    names = [g for g in groups if not g.startswith("sg-")]
    if ids:
        ec2.describe_security_groups(GroupIds=ids)  # InvalidGroup.NotFound -> NOT_FOUND
    if not names:
        return ids
    filters = [{"Name": "group-name", "Values": names}]
    if subnets:
        subnet = ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]
        filters.append({"Name": "vpc-id", "Values": [subnet["VpcId"]]})
    found = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    by_name: dict[str, set[str]] = {}
    for group in found:
        by_name.setdefault(group["GroupName"], set()).add(group["GroupId"])
    for name in names:
        matches = by_name.get(name, set())
        if not matches:
            raise BusinessError(
                ErrorCode.NOT_FOUND, f"security group {name!r} does not exist", {"group": name}
            )
        if len(matches) > 1:
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                f"security group name {name!r} exists in several VPCs; give its id or a subnet",
                {"group": name, "ids": sorted(matches)},
            )
        ids.append(next(iter(matches)))
    return ids


def _template_ref(existing: dict[str, Any], request_id: str, name: str) -> LaunchTemplateRef:
    owner = _tags(existing.get("Tags")).get(TAG_REQUEST_ID)
    require_ours("launch template", name, owner, request_id, "launch_template")
    return LaunchTemplateRef(
        id=existing["LaunchTemplateId"],
        name=existing["LaunchTemplateName"],
        version=str(existing.get("DefaultVersionNumber") or 1),
        created=False,
    )


@aws_activity("aws.create_launch_template")
def create_launch_template(spec: LaunchTemplateSpec) -> LaunchTemplateRef:
    """Create the launch template of a new server group, or find the one this request made.

    Idempotent twice over: an existing template tagged with this request id is the answer
    (``created=False``), and the create carries a ClientToken derived from request and name.
    A template of that name made by anyone else is a ``CONFLICT``. The create comes first (a
    read only when it fails), so the first attempt makes no read at all.
    """
    return _create_launch_template(spec, look_first=False)


def _create_launch_template(spec: LaunchTemplateSpec, look_first: bool = True) -> LaunchTemplateRef:
    """Make the template, or find the one this request made.

    Without ``look_first`` the create comes first and an existing template is looked for only
    when it fails: one read fewer on the way that matters, the first attempt.
    """
    ec2 = aws_client("ec2", spec.account, spec.region)
    if look_first:
        existing = _find_launch_template(ec2, name=spec.name)
        if existing is not None:
            return _template_ref(existing, spec.request_id, spec.name)
        return _make_launch_template(ec2, spec)
    try:
        return _make_launch_template(ec2, spec)
    except Exception as err:
        # Perhaps an earlier attempt made it (a lost answer, a crash): then it is the answer,
        # whatever went wrong this time (an image deregistered since, a duplicate name...).
        existing = _find_launch_template(ec2, name=spec.name)
        if existing is not None:
            return _template_ref(existing, spec.request_id, spec.name)
        if _error_code(err) in _LT_EXISTS:  # exists, but the read missed it: read again later
            raise RetryableError(
                f"launch template {spec.name!r} exists but could not be read yet"
            ) from err
        raise


def _make_launch_template(ec2: Any, spec: LaunchTemplateSpec) -> LaunchTemplateRef:
    data: dict[str, Any] = {
        "ImageId": _resolve_image(ec2, spec.image),
        "InstanceType": spec.instance_type,
    }
    security_groups = _resolve_security_groups(ec2, spec.security_groups, spec.subnets)
    if spec.associate_public_ip_address is not None:
        interface: dict[str, Any] = {
            "DeviceIndex": 0,
            "AssociatePublicIpAddress": spec.associate_public_ip_address,
        }
        if security_groups:
            interface["Groups"] = security_groups
        data["NetworkInterfaces"] = [interface]
    elif security_groups:
        data["SecurityGroupIds"] = security_groups
    if spec.key_name:
        data["KeyName"] = spec.key_name
    user_data = user_data_base64(spec.user_data, spec.user_data_base64)
    if user_data is not None:
        data["UserData"] = user_data
    if spec.iam_instance_profile:
        key = "Arn" if spec.iam_instance_profile.startswith("arn:") else "Name"
        data["IamInstanceProfile"] = {key: spec.iam_instance_profile}
    if spec.ebs_optimized is not None:
        data["EbsOptimized"] = spec.ebs_optimized
    if spec.block_devices:
        data["BlockDeviceMappings"] = [device.api() for device in spec.block_devices]
    try:
        answer = ec2.create_launch_template(
            LaunchTemplateName=spec.name,
            ClientToken=_client_token(spec.request_id, spec.name),
            LaunchTemplateData=data,
            TagSpecifications=[{"ResourceType": "launch-template", "Tags": _tag_list(spec.tags)}],
        )
    except Exception as err:
        # A lost answer to our own earlier attempt, or a race: decide by the tag.
        if _error_code(err) in _LT_EXISTS:
            existing = _find_launch_template(ec2, name=spec.name)
            if existing is not None:
                return _template_ref(existing, spec.request_id, spec.name)
        raise
    template = answer["LaunchTemplate"]
    return LaunchTemplateRef(
        id=template["LaunchTemplateId"],
        name=template["LaunchTemplateName"],
        version=str(template.get("LatestVersionNumber") or 1),
        created=True,
    )


@aws_activity("aws.delete_launch_template")
def delete_launch_template(arg: DeleteLaunchTemplateInput) -> DeleteOutput:
    """Delete a launch template; "not found" is success.

    Guards: with ``only_if_request_id`` a template not tagged with that request is kept (a
    rollback must not delete someone else's); with ``only_if_server_group`` only a template
    tagged with, or named after, that server group is deleted (a destroy must not delete a
    template other groups share).
    """
    return _delete_launch_template(arg)


def _delete_launch_template(arg: DeleteLaunchTemplateInput) -> DeleteOutput:
    ec2 = aws_client("ec2", arg.account, arg.region)
    found = _find_launch_template(ec2, name=arg.name, template_id=arg.launch_template_id)
    if found is None:
        return DeleteOutput(deleted=False, reason="not found")
    tags = _tags(found.get("Tags"))
    template_id = str(found["LaunchTemplateId"])
    if arg.only_if_request_id is not None and tags.get(TAG_REQUEST_ID) != arg.only_if_request_id:
        return DeleteOutput(deleted=False, reason="not created by this request", id=template_id)
    if arg.only_if_server_group is not None and arg.only_if_server_group not in (
        tags.get(TAG_SERVER_GROUP),
        found.get("LaunchTemplateName"),
    ):
        return DeleteOutput(deleted=False, reason="belongs to another server group", id=template_id)
    return _delete_launch_template_by_id(arg.account, arg.region, template_id)


# --------------------------------------------------------------------------------------------
# Auto Scaling groups
# --------------------------------------------------------------------------------------------


def _resolve_target_groups(elbv2: Any, target_groups: list[str]) -> list[str]:
    """Target group ARNs for names or ARNs; a missing one is NOT_FOUND (TargetGroupNotFound)."""
    if not target_groups:
        return []
    arns = [t for t in target_groups if t.startswith("arn:")]
    names = [t for t in target_groups if not t.startswith("arn:")]
    resolved: list[str] = []
    if arns:
        found = elbv2.describe_target_groups(TargetGroupArns=arns)["TargetGroups"]
        resolved += [t["TargetGroupArn"] for t in found]
    if names:
        found = elbv2.describe_target_groups(Names=names)["TargetGroups"]
        resolved += [t["TargetGroupArn"] for t in found]
    return resolved


def _group_ref(group: dict[str, Any], request_id: str) -> AutoScalingGroupRef:
    name = group["AutoScalingGroupName"]
    owner = _tags(group.get("Tags")).get(TAG_REQUEST_ID)
    require_ours("Auto Scaling group", name, owner, request_id, "server_group")
    return AutoScalingGroupRef(
        name=name,
        arn=group.get("AutoScalingGroupARN"),
        target_group_arns=list(group.get("TargetGroupARNs") or []),
        created=False,
    )


@aws_activity("aws.create_auto_scaling_group")
def create_auto_scaling_group(spec: AutoScalingGroupSpec) -> AutoScalingGroupRef:
    """Create the Auto Scaling group of a new server group, or find the one this request made.

    CreateAutoScalingGroup has no ClientToken, so idempotency rests on the name (chosen once
    and recorded in the workflow history) and the request-id tag: a group of that name tagged
    with this request is the answer, ``AlreadyExists`` from a lost earlier answer is resolved by
    the same check, and a group made by anyone else is a ``CONFLICT``.
    """
    return _create_auto_scaling_group(spec)[0]


def _create_auto_scaling_group(
    spec: AutoScalingGroupSpec,
) -> tuple[AutoScalingGroupRef, dict[str, Any] | None]:
    """The group made or found, and its last description (None if it could not be read)."""
    asg = aws_client("autoscaling", spec.account, spec.region)
    # Create first, read only when AWS answers AlreadyExists (one call fewer on every create).
    # moto, unlike AWS, accepts a second group of one name: the test kit's fault proxies add
    # AWS's answer (cloudops_testing.faults.aws_reject_duplicate_asg).
    elbv2 = aws_client("elbv2", spec.account, spec.region)
    target_group_arns = _resolve_target_groups(elbv2, spec.target_groups)
    # Load balancers by our names (upsertLoadBalancer): their target groups; others are classic.
    balancer_arns, classic = split_load_balancers(elbv2, spec.load_balancers)
    target_group_arns += [arn for arn in balancer_arns if arn not in target_group_arns]
    has_traffic = bool(target_group_arns or classic)
    params: dict[str, Any] = {
        "AutoScalingGroupName": spec.name,
        "LaunchTemplate": {
            "LaunchTemplateId": spec.launch_template_id,
            "Version": spec.launch_template_version,
        },
        "MinSize": spec.capacity.min,
        "MaxSize": spec.capacity.max,
        "DesiredCapacity": spec.capacity.desired,
        "HealthCheckType": spec.health_check_type or ("ELB" if has_traffic else "EC2"),
        "HealthCheckGracePeriod": (
            spec.health_check_grace_period_seconds
            if spec.health_check_grace_period_seconds is not None
            else 300
        ),
        "Tags": [
            {
                "ResourceId": spec.name,
                "ResourceType": "auto-scaling-group",
                "Key": key,
                "Value": value,
                "PropagateAtLaunch": True,
            }
            for key, value in sorted(spec.tags.items())
        ],
    }
    if spec.subnets:
        params["VPCZoneIdentifier"] = ",".join(spec.subnets)
    if spec.zones:
        params["AvailabilityZones"] = spec.zones
    if target_group_arns:
        params["TargetGroupARNs"] = target_group_arns
    if classic:
        params["LoadBalancerNames"] = classic
    if spec.cooldown_seconds is not None:
        params["DefaultCooldown"] = spec.cooldown_seconds
    if spec.termination_policies:
        params["TerminationPolicies"] = spec.termination_policies
    if spec.lifecycle_hooks:  # created with the group: no instance launches before its hook
        params["LifecycleHookSpecificationList"] = [h.api() for h in spec.lifecycle_hooks]
    try:
        asg.create_auto_scaling_group(**params)
    except Exception as err:
        if _error_code(err) == "AlreadyExists":  # ours from a lost answer, or someone else's
            existing = _find_group(asg, spec.name)
            if existing is not None:
                return _group_ref(existing, spec.request_id), existing
            raise RetryableError(  # exists, but the read missed it: read again later
                f"Auto Scaling group {spec.name!r} exists but could not be read yet"
            ) from err
        raise
    created = _find_group(asg, spec.name)
    ref = AutoScalingGroupRef(
        name=spec.name,
        arn=(created or {}).get("AutoScalingGroupARN"),
        target_group_arns=target_group_arns,
        created=True,
    )
    return ref, created


@aws_activity("aws.wait_for_capacity")
def wait_for_capacity(arg: WaitForCapacityInput) -> CapacityStatus:
    """Answer once the group runs its desired number of healthy instances; NotReady until then.

    Healthy means InService and Healthy to Auto Scaling and, unless the group is disabled,
    healthy in every target group and classic load balancer. Scale-in must be finished too
    (no more instances than desired), and ``exclude_instances`` must have left the group.
    A group that is gone or being deleted is a business failure, not a reason to keep waiting.
    """
    from cloudops_aws.shared_reads import shared_group, shared_traffic_health

    # Concurrent waits of this account and region share their reads (cloudops.batching).
    group = shared_group(arg.account, arg.region, arg.name)
    if group is None:
        raise not_found(arg.name)
    checked = _check_capacity(arg, group, shared_traffic_health)
    if isinstance(checked, str):
        raise NotReady(checked)
    return checked


def _check_capacity(
    arg: WaitForCapacityInput,
    group: dict[str, Any],
    read_traffic: Callable[[GroupCall, dict[str, Any]], dict[str, dict[str, str]]] | None = None,
) -> CapacityStatus | str:
    """The group's status if it has reached its capacity, else why not (for NotReady)."""
    if group.get("Status") == _DELETE_IN_PROGRESS:
        raise BusinessError(
            ErrorCode.CONFLICT, f"server group {arg.name!r} is being deleted", {"name": arg.name}
        )
    capacity = _capacity(group)
    desired = arg.desired if arg.desired is not None else capacity.desired
    disabled = _disabled(group)
    alive = _alive(group)
    traffic = {} if disabled else (read_traffic or traffic_health)(arg, group)
    healthy = [i for i in alive if _instance_health(i, False, traffic) == HealthState.UP]
    leaving = sorted(set(arg.exclude_instances) & {i["InstanceId"] for i in alive})
    progress = f"{len(healthy)} of {desired} instances healthy, {len(alive)} running"
    return not_settled(
        arg.name, progress, ready=len(healthy), alive=len(alive), desired=desired, leaving=leaving
    ) or CapacityStatus(
        name=arg.name,
        capacity=capacity,
        instances=len(alive),
        healthy=len(healthy),
        disabled=disabled,
    )


@aws_activity("aws.update_capacity")
def update_capacity(arg: UpdateCapacityInput) -> CapacityStatus:
    """Set a group's min, max and desired capacity; returns the capacity it had before.

    Launch and Terminate are resumed first when they are suspended (a disabled group), or the
    group could not change size; AddToLoadBalancer stays suspended, so the group stays disabled.
    """
    asg = aws_client("autoscaling", arg.account, arg.region)
    group = _require_group(asg, arg.name)
    suspended = {p["ProcessName"] for p in group.get("SuspendedProcesses", [])}
    blocking = sorted(suspended & {"Launch", "Terminate"})
    if blocking:
        asg.resume_processes(AutoScalingGroupName=arg.name, ScalingProcesses=blocking)
    asg.update_auto_scaling_group(
        AutoScalingGroupName=arg.name,
        MinSize=arg.capacity.min,
        MaxSize=arg.capacity.max,
        DesiredCapacity=arg.capacity.desired,
    )
    alive = _alive(group)
    return CapacityStatus(
        name=arg.name,
        capacity=_capacity(group),
        instances=len(alive),
        healthy=sum(1 for i in alive if i["LifecycleState"] == "InService"),
        disabled=_disabled(group),
    )


@aws_activity("aws.set_scaling_processes")
def set_scaling_processes(arg: ScalingProcessesInput) -> CapacityStatus:
    """Suspend or resume scaling processes (idempotent in AWS itself)."""
    asg = aws_client("autoscaling", arg.account, arg.region)
    group = _require_group(asg, arg.name)
    if arg.suspend:
        asg.suspend_processes(AutoScalingGroupName=arg.name, ScalingProcesses=arg.processes)
    else:
        asg.resume_processes(AutoScalingGroupName=arg.name, ScalingProcesses=arg.processes)
    alive = _alive(group)
    return CapacityStatus(
        name=arg.name,
        capacity=_capacity(group),
        instances=len(alive),
        healthy=sum(1 for i in alive if i["LifecycleState"] == "InService"),
        disabled=arg.suspend and "AddToLoadBalancer" in arg.processes,
    )


@aws_activity("aws.set_traffic")
def set_traffic(arg: TrafficInput) -> TrafficOutput:
    """Register the group's instances in (or deregister them from) its load balancers.

    Only targets not yet in the wanted state are touched, so a rerun does nothing. With ``out``
    (a traffic share) exactly those instances are taken out and the others put in. With
    ``wait_drained``, answers NotReady while an instance taken out is still registered or
    draining, so the caller can poll it.
    """
    asg = aws_client("autoscaling", arg.account, arg.region)
    group = _require_group(asg, arg.name)
    alive = _alive(group)
    all_out = arg.out is None and not arg.enabled
    out = {i["InstanceId"] for i in alive if all_out or i["InstanceId"] in (arg.out or ())}
    ids_in = [i["InstanceId"] for i in alive if i["LifecycleState"] == "InService"]
    ids_in = [i for i in ids_in if i not in out] if arg.enabled else []
    ids = ids_in if arg.enabled else sorted(out)
    arns = list(group.get("TargetGroupARNs") or [])
    names = list(group.get("LoadBalancerNames") or [])
    changed = False
    out_states = ("unused", "draining", "OutOfService")
    if arns:
        elbv2 = aws_client("elbv2", arg.account, arg.region)
        for arn in arns:
            states = target_health(elbv2, arn)
            todo = [i for i in ids_in if states.get(i, "unused") in ("unused", "draining")]
            if todo:
                elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": i} for i in todo])
            gone = [i for i in sorted(out) if i in states and states[i] not in out_states]
            if gone:
                try:
                    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": i} for i in gone])
                except Exception as err:
                    if _error_code(err) != "InvalidTarget":  # already gone
                        raise
            changed = changed or bool(todo or gone)
    if names:
        elb = aws_client("elb", arg.account, arg.region)
        for name in names:
            states = classic_health(elb, name)
            todo = [i for i in ids_in if i not in states]
            if todo:
                elb.register_instances_with_load_balancer(
                    LoadBalancerName=name, Instances=[{"InstanceId": i} for i in todo]
                )
            gone = [i for i in sorted(out) if i in states]
            if gone:
                elb.deregister_instances_from_load_balancer(
                    LoadBalancerName=name, Instances=[{"InstanceId": i} for i in gone]
                )
            changed = changed or bool(todo or gone)
    if arg.wait_drained:
        remaining = {
            lb: sorted(i for i, state in by_id.items() if i in out and state != "unused")
            for lb, by_id in traffic_health(arg, group).items()
        }
        remaining = {lb: r for lb, r in remaining.items() if r}
        if remaining:
            listing = "; ".join(
                f"{_short_lb_name(lb)}: {', '.join(ids)}" for lb, ids in remaining.items()
            )
            raise NotReady(f"{arg.name}: waiting for targets to drain ({listing})")
    return TrafficOutput(target_groups=arns, load_balancers=names, instances=ids, changed=changed)


@aws_activity("aws.delete_auto_scaling_group")
def delete_auto_scaling_group(arg: DeleteGroupInput) -> DeleteOutput:
    """Delete a group and its instances (ForceDelete); "not found" is success.

    With ``only_if_request_id`` a group not tagged with that request is kept (rollbacks). With
    ``wait_until_gone`` it answers NotReady while AWS is still deleting, so a poll (or the
    retries of a rollback) waits for the group to disappear; the delete is sent once.
    """
    asg = aws_client("autoscaling", arg.account, arg.region)
    group = _find_group(asg, arg.name)
    if group is None:
        return DeleteOutput(deleted=False, reason="not found")
    arn = group.get("AutoScalingGroupARN")
    owner = _tags(group.get("Tags")).get(TAG_REQUEST_ID)
    if arg.only_if_request_id is not None and owner != arg.only_if_request_id:
        return DeleteOutput(deleted=False, reason="not created by this request", id=arn)
    if group.get("Status") != _DELETE_IN_PROGRESS:
        try:
            asg.delete_auto_scaling_group(AutoScalingGroupName=arg.name, ForceDelete=True)
        except Exception as err:
            mapped = classify(err)
            if isinstance(mapped, BusinessError) and mapped.code == ErrorCode.NOT_FOUND:
                return DeleteOutput(deleted=False, reason="not found", id=arn)
            raise
    if arg.wait_until_gone and _find_group(asg, arg.name) is not None:
        raise NotReady(f"Auto Scaling group {arg.name} is being deleted")
    return DeleteOutput(deleted=True, id=arn)


# --------------------------------------------------------------------------------------------
# Fewer Temporal round trips and AWS reads: create + first check, the whole destroy
# --------------------------------------------------------------------------------------------


class CreateGroupInput(AutoScalingGroupSpec):
    """A group to create as ``aws.create_auto_scaling_group`` does.

    With ``check``, its capacity is looked at once after the create.
    """

    check: bool = True


class CreatedGroup(AutoScalingGroupRef):
    """The group made or found, and its capacity if it was already there.

    ``status`` is set when the group already ran its desired healthy instances at the end of
    the activity (looked at only for groups without load balancers); otherwise the workflow
    polls ``aws.wait_for_capacity`` as usual.
    """

    status: CapacityStatus | None = None


@aws_activity("aws.create_auto_scaling_group_and_check")
def create_auto_scaling_group_and_check(arg: CreateGroupInput) -> CreatedGroup:
    """``aws.create_auto_scaling_group``, then a first capacity check in the same activity.

    The description read after the create (for the group's ARN) is the first look at capacity,
    so a group that is ready at once costs no ``aws.wait_for_capacity`` activity at all.
    """
    group, described = _create_auto_scaling_group(arg)
    status = None
    # Instances behind load balancers need health checks to pass first, never done this soon:
    # those groups are left to the poll (whose first look at target health is its own).
    traffic = described and (described.get("TargetGroupARNs") or described.get("LoadBalancerNames"))
    if arg.check and described is not None and not traffic:
        check = WaitForCapacityInput(
            account=arg.account, region=arg.region, name=arg.name, desired=arg.capacity.desired
        )
        checked = _check_capacity(check, described)
        status = checked if isinstance(checked, CapacityStatus) else None
    return CreatedGroup(**group.model_dump(), status=status)


class DestroyGroupInput(GroupCall):
    """Delete the group ``name`` (and its instances), then its launch template once it is gone.

    With ``wait_until_gone`` the template is deleted only after the group has disappeared; a
    group still being deleted is answered with ``gone=False`` for the workflow to poll.
    """

    wait_until_gone: bool = True


class DestroyProgress(cloudops.Output):
    """How far ``aws.destroy_server_group`` got.

    ``found`` is false when there was no group (only a left-behind template was looked for).
    With ``gone`` false the group is still being deleted: poll ``aws.delete_auto_scaling_group``
    and then delete ``launch_template_id`` / ``launch_template_name``.
    """

    found: bool
    gone: bool
    arn: str | None = None
    capacity: Capacity | None = None
    launch_template_id: str | None = None
    launch_template_name: str | None = None
    template: DeleteOutput | None = None


@aws_activity("aws.destroy_server_group")
def destroy_server_group(arg: DestroyGroupInput) -> DestroyProgress:
    """Describe, delete (ForceDelete) and, once gone, delete the launch template, in one go.

    Idempotent: a group already gone or being deleted is not deleted again, "not found" is
    success, and the template is deleted only if tagged with, or named after, the group.
    """
    asg = aws_client("autoscaling", arg.account, arg.region)
    template = DeleteLaunchTemplateInput(
        account=arg.account, region=arg.region, name=arg.name, only_if_server_group=arg.name
    )
    group = _find_group(asg, arg.name)
    if group is None:
        # Perhaps an interrupted destroy left the template behind.
        return DestroyProgress(found=False, gone=True, template=_delete_launch_template(template))
    spec = _launch_template_spec(group) or {}
    progress = DestroyProgress(
        found=True,
        gone=False,
        arn=group.get("AutoScalingGroupARN"),
        capacity=_capacity(group),
        launch_template_id=spec.get("LaunchTemplateId"),
        launch_template_name=spec.get("LaunchTemplateName"),
    )
    try:
        if group.get("Status") != _DELETE_IN_PROGRESS:
            # AWS deletes the group's policies with it, but not the alarms that drive them.
            _delete_alarms_of(arg, _policies(asg, arg.name))
            asg.delete_auto_scaling_group(AutoScalingGroupName=arg.name, ForceDelete=True)
        if arg.wait_until_gone and _find_group(asg, arg.name) is not None:
            return progress
    except Exception as err:
        if _is_not_found(err):
            pass
        elif _is_final(err):
            raise
        else:
            # Throttled or 5xx, perhaps after the delete went through: a retry of this activity
            # would find no group and lose what it was. Answer what is known; the workflow's
            # durable poll of aws.delete_auto_scaling_group sends or awaits the delete.
            return progress
    progress.gone = True
    try:
        if progress.launch_template_id and progress.launch_template_name == arg.name:
            # Named after the group: the guard holds without reading the template's tags.
            progress.template = _delete_launch_template_by_id(
                arg.account, arg.region, progress.launch_template_id
            )
        elif progress.launch_template_id or progress.launch_template_name:
            template.launch_template_id = progress.launch_template_id
            progress.template = _delete_launch_template(template)
    except Exception as err:
        if _is_final(err):
            raise
        # The group is gone: the workflow deletes the template in an activity of its own.
    return progress


def _is_final(err: BaseException) -> bool:
    """True when retrying would not help (a business error), false for throttling and 5xx."""
    return isinstance(classify(err), BusinessError)


def _is_not_found(err: BaseException) -> bool:
    mapped = classify(err)
    return isinstance(mapped, BusinessError) and mapped.code == ErrorCode.NOT_FOUND


def _delete_launch_template_by_id(account: str, region: str, template_id: str) -> DeleteOutput:
    try:
        aws_client("ec2", account, region).delete_launch_template(LaunchTemplateId=template_id)
    except Exception as err:
        if _error_code(err) in _LT_NOT_FOUND:
            return DeleteOutput(deleted=False, reason="not found", id=template_id)
        raise
    return DeleteOutput(deleted=True, id=template_id)


# --------------------------------------------------------------------------------------------
# Describe, clone source, terminate
# --------------------------------------------------------------------------------------------


def _describe(call: GroupCall, group: dict[str, Any]) -> AwsServerGroupDescription:
    name = group["AutoScalingGroupName"]
    disabled = _disabled(group)
    traffic = traffic_health(call, group)
    spec = _launch_template_spec(group)
    data, version = _launch_template_data(aws_client("ec2", call.account, call.region), spec)
    instances = [
        ServerGroupInstance(
            id=i["InstanceId"],
            zone=i.get("AvailabilityZone"),
            state=i["LifecycleState"],
            health=_instance_health(i, disabled, traffic),
            load_balancer_health={
                _short_lb_name(lb): by_id.get(i["InstanceId"], "unused")
                for lb, by_id in traffic.items()
            },
        )
        for i in group.get("Instances", [])
    ]
    subnets = [s for s in (group.get("VPCZoneIdentifier") or "").split(",") if s]
    return AwsServerGroupDescription(
        **name_parts(name),
        region=call.region,
        capacity=_capacity(group),
        instances=instances,
        zones=list(group.get("AvailabilityZones") or []),
        subnets=subnets,
        load_balancers=list(group.get("LoadBalancerNames") or []),
        target_groups=[_short_lb_name(a) for a in group.get("TargetGroupARNs") or []],
        security_groups=_security_groups_of(data),
        image=data.get("ImageId"),
        instance_type=data.get("InstanceType"),
        disabled=disabled,
        created_at=group.get("CreatedTime"),
        tags=_tags(group.get("Tags")),
        arn=group.get("AutoScalingGroupARN"),
        launch_template_id=(spec or {}).get("LaunchTemplateId"),
        launch_template_name=(spec or {}).get("LaunchTemplateName"),
        launch_template_version=version or (spec or {}).get("Version"),
        suspended_processes=sorted(p["ProcessName"] for p in group.get("SuspendedProcesses", [])),
        health_check_type=group.get("HealthCheckType"),
        key_name=data.get("KeyName"),
        status=group.get("Status"),
    )


@aws_activity("aws.describe_server_group")
def describe_server_group(arg: GroupCall) -> ServerGroupLookup:
    """Describe a group: capacity, instances with their health, launch template, traffic state.

    A missing group is ``description=None`` rather than an error, so callers decide whether
    that is a failure (describe) or success (destroy).
    """
    asg = aws_client("autoscaling", arg.account, arg.region)
    group = _find_group(asg, arg.name)
    return ServerGroupLookup(description=_describe(arg, group) if group is not None else None)


@aws_activity("aws.read_server_group_template")
def read_server_group_template(arg: GroupCall) -> AwsCreateServerGroupInput:
    """The create input that would make a copy of a group: the source of ``cloneServerGroup``."""
    asg = aws_client("autoscaling", arg.account, arg.region)
    group = _require_group(asg, arg.name)
    cluster = clone_source(arg.name)
    ec2 = aws_client("ec2", arg.account, arg.region)
    data, _ = _launch_template_data(ec2, _launch_template_spec(group))
    if not data.get("ImageId") or not data.get("InstanceType"):
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"cannot clone {arg.name!r}: its launch template (or its image and instance type) "
            "could not be read",
            {"server_group": arg.name},
        )
    interfaces = data.get("NetworkInterfaces") or [{}]
    subnets = [s for s in (group.get("VPCZoneIdentifier") or "").split(",") if s]
    profile = data.get("IamInstanceProfile") or {}
    tags = {
        k: v
        for k, v in _tags(group.get("Tags")).items()
        if not k.startswith(RESERVED_TAG_PREFIX) and not k.startswith("aws:")
    }
    return AwsCreateServerGroupInput(
        **cluster,
        image=data["ImageId"],
        instance_type=data["InstanceType"],
        capacity=_capacity(group),
        # Subnets imply their zones; copying both would pin a clone given other subnets to
        # the source's zones.
        zones=[] if subnets else list(group.get("AvailabilityZones") or []),
        subnets=subnets,
        load_balancers=list(group.get("LoadBalancerNames") or []),
        target_groups=list(group.get("TargetGroupARNs") or []),
        security_groups=_security_groups_of(data),
        key_name=data.get("KeyName"),
        user_data_base64=data.get("UserData"),
        tags=tags,
        iam_instance_profile=profile.get("Arn") or profile.get("Name"),
        health_check_type=group.get("HealthCheckType"),
        health_check_grace_period_seconds=group.get("HealthCheckGracePeriod"),
        cooldown_seconds=group.get("DefaultCooldown"),
        termination_policies=list(group.get("TerminationPolicies") or []) or None,
        associate_public_ip_address=interfaces[0].get("AssociatePublicIpAddress"),
        ebs_optimized=data.get("EbsOptimized"),
        block_devices=[BlockDevice.from_api(d) for d in data.get("BlockDeviceMappings") or []]
        or None,
    )


@aws_activity("aws.terminate_instances")
def terminate_instances(arg: TerminateInput) -> TerminateInstancesOutput:
    """Terminate instances of a group, optionally decrementing desired (and min if needed).

    Every id is checked before anything is terminated: an instance of another group is
    ``INVALID_INPUT``, an unknown one ``NOT_FOUND``. Instances already terminating or gone count
    as done, so a rerun neither fails nor decrements the capacity twice.
    """
    asg = aws_client("autoscaling", arg.account, arg.region)
    group = _require_group(asg, arg.name)
    members = {i["InstanceId"]: i for i in group.get("Instances", [])}
    gone = [
        i
        for i in arg.instance_ids
        if i in members and members[i]["LifecycleState"].startswith("Terminat")
    ]
    todo = [i for i in arg.instance_ids if i in members and i not in gone]
    outsiders = [i for i in arg.instance_ids if i not in members]
    if outsiders:
        ec2 = aws_client("ec2", arg.account, arg.region)
        answer = ec2.describe_instances(InstanceIds=outsiders)  # unknown id -> NOT_FOUND
        for reservation in answer.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                state = instance.get("State", {}).get("Name")
                owner = _tags(instance.get("Tags")).get("aws:autoscaling:groupName")
                if state in ("shutting-down", "terminated") and owner in (None, arg.name):
                    gone.append(instance["InstanceId"])
                else:
                    raise BusinessError(
                        ErrorCode.INVALID_INPUT,
                        f"instance {instance['InstanceId']} is not in server group {arg.name}",
                        {"instance": instance["InstanceId"], "server_group": owner},
                    )
    capacity = _capacity(group)
    if arg.decrement_desired and todo:
        desired = max(0, capacity.desired - len(todo))
        if desired < capacity.min:
            asg.update_auto_scaling_group(AutoScalingGroupName=arg.name, MinSize=desired)
        capacity = Capacity.model_construct(
            min=min(capacity.min, desired), max=capacity.max, desired=desired
        )
    for instance_id in todo:
        try:
            asg.terminate_instance_in_auto_scaling_group(
                InstanceId=instance_id, ShouldDecrementDesiredCapacity=arg.decrement_desired
            )
        except Exception as err:
            mapped = classify(err)
            if isinstance(mapped, BusinessError) and mapped.code == ErrorCode.NOT_FOUND:
                gone.append(instance_id)
                continue
            raise
    return TerminateInstancesOutput(
        server_group=arg.name,
        terminated=[i for i in todo if i not in gone],
        already_gone=sorted(set(gone)),
        capacity=capacity,
    )


@aws_activity("aws.list_server_groups")
def list_server_groups(arg: ClusterCall) -> AwsServerGroupList:
    """The Auto Scaling groups of a cluster, oldest first (creation time, then sequence).

    Groups being deleted are left out: a deploy must neither enable nor count them.
    """
    asg = aws_client("autoscaling", arg.account, arg.region)
    cluster = cluster_name(arg.application, arg.stack, arg.detail)
    found = []
    for group in paginate(asg, "describe_auto_scaling_groups", "AutoScalingGroups"):
        parsed = ServerGroupName.try_parse(group["AutoScalingGroupName"])
        if parsed is None or parsed.cluster != cluster or parsed.sequence is None:
            continue
        if group.get("Status") == _DELETE_IN_PROGRESS:
            continue
        call = GroupCall(account=arg.account, region=arg.region, name=parsed.format())
        found.append(_describe(call, group))
    return AwsServerGroupList.oldest_first(cluster, found)


# --------------------------------------------------------------------------------------------
# Autoscaling copied from a source group (copy_source_scaling)
# --------------------------------------------------------------------------------------------

#: PutScalingPolicy's and PutMetricAlarm's fields, as DescribePolicies/DescribeAlarms read them.
_POLICY_FIELDS = (
    "PolicyType",
    "AdjustmentType",
    "MinAdjustmentMagnitude",
    "ScalingAdjustment",
    "Cooldown",
    "MetricAggregationType",
    "StepAdjustments",
    "EstimatedInstanceWarmup",
    "TargetTrackingConfiguration",
    "Enabled",
    "PredictiveScalingConfiguration",
    "PolicyARN",  # the source's, to re-point its alarms; not sent
)
_ALARM_FIELDS = (
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
)
_SCHEDULE_FIELDS = ("StartTime", "EndTime", "Recurrence", "MinSize", "MaxSize", "DesiredCapacity")
_SCHEDULE_FIELDS += ("TimeZone",)
_ACTION_LISTS = ("OKActions", "AlarmActions", "InsufficientDataActions")


def _pick(item: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The fields of ``item`` that are set (empty lists and maps dropped), JSON-ready."""
    picked = {}
    for field in fields:
        value = item.get(field)
        if value is None or value == [] or value == {}:
            continue
        picked[field] = value.isoformat() if isinstance(value, datetime) else value
    return picked


def _policies(asg: Any, name: str) -> list[dict[str, Any]]:
    try:
        return list(
            paginate(asg, "describe_policies", "ScalingPolicies", AutoScalingGroupName=name)
        )
    except Exception as err:
        if _is_not_found(err):
            return []
        raise


def _alarms_of(cw: Any, policies: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The alarms that drive step and simple policies (target tracking's are AWS's own)."""
    alarms: dict[str, dict[str, Any]] = {}
    for policy in policies:
        if policy.get("PolicyType", "SimpleScaling") in ("StepScaling", "SimpleScaling"):
            for alarm in paginate(
                cw, "describe_alarms", "MetricAlarms", ActionPrefix=policy["PolicyARN"]
            ):
                alarms[alarm["AlarmName"]] = alarm
    return alarms


def _delete_alarms_of(call: GroupCall, policies: list[dict[str, Any]]) -> None:
    """Delete the alarms whose every action is one of ``policies`` (the group's own)."""
    if not policies:
        return
    cw = aws_client("cloudwatch", call.account, call.region)
    arns = {p["PolicyARN"] for p in policies}
    names = [
        name
        for name, alarm in _alarms_of(cw, policies).items()
        if all(a in arns for field in _ACTION_LISTS for a in alarm.get(field) or [])
    ]
    for start in range(0, len(names), 100):
        cw.delete_alarms(AlarmNames=names[start : start + 100])


@aws_activity("aws.read_scaling")
def read_scaling(arg: GroupCall) -> ScalingSettings:
    """A group's autoscaling, for a new group to copy: what Clouddriver's deploy copies.

    Scaling policies of every type, the alarms of step and simple policies (target tracking
    makes its own), scheduled actions (a start time already past dropped, expired ones left
    out), lifecycle hooks, suspended processes other than those disabling does, and enabled
    metrics. Read-only.
    """
    asg = aws_client("autoscaling", arg.account, arg.region)
    group = _require_group(asg, arg.name)
    policies = _policies(asg, arg.name)
    alarms = _alarms_of(aws_client("cloudwatch", arg.account, arg.region), policies)
    found = [
        ScalingResource(kind="policy", name=p["PolicyName"], spec=_pick(p, _POLICY_FIELDS))
        for p in policies
    ]
    found += [
        ScalingResource(kind="alarm", name=name, spec=_pick(alarm, _ALARM_FIELDS))
        for name, alarm in sorted(alarms.items())
    ]
    now = datetime.now(UTC)
    for action in paginate(
        asg,
        "describe_scheduled_actions",
        "ScheduledUpdateGroupActions",
        AutoScalingGroupName=arg.name,
    ):
        if action.get("EndTime") and action["EndTime"] <= now:
            continue
        if action.get("StartTime") and action["StartTime"] <= now:
            action = {k: v for k, v in action.items() if k != "StartTime"}
        spec = _pick(action, _SCHEDULE_FIELDS)
        found.append(
            ScalingResource(kind="scheduled_action", name=action["ScheduledActionName"], spec=spec)
        )
    for hook in asg.describe_lifecycle_hooks(AutoScalingGroupName=arg.name)["LifecycleHooks"]:
        spec = LifecycleHook.from_api(hook).model_dump(exclude_none=True)
        found.append(
            ScalingResource(kind="lifecycle_hook", name=hook["LifecycleHookName"], spec=spec)
        )
    suspended = sorted(
        p["ProcessName"]
        for p in group.get("SuspendedProcesses", [])
        if p["ProcessName"] not in DISABLE_PROCESSES
    )
    if suspended:
        found.append(ScalingResource(kind="suspended_processes", spec={"processes": suspended}))
    metrics = group.get("EnabledMetrics") or []
    if metrics:
        spec = {
            "metrics": sorted(m["Metric"] for m in metrics),
            "granularity": metrics[0].get("Granularity") or "1Minute",
        }
        found.append(ScalingResource(kind="enabled_metrics", spec=spec))
    return ScalingSettings(source=arg.name, resources=found)


def _retarget(value: Any, arns: dict[str, str], source: str, target: str) -> Any:
    """``value`` with the source's policy ARNs and group dimension pointing at the target."""
    if isinstance(value, str):
        return arns.get(value, value)
    if isinstance(value, list):
        return [_retarget(v, arns, source, target) for v in value]
    if isinstance(value, dict):
        if value.get("Name") == "AutoScalingGroupName" and value.get("Value") == source:
            return {**value, "Value": target}
        return {k: _retarget(v, arns, source, target) for k, v in value.items()}
    return value


@aws_activity("aws.copy_scaling")
def copy_scaling(arg: ScalingCopyInput) -> ScalingCopyOutput:
    """Copy a source's autoscaling to the group ``name`` under names derived from it.

    Policies first (their ARNs read back: moto's PutScalingPolicy answer lacks it), then their
    alarms pointed at the new policies and the new group, scheduled actions, suspended
    processes and enabled metrics. Every call is an upsert by a deterministic name, so a
    retried or repeated copy overwrites its own copies and makes none twice. Lifecycle hooks
    were created with the group; they are only counted here.
    """
    asg = aws_client("autoscaling", arg.account, arg.region)
    settings, source, target = arg.settings, arg.settings.source, arg.name
    out = ScalingCopyOutput()
    arns: dict[str, str] = {}
    made: dict[str, str] = {}
    for policy in settings.of_kind("policy"):
        name = copied_name(policy.name, source, target)
        params = {k: v for k, v in policy.spec.items() if k != "PolicyARN"}
        asg.put_scaling_policy(AutoScalingGroupName=target, PolicyName=name, **params)
        made[name] = str(policy.spec.get("PolicyARN", ""))
        out.add("policy", name)
    if made and settings.of_kind("alarm"):
        for policy in _policies(asg, target):
            if policy["PolicyName"] in made:
                arns[made[policy["PolicyName"]]] = policy["PolicyARN"]
    cw = aws_client("cloudwatch", arg.account, arg.region)
    for alarm in settings.of_kind("alarm"):
        name = copied_name(alarm.name, source, target)
        cw.put_metric_alarm(AlarmName=name, **_retarget(alarm.spec, arns, source, target))
        out.add("alarm", name)
    for action in settings.of_kind("scheduled_action"):
        name = copied_name(action.name, source, target)
        asg.put_scheduled_update_group_action(
            AutoScalingGroupName=target, ScheduledActionName=name, **action.spec
        )
        out.add("scheduled_action", name)
    for hook in settings.of_kind("lifecycle_hook"):
        out.add("lifecycle_hook", hook.name)
    for suspended in settings.of_kind("suspended_processes"):
        asg.suspend_processes(
            AutoScalingGroupName=target, ScalingProcesses=suspended.spec["processes"]
        )
        out.add("suspended_processes", ",".join(suspended.spec["processes"]))
    for metrics in settings.of_kind("enabled_metrics"):
        asg.enable_metrics_collection(
            AutoScalingGroupName=target,
            Metrics=metrics.spec["metrics"],
            Granularity=metrics.spec["granularity"],
        )
        out.add("enabled_metrics", ",".join(metrics.spec["metrics"]))
    return out


def _gone_ok(call: Any, **params: Any) -> bool:
    """Make a delete call; False when what it deletes (or its group) is already gone."""
    try:
        call(**params)
    except Exception as err:
        if _is_not_found(err):
            return False
        raise
    return True


@aws_activity("aws.delete_copied_scaling")
def delete_copied_scaling(arg: ScalingCopyInput) -> ScalingCopyOutput:
    """Delete what ``aws.copy_scaling`` (and the create, for hooks) copied to group ``name``.

    The names derive from the group, so nothing is looked up; "not found" (the copy never
    happened, or the group is gone) is success. The rollback of a copy.
    """
    asg = aws_client("autoscaling", arg.account, arg.region)
    settings, source, target = arg.settings, arg.settings.source, arg.name
    out = ScalingCopyOutput()
    alarms = [copied_name(a.name, source, target) for a in settings.of_kind("alarm")]
    if alarms:
        aws_client("cloudwatch", arg.account, arg.region).delete_alarms(AlarmNames=alarms)
        out.names["alarm"] = alarms
    for kind, call, key, group_key in (
        ("policy", asg.delete_policy, "PolicyName", "AutoScalingGroupName"),
        (
            "scheduled_action",
            asg.delete_scheduled_action,
            "ScheduledActionName",
            "AutoScalingGroupName",
        ),
    ):
        for resource in settings.of_kind(kind):
            name = copied_name(resource.name, source, target)
            if _gone_ok(call, **{group_key: target, key: name}):
                out.add(kind, name)
    for hook in settings.of_kind("lifecycle_hook"):
        if _gone_ok(
            asg.delete_lifecycle_hook, AutoScalingGroupName=target, LifecycleHookName=hook.name
        ):
            out.add("lifecycle_hook", hook.name)
    return out


#: Every activity of the plugin, in the order ``register_activities`` adds them.
ACTIVITIES = (
    next_name,
    create_auto_scaling_group_and_check,
    destroy_server_group,
    create_launch_template,
    delete_launch_template,
    create_auto_scaling_group,
    wait_for_capacity,
    update_capacity,
    set_scaling_processes,
    set_traffic,
    delete_auto_scaling_group,
    describe_server_group,
    read_server_group_template,
    terminate_instances,
    list_server_groups,
    read_scaling,
    copy_scaling,
    delete_copied_scaling,
)
