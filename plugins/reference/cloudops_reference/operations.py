"""The reference server groups: the kit's adapter (workflow code, activities called by name)."""

from __future__ import annotations

from typing import Any

from cloudops.servergroups import models as sg
from cloudops.servergroups.contract import ownership_tags
from cloudops.servergroups.kit import ServerGroupCloud, input_fields, server_group_operations
from cloudops_reference import models as m


class ReferenceServerGroups(ServerGroupCloud):
    """Reference server groups: a group of instances with a load-balancer flag, in a file."""

    provider = "reference"
    label = "Reference"

    async def _call(self, activity: str, arg: Any, result_type: type[Any] = m.GroupStatus) -> Any:
        return await self.ctx.execute_activity(
            self.activity(activity), arg, result_type=result_type
        )

    async def _wait(self, input: sg.WaitSettings, name: str, status: Any = None) -> Any:
        """With ``wait``: poll until the group has its desired instances, all running."""
        if not input.wait:
            return status
        with self.ctx.step("wait for instances"):
            return await self.poll("wait_for_group", self.group_call(name), input, m.GroupStatus)

    def _output(self, name: str, status: m.GroupStatus, **fields: Any) -> sg.ServerGroupOutput:
        fields = {"capacity": status.capacity, "disabled": status.disabled, **fields}
        return self.output(name, status, **fields)

    async def create(self, input: sg.CreateServerGroupInput) -> sg.ServerGroupOutput:
        """Create the next server group of a cluster and, with ``wait``, wait until it runs.

        Tagged with the request id, so a retried create finds it; deleted if a later step fails.
        """
        ctx, name = self.ctx, (await self.choose_name(input)).name
        cluster = sg.cluster_name(input.application, input.stack, input.detail)
        tags = {**input.tags, **ownership_tags(ctx.request_id, name, cluster, input.application)}
        with ctx.step("create group"):
            mine = m.DeleteInput(**self.where(), name=name, only_if_request_id=ctx.request_id)
            ctx.on_rollback(self.activity("delete_group"), mine, label=f"delete {name}")
            spec = m.GroupSpec(
                **self.where(), name=name, request_id=ctx.request_id, template=input, tags=tags
            )
            status = await self._call("create_group", spec)
        return self._output(name, await self._wait(input, name, status))

    async def resize(self, input: sg.ResizeServerGroupInput) -> sg.ServerGroupOutput:
        """Set a server group's capacity and, with ``wait``, wait until it runs that many.

        If the operation fails later (the wait times out) the previous capacity is restored.
        """
        name = input.server_group
        with self.ctx.step("update capacity"):
            update = m.UpdateInput(**self.where(), name=name, capacity=input.capacity)
            status: m.GroupStatus = await self._call("update_group", update)
        changed = status.before != input.capacity
        if changed:
            undo = update.model_copy(update={"capacity": status.before})
            self.ctx.on_rollback(self.activity("update_group"), undo, label=f"resize {name} back")
        return self._output(name, await self._wait(input, name, status), changed=changed)

    async def set_traffic(
        self, input: sg.ServerGroupChangeInput, current: Any, enabled: bool
    ) -> sg.ServerGroupOutput:
        """Register the group's running instances in its load balancer, or deregister all."""
        name = input.server_group
        with self.ctx.step("register instances" if enabled else "deregister instances"):
            update = m.UpdateInput(**self.where(), name=name, enabled=enabled)
            status: m.GroupStatus = await self._call("update_group", update)
        if enabled:
            status = await self._wait(input, name, status)
        return self._output(name, status, changed=self.traffic_changes(current, enabled))

    async def destroy(self, input: sg.ServerGroupChangeInput) -> sg.ServerGroupOutput:
        """Delete a server group with its instances; a group that does not exist is success."""
        with self.ctx.step("delete group"):
            arg = m.DeleteInput(**self.where(), name=input.server_group)
            done: m.GroupStatus = await self._call("delete_group", arg)
        return self.output(
            input.server_group, capacity=done.capacity, disabled=done.disabled, changed=done.found
        )

    async def terminate(self, input: sg.TerminateInstancesInput) -> sg.TerminateInstancesOutput:
        """Terminate instances: the group replaces them, or shrinks with ``decrement_desired``."""
        with self.ctx.step("terminate instances"):
            fields = input_fields(input, m.TerminateInput, **self.where(), name=input.server_group)
            arg, result_type = m.TerminateInput(**fields), sg.TerminateInstancesOutput
            done = await self._call("terminate_instances", arg, result_type)
        await self._wait(input, input.server_group)
        return done  # type: ignore[no-any-return]


#: One operation per verb of the server-group contract.
OPERATIONS = server_group_operations(ReferenceServerGroups)
