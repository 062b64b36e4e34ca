"""Deploy strategies: workflow code composed from the providers' server-group operations.

Each strategy registers a compensation for every change it makes before traffic moves, so a
failure, a missed deadline, a rejected judgement or a cancellation leaves the cluster as it was:
the old group serving, the new group gone. Once traffic is on the new group the deploy commits
(``ctx.commit``); clean-up after that (scale-down, destroying old groups) never rolls back.

A new group that is not healthy by ``health_timeout_seconds`` (its instances never pass the
cloud's health checks, never boot...) ends the deploy with ``TIMED_OUT`` naming the last thing
the wait saw; the provider's create has registered the group's destruction, so the old groups,
never touched, keep serving.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, RetryState, TimeoutType
from temporalio.exceptions import TimeoutError as TemporalTimeout

import cloudops
from cloudops import BusinessError, ErrorCode, OperationContext
from cloudops.servergroups.models import Capacity, ClusterRef, ServerGroupDescription
from cloudops_deploy.models import (
    DeployOutput,
    JudgementOptions,
    RedBlackInput,
    RollbackInput,
    RollingRedBlackInput,
    WaitOptions,
)
from cloudops_deploy.servergroups import ServerGroups

#: ``workflow.patched`` id: deploys started before it neither named the serving group as the
#: new group's ``source`` nor pinned its capacity; started after, they do both.
SOURCE_AND_PIN = "deploy-source-and-pinned-capacity"


@asynccontextmanager
async def _health_deadline(input: WaitOptions, cluster: str, what: str) -> AsyncIterator[None]:
    """Turn a wait that ran out of ``health_timeout_seconds`` into a deploy's TIMED_OUT.

    Why: the provider's wait fails as its polling activity's timeout, or as retries that stop
    because the next poll would pass the deadline; the deploy's user needs to know which group
    was not healthy by which deadline, and what the last check saw (the group's name and
    instance counts, from the last NotReady).
    """
    try:
        yield
    except ActivityError as err:
        cause = err.cause
        if isinstance(cause, TemporalTimeout) and cause.type == TimeoutType.SCHEDULE_TO_CLOSE:
            seen = cause.cause  # Temporal keeps the last attempt's failure as the cause
        elif err.retry_state == RetryState.TIMEOUT:
            seen = cause  # the next poll would have passed the deadline
        else:
            raise
        last = str(seen) if seen is not None else ""
        raise BusinessError(
            ErrorCode.TIMED_OUT,
            f"{what} of {cluster} was not healthy within the health deadline "
            f"({input.health_timeout_seconds}s)" + (f"; last check: {last}" if last else ""),
            {
                "cluster": cluster,
                "health_timeout_seconds": input.health_timeout_seconds,
                "activity": err.activity_type,
                "last_check": last or None,
            },
        ) from err


async def _judge(ctx: OperationContext, options: JudgementOptions) -> str | None:
    """Wait for ``cloudops approve|reject ID``; a rejection or a timeout is a business error."""
    if not options.manual_judgement:
        return None
    with ctx.step("wait for manual judgement"):
        decision = await ctx.wait_for_input(
            "judgement", timeout=timedelta(seconds=options.judgement_timeout_seconds)
        )
    if decision is None:
        raise BusinessError(
            ErrorCode.TIMED_OUT,
            f"no manual judgement within {options.judgement_timeout_seconds:g}s; rolled back",
        )
    who = decision.sender or "someone"
    if not decision.value.get("approved"):
        raise BusinessError(
            ErrorCode.REJECTED,
            f"the deploy was rejected by {who}; rolled back",
            {"judgement": decision.value, "by": who},
        )
    return who


async def _clean_up(
    groups: ServerGroups,
    input: RedBlackInput,
    old: list[ServerGroupDescription],
    before: list[ServerGroupDescription],
    new: str,
    output: DeployOutput,
) -> None:
    """After the cut-over: optional scale-down and destroying groups beyond the limit."""
    if input.scale_down_old and old:
        if input.scale_down_delay_seconds:
            with groups.ctx.step(f"wait {input.scale_down_delay_seconds:g}s before scale-down"):
                await groups.ctx.sleep(input.scale_down_delay_seconds)
        for group in old:
            with groups.ctx.step(f"scale down {group.name}"):
                try:
                    await groups.resize(
                        group.name, Capacity(min=0, max=group.capacity.max, desired=0)
                    )
                    output.scaled_down.append(group.name)
                except BusinessError as err:
                    output.cleanup_errors.append(f"scale down {group.name}: {err.message}")
    if input.max_remaining_server_groups is not None:
        names = [g.name for g in before] + [new]
        excess = names[: max(0, len(names) - input.max_remaining_server_groups)]
        for name in excess:
            with groups.ctx.step(f"destroy {name}"):
                try:
                    await groups.destroy(name)
                    output.destroyed.append(name)
                except BusinessError as err:
                    output.cleanup_errors.append(f"destroy {name}: {err.message}")


class _Pin:
    """Pinned capacity: the new group's min held at its desired while traffic moves.

    Why: copied scaling policies (or a scheduled action) must not shrink the new group before
    it has all the traffic (Orca pins the same way). The min comes back before the deploy
    ends and, as a compensation, when it fails or is cancelled: no group is left pinned.
    """

    def __init__(self, groups: ServerGroups, input: RedBlackInput, target: Capacity) -> None:
        self.groups, self.target = groups, target
        self.on = input.pin_capacity and target.min < target.desired

    def capacity(self, capacity: Capacity) -> Capacity:
        """``capacity`` with its min raised to its desired while pinned."""
        return capacity.model_copy(update={"min": capacity.desired}) if self.on else capacity

    def hold(self, name: str) -> None:
        """Register the restore of ``name``'s min as a compensation (no wait: it is undone)."""
        if self.on:
            self.groups.ctx.on_rollback(
                self.groups.name("resizeServerGroup"),
                {
                    "server_group": name,
                    **self.groups.scope,
                    "capacity": self.target.model_dump(),
                    "wait": False,
                },
                label=f"restore the min of {name} to {self.target.min}",
            )

    async def release(self, name: str) -> None:
        """Restore the min of ``name``, keeping its desired now (autoscaling may have grown it)."""
        if not self.on:
            return
        with self.groups.ctx.step(f"restore the min of {name} to {self.target.min}"):
            now = (await self.groups.describe(name)).capacity
            await self.groups.set_capacity(
                name,
                Capacity(
                    min=self.target.min,
                    max=max(now.max, self.target.max),
                    desired=min(max(now.desired, self.target.min), max(now.max, self.target.max)),
                ),
            )


