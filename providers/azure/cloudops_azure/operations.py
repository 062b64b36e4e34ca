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

from dataclasses import replace
from datetime import timedelta
from typing import Any

from cloudops.operation import replace_defaults
from cloudops.servergroups.contract import ownership_tags
from cloudops.servergroups.kit import (
    CLOUD_ACTIVITY_DEFAULTS,
    ServerGroupCloud,
    ServerGroupModels,
    input_fields,
    server_group_operations,
)
from cloudops.servergroups.models import (
    ServerGroupOutput,
    TerminateInstancesOutput,
    WaitSettings,
)
from cloudops.servergroups.optional import InstancesChange, TemplateChange
from cloudops_azure import models as azure_models
from cloudops_azure.models import (
    SCALE_SET_NAME,
    AzureCreateServerGroupInput,
    AzureResizeServerGroupInput,
    AzureServerGroupChangeInput,
    AzureServerGroupDescription,
    AzureTerminateInstancesInput,
    Begun,
    DeleteInstancesBegun,
    DeleteInstancesInput,
    DeleteScaleSetInput,
    DeleteScaleSetOutput,
    InstancesStatus,
    LroKind,
    PollInput,
    PollOutput,
    ResizeBegun,
    ResizeInput,
    RestartBegun,
    ScaleSetCall,
    ScaleSetSpec,
    TrafficBegun,
    TrafficInput,
    UpgradeInstancesInput,
    VmTrafficInput,
    WaitForInstancesInput,
)

__all__ = ["AZURE_CLEANUP_DEFAULTS", "OPERATIONS", "AzureServerGroups"]

#: ARM calls are short; throttling and 5xx are retried by Temporal with backoff (the SDK itself
#: retries at most ``retry_total`` times per call). A poll attempt is one or two GETs, so a
#: short start-to-close lets another worker take over quickly after a crash.
AZURE_ACTIVITY_DEFAULTS = replace_defaults(
    CLOUD_ACTIVITY_DEFAULTS, start_to_close_timeout=timedelta(seconds=45)
)
#: A cleanup waits for the cloud rather than counting attempts: deleting a scale set whose
#: creation is still running must wait for that creation to end (Azure answers 409
#: AnotherOperationInProgress meanwhile), which can take longer than ten tries' backoff.
AZURE_CLEANUP_DEFAULTS = replace_defaults(
    AZURE_ACTIVITY_DEFAULTS,
    schedule_to_close_timeout=timedelta(minutes=30),
    retry_policy=replace(AZURE_ACTIVITY_DEFAULTS.retry_policy, maximum_attempts=0),
)


