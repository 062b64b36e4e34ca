"""The AWS server-group operations: workflow code, deterministic, no boto3.

Each operation is a short script of activity calls made *by name* (``"aws.create_launch_template"``)
so that the workflow sandbox never imports boto3. Decisions that must not change on replay
(the server group's name) are made in an activity and so recorded in the history; waits are
durable polls (``ctx.poll``) of activities that raise ``NotReady`` until the cloud is there; and
every change registers its compensation (``ctx.on_rollback``) *before* it is attempted, so that a
change whose answer was lost is still undone if the operation fails later.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

import cloudops
from cloudops import ActivityDefaults, BusinessError, ErrorCode, OperationContext
from cloudops.servergroup import (
    ClusterRef,
    ResizeServerGroupInput,
    ServerGroupChangeInput,
    ServerGroupOutput,
    ServerGroupRef,
    TerminateInstancesInput,
    TerminateInstancesOutput,
    WaitSettings,
    cluster_name,
    poll_until_ready,
    require_location,
)
from cloudops_aws.activities import (
    CreatedGroup,
    CreateGroupInput,
    DestroyGroupInput,
    DestroyProgress,
)
from cloudops_aws.models import (
    DISABLE_PROCESSES,
    LAUNCH_TEMPLATE_NAME,
    TAG_APPLICATION,
    TAG_CLUSTER,
    TAG_REQUEST_ID,
    TAG_SERVER_GROUP,
    AutoScalingGroupRef,
    AutoScalingGroupSpec,
    AwsCloneServerGroupInput,
    AwsCreateServerGroupInput,
    AwsServerGroupDescription,
    AwsServerGroupList,
    CapacityStatus,
    ClusterCall,
    DeleteGroupInput,
    DeleteLaunchTemplateInput,
    DeleteOutput,
    GroupCall,
    LaunchTemplateRef,
    LaunchTemplateSpec,
    NextNameInput,
    NextNameOutput,
    ScalingProcessesInput,
    ServerGroupLookup,
    TerminateInput,
    TrafficInput,
    TrafficOutput,
    UpdateCapacityInput,
    WaitForCapacityInput,
)

__all__ = [
    "OPERATIONS",
    "CloneServerGroup",
    "CreateServerGroup",
    "DescribeServerGroup",
    "DestroyServerGroup",
    "DisableServerGroup",
    "EnableServerGroup",
    "ResizeServerGroup",
    "TerminateInstances",
]

#: AWS calls are short; throttling and 5xx are retried by Temporal with backoff (botocore itself
#: tries at most ``max_attempts`` times per call). Ten attempts over about two minutes ride out
#: a throttling storm; a business error stops at once. Activities heartbeat while they run, so
#: an attempt lost with a crashed worker is retried after the heartbeat timeout (10 s), not
#: after the two-minute start-to-close timeout.
AWS_ACTIVITY_DEFAULTS = ActivityDefaults(
    start_to_close_timeout=timedelta(minutes=2),
    heartbeat_timeout=timedelta(seconds=10),
    schedule_to_close_timeout=timedelta(minutes=15),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=20),
        maximum_attempts=10,
    ),
)


#: ``workflow.patched`` ids. Operations started before them replay their recorded commands:
#: the group created by ``aws.create_auto_scaling_group`` and always a ``aws.wait_for_capacity``
#: poll; the destroy as describe, delete group, delete template. Started after: the group's
#: activity also takes the first capacity check (no poll when the group is ready at once), and
#: one activity destroys group and template (polls only while AWS is still deleting).
CREATE_AND_CHECK = "aws-create-group-and-check"
DESTROY_IN_ONE_ACTIVITY = "aws-destroy-in-one-activity"


def _where(ctx: OperationContext) -> tuple[str, str]:
    """The account and region every AWS operation needs."""
    return require_location(ctx, "AWS operations need an account and a region")


_poll = poll_until_ready


async def _describe(
    ctx: OperationContext, account: str, region: str, name: str
) -> AwsServerGroupDescription | None:
    lookup: ServerGroupLookup = await ctx.execute_activity(
        "aws.describe_server_group",
        GroupCall(account=account, region=region, name=name),
        result_type=ServerGroupLookup,
    )
    return lookup.description


def _not_found(name: str) -> BusinessError:
    return BusinessError(
        ErrorCode.NOT_FOUND, f"server group {name!r} does not exist", {"server_group": name}
    )


# --------------------------------------------------------------------------------------------
# create and clone
# --------------------------------------------------------------------------------------------


async def create_server_group(
    ctx: OperationContext, input: AwsCreateServerGroupInput
) -> ServerGroupOutput:
    """Launch template + Auto Scaling group, then wait for healthy capacity.

    Shared by ``createServerGroup`` and ``cloneServerGroup``; call it from your own operations
    to create a server group inside a larger workflow (a deploy).
    """
    account, region = _where(ctx)
    cluster = cluster_name(input.application, input.stack, input.detail)
    if not re.match(LAUNCH_TEMPLATE_NAME, f"{cluster}-v000"):
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"server group names of cluster {cluster!r} cannot name an AWS launch template "
            "(3-128 letters, digits and ( ) . - / _)",
            {"errors": [{"field": "detail", "reason": "not usable in a launch template name"}]},
        )
    with ctx.step("choose name"):
        chosen: NextNameOutput = await ctx.execute_activity(
            "aws.next_server_group_name",
            NextNameInput(
                account=account,
                region=region,
                application=input.application,
                stack=input.stack,
                detail=input.detail,
            ),
            result_type=NextNameOutput,
        )
    name = chosen.name
    tags = {
        **input.tags,
        TAG_REQUEST_ID: ctx.request_id,
        TAG_SERVER_GROUP: name,
        TAG_CLUSTER: cluster,
        TAG_APPLICATION: input.application,
    }

    template_spec = LaunchTemplateSpec(
        account=account,
        region=region,
        name=name,
        request_id=ctx.request_id,
        image=input.image,
        instance_type=input.instance_type,
        key_name=input.key_name,
        security_groups=input.security_groups,
        user_data=input.user_data,
        user_data_base64=input.user_data_base64,
        iam_instance_profile=input.iam_instance_profile,
        associate_public_ip_address=input.associate_public_ip_address,
        ebs_optimized=input.ebs_optimized,
        subnets=input.subnets,
        tags=tags,
    )
    status: CapacityStatus | None = None
    with ctx.step("create launch template"):
        _rollback_template(ctx, account, region, name)
        template: LaunchTemplateRef = await ctx.execute_activity(
            "aws.create_launch_template", template_spec, result_type=LaunchTemplateRef
        )
    group_spec = AutoScalingGroupSpec(
        account=account,
        region=region,
        name=name,
        request_id=ctx.request_id,
        launch_template_id=template.id,
        launch_template_version=template.version,
        capacity=input.capacity,
        zones=input.zones,
        subnets=input.subnets,
        target_groups=input.target_groups,
        load_balancers=input.load_balancers,
        health_check_type=input.health_check_type,
        health_check_grace_period_seconds=input.health_check_grace_period_seconds,
        cooldown_seconds=input.cooldown_seconds,
        termination_policies=input.termination_policies or [],
        tags=tags,
    )
    with ctx.step("create auto scaling group"):
        _rollback_group(ctx, account, region, name)
        group: AutoScalingGroupRef
        if workflow.patched(CREATE_AND_CHECK):
            made: CreatedGroup = await ctx.execute_activity(
                "aws.create_auto_scaling_group_and_check",
                CreateGroupInput(**group_spec.model_dump(), check=input.wait),
                result_type=CreatedGroup,
            )
            group, status = made, made.status
        else:
            group = await ctx.execute_activity(
                "aws.create_auto_scaling_group", group_spec, result_type=AutoScalingGroupRef
            )

    if input.wait and status is None:
        with ctx.step("wait for healthy instances"):
            status = await _poll(
                ctx,
                "aws.wait_for_capacity",
                WaitForCapacityInput(
                    account=account, region=region, name=name, desired=input.capacity.desired
                ),
                input,
                CapacityStatus,
            )
    resources = {"launch_template_id": template.id, "launch_template_version": template.version}
    if group.arn:
        resources["auto_scaling_group_arn"] = group.arn
    return ServerGroupOutput.for_name(
        name,
        region=region,
        capacity=input.capacity,
        disabled=False,
        instance_count=status.instances if status else None,
        healthy_count=status.healthy if status else None,
        resources=resources,
    )


def _rollback_template(ctx: OperationContext, account: str, region: str, name: str) -> None:
    ctx.on_rollback(
        "aws.delete_launch_template",
        DeleteLaunchTemplateInput(
            account=account, region=region, name=name, only_if_request_id=ctx.request_id
        ),
        label=f"delete launch template {name}",
    )


def _rollback_group(ctx: OperationContext, account: str, region: str, name: str) -> None:
    ctx.on_rollback(
        "aws.delete_auto_scaling_group",
        DeleteGroupInput(
            account=account,
            region=region,
            name=name,
            only_if_request_id=ctx.request_id,
            wait_until_gone=True,
        ),
        label=f"delete auto scaling group {name}",
    )


class CreateServerGroup(cloudops.CloudOperation[AwsCreateServerGroupInput, ServerGroupOutput]):
    """Create the next server group of a cluster: launch template + Auto Scaling group.

    The ``app-stack-detail-vNNN`` name takes the next free sequence of the cluster, chosen once.
    With ``wait`` (the default) the operation ends when ``desired`` instances are InService and
    healthy in their target groups. If any step fails, what was created is deleted again.
    """

    provider = "aws"
    name = "createServerGroup"
    activity_defaults = AWS_ACTIVITY_DEFAULTS

    async def run(
        self, ctx: OperationContext, input: AwsCreateServerGroupInput
    ) -> ServerGroupOutput:
        """Create and (optionally) wait; see :func:`create_server_group`."""
        return await create_server_group(ctx, input)


def merge_clone(
    source: AwsCreateServerGroupInput, clone: AwsCloneServerGroupInput
) -> AwsCreateServerGroupInput:
    """The create input of a clone: the source's settings with the clone's overrides on top.

    Pure and deterministic (workflow code). Tags merge; user data given in either form replaces
    the source's in both forms; the wait settings are the clone's.
    """
    merged: dict[str, Any] = source.model_dump(exclude=set(WaitSettings.model_fields))
    overrides = clone.overrides()
    if "tags" in overrides:
        overrides["tags"] = {**source.tags, **overrides["tags"]}
    if "user_data" in overrides or "user_data_base64" in overrides:
        merged["user_data"] = merged["user_data_base64"] = None
    for key, value in overrides.items():
        merged[key] = value.model_dump() if hasattr(value, "model_dump") else value
    merged.update(clone.model_dump(include=set(WaitSettings.model_fields)))
    try:
        return AwsCreateServerGroupInput.model_validate(merged)
    except ValueError as err:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"the clone of {clone.source} would be invalid: {err}",
            {"source": clone.source},
        ) from None


class CloneServerGroup(cloudops.CloudOperation[AwsCloneServerGroupInput, ServerGroupOutput]):
    """Create the next server group of a cluster as a copy of another, with overrides.

    The copy takes the source's launch template settings, capacity, placement, load balancers
    and tags; any field of the input replaces the source's. ``stack`` and ``detail`` may move the
    copy to another cluster of the same application. The source is not changed.
    """

    provider = "aws"
    name = "cloneServerGroup"
    activity_defaults = AWS_ACTIVITY_DEFAULTS

    async def run(
        self, ctx: OperationContext, input: AwsCloneServerGroupInput
    ) -> ServerGroupOutput:
        """Read the source, merge the overrides, then create as ``createServerGroup`` does."""
        account, region = _where(ctx)
        with ctx.step("read source"):
            source: AwsCreateServerGroupInput = await ctx.execute_activity(
                "aws.read_server_group_template",
                GroupCall(account=account, region=region, name=input.source),
                result_type=AwsCreateServerGroupInput,
            )
        output = await create_server_group(ctx, merge_clone(source, input))
        output.resources["source"] = input.source
        return output


# --------------------------------------------------------------------------------------------
# resize, enable, disable
# --------------------------------------------------------------------------------------------


class ResizeServerGroup(cloudops.CloudOperation[ResizeServerGroupInput, ServerGroupOutput]):
    """Set a server group's min, max and desired capacity, and wait until it runs that many.

    A disabled group can be resized and stays disabled (Launch and Terminate are resumed so the
    size can change; AddToLoadBalancer stays suspended). If the operation fails later (e.g. the
    wait times out) the previous capacity is restored.
    """

    provider = "aws"
    name = "resizeServerGroup"
    activity_defaults = AWS_ACTIVITY_DEFAULTS

    async def run(self, ctx: OperationContext, input: ResizeServerGroupInput) -> ServerGroupOutput:
        """Update the capacity, register its undo, then wait."""
        account, region = _where(ctx)
        name = input.server_group
        with ctx.step("update capacity"):
            before: CapacityStatus = await ctx.execute_activity(
                "aws.update_capacity",
                UpdateCapacityInput(
                    account=account, region=region, name=name, capacity=input.capacity
                ),
                result_type=CapacityStatus,
            )
        if before.capacity != input.capacity:
            ctx.on_rollback(
                "aws.update_capacity",
                UpdateCapacityInput(
                    account=account, region=region, name=name, capacity=before.capacity
                ),
                label=f"restore capacity of {name} to {before.capacity.model_dump()}",
            )
        status: CapacityStatus | None = None
        if input.wait:
            with ctx.step("wait for capacity"):
                status = await _poll(
                    ctx,
                    "aws.wait_for_capacity",
                    WaitForCapacityInput(
                        account=account, region=region, name=name, desired=input.capacity.desired
                    ),
                    input,
                    CapacityStatus,
                )
        return ServerGroupOutput.for_name(
            name,
            region=region,
            capacity=input.capacity,
            disabled=before.disabled,
            instance_count=status.instances if status else None,
            healthy_count=status.healthy if status else None,
            changed=before.capacity != input.capacity,
        )


async def _set_enabled(
    ctx: OperationContext, input: ServerGroupChangeInput, enabled: bool
) -> ServerGroupOutput:
    account, region = _where(ctx)
    name = input.server_group
    with ctx.step("describe"):
        current = await _describe(ctx, account, region, name)
    if current is None:
        raise _not_found(name)
    changing = current.disabled == enabled
    if changing:
        # Undo by the opposite operation if a later step (or a composing deploy) fails.
        ctx.on_rollback(
            DisableServerGroup if enabled else EnableServerGroup,
            ServerGroupChangeInput(server_group=name, wait=False),
            label=f"{'disable' if enabled else 'enable'} {name}",
        )
    processes = ScalingProcessesInput(
        account=account,
        region=region,
        name=name,
        processes=list(DISABLE_PROCESSES),
        suspend=not enabled,
    )
    traffic = TrafficInput(account=account, region=region, name=name, enabled=enabled)
    if enabled:
        with ctx.step("resume scaling processes"):
            await ctx.execute_activity(
                "aws.set_scaling_processes", processes, result_type=CapacityStatus
            )
        with ctx.step("register in load balancers"):
            await ctx.execute_activity("aws.set_traffic", traffic, result_type=TrafficOutput)
        status: CapacityStatus | None = None
        if input.wait:
            with ctx.step("wait for healthy instances"):
                status = await _poll(
                    ctx,
                    "aws.wait_for_capacity",
                    WaitForCapacityInput(account=account, region=region, name=name),
                    input,
                    CapacityStatus,
                )
        healthy = status.healthy if status else None
    else:
        with ctx.step("suspend scaling processes"):
            await ctx.execute_activity(
                "aws.set_scaling_processes", processes, result_type=CapacityStatus
            )
        with ctx.step("deregister from load balancers"):
            if input.wait:
                traffic.wait_drained = True
                await _poll(ctx, "aws.set_traffic", traffic, input, TrafficOutput)
            else:
                await ctx.execute_activity("aws.set_traffic", traffic, result_type=TrafficOutput)
        healthy = 0
    return ServerGroupOutput.for_name(
        name,
        region=region,
        capacity=current.capacity,
        disabled=not enabled,
        instance_count=len(current.instances),
        healthy_count=healthy,
        changed=changing,
    )


class EnableServerGroup(cloudops.CloudOperation[ServerGroupChangeInput, ServerGroupOutput]):
    """Put a server group back into traffic, as Spinnaker does.

    Resumes the Launch, Terminate and AddToLoadBalancer processes, registers the InService
    instances in the group's target groups and classic load balancers and, with ``wait``, waits
    until they are healthy there. Enabling an enabled group changes nothing.
    """

    provider = "aws"
    name = "enableServerGroup"
    activity_defaults = AWS_ACTIVITY_DEFAULTS

    async def run(self, ctx: OperationContext, input: ServerGroupChangeInput) -> ServerGroupOutput:
        """Resume processes, register targets, wait for health."""
        return await _set_enabled(ctx, input, True)


class DisableServerGroup(cloudops.CloudOperation[ServerGroupChangeInput, ServerGroupOutput]):
    """Take a server group out of traffic without terminating it, as Spinnaker does.

    Suspends Launch, Terminate and AddToLoadBalancer (so Auto Scaling neither replaces nor
    re-registers instances), deregisters the instances from the group's target groups and
    classic load balancers and, with ``wait``, waits until they have drained.
    """

    provider = "aws"
    name = "disableServerGroup"
    activity_defaults = AWS_ACTIVITY_DEFAULTS

    async def run(self, ctx: OperationContext, input: ServerGroupChangeInput) -> ServerGroupOutput:
        """Suspend processes, deregister targets, wait for draining."""
        return await _set_enabled(ctx, input, False)


# --------------------------------------------------------------------------------------------
# destroy, terminate, describe
# --------------------------------------------------------------------------------------------


class DestroyServerGroup(cloudops.CloudOperation[ServerGroupChangeInput, ServerGroupOutput]):
    """Delete a server group's Auto Scaling group (with its instances) and its launch template.

    A group that does not exist is success (``changed: false``), so a destroy can be repeated.
    The launch template is deleted only if cloudops made it for this group or it is named after
    the group, never a template other groups may share.
    """

    provider = "aws"
    name = "destroyServerGroup"
    activity_defaults = AWS_ACTIVITY_DEFAULTS

    async def run(self, ctx: OperationContext, input: ServerGroupChangeInput) -> ServerGroupOutput:
        """Describe, delete the group (waiting until it is gone), delete the template."""
        account, region = _where(ctx)
        name = input.server_group
        if not workflow.patched(DESTROY_IN_ONE_ACTIVITY):
            return await _destroy_step_by_step(ctx, account, region, input)
        with ctx.step("delete auto scaling group"):
            done: DestroyProgress = await ctx.execute_activity(
                "aws.destroy_server_group",
                DestroyGroupInput(
                    account=account, region=region, name=name, wait_until_gone=input.wait
                ),
                result_type=DestroyProgress,
            )
            if not done.found:
                return ServerGroupOutput.for_name(name, region=region, changed=False)
            if not done.gone:  # AWS is still deleting (or the activity was interrupted)
                delete = DeleteGroupInput(
                    account=account, region=region, name=name, wait_until_gone=input.wait
                )
                if input.wait:
                    await _poll(ctx, "aws.delete_auto_scaling_group", delete, input, DeleteOutput)
                else:
                    await ctx.execute_activity(
                        "aws.delete_auto_scaling_group", delete, result_type=DeleteOutput
                    )
        deleted = done.template
        if deleted is None and (done.launch_template_id or done.launch_template_name):
            with ctx.step("delete launch template"):
                deleted = await ctx.execute_activity(
                    "aws.delete_launch_template",
                    DeleteLaunchTemplateInput(
                        account=account,
                        region=region,
                        name=name,
                        launch_template_id=done.launch_template_id,
                        only_if_server_group=name,
                    ),
                    result_type=DeleteOutput,
                )
        resources: dict[str, str] = {}
        if deleted is not None and deleted.deleted and deleted.id:
            resources["launch_template_id"] = deleted.id
        return ServerGroupOutput.for_name(
            name, region=region, capacity=done.capacity, resources=resources
        )


async def _destroy_step_by_step(
    ctx: OperationContext, account: str, region: str, input: ServerGroupChangeInput
) -> ServerGroupOutput:
    """The destroy of histories recorded before ``DESTROY_IN_ONE_ACTIVITY``."""
    name = input.server_group
    with ctx.step("describe"):
        current = await _describe(ctx, account, region, name)
    template = DeleteLaunchTemplateInput(
        account=account,
        region=region,
        name=name,
        launch_template_id=current.launch_template_id if current else None,
        only_if_server_group=name,
    )
    if current is None:
        # Perhaps an interrupted destroy left the template behind.
        with ctx.step("delete launch template"):
            await ctx.execute_activity(
                "aws.delete_launch_template", template, result_type=DeleteOutput
            )
        return ServerGroupOutput.for_name(name, region=region, changed=False)
    with ctx.step("delete auto scaling group"):
        delete = DeleteGroupInput(
            account=account, region=region, name=name, wait_until_gone=input.wait
        )
        if input.wait:
            await _poll(ctx, "aws.delete_auto_scaling_group", delete, input, DeleteOutput)
        else:
            await ctx.execute_activity(
                "aws.delete_auto_scaling_group", delete, result_type=DeleteOutput
            )
    resources: dict[str, str] = {}
    if current.launch_template_id or current.launch_template_name:
        with ctx.step("delete launch template"):
            deleted: DeleteOutput = await ctx.execute_activity(
                "aws.delete_launch_template", template, result_type=DeleteOutput
            )
        if deleted.deleted and deleted.id:
            resources["launch_template_id"] = deleted.id
    return ServerGroupOutput.for_name(
        name, region=region, capacity=current.capacity, resources=resources
    )


class TerminateInstances(
    cloudops.CloudOperation[TerminateInstancesInput, TerminateInstancesOutput]
):
    """Terminate instances of a server group, replacing them or shrinking the group.

    Without ``decrement_desired`` Auto Scaling launches replacements (and with ``wait`` the
    operation waits for them to be healthy); with it the group's desired capacity drops by as
    many instances (and ``min`` with it if needed).
    """

    provider = "aws"
    name = "terminateInstances"
    activity_defaults = AWS_ACTIVITY_DEFAULTS

    async def run(
        self, ctx: OperationContext, input: TerminateInstancesInput
    ) -> TerminateInstancesOutput:
        """Terminate, then wait for the group to settle."""
        account, region = _where(ctx)
        name = input.server_group
        with ctx.step("terminate instances"):
            result: TerminateInstancesOutput = await ctx.execute_activity(
                "aws.terminate_instances",
                TerminateInput(
                    account=account,
                    region=region,
                    name=name,
                    instance_ids=input.instance_ids,
                    decrement_desired=input.decrement_desired,
                ),
                result_type=TerminateInstancesOutput,
            )
        if input.wait:
            with ctx.step("wait for capacity"):
                await _poll(
                    ctx,
                    "aws.wait_for_capacity",
                    WaitForCapacityInput(
                        account=account,
                        region=region,
                        name=name,
                        exclude_instances=input.instance_ids,
                    ),
                    input,
                    CapacityStatus,
                )
        return result


class DescribeServerGroup(cloudops.CloudOperation[ServerGroupRef, AwsServerGroupDescription]):
    """Describe a server group: capacity, instances and their health, template, traffic state.

    A group that does not exist is a ``NOT_FOUND`` business failure.
    """

    provider = "aws"
    name = "describeServerGroup"
    activity_defaults = AWS_ACTIVITY_DEFAULTS

    async def run(self, ctx: OperationContext, input: ServerGroupRef) -> AwsServerGroupDescription:
        """One read-only activity."""
        account, region = _where(ctx)
        with ctx.step("describe"):
            found = await _describe(ctx, account, region, input.server_group)
        if found is None:
            raise _not_found(input.server_group)
        return found


class ListServerGroups(cloudops.CloudOperation[ClusterRef, AwsServerGroupList]):
    """List a cluster's server groups, oldest first, each described as ``describeServerGroup``.

    Deploy strategies use it to find the groups to disable and the oldest ones to destroy.
    """

    provider = "aws"
    name = "listServerGroups"
    activity_defaults = AWS_ACTIVITY_DEFAULTS

    async def run(self, ctx: OperationContext, input: ClusterRef) -> AwsServerGroupList:
        """One read-only activity."""
        account, region = _where(ctx)
        with ctx.step(f"list {input.cluster}"):
            found: AwsServerGroupList = await ctx.execute_activity(
                "aws.list_server_groups",
                ClusterCall(
                    account=account,
                    region=region,
                    application=input.application,
                    stack=input.stack,
                    detail=input.detail,
                ),
            )
        return found


#: Every operation of the plugin, in the order ``register_operations`` adds them.
OPERATIONS: tuple[type[cloudops.CloudOperation[Any, Any]], ...] = (
    CreateServerGroup,
    CloneServerGroup,
    ResizeServerGroup,
    EnableServerGroup,
    DisableServerGroup,
    DestroyServerGroup,
    TerminateInstances,
    DescribeServerGroup,
    ListServerGroups,
)