class RedBlack(cloudops.CloudOperation[RedBlackInput, DeployOutput]):
    """Red/black (blue/green): new group healthy and enabled, old ones disabled, or rolled back."""

    provider = "deploy"
    name = "redBlack"

    async def run(self, ctx: OperationContext, input: RedBlackInput) -> DeployOutput:
        """Create, wait healthy, enable, (judge), disable old, commit, clean up."""
        groups = ServerGroups(ctx, input)
        groups.check_installed()
        create = groups.create_input(input.server_group)
        groups.scope_from(create)
        cluster = ClusterRef(
            application=create.application, stack=create.stack, detail=create.detail
        )
        output = DeployOutput(cluster=cluster.cluster)

        with ctx.step("find the cluster's server groups"):
            before = await groups.list(cluster)
        old = [g for g in before if not g.disabled]
        output.previous_server_groups = [g.name for g in old]

        pin: _Pin | None = None
        if workflow.patched(SOURCE_AND_PIN):
            create = groups.from_source(create, old, input.use_source_capacity)
            pin = _Pin(groups, input, create.capacity)
            create = create.model_copy(update={"capacity": pin.capacity(create.capacity)})
        with ctx.step("create the new server group and wait until healthy"):
            async with _health_deadline(input, cluster.cluster, "the new server group"):
                new = (await groups.create(create)).name
        output.new_server_group = new
        if pin is not None:
            pin.hold(new)
        groups.on_rollback("disableServerGroup", {"server_group": new}, f"disable {new}")

        with ctx.step(f"enable {new}"):
            await groups.enable(new)
        output.enabled.append(new)

        output.judged_by = await _judge(ctx, input)

        for group in old:
            with ctx.step(f"disable {group.name}"):
                groups.on_rollback(
                    "enableServerGroup", {"server_group": group.name}, f"re-enable {group.name}"
                )
                await groups.disable(group.name)
            output.disabled.append(group.name)
        if pin is not None:
            await pin.release(new)

        ctx.commit()  # traffic is on the new group: what follows never rolls back
        await _clean_up(groups, input, old, before, new, output)
        return output


def _share(total: int, percent: int) -> int:
    return math.ceil(total * percent / 100)


