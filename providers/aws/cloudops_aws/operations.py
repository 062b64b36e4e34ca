"""The AWS server-group operations: workflow code, deterministic, no boto3.

Each operation is a short script of activity calls made *by name* (``"aws.create_launch_template"``)
so that the workflow sandbox never imports boto3. Decisions that must not change on replay
(the server group's name) are made in an activity and so recorded in the history; waits are
durable polls (``ctx.poll``) of activities that raise ``NotReady`` until the cloud is there; and
every change registers its compensation (``ctx.on_rollback``) *before* it is attempted, so that a
change whose answer was lost is still undone if the operation fails later.
"""

from __future__ import annotations

from typing import Any

from cloudops import patching
from cloudops.servergroups.contract import OPTIONAL_VERBS, ownership_tags
from cloudops.servergroups.kit import (
    CLOUD_ACTIVITY_DEFAULTS,
    ServerGroupCloud,
    ServerGroupModels,
    input_fields,
    server_group_operations,
)
from cloudops.servergroups.models import (
    ResizeServerGroupInput,
    ScalingSettings,
    ServerGroupChangeInput,
    ServerGroupOutput,
    TerminateInstancesInput,
    TerminateInstancesOutput,
    WaitSettings,
)
from cloudops.servergroups.optional import AllowLaunchCall
from cloudops_aws import models as aws_models
from cloudops_aws.activities import (
    CreatedGroup,
    CreateGroupInput,
    DestroyGroupInput,
    DestroyProgress,
)
from cloudops_aws.models import (
    DISABLE_PROCESSES,
    LAUNCH_TEMPLATE_NAME,
    AutoScalingGroupRef,
    AutoScalingGroupSpec,
    AwsCreateServerGroupInput,
    AwsServerGroupDescription,
    CapacityStatus,
    DeleteGroupInput,
    DeleteLaunchTemplateInput,
    DeleteOutput,
    LaunchTemplateRef,
    LaunchTemplateSpec,
    LifecycleHook,
    ScalingProcessesInput,
    TerminateInput,
    TrafficInput,
    TrafficOutput,
    UpdateCapacityInput,
    WaitForCapacityInput,
)
from cloudops_aws.optional import ImageOwner

__all__ = ["OPERATIONS", "AwsServerGroups"]

#: The kit's defaults for cloud APIs (ten attempts over about two minutes, 10 s heartbeat).
AWS_ACTIVITY_DEFAULTS = CLOUD_ACTIVITY_DEFAULTS


#: ``workflow.patched`` ids. Operations started before them replay their recorded commands:
#: the group created by ``aws.create_auto_scaling_group`` and always a ``aws.wait_for_capacity``
#: poll; the destroy as describe, delete group, delete template. Started after: the group's
#: activity also takes the first capacity check (no poll when the group is ready at once), and
#: one activity destroys group and template (polls only while AWS is still deleting).
CREATE_AND_CHECK = "aws-create-group-and-check"
#: Creates started after it share an image owned by another configured account first.
ALLOW_LAUNCH = "aws-allow-launch-from-owner"
DESTROY_IN_ONE_ACTIVITY = "aws-destroy-in-one-activity"


