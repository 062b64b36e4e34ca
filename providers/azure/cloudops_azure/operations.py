"""The Azure server-group operations: workflow code, deterministic, no Azure SDK.

Each operation is a short script of activity calls made *by name* (``"azure.begin_resize"``)
so that the workflow sandbox never imports the SDK. Decisions that must not change on replay
(the scale set's name) are made in an activity and so recorded in the history. Every mutation
is a ``begin_*`` activity that returns the SDK poller's continuation token, followed by a
durable poll (``ctx.poll`` of ``azure.poll_operation``) that resumes from the token: a worker
crash in between loses nothing and never sends the mutation twice. Compensations are
registered (``ctx.on_rollback``) *before* the change they undo is attempted where a lost
answer could hide it (create).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

import cloudops
from cloudops import ActivityDefaults, BusinessError, ErrorCode, OperationContext
from cloudops.servergroup import (
    ServerGroupOutput,
    TerminateInstancesOutput,
    WaitSettings,
    cluster_name,
    poll_until_ready,
    require_location,
)
from cloudops_azure.models import (
    SCALE_SET_NAME,
    TAG_APPLICATION,
    TAG_CLUSTER,
    TAG_REQUEST_ID,
    TAG_SERVER_GROUP,
    AzureCloneServerGroupInput,
    AzureClusterRef,
    AzureCreateServerGroupInput,
    AzureResizeServerGroupInput,
    AzureServerGroupChangeInput,
    AzureServerGroupDescription,
    AzureServerGroupList,
    AzureServerGroupRef,
    AzureTerminateInstancesInput,
    Begun,
    ClusterCall,
    DeleteInstancesBegun,
    DeleteInstancesInput,
    DeleteScaleSetInput,
    DeleteScaleSetOutput,
    InstancesStatus,
    LroKind,
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
    WaitForInstancesInput,
)

__all__ = [
    "OPERATIONS",
    "CloneServerGroup",
    "CreateServerGroup",
    "DescribeServerGroup",
    "DestroyServerGroup",
    "DisableServerGroup",
    "EnableServerGroup",
    "ListServerGroups",
    "ResizeServerGroup",
    "TerminateInstances",
    "create_server_group",
    "merge_clone",
]

#: ARM calls are short; throttling and 5xx are retried by Temporal with backoff (the SDK itself
#: retries at most ``retry_total`` times per call). A poll attempt is one or two GETs, so a
#: short start-to-close lets another worker take over quickly after a crash.
AZURE_ACTIVITY_DEFAULTS = ActivityDefaults(
    start_to_close_timeout=timedelta(seconds=45),
    heartbeat_timeout=timedelta(seconds=10),
    schedule_to_close_timeout=timedelta(minutes=15),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=20),
        maximum_attempts=10,
    ),
)
#: A cleanup waits for the cloud rather than counting attempts: deleting a scale set whose
#: creation is still running must wait for that creation to end (Azure answers 409
#: AnotherOperationInProgress meanwhile), which can take longer than ten tries' backoff.
AZURE_CLEANUP_DEFAULTS = ActivityDefaults(
    start_to_close_timeout=timedelta(seconds=45),
    heartbeat_timeout=timedelta(seconds=10),
    schedule_to_close_timeout=timedelta(minutes=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=20),
        maximum_attempts=0,
        non_retryable_error_types=AZURE_ACTIVITY_DEFAULTS.retry_policy.non_retryable_error_types,
    ),
)


#: Keyword arguments naming one scale set: account, region, resource group and name.
_Call = dict[str, Any]


def _where(ctx: OperationContext) -> tuple[str, str]:
    """The account and region every Azure operation needs."""
    return require_location(
        ctx, "Azure operations need an account and a region (the Azure location)"
    )


def _call(ctx: OperationContext, name: str, resource_group: str | None) -> _Call:
    account, region = _where(ctx)
    return {"account": account, "region": region, "resource_group": resource_group, "name": name}


_poll = poll_until_ready


async def _finish(
    ctx: OperationContext, call: _Call, kind: LroKind, begun: Begun, wait: WaitSettings
) -> PollOutput | None:
    """Wait for the operation ``begun`` started, resuming from its continuation token."""
    if begun.done:
        return None
    result: PollOutput = await _poll(
        ctx,
        "azure.poll_operation",
        PollInput(**call, kind=kind, token=begun.token),
        wait,
        PollOutput,
    )
    return result


async def _describe(ctx: OperationContext, call: _Call) -> AzureServerGroupDescription | None:
    lookup: ServerGroupLookup = await ctx.execute_activity(
        "azure.describe_server_group", ScaleSetCall(**call), result_type=ServerGroupLookup
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
    ctx: OperationContext, input: AzureCreateServerGroupInput
) -> ServerGroupOutput:
    """Create a VM scale set, wait for provisioning and running VMs; undo it if a step fails.

    Shared by ``createServerGroup`` and ``cloneServerGroup``; call it from your own operations
    to create a server group inside a larger workflow (a deploy).
    """
    account, region = _where(ctx)
    cluster = cluster_name(input.application, input.stack, input.detail)
    if not SCALE_SET_NAME.match(f"{cluster}-v000"):
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"server group names of cluster {cluster!r} cannot name an Azure scale set "
            "(1-64 letters, digits, '.', '-' and '_')",
            {"errors": [{"field": "detail", "reason": "not usable in a scale set name"}]},
        )
    with ctx.step("choose name"):
        chosen: NextNameOutput = await ctx.execute_activity(
            "azure.next_server_group_name",
            NextNameInput(
                account=account,
                region=region,
                resource_group=input.resource_group,
                application=input.application,
                stack=input.stack,
                detail=input.detail,
            ),
            result_type=NextNameOutput,
        )
    name = chosen.name
    call = _call(ctx, name, input.resource_group)
    tags = {
        **input.tags,
        TAG_REQUEST_ID: ctx.request_id,
        TAG_SERVER_GROUP: name,
        TAG_CLUSTER: cluster,
        TAG_APPLICATION: input.application,
    }
    with ctx.step("create scale set"):
        ctx.on_rollback(
            "azure.delete_scale_set",
            DeleteScaleSetInput(**call, only_if_request_id=ctx.request_id, wait_until_gone=True),
            label=f"delete scale set {name}",
            defaults=AZURE_CLEANUP_DEFAULTS,
        )
        begun: Begun = await ctx.execute_activity(
            "azure.begin_create_scale_set",
            ScaleSetSpec(
                **call,
                request_id=ctx.request_id,
                image=input.image,
                instance_type=input.instance_type,
                capacity=input.capacity,
                zones=input.zones,
                subnets=input.subnets,
                load_balancers=input.load_balancers,
                security_groups=input.security_groups,
                user_data=input.user_data,
                user_data_base64=input.user_data_base64,
                admin_username=input.admin_username,
                ssh_public_key=input.ssh_public_key,
                upgrade_policy=input.upgrade_policy,
                tags=tags,
            ),
            result_type=Begun,
        )
    status: InstancesStatus | None = None
    if input.wait:
        with ctx.step("wait for provisioning"):
            await _finish(ctx, call, "create", begun, input)
        with ctx.step("wait for running instances"):
            status = await _poll(
                ctx,
                "azure.wait_for_instances",
                WaitForInstancesInput(**call, desired=input.capacity.desired),
                input,
                InstancesStatus,
            )
    return ServerGroupOutput.for_name(
        name,
        region=region,
        capacity=input.capacity,
        disabled=False,
        instance_count=status.instances if status else None,
        healthy_count=status.running if status else None,
        resources={"resource_group": begun.resource_group or ""},
    )


class CreateServerGroup(cloudops.CloudOperation[AzureCreateServerGroupInput, ServerGroupOutput]):
    """Create the next server group of a cluster: a VM scale set in its backend pools.

    The ``app-stack-detail-vNNN`` name takes the next free sequence of the cluster in the
    resource group, chosen once. With ``wait`` (the default) the operation ends when the scale
    set is provisioned and ``desired`` VMs run. If any step fails, the scale set is deleted.
    """

    provider = "azure"
    name = "createServerGroup"
    activity_defaults = AZURE_ACTIVITY_DEFAULTS

    async def run(
        self, ctx: OperationContext, input: AzureCreateServerGroupInput
    ) -> ServerGroupOutput:
        """Create and (optionally) wait; see :func:`create_server_group`."""
        return await create_server_group(ctx, input)


def merge_clone(
    source: AzureCreateServerGroupInput, clone: AzureCloneServerGroupInput
) -> AzureCreateServerGroupInput:
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
        return AzureCreateServerGroupInput.model_validate(merged)
    except ValueError as err:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"the clone of {clone.source} would be invalid: {err}",
            {"source": clone.source},
        ) from None


class CloneServerGroup(cloudops.CloudOperation[AzureCloneServerGroupInput, ServerGroupOutput]):
    """Create the next server group of a cluster as a copy of another, with overrides.

    The copy takes the source's image, VM size, capacity, zones, subnet, backend pools, security
    group, user data and tags; any field of the input replaces the source's. ``stack`` and
    ``detail`` may move the copy to another cluster. The source is not changed.
    """

    provider = "azure"
    name = "cloneServerGroup"
    activity_defaults = AZURE_ACTIVITY_DEFAULTS

    async def run(
        self, ctx: OperationContext, input: AzureCloneServerGroupInput
    ) -> ServerGroupOutput:
        """Read the source, merge the overrides, then create as ``createServerGroup`` does."""
        with ctx.step("read source"):
            source: AzureCreateServerGroupInput = await ctx.execute_activity(
                "azure.read_server_group_template",
                ScaleSetCall(**_call(ctx, input.source, input.resource_group)),
                result_type=AzureCreateServerGroupInput,
            )
        output = await create_server_group(ctx, merge_clone(source, input))
        output.resources["source"] = input.source
        return output


# --------------------------------------------------------------------------------------------
# resize, enable, disable
# --------------------------------------------------------------------------------------------


class ResizeServerGroup(cloudops.CloudOperation[AzureResizeServerGroupInput, ServerGroupOutput]):
    """Set a scale set's capacity (``sku.capacity``; min and max in tags) and wait for it.

    A disabled group stays disabled (new VMs join no backend pool). If the operation fails
    later (e.g. the wait times out) the previous capacity is restored.
    """

    provider = "azure"
    name = "resizeServerGroup"
    activity_defaults = AZURE_ACTIVITY_DEFAULTS

    async def run(
        self, ctx: OperationContext, input: AzureResizeServerGroupInput
    ) -> ServerGroupOutput:
        """PATCH the capacity, register its undo, then wait for the update and the VMs."""
        call = _call(ctx, input.server_group, input.resource_group)
        with ctx.step("update capacity"):
            begun: ResizeBegun = await ctx.execute_activity(
                "azure.begin_resize",
                ResizeInput(**call, capacity=input.capacity),
                result_type=ResizeBegun,
            )
        changed = begun.before != input.capacity
        if changed:
            ctx.on_rollback(
                "azure.begin_resize",
                ResizeInput(**call, capacity=begun.before),
                label=f"restore capacity of {input.server_group} to {begun.before.model_dump()}",
            )
        status: InstancesStatus | None = None
        if input.wait:
            with ctx.step("wait for update"):
                await _finish(ctx, call, "update", begun, input)
            with ctx.step("wait for capacity"):
                status = await _poll(
                    ctx,
                    "azure.wait_for_instances",
                    WaitForInstancesInput(**call, desired=input.capacity.desired),
                    input,
                    InstancesStatus,
                )
        return ServerGroupOutput.for_name(
            input.server_group,
            region=call["region"],
            capacity=input.capacity,
            disabled=begun.disabled,
            instance_count=status.instances if status else None,
            healthy_count=status.running if status else None,
            changed=changed,
        )


async def _set_enabled(
    ctx: OperationContext, input: AzureServerGroupChangeInput, enabled: bool
) -> ServerGroupOutput:
    call = _call(ctx, input.server_group, input.resource_group)
    with ctx.step("describe"):
        current = await _describe(ctx, call)
    if current is None:
        raise _not_found(input.server_group)
    changing = current.disabled == enabled
    if changing:
        # Undo by the opposite operation if a later step (or a composing deploy) fails.
        ctx.on_rollback(
            DisableServerGroup if enabled else EnableServerGroup,
            AzureServerGroupChangeInput(
                server_group=input.server_group, resource_group=input.resource_group, wait=False
            ),
            label=f"{'disable' if enabled else 'enable'} {input.server_group}",
        )
    step = "add to backend pools" if enabled else "remove from backend pools"
    with ctx.step(step):
        begun: TrafficBegun = await ctx.execute_activity(
            "azure.begin_set_traffic",
            TrafficInput(**call, enabled=enabled),
            result_type=TrafficBegun,
        )
    healthy: int | None = 0 if not enabled else None
    manual = current.upgrade_policy == "Manual"
    if input.wait or manual:
        with ctx.step("wait for update"):
            await _finish(ctx, call, "update", begun, input)
    if manual:
        # Under the Manual policy Azure leaves running VMs on the old model: upgrade them.
        with ctx.step("upgrade instances"):
            upgraded: Begun = await ctx.execute_activity(
                "azure.begin_upgrade_instances", ScaleSetCall(**call), result_type=Begun
            )
        if input.wait:
            with ctx.step("wait for instance upgrade"):
                await _finish(ctx, call, "upgrade_instances", upgraded, input)
    if input.wait and enabled:
        with ctx.step("wait for running instances"):
            status: InstancesStatus = await _poll(
                ctx,
                "azure.wait_for_instances",
                WaitForInstancesInput(**call),
                input,
                InstancesStatus,
            )
        healthy = status.running
    return ServerGroupOutput.for_name(
        input.server_group,
        region=call["region"],
        capacity=current.capacity,
        disabled=not enabled,
        instance_count=len(current.instances),
        healthy_count=healthy,
        changed=changing or begun.changed,
        resources={"backend_pools": ",".join(begun.pools)} if begun.pools else {},
    )


class EnableServerGroup(cloudops.CloudOperation[AzureServerGroupChangeInput, ServerGroupOutput]):
    """Put a server group back into traffic: its scale set rejoins its backend pools.

    As Spinnaker's Azure provider does, the pools go back into the scale set's NIC IP
    configuration (one PATCH that the upgrade policy rolls to the VMs); with ``wait`` the
    operation ends when the update is done and the VMs run. Enabling an enabled group changes
    nothing.
    """

    provider = "azure"
    name = "enableServerGroup"
    activity_defaults = AZURE_ACTIVITY_DEFAULTS

    async def run(
        self, ctx: OperationContext, input: AzureServerGroupChangeInput
    ) -> ServerGroupOutput:
        """PATCH the pools back in, then wait."""
        return await _set_enabled(ctx, input, True)


class DisableServerGroup(cloudops.CloudOperation[AzureServerGroupChangeInput, ServerGroupOutput]):
    """Take a server group out of traffic without deleting it, as Spinnaker does on Azure.

    Removes the scale set's NIC IP configuration from its backend pools (remembering them in a
    tag for enable) and, with ``wait``, waits until the update has reached the VMs.
    """

    provider = "azure"
    name = "disableServerGroup"
    activity_defaults = AZURE_ACTIVITY_DEFAULTS

    async def run(
        self, ctx: OperationContext, input: AzureServerGroupChangeInput
    ) -> ServerGroupOutput:
        """PATCH the pools out, then wait."""
        return await _set_enabled(ctx, input, False)


# --------------------------------------------------------------------------------------------
# destroy, terminate, describe
# --------------------------------------------------------------------------------------------


class DestroyServerGroup(cloudops.CloudOperation[AzureServerGroupChangeInput, ServerGroupOutput]):
    """Delete a server group's scale set with its VMs.

    A scale set that does not exist is success (``changed: false``), so a destroy can be
    repeated; one already being deleted is waited for, not deleted again.
    """

    provider = "azure"
    name = "destroyServerGroup"
    activity_defaults = AZURE_ACTIVITY_DEFAULTS

    async def run(
        self, ctx: OperationContext, input: AzureServerGroupChangeInput
    ) -> ServerGroupOutput:
        """Send the DELETE, then (with ``wait``) wait until the scale set is gone."""
        call = _call(ctx, input.server_group, input.resource_group)
        with ctx.step("delete scale set"):
            begun: DeleteScaleSetOutput = await ctx.execute_activity(
                "azure.begin_delete_scale_set",
                DeleteScaleSetInput(**call),
                result_type=DeleteScaleSetOutput,
            )
        if begun.reason == "not found":
            return ServerGroupOutput.for_name(
                input.server_group, region=call["region"], changed=False
            )
        if input.wait:
            with ctx.step("wait for deletion"):
                await _finish(ctx, call, "delete", begun, input)
        return ServerGroupOutput.for_name(
            input.server_group, region=call["region"], capacity=begun.capacity
        )


class TerminateInstances(
    cloudops.CloudOperation[AzureTerminateInstancesInput, TerminateInstancesOutput]
):
    """Delete VMs of a scale set, replacing them or shrinking the group.

    Azure always shrinks a scale set by the VMs it deletes; without ``decrement_desired`` the
    capacity is then set back, so the scale set makes replacements (and with ``wait`` the
    operation waits for them to run). With it, ``min`` drops too when it would exceed desired.
    """

    provider = "azure"
    name = "terminateInstances"
    activity_defaults = AZURE_ACTIVITY_DEFAULTS

    async def run(
        self, ctx: OperationContext, input: AzureTerminateInstancesInput
    ) -> TerminateInstancesOutput:
        """POST the delete, wait for it, then restore (or lower) the capacity."""
        call = _call(ctx, input.server_group, input.resource_group)
        with ctx.step("delete instances"):
            begun: DeleteInstancesBegun = await ctx.execute_activity(
                "azure.begin_delete_instances",
                DeleteInstancesInput(**call, instance_ids=input.instance_ids),
                result_type=DeleteInstancesBegun,
            )
        if input.decrement_desired:
            target, resize = begun.after, begun.after.min != begun.before.min
        else:
            target, resize = begun.before, bool(begun.terminated)
        if input.wait or resize:
            with ctx.step("wait for deletion"):
                await _finish(ctx, call, "delete_instances", begun, input)
        if resize:
            with ctx.step("lower min" if input.decrement_desired else "replace instances"):
                resized: ResizeBegun = await ctx.execute_activity(
                    "azure.begin_resize",
                    ResizeInput(**call, capacity=target),
                    result_type=ResizeBegun,
                )
            if input.wait:
                with ctx.step("wait for update"):
                    await _finish(ctx, call, "update", resized, input)
        if input.wait:
            with ctx.step("wait for capacity"):
                await _poll(
                    ctx,
                    "azure.wait_for_instances",
                    WaitForInstancesInput(
                        **call, desired=target.desired, exclude_instances=begun.terminated
                    ),
                    input,
                    InstancesStatus,
                )
        return TerminateInstancesOutput(
            server_group=input.server_group,
            terminated=begun.terminated,
            already_gone=begun.already_gone,
            capacity=target,
        )


class DescribeServerGroup(
    cloudops.CloudOperation[AzureServerGroupRef, AzureServerGroupDescription]
):
    """Describe a server group: capacity, VMs and their state, image, pools, traffic state.

    A scale set that does not exist is a ``NOT_FOUND`` business failure.
    """

    provider = "azure"
    name = "describeServerGroup"
    activity_defaults = AZURE_ACTIVITY_DEFAULTS

    async def run(
        self, ctx: OperationContext, input: AzureServerGroupRef
    ) -> AzureServerGroupDescription:
        """One read-only activity."""
        with ctx.step("describe"):
            found = await _describe(ctx, _call(ctx, input.server_group, input.resource_group))
        if found is None:
            raise _not_found(input.server_group)
        return found


class ListServerGroups(cloudops.CloudOperation[AzureClusterRef, AzureServerGroupList]):
    """List a cluster's server groups (scale sets), oldest first, each described.

    The scale sets of the cluster in the resource group and region count; each is described as
    ``describeServerGroup`` does, and scale sets being deleted are left out. Deploy strategies
    use it to find the groups to disable and the oldest ones to destroy.
    """

    provider = "azure"
    name = "listServerGroups"
    activity_defaults = AZURE_ACTIVITY_DEFAULTS

    async def run(self, ctx: OperationContext, input: AzureClusterRef) -> AzureServerGroupList:
        """One read-only activity."""
        account, region = _where(ctx)
        with ctx.step(f"list {input.cluster}"):
            found: AzureServerGroupList = await ctx.execute_activity(
                "azure.list_server_groups",
                ClusterCall(
                    account=account,
                    region=region,
                    resource_group=input.resource_group,
                    application=input.application,
                    stack=input.stack,
                    detail=input.detail,
                ),
                result_type=AzureServerGroupList,
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