class RollingRedBlack(cloudops.CloudOperation[RollingRedBlackInput, DeployOutput]):
    """Rolling red/black: grow the new group and shrink the old ones in percentage steps."""

    provider = "deploy"
    name = "rollingRedBlack"

    async def run(self, ctx: OperationContext, input: RollingRedBlackInput) -> DeployOutput:
        """For each percentage: new group to p%, old groups to (100-p)%, healthy each time."""
        groups = ServerGroups(ctx, input)
        groups.check_installed()
        create = groups.create_input(input.server_group)
        groups.scope_from(create)
        target = create.capacity
        cluster = ClusterRef(
            application=create.application, stack=create.stack, detail=create.detail
        )
        output = DeployOutput(cluster=cluster.cluster)

        with ctx.step("find the cluster's server groups"):
            before = await groups.list(cluster)
        old = [g for g in before if not g.disabled]
        output.previous_server_groups = [g.name for g in old]

        pin: _Pin | None = None
        if workflow.patched(SOURCE_AND_PIN):
            create = groups.from_source(create, old, input.use_source_capacity)
            target = create.capacity
            pin = _Pin(groups, input, target)
        first = _share(target.desired, input.percentages[0])
        step_capacity = Capacity(min=min(target.min, first), max=target.max, desired=first)
        start = create.model_copy(
            update={"capacity": pin.capacity(step_capacity) if pin else step_capacity}
        )
        with ctx.step(f"create the new server group at {input.percentages[0]}%"):
            async with _health_deadline(input, cluster.cluster, "the new server group"):
                new = (await groups.create(start)).name
        output.new_server_group = new
        if pin is not None:
            pin.hold(new)
        groups.on_rollback("disableServerGroup", {"server_group": new}, f"disable {new}")
        with ctx.step(f"enable {new}"):
            await groups.enable(new)
        output.enabled.append(new)

        for group in old:  # restore each old group's size if anything fails later
            groups.on_rollback(
                "resizeServerGroup",
                {"server_group": group.name, "capacity": group.capacity.model_dump()},
                f"restore {group.name} to {group.capacity.desired}",
            )
        for percent in input.percentages:
            size = _share(target.desired, percent)
            with ctx.step(f"{percent}%: {new} to {size} instance(s)"):
                async with _health_deadline(input, cluster.cluster, new):
                    step_capacity = Capacity(
                        min=min(target.min, size), max=target.max, desired=size
                    )
                    await groups.resize(new, pin.capacity(step_capacity) if pin else step_capacity)
            for group in old:
                keep = group.capacity.desired - _share(group.capacity.desired, percent)
                with ctx.step(f"{percent}%: {group.name} to {keep} instance(s)"):
                    await groups.resize(
                        group.name,
                        Capacity(
                            min=min(group.capacity.min, keep), max=group.capacity.max, desired=keep
                        ),
                    )

        output.judged_by = await _judge(ctx, input)
        for group in old:
            with ctx.step(f"disable {group.name}"):
                groups.on_rollback(
                    "enableServerGroup", {"server_group": group.name}, f"re-enable {group.name}"
                )
                await groups.disable(group.name)
            output.disabled.append(group.name)
            output.scaled_down.append(group.name)
        if pin is not None:
            await pin.release(new)

        ctx.commit()
        await _clean_up(
            groups, input.model_copy(update={"scale_down_old": False}), old, before, new, output
        )
        return output


def _restored_capacity(
    restore: ServerGroupDescription, current: list[ServerGroupDescription]
) -> Capacity | None:
    """The capacity ``restore`` needs before it takes over, or None if it has enough.

    As Spinnaker's explicit rollback does: the restored group gets the size of the largest
    group it replaces (a red/black with ``scale_down_old`` or a rolling deploy left it smaller,
    often at 0), keeping its own larger maximum.
    """
    if not current:
        return None
    largest = max(current, key=lambda g: g.capacity.desired).capacity
    if restore.capacity.desired >= largest.desired:
        return None
    return Capacity(
        min=largest.min,
        max=max(largest.max, restore.capacity.max),
        desired=largest.desired,
    )


class Rollback(cloudops.CloudOperation[RollbackInput, DeployOutput]):
    """Put a previous server group back in service and take the current one(s) out.

    A restored group smaller than the largest group it replaces is first resized to that
    group's capacity and waited for, so the rollback never moves traffic onto too few
    instances.
    """

    provider = "deploy"
    name = "rollback"

    async def run(self, ctx: OperationContext, input: RollbackInput) -> DeployOutput:
        """(Resize ``restore``,) enable it (wait healthy), then disable the others."""
        groups = ServerGroups(ctx, input, input.scope)
        groups.check_installed()
        with ctx.step(f"describe {input.restore}"):
            restore = await groups.describe(input.restore)
        output = DeployOutput(cluster=restore.cluster)
        if input.current is None:
            cluster = ClusterRef(
                application=restore.application or restore.cluster,
                stack=restore.stack,
                detail=restore.detail,
            )
            with ctx.step("find the cluster's enabled server groups"):
                serving = [
                    g
                    for g in await groups.list(cluster)
                    if not g.disabled and g.name != restore.name
                ]
        else:
            serving = []
            for name in input.current:
                if name != restore.name:
                    with ctx.step(f"describe {name}"):
                        serving.append(await groups.describe(name))
        current = [g.name for g in serving]
        output.previous_server_groups = current

        capacity = _restored_capacity(restore, serving)
        if capacity is not None:
            # A group scaled down after a deploy would take the traffic with too few instances.
            with ctx.step(f"resize {restore.name} to {capacity.desired} instance(s)"):
                await groups.resize(restore.name, capacity)
            output.resized.append(restore.name)
        with ctx.step(f"enable {restore.name}"):
            if restore.disabled:
                groups.on_rollback(
                    "disableServerGroup", {"server_group": restore.name}, f"disable {restore.name}"
                )
            await groups.enable(restore.name)
        output.enabled.append(restore.name)
        for name in current:
            with ctx.step(f"disable {name}"):
                groups.on_rollback("enableServerGroup", {"server_group": name}, f"re-enable {name}")
                await groups.disable(name)
            output.disabled.append(name)
        return output