class AwsServerGroups(ServerGroupCloud):
    """AWS server groups: a launch template and an Auto Scaling group (+ ELBv2 target groups)."""

    provider = "aws"
    label = "AWS"
    traffic_shares = True
    activity_defaults = AWS_ACTIVITY_DEFAULTS
    copies_scaling = True
    offers = OPTIONAL_VERBS
    verb_descriptions = {
        "upsertScalingPolicy": """Create or replace a scaling policy of an Auto Scaling group.

        Target tracking (``target_tracking``: average CPU or network of the group) or step
        scaling (``step``, with its CloudWatch alarm ``<group>-<policy>`` on the group's
        metric). Repeating it changes nothing; on a later failure the previous policy and its
        alarm come back.
        """,
        "updateLaunchTemplate": """Boot something else: a new launch template version.

        The version (the default one with the changes) becomes the template's default and the
        group's version; with ``roll_instances`` the instances are then terminated a batch at a
        time and replaced by the group. On a failure the previous version comes back.
        """,
        "allowLaunch": """Share an AMI and its snapshots with another account (Clouddriver's
        allowLaunch): launch permission on the image, create-volume permission on its snapshots.
        """,
    }
    models = ServerGroupModels.named(aws_models, "Aws")
    clone_copies = "launch template settings, capacity, placement, load balancers and tags"
    enable_description = """Put a server group back into traffic, as Spinnaker does.

    Resumes the Launch, Terminate and AddToLoadBalancer processes, registers the InService
    instances in the group's target groups and classic load balancers and, with ``wait``, waits
    until they are healthy there. Enabling an enabled group changes nothing.
    """
    disable_description = """
    Take a server group out of traffic without terminating it, as Spinnaker does.

    Suspends Launch, Terminate and AddToLoadBalancer (so Auto Scaling neither replaces nor
    re-registers instances), deregisters the instances from the group's target groups and
    classic load balancers and, with ``wait``, waits until they have drained.
    """

    def with_source_scaling(
        self, input: AwsCreateServerGroupInput, settings: ScalingSettings
    ) -> AwsCreateServerGroupInput:
        """The source's lifecycle hooks join the input's (its own win by name)."""
        own = list(input.lifecycle_hooks or [])
        names = {hook.name for hook in own}
        copied = [LifecycleHook.model_validate(r.spec) for r in settings.of_kind("lifecycle_hook")]
        hooks = own + [hook for hook in copied if hook.name not in names]
        return input.model_copy(update={"lifecycle_hooks": hooks or None})

    def adjust_clone(self, merged: dict[str, Any], overrides: dict[str, Any]) -> None:
        """User data given in either form replaces the source's in both forms."""
        if "user_data" in overrides or "user_data_base64" in overrides:
            merged["user_data"] = merged["user_data_base64"] = None

    async def create(self, input: AwsCreateServerGroupInput) -> ServerGroupOutput:
        """Create the next server group of a cluster: launch template + Auto Scaling group.

        The ``app-stack-detail-vNNN`` name takes the next free sequence of the cluster, chosen
        once. With ``wait`` (the default) the operation ends when ``desired`` instances are
        InService and healthy in their target groups. If any step fails, what was created is
        deleted again.
        """
        ctx = self.ctx
        cluster = self.named_cluster(
            input,
            LAUNCH_TEMPLATE_NAME,
            "an AWS launch template",
            "3-128 letters, digits and ( ) . - / _",
        )
        name = (await self.choose_name(input)).name
        tags = {**input.tags, **ownership_tags(ctx.request_id, name, cluster, input.application)}
        template_spec = LaunchTemplateSpec(
            **input_fields(input, LaunchTemplateSpec, **self.where(), name=name, tags=tags),
            request_id=ctx.request_id,
        )
        status: CapacityStatus | None = None
        if patching.patched(ALLOW_LAUNCH):
            await self._allow_launch(input.image)
        with ctx.step("create launch template"):
            self._rollback_template(name)
            template: LaunchTemplateRef = await ctx.execute_activity(
                "aws.create_launch_template", template_spec, result_type=LaunchTemplateRef
            )
        group_spec = AutoScalingGroupSpec(
            **input_fields(input, AutoScalingGroupSpec, **self.where(), name=name, tags=tags),
            request_id=ctx.request_id,
            launch_template_id=template.id,
            launch_template_version=template.version,
        )
        with ctx.step("create auto scaling group"):
            self._rollback_group(name)
            group: AutoScalingGroupRef
            if patching.patched(CREATE_AND_CHECK):
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
                status = await self._wait(input, name, desired=input.capacity.desired)
        resources = {"launch_template_id": template.id, "launch_template_version": template.version}
        if group.arn:
            resources["auto_scaling_group_arn"] = group.arn
        return self.output(
            name,
            status,
            capacity=input.capacity,
            disabled=False,
            resources=resources,
        )

    async def _allow_launch(self, image: str) -> None:
        """Share ``image`` from the configured account that owns it, as Orca does (allowLaunch)."""
        with self.ctx.step("find the image's account"):
            owner: ImageOwner = await self.ctx.execute_activity(
                "aws.image_owner",
                AllowLaunchCall(**self.where(), image=image, target_account=self.account),
                result_type=ImageOwner,
            )
        if owner.account:
            with self.ctx.step(f"share the image from {owner.account}"):
                await self.ctx.run(
                    "aws.allowLaunch",
                    {"image": image, "target_account": self.account},
                    account=owner.account,
                )

    async def _wait(self, wait: WaitSettings, name: str, **check: Any) -> CapacityStatus:
        """Poll ``aws.wait_for_capacity`` until the group has its (healthy) capacity."""
        status: CapacityStatus = await self.poll(
            "wait_for_capacity",
            WaitForCapacityInput(account=self.account, region=self.region, name=name, **check),
            wait,
            CapacityStatus,
        )
        return status

    def _rollback_template(self, name: str) -> None:
        self.ctx.on_rollback(
            "aws.delete_launch_template",
            DeleteLaunchTemplateInput(
                **self.where(), name=name, only_if_request_id=self.ctx.request_id
            ),
            label=f"delete launch template {name}",
        )

    def _rollback_group(self, name: str) -> None:
        self.ctx.on_rollback(
            "aws.delete_auto_scaling_group",
            DeleteGroupInput(
                **self.where(),
                name=name,
                only_if_request_id=self.ctx.request_id,
                wait_until_gone=True,
            ),
            label=f"delete auto scaling group {name}",
        )

    async def resize(self, input: ResizeServerGroupInput) -> ServerGroupOutput:
        """Set a server group's min, max and desired capacity, and wait until it runs that many.

        A disabled group can be resized and stays disabled (Launch and Terminate are resumed so
        the size can change; AddToLoadBalancer stays suspended). If the operation fails later
        (e.g. the wait times out) the previous capacity is restored.
        """
        ctx, name = self.ctx, input.server_group
        with ctx.step("update capacity"):
            before: CapacityStatus = await ctx.execute_activity(
                "aws.update_capacity",
                UpdateCapacityInput(**self.where(), name=name, capacity=input.capacity),
                result_type=CapacityStatus,
            )
        if before.capacity != input.capacity:
            ctx.on_rollback(
                "aws.update_capacity",
                UpdateCapacityInput(**self.where(), name=name, capacity=before.capacity),
                label=f"restore capacity of {name} to {before.capacity.model_dump()}",
            )
        status: CapacityStatus | None = None
        if input.wait:
            with ctx.step("wait for capacity"):
                status = await self._wait(input, name, desired=input.capacity.desired)
        return self.output(
            name,
            status,
            capacity=input.capacity,
            disabled=before.disabled,
            changed=before.capacity != input.capacity,
        )

    async def set_traffic(
        self, input: ServerGroupChangeInput, current: AwsServerGroupDescription, enabled: bool
    ) -> ServerGroupOutput:
        """Resume or suspend the scaling processes, then register or deregister the instances."""
        ctx, name = self.ctx, input.server_group
        processes = ScalingProcessesInput(
            **self.where(), name=name, processes=list(DISABLE_PROCESSES), suspend=not enabled
        )
        traffic = TrafficInput(**self.where(), name=name, enabled=enabled)
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
                    status = await self._wait(input, name)
            healthy = status.healthy if status else None
        else:
            with ctx.step("suspend scaling processes"):
                await ctx.execute_activity(
                    "aws.set_scaling_processes", processes, result_type=CapacityStatus
                )
            with ctx.step("deregister from load balancers"):
                if input.wait:
                    traffic.wait_drained = True
                    await self.poll("set_traffic", traffic, input, TrafficOutput)
                else:
                    await ctx.execute_activity(
                        "aws.set_traffic", traffic, result_type=TrafficOutput
                    )
            healthy = 0
        return self.output(
            name,
            capacity=current.capacity,
            disabled=not enabled,
            instance_count=len(current.instances),
            healthy_count=healthy,
            changed=self.traffic_changes(current, enabled),
        )

    async def set_traffic_share(
        self, input: ServerGroupChangeInput, current: AwsServerGroupDescription, out: list[str]
    ) -> ServerGroupOutput:
        """Deregister ``out`` from the load balancers, register the rest; processes unchanged."""
        traffic = TrafficInput(**self.where(), name=input.server_group, enabled=True, out=out)
        with self.ctx.step(f"{len(out)} instance(s) out of the load balancers"):
            traffic.wait_drained = input.wait
            await self.poll("set_traffic", traffic, input, TrafficOutput)
        return self.output(input.server_group, capacity=current.capacity, disabled=False)

    async def destroy(self, input: ServerGroupChangeInput) -> ServerGroupOutput:
        """Delete a server group's Auto Scaling group (with its instances) and launch template.

        A group that does not exist is success (``changed: false``), so a destroy can be
        repeated. The launch template is deleted only if cloudops made it for this group or it
        is named after the group, never a template other groups may share.
        """
        ctx, name = self.ctx, input.server_group
        if not patching.patched(DESTROY_IN_ONE_ACTIVITY):
            return await self._destroy_step_by_step(input)
        with ctx.step("delete auto scaling group"):
            done: DestroyProgress = await ctx.execute_activity(
                "aws.destroy_server_group",
                DestroyGroupInput(**self.where(), name=name, wait_until_gone=input.wait),
                result_type=DestroyProgress,
            )
            if not done.found:
                return self.output(name, changed=False)
            if not done.gone:  # AWS is still deleting (or the activity was interrupted)
                await self._delete_group(input)
        deleted = done.template
        if deleted is None and (done.launch_template_id or done.launch_template_name):
            with ctx.step("delete launch template"):
                deleted = await ctx.execute_activity(
                    "aws.delete_launch_template",
                    DeleteLaunchTemplateInput(
                        **self.where(),
                        name=name,
                        launch_template_id=done.launch_template_id,
                        only_if_server_group=name,
                    ),
                    result_type=DeleteOutput,
                )
        resources: dict[str, str] = {}
        if deleted is not None and deleted.deleted and deleted.id:
            resources["launch_template_id"] = deleted.id
        return self.output(name, capacity=done.capacity, resources=resources)

    async def _delete_group(self, input: ServerGroupChangeInput) -> None:
        delete = DeleteGroupInput(
            **self.where(), name=input.server_group, wait_until_gone=input.wait
        )
        if input.wait:
            await self.poll("delete_auto_scaling_group", delete, input, DeleteOutput)
        else:
            await self.ctx.execute_activity(
                "aws.delete_auto_scaling_group", delete, result_type=DeleteOutput
            )

    async def _destroy_step_by_step(self, input: ServerGroupChangeInput) -> ServerGroupOutput:
        """The destroy of histories recorded before ``DESTROY_IN_ONE_ACTIVITY``."""
        ctx, name = self.ctx, input.server_group
        with ctx.step("describe"):
            current = await self.describe(name)
        template = DeleteLaunchTemplateInput(
            **self.where(),
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
            return self.output(name, changed=False)
        with ctx.step("delete auto scaling group"):
            await self._delete_group(input)
        resources: dict[str, str] = {}
        if current.launch_template_id or current.launch_template_name:
            with ctx.step("delete launch template"):
                deleted: DeleteOutput = await ctx.execute_activity(
                    "aws.delete_launch_template", template, result_type=DeleteOutput
                )
            if deleted.deleted and deleted.id:
                resources["launch_template_id"] = deleted.id
        return self.output(name, capacity=current.capacity, resources=resources)

    async def terminate(self, input: TerminateInstancesInput) -> TerminateInstancesOutput:
        """Terminate instances of a server group, replacing them or shrinking the group.

        Without ``decrement_desired`` Auto Scaling launches replacements (and with ``wait`` the
        operation waits for them to be healthy); with it the group's desired capacity drops by
        as many instances (and ``min`` with it if needed).
        """
        ctx, name = self.ctx, input.server_group
        with ctx.step("terminate instances"):
            result: TerminateInstancesOutput = await ctx.execute_activity(
                "aws.terminate_instances",
                TerminateInput(
                    **self.where(),
                    name=name,
                    instance_ids=input.instance_ids,
                    decrement_desired=input.decrement_desired,
                ),
                result_type=TerminateInstancesOutput,
            )
        if input.wait:
            with ctx.step("wait for capacity"):
                await self._wait(input, name, exclude_instances=input.instance_ids)
        return result


#: Every operation of the plugin, one per verb of the server-group contract.
OPERATIONS = server_group_operations(AwsServerGroups)