class AzureServerGroups(ServerGroupCloud):
    """Azure server groups: a VM scale set in its load balancers' backend pools."""

    provider = "azure"
    label = "Azure"
    traffic_shares = True
    region_note = " (the Azure location)"
    activity_defaults = AZURE_ACTIVITY_DEFAULTS
    scope_fields = ("resource_group",)
    copies_scaling = True
    offers = (
        "upsertScalingPolicy",
        "deleteScalingPolicy",
        "updateLaunchTemplate",
        "upsertServerGroupTags",
        "deleteServerGroupTags",
        "rebootInstances",
    )
    absent = {
        "detachInstances": "Azure cannot take a VM out of a scale set and keep it running",
        "suspendProcesses": "Azure scale sets have no scaling processes; disable the autoscale "
        "setting's profile with deleteScalingPolicy",
        "resumeProcesses": "Azure scale sets have no scaling processes (see suspendProcesses)",
        "allowLaunch": "Azure shares images through Azure Compute Galleries and RBAC, outside "
        "cloudops",
    }
    verb_descriptions = {
        "upsertScalingPolicy": """Create or replace a profile of the scale set's autoscale setting.

        The profile ``policy_name`` gets the scale set's capacity as its bounds and one rule
        from ``step`` (its alarm becomes the metric trigger on the scale set, its one step the
        scale action); Azure rules have no intervals and no target tracking, so anything else
        is ``INVALID_INPUT``. A scale set without a setting gets one named as the group. On a
        later failure the previous profile comes back.
        """,
        "deleteScalingPolicy": """Remove a profile from the scale set's autoscale setting.

        A setting left without profiles is deleted; a missing profile is success
        (``changed: false``). On a later failure the profile comes back.
        """,
        "updateLaunchTemplate": """Change the scale set's model: image, VM size, user data.

        One PATCH of the model (``image``: the image reference, ``publisher:offer:sku:version``
        or an image id; ``instance_type``: ``sku.name``; ``user_data``: ``userData``), waited
        for; a model that already matches changes nothing (``changed: false``). ``key_name``
        is ``INVALID_INPUT`` (SSH keys are set at creation). With ``roll_instances`` the VMs
        are brought to the new model ``roll_batch_size`` at a time (``manualupgrade``, each
        batch waited for; under the Automatic and Rolling policies Azure has done it already).
        ``resources`` hold the ``previous`` and ``current`` settings as JSON. If the update
        or a later step fails, the previous model comes back (upgraded VMs keep the new one).
        """,
        "rebootInstances": """Restart VMs of the scale set (``restart`` with their instance ids).

        Ids are ``vmss_3`` or ``3``; one that is not a VM of the scale set is ``NOT_FOUND`` and
        nothing is restarted. The operation ends when Azure reports the restart done.
        """,
    }
    models = ServerGroupModels.named(azure_models, "Azure", group_call=ScaleSetCall)
    clone_copies = (
        "image, VM size, capacity, zones, subnet, backend pools, security group, user data and tags"
    )
    enable_description = """
    Put a server group back into traffic: its scale set rejoins its backend pools.

    As Spinnaker's Azure provider does, the pools go back into the scale set's NIC IP
    configuration (one PATCH that the upgrade policy rolls to the VMs); with ``wait`` the
    operation ends when the update is done and the VMs run. Enabling an enabled group changes
    nothing.
    """
    disable_description = """
    Take a server group out of traffic without deleting it, as Spinnaker does on Azure.

    Removes the scale set's NIC IP configuration from its backend pools (remembering them in a
    tag for enable) and, with ``wait``, waits until the update has reached the VMs.
    """
    describe_description = """
    Describe a server group: capacity, VMs and their state, image, pools, traffic state.

    A scale set that does not exist is a ``NOT_FOUND`` business failure.
    """
    list_description = """
    List a cluster's server groups (scale sets), oldest first, each described.

    The scale sets of the cluster in the resource group and region count; each is described as
    ``describeServerGroup`` does, and scale sets being deleted are left out. Deploy strategies
    use it to find the groups to disable and the oldest ones to destroy.
    """

    async def call(self, activity: str, arg: Any, result_type: type[Any]) -> Any:
        """Tags, model and restart are long-running operations: wait for them too.

        A tag change or a restart is waited for from its continuation token. A model change
        reads the model first (recorded, so a retry never takes its own change for the state
        before) and then polls ``set_launch_template`` until the PATCH it sends is done.
        """
        wait = WaitSettings(poll_interval_seconds=1)
        if activity == "update_launch_template":
            change: TemplateChange = await super().call("read_launch_template", arg, TemplateChange)
            if change.changed:
                update = arg.model_copy(update={"version": change.current})
                try:
                    await self.poll("set_launch_template", update, wait, TemplateChange)
                except BaseException:
                    # The update itself failed (e.g. ended Failed): the model may have changed.
                    back = update.model_copy(update={"changes": {}, "version": change.previous})
                    self.undo("set_launch_template", back, "back to the previous model")
                    raise
            return change
        if activity not in ("set_server_group_tags", "reboot_instances"):
            return await super().call(activity, arg, result_type)
        restart = activity == "reboot_instances"
        begun = await super().call(activity, arg, RestartBegun if restart else Begun)
        where = self.where(name=arg.name, resource_group=begun.resource_group)
        await self.finish(where, "restart" if restart else "update", begun, wait)
        return InstancesChange(changed=begun.instance_ids) if restart else result_type()

    def undo(self, activity: str, arg: Any, label: str) -> None:
        """The model's undo waits for its PATCH (retried while Azure updates the scale set)."""
        defaults = AZURE_CLEANUP_DEFAULTS if activity == "set_launch_template" else None
        self.ctx.on_rollback(self.activity(activity), arg, label=label, defaults=defaults)

    async def roll(self, input: Any, batch: list[str]) -> None:
        """Bring ``batch`` to the new model in place (``manualupgrade``) and wait for it."""
        call = self.where(input, name=input.server_group)
        begun: Begun = await self.ctx.execute_activity(
            "azure.begin_upgrade_instances",
            UpgradeInstancesInput(**call, instance_ids=batch),
            result_type=Begun,
        )
        await self.finish(call, "upgrade_instances", begun, input)

    def adjust_clone(self, merged: dict[str, Any], overrides: dict[str, Any]) -> None:
        """User data given in either form replaces the source's in both forms."""
        if "user_data" in overrides or "user_data_base64" in overrides:
            merged["user_data"] = merged["user_data_base64"] = None

    async def finish(
        self, call: dict[str, Any], kind: LroKind, begun: Begun, wait: WaitSettings
    ) -> PollOutput | None:
        """Wait for the operation ``begun`` started, resuming from its continuation token."""
        if begun.done:
            return None
        result: PollOutput = await self.poll(
            "poll_operation", PollInput(**call, kind=kind, token=begun.token), wait, PollOutput
        )
        return result

    async def _finish_and_wait(
        self,
        call: dict[str, Any],
        kind: LroKind,
        begun: Begun,
        input: AzureCreateServerGroupInput | AzureResizeServerGroupInput,
        steps: tuple[str, str],
    ) -> InstancesStatus:
        """Wait for the operation ``begun`` started, then for the input's capacity in VMs."""
        with self.ctx.step(steps[0]):
            await self.finish(call, kind, begun, input)
        with self.ctx.step(steps[1]):
            status: InstancesStatus = await self.poll(
                "wait_for_instances",
                WaitForInstancesInput(**call, desired=input.capacity.desired),
                input,
                InstancesStatus,
            )
        return status

    async def create(self, input: AzureCreateServerGroupInput) -> ServerGroupOutput:
        """Create the next server group of a cluster: a VM scale set in its backend pools.

        The ``app-stack-detail-vNNN`` name takes the next free sequence of the cluster in the
        resource group, chosen once. With ``wait`` (the default) the operation ends when the scale
        set is provisioned and ``desired`` VMs run. If any step fails, the scale set is deleted.
        """
        ctx = self.ctx
        cluster = self.named_cluster(
            input, SCALE_SET_NAME, "an Azure scale set", "1-64 letters, digits, '.', '-' and '_'"
        )
        name = (await self.choose_name(input)).name
        call = self.where(input, name=name)
        tags = {**input.tags, **ownership_tags(ctx.request_id, name, cluster, input.application)}
        with ctx.step("create scale set"):
            ctx.on_rollback(
                "azure.delete_scale_set",
                DeleteScaleSetInput(
                    **call, only_if_request_id=ctx.request_id, wait_until_gone=True
                ),
                label=f"delete scale set {name}",
                defaults=AZURE_CLEANUP_DEFAULTS,
            )
            begun: Begun = await ctx.execute_activity(
                "azure.begin_create_scale_set",
                ScaleSetSpec(
                    **input_fields(
                        input, ScaleSetSpec, **call, request_id=ctx.request_id, tags=tags
                    )
                ),
                result_type=Begun,
            )
        status: InstancesStatus | None = None
        if input.wait:
            status = await self._finish_and_wait(
                call,
                "create",
                begun,
                input,
                ("wait for provisioning", "wait for running instances"),
            )
        return self.output(
            name,
            status,
            capacity=input.capacity,
            disabled=False,
            resources={"resource_group": begun.resource_group or ""},
        )

    async def resize(self, input: AzureResizeServerGroupInput) -> ServerGroupOutput:
        """Set a scale set's capacity (``sku.capacity``; min and max in tags) and wait for it.

        A disabled group stays disabled (new VMs join no backend pool). If the operation fails
        later (e.g. the wait times out) the previous capacity is restored. A new min is also the
        least minimum of the scale set's autoscale profiles (their own comes back when it drops),
        so a deploy's pinned group is not scaled in by the setting copied from its source.
        """
        ctx = self.ctx
        call = self.where(input, name=input.server_group)
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
            status = await self._finish_and_wait(
                call, "update", begun, input, ("wait for update", "wait for capacity")
            )
        return self.output(
            input.server_group,
            status,
            capacity=input.capacity,
            disabled=begun.disabled,
            changed=changed,
        )

    async def set_traffic(
        self,
        input: AzureServerGroupChangeInput,
        current: AzureServerGroupDescription,
        enabled: bool,
    ) -> ServerGroupOutput:
        """Put the scale set's NICs into its backend pools, or take them out."""
        ctx = self.ctx
        call = self.where(input, name=input.server_group)
        changing = self.traffic_changes(current, enabled)
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
                await self.finish(call, "update", begun, input)
        if manual:
            # Under the Manual policy Azure leaves running VMs on the old model: upgrade them.
            with ctx.step("upgrade instances"):
                upgraded: Begun = await ctx.execute_activity(
                    "azure.begin_upgrade_instances", ScaleSetCall(**call), result_type=Begun
                )
            if input.wait:
                with ctx.step("wait for instance upgrade"):
                    await self.finish(call, "upgrade_instances", upgraded, input)
        if input.wait and enabled:
            with ctx.step("wait for running instances"):
                status: InstancesStatus = await self.poll(
                    "wait_for_instances",
                    WaitForInstancesInput(**call),
                    input,
                    InstancesStatus,
                )
            healthy = status.running
        return self.output(
            input.server_group,
            capacity=current.capacity,
            disabled=not enabled,
            instance_count=len(current.instances),
            healthy_count=healthy,
            changed=changing or begun.changed,
            resources={"backend_pools": ",".join(begun.pools)} if begun.pools else {},
        )

    async def set_traffic_share(
        self,
        input: AzureServerGroupChangeInput,
        current: AzureServerGroupDescription,
        out: list[str],
    ) -> ServerGroupOutput:
        """Take the ``out`` VMs out of the backend pools, the rest in (a VM model update each)."""
        call = self.where(input, name=input.server_group)
        with self.ctx.step(f"{len(out)} VM(s) out of the backend pools"):
            arg = VmTrafficInput(**call, out=out, wait=input.wait)
            await self.poll("set_vm_traffic", arg, input, Begun)
        return self.output(input.server_group, capacity=current.capacity, disabled=False)

    async def destroy(self, input: AzureServerGroupChangeInput) -> ServerGroupOutput:
        """Delete a server group's scale set with its VMs.

        A scale set that does not exist is success (``changed: false``), so a destroy can be
        repeated; one already being deleted is waited for, not deleted again.
        """
        ctx = self.ctx
        call = self.where(input, name=input.server_group)
        with ctx.step("delete scale set"):
            begun: DeleteScaleSetOutput = await ctx.execute_activity(
                "azure.begin_delete_scale_set",
                DeleteScaleSetInput(**call),
                result_type=DeleteScaleSetOutput,
            )
        if begun.reason == "not found":
            return self.output(input.server_group, changed=False)
        if input.wait:
            with ctx.step("wait for deletion"):
                await self.finish(call, "delete", begun, input)
        return self.output(input.server_group, capacity=begun.capacity)

    async def terminate(self, input: AzureTerminateInstancesInput) -> TerminateInstancesOutput:
        """Delete VMs of a scale set, replacing them or shrinking the group.

        Azure always shrinks a scale set by the VMs it deletes; without ``decrement_desired`` the
        capacity is then set back, so the scale set makes replacements (and with ``wait`` the
        operation waits for them to run). With it, ``min`` drops too when it would exceed desired.
        """
        ctx = self.ctx
        call = self.where(input, name=input.server_group)
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
                await self.finish(call, "delete_instances", begun, input)
        if resize:
            with ctx.step("lower min" if input.decrement_desired else "replace instances"):
                resized: ResizeBegun = await ctx.execute_activity(
                    "azure.begin_resize",
                    ResizeInput(**call, capacity=target),
                    result_type=ResizeBegun,
                )
            if input.wait:
                with ctx.step("wait for update"):
                    await self.finish(call, "update", resized, input)
        if input.wait:
            with ctx.step("wait for capacity"):
                await self.poll(
                    "wait_for_instances",
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


#: Every operation of the plugin, one per verb of the server-group contract.
OPERATIONS = server_group_operations(AzureServerGroups)
