"""The reference server groups: the kit's adapter (workflow code, activities called by name)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from cloudops import ActivityDefaults
from cloudops.servergroups import models as sg
from cloudops.servergroups.contract import ownership_tags
from cloudops.servergroups.kit import ServerGroupCloud, server_group_operations
from cloudops_reference.models import (
    DeleteInput,
    GroupSpec,
    GroupStatus,
    TerminateInput,
    UpdateInput,
)

#: The cloud is a local file: short attempts, quick retries (a busy file, a crashed worker).
REFERENCE_ACTIVITY_DEFAULTS = ActivityDefaults(
    start_to_close_timeout=timedelta(seconds=30),
    heartbeat_timeout=timedelta(seconds=5),
    schedule_to_close_timeout=timedelta(minutes=5),
    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=10),
)


class ReferenceServerGroups(ServerGroupCloud):
    """Reference server groups: a group of instances with a load-balancer flag, in a file."""

    provider = "reference"
    label = "Reference"
    activity_defaults = REFERENCE_ACTIVITY_DEFAULTS

    async def _call(self, activity: str, arg: Any, result_type: type[Any] = GroupStatus) -> Any:
        return await self.ctx.execute_activity(
            self.activity(activity), arg, result_type=result_type
        )

    async def _wait(self, input: sg.WaitSettings, name: str) -> Any:
        """With ``wait``: poll until the group has its desired instances, all running."""
        if input.wait:
            with self.ctx.step("wait for instances"):
                return await self.poll("wait_for_group", self.group_call(name), input, GroupStatus)
        return None

    def _output(self, name: str, status: GroupStatus, **fields: Any) -> sg.ServerGroupOutput:
        counts = {"instance_count": status.instances, "healthy_count": status.healthy}
        fields = {"capacity": status.capacity, "disabled": status.disabled, **counts, **fields}
        return sg.ServerGroupOutput.for_name(name, region=self.region, **fields)

    async def create(self, input: sg.CreateServerGroupInput) -> sg.ServerGroupOutput:
        """Create the next server group of a cluster and, with ``wait``, wait until it runs.

        The name takes the cluster's next free ``-vNNN``, chosen once. The group is tagged with
        the request id, so a retried create finds it; if a later step fails it is deleted.
        """
        ctx, name = self.ctx, (await self.choose_name(input)).name
        cluster = sg.cluster_name(input.application, input.stack, input.detail)
        tags = {**input.tags, **ownership_tags(ctx.request_id, name, cluster, input.application)}
        with ctx.step("create group"):
            mine = DeleteInput(**self.where(), name=name, only_if_request_id=ctx.request_id)
            ctx.on_rollback(self.activity("delete_group"), mine, label=f"delete {name}")
            spec = GroupSpec(
                **self.where(), name=name, request_id=ctx.request_id, template=input, tags=tags
            )
            status = await self._call("create_group", spec)
        return self._output(name, await self._wait(input, name) or status)

    async def resize(self, input: sg.ResizeServerGroupInput) -> sg.ServerGroupOutput:
        """Set a server group's capacity and, with ``wait``, wait until it runs that many.

        If the operation fails later (the wait times out) the previous capacity is restored.
        """
        name = input.server_group
        with self.ctx.step("update capacity"):
            update = UpdateInput(**self.where(), name=name, capacity=input.capacity)
            status: GroupStatus = await self._call("update_group", update)
        changed = status.before != input.capacity
        if changed:
            undo = update.model_copy(update={"capacity": status.before})
            self.ctx.on_rollback(self.activity("update_group"), undo, label=f"resize {name} back")
        return self._output(name, await self._wait(input, name) or status, changed=changed)

    async def set_traffic(
        self, input: sg.ServerGroupChangeInput, current: Any, enabled: bool
    ) -> sg.ServerGroupOutput:
        """Register the group's running instances in its load balancer, or deregister all."""
        name = input.server_group
        with self.ctx.step("register instances" if enabled else "deregister instances"):
            update = UpdateInput(**self.where(), name=name, enabled=enabled)
            status: GroupStatus = await self._call("update_group", update)
        if enabled:
            status = await self._wait(input, name) or status
        return self._output(name, status, changed=self.traffic_changes(current, enabled))

    async def destroy(self, input: sg.ServerGroupChangeInput) -> sg.ServerGroupOutput:
        """Delete a server group with its instances; a group that does not exist is success."""
        name = input.server_group
        with self.ctx.step("delete group"):
            done: GroupStatus = await self._call(
                "delete_group", DeleteInput(**self.where(), name=name)
            )
        return self._output(name, done, instance_count=None, healthy_count=None, changed=done.found)

    async def terminate(self, input: sg.TerminateInstancesInput) -> sg.TerminateInstancesOutput:
        """Terminate instances: the group replaces them, or shrinks with ``decrement_desired``."""
        with self.ctx.step("terminate instances"):
            fields = input.model_dump(include={"instance_ids", "decrement_desired"})
            arg = TerminateInput(**self.where(), name=input.server_group, **fields)
            done = await self._call("terminate_instances", arg, sg.TerminateInstancesOutput)
        await self._wait(input, input.server_group)
        return done  # type: ignore[no-any-return]


#: One operation per verb of the server-group contract.
OPERATIONS = server_group_operations(ReferenceServerGroups)
