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
from typing import Any

from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, RetryState, TimeoutType
from temporalio.exceptions import TimeoutError as TemporalTimeout

import cloudops
from cloudops import BusinessError, ErrorCode, OperationContext, patching
from cloudops.servergroups.models import (
    RESERVED_TAG_PREFIX,
    Capacity,
    ClusterRef,
    CreateServerGroupInput,
    HealthState,
    ServerGroupDescription,
    WaitSettings,
)
from cloudops_deploy.activities import GuardQuery, Guards
from cloudops_deploy.models import (
    CustomInput,
    DeployOptions,
    DeployOutput,
    JudgementOptions,
    MonitorAnswer,
    MonitoredInput,
    MonitorOptions,
    MonitorRequest,
    RedBlackInput,
    RollbackInput,
    RollingRedBlackInput,
    WaitOptions,
)
from cloudops_deploy.multi import cut_over, require_strategy
from cloudops_deploy.servergroups import ServerGroups


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
        delay = max(input.scale_down_delay_seconds, input.delay_before_scale_down_seconds)
        if delay:
            with groups.ctx.step(f"wait {delay:g}s before scale-down"):
                await groups.ctx.sleep(delay)
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


#: ``workflow.patched`` ids: new commands that histories recorded before them do not have.
PATCH_GUARDS = "deploy-traffic-guards"
PATCH_TRAFFIC_SHARES = "deploy-rolling-traffic-shares"
#: Deploys started before it neither named the serving group as the new group's ``source``
#: nor pinned its capacity; started after, they do both.
SOURCE_AND_PIN = "deploy-source-and-pinned-capacity"
PATCH_MONITOR_HOOK = "deploy-monitor-hook"


def launch_settings(
    create: CreateServerGroupInput, group: ServerGroupDescription
) -> dict[str, Any]:
    """A create input that re-creates ``group``: the deploy's input with the group's settings.

    Recorded in the deploy's output so that a previous-image rollback can bring the group back
    after it was destroyed (what the description does not hold comes from this deploy).
    """
    settings = create.model_dump(mode="json", exclude=set(WaitSettings.model_fields))
    for key in ("image", "instance_type", "zones", "subnets", "security_groups"):
        value = getattr(group, key)
        if value:
            settings[key] = value
    settings["capacity"] = group.capacity.model_dump()
    settings["tags"] = {
        k: v for k, v in group.tags.items() if not k.startswith(RESERVED_TAG_PREFIX)
    } or settings.get("tags", {})
    return settings


class _Pin:
    """Pinned capacity: the new group's min held at its desired while traffic moves.

    Why: copied scaling policies (or a scheduled action) must not shrink the new group before
    it has all the traffic (Orca pins the same way). The min comes back before the deploy
    ends and, as a compensation, when it fails or is cancelled: no group is left pinned.
    """

    def __init__(self, groups: ServerGroups, input: DeployOptions, target: Capacity) -> None:
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


def _healthy(group: ServerGroupDescription) -> int:
    return sum(1 for i in group.instances if i.health == HealthState.UP)


class Deploy:
    """The steps every strategy shares, with the options of :class:`DeployOptions`.

    A strategy builds one per run, calls :meth:`start` (reads the cluster, checks the
    preconditions), :meth:`create_new`, then moves traffic with :meth:`disable_old` and the
    others; each change registers its compensation first.
    """

    def __init__(self, ctx: OperationContext, input: DeployOptions) -> None:
        self.ctx = ctx
        self.input = input
        self.groups = ServerGroups(ctx, input)
        self.groups.check_installed()
        self.create = self.groups.create_input(input.server_group)
        self.groups.scope_from(self.create)
        self.cluster = ClusterRef(
            application=self.create.application, stack=self.create.stack, detail=self.create.detail
        )
        self.output = DeployOutput(cluster=self.cluster.cluster)
        self.guarded = False
        self.new = ""
        self.pin: _Pin | None = None
        monitor = input.monitor
        if monitor and not monitor.activity and monitor.name not in ctx.catalogue.monitors:
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                f"no deployment monitor {monitor.name!r} is installed on this worker",
                {
                    "errors": [{"field": "monitor.name", "reason": "not installed"}],
                    "known": sorted(ctx.catalogue.monitors),
                },
            )

    async def start(self) -> tuple[list[ServerGroupDescription], list[ServerGroupDescription]]:
        """The cluster's groups and its enabled ones; INVALID/CONFLICT before any change."""
        ctx, input, name = self.ctx, self.input, self.cluster.cluster
        with ctx.step("find the cluster's server groups"):
            before = await self.groups.list(self.cluster)
        if input.max_initial_server_groups is not None and (
            len(before) > input.max_initial_server_groups
        ):
            raise BusinessError(
                ErrorCode.CONFLICT,
                f"{name} has {len(before)} server groups, more than max_initial_server_groups "
                f"({input.max_initial_server_groups}); nothing was changed",
                {"server_groups": [g.name for g in before]},
            )
        if patching.patched(PATCH_GUARDS) and ctx.account and ctx.region:
            guards: Guards = await ctx.execute_activity(
                "deploy.traffic_guards",
                GuardQuery(account=ctx.account, region=ctx.region),
                result_type=Guards,
            )
            self.guarded = name in guards.clusters
        old = [g for g in before if not g.disabled]
        self.output.previous_server_groups = [g.name for g in old]
        if old:
            self.output.previous_launch_settings = launch_settings(self.create, old[-1])
        if input.use_source_capacity and old:
            self.create = self.create.model_copy(update={"capacity": old[-1].capacity})
        if patching.patched(SOURCE_AND_PIN):  # copy the serving group's autoscaling, pin min
            self.create = self.groups.from_source(self.create, old, False)
            self.pin = _Pin(self.groups, input, self.create.capacity)
        return before, old

    async def create_new(self, create: CreateServerGroupInput, step: str) -> str:
        """Create the new group and wait until healthy (its rollback destroys or disables it)."""
        ctx, input = self.ctx, self.input
        if self.pin is not None:
            create = create.model_copy(update={"capacity": self.pin.capacity(create.capacity)})
        own_wait = input.rollback_mode == "disable" or input.target_healthy_percentage < 100
        with ctx.step(step):
            async with _health_deadline(input, self.cluster.cluster, "the new server group"):
                if not own_wait:
                    self.new = (await self.groups.create(create)).name
                else:
                    mark = ctx.rollback_mark()
                    waitless = create.model_copy(update={"wait": False})
                    self.new = (await self.groups.create(waitless)).name
                    if input.rollback_mode == "disable":
                        ctx.discard_rollbacks(mark)  # keep the group (disabled) for debugging
                    self.groups.on_rollback(
                        "disableServerGroup", {"server_group": self.new}, f"disable {self.new}"
                    )
                    await self.wait_healthy(self.new, create.capacity.desired)
        self.output.new_server_group = self.new
        if self.pin is not None:
            self.pin.hold(self.new)
        if not own_wait:
            self.groups.on_rollback(
                "disableServerGroup", {"server_group": self.new}, f"disable {self.new}"
            )
        return self.new

    async def wait_healthy(self, name: str, desired: int) -> None:
        """Wait until ``target_healthy_percentage`` of ``desired`` instances are healthy."""
        input = self.input
        need = math.ceil(desired * input.target_healthy_percentage / 100)
        deadline = self.ctx.now() + timedelta(seconds=input.health_timeout_seconds)
        while True:
            group = await self.groups.describe(name)
            if _healthy(group) >= need:
                return
            if self.ctx.now() >= deadline:
                raise BusinessError(
                    ErrorCode.TIMED_OUT,
                    f"{name} of {self.cluster.cluster} was not healthy within the health "
                    f"deadline ({input.health_timeout_seconds}s); last check: {name}: "
                    f"{_healthy(group)} of {need} instances healthy, {len(group.instances)} "
                    "running",
                    {"cluster": self.cluster.cluster, "server_group": name},
                )
            await self.ctx.sleep(input.poll_interval_seconds)

    async def resize_new(self, capacity: Capacity) -> None:
        """Grow the new group (a rolling step) and wait for its healthy share."""
        if self.pin is not None:
            capacity = self.pin.capacity(capacity)
        async with _health_deadline(self.input, self.cluster.cluster, self.new):
            if self.input.target_healthy_percentage >= 100:
                await self.groups.resize(self.new, capacity)
            else:
                await self.groups.resize(self.new, capacity, wait=False)
                await self.wait_healthy(self.new, capacity.desired)

    async def release_pin(self) -> None:
        """Restore the new group's min once it has the traffic (no pinned group is left)."""
        if self.pin is not None:
            await self.pin.release(self.new)

    async def enable_new(self) -> None:
        """Put the new group in service."""
        with self.ctx.step(f"enable {self.new}"):
            await self.groups.enable(self.new)
        self.output.enabled.append(self.new)

    async def check_guard(self, leaving: list[str]) -> None:
        """Refuse to leave a guarded cluster without an enabled, healthy group."""
        if not self.guarded:
            return
        name = self.cluster.cluster
        with self.ctx.step(f"check the traffic guard of {name}"):
            groups = await self.groups.list(self.cluster)
        serving = [g for g in groups if not g.disabled and g.name not in leaving and _healthy(g)]
        if not serving:
            raise BusinessError(
                ErrorCode.CONFLICT,
                f"traffic guard {name} (account {self.ctx.account}, region {self.ctx.region}): "
                f"disabling {', '.join(leaving)} would leave it without an enabled, healthy "
                "server group",
                {"guard": name, "disabling": leaving},
            )

    async def disable_old(self, old: list[ServerGroupDescription]) -> None:
        """(Wait,) check the guard, take the old groups out of traffic (undo: re-enable)."""
        ctx, input = self.ctx, self.input
        if old and input.delay_before_disable_seconds:
            with ctx.step(f"wait {input.delay_before_disable_seconds:g}s before disable"):
                await ctx.sleep(input.delay_before_disable_seconds)
        if old:
            await self.check_guard([g.name for g in old])
        for group in old:
            with ctx.step(f"disable {group.name}"):
                self.groups.on_rollback(
                    "enableServerGroup", {"server_group": group.name}, f"re-enable {group.name}"
                )
                await self.groups.disable(group.name)
            self.output.disabled.append(group.name)

    async def monitor(self, percent: int, stage: str) -> None:
        """Consult the deployment monitor (if any) until it says continue."""
        options = self.input.monitor
        if options is None:
            return
        await consult_monitor(self, options, percent, stage)

    async def bake(self) -> None:
        """Keep consulting the monitor during its bake time."""
        options = self.input.monitor
        if options is None or not options.bake_seconds:
            return
        end = self.ctx.now() + timedelta(seconds=options.bake_seconds)
        while self.ctx.now() < end:
            with self.ctx.step(f"bake ({options.bake_seconds:g}s)"):
                left = (end - self.ctx.now()).total_seconds()
                await self.ctx.sleep(max(0.1, min(left, 10 * self.input.poll_interval_seconds)))
            await consult_monitor(self, options, 100, "bake")


async def consult_monitor(
    deploy: Deploy, options: MonitorOptions, percent: int, stage: str
) -> None:
    """Ask the monitor at one step until it says continue.

    ``wait`` asks again; ``rollback`` raises (the deploy rolls back); ``abort`` stops the
    deploy where it is (no rollback).
    """
    ctx, input = deploy.ctx, deploy.input
    if options.activity:
        name = options.activity
    elif patching.patched(PATCH_MONITOR_HOOK):
        name = "deploy.consult_monitor"  # the monitor the plugins registered under its name
    else:
        name = "deploy.http_monitor"  # histories recorded before the hook
    request = MonitorRequest(
        application=deploy.cluster.application,
        cluster=deploy.cluster.cluster,
        new_server_group=deploy.new,
        old_server_groups=deploy.output.previous_server_groups,
        current_progress=percent,
        stage=stage,
        url=options.url,
        monitor=options.name,
    )
    deadline = ctx.now() + timedelta(minutes=options.max_analysis_minutes)
    while True:
        left = max(1.0, (deadline - ctx.now()).total_seconds())
        try:
            with ctx.step(f"deployment monitor at {percent}% ({stage})"):
                answer: MonitorAnswer = await ctx.execute_activity(
                    name,
                    request,
                    result_type=MonitorAnswer,
                    schedule_to_close_timeout=timedelta(seconds=left),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=input.poll_interval_seconds),
                        maximum_interval=timedelta(seconds=10),
                    ),
                )
        except ActivityError as err:
            reason = f"the deployment monitor did not answer: {err.cause or err}"
            if options.on_failure == "continue":
                deploy.output.monitor_reasons.append(f"{percent}%: continue ({reason})")
                return
            raise BusinessError(ErrorCode.TIMED_OUT, f"{reason}; rolled back") from err
        said = f"{percent}%: {answer.directive}" + (f" ({answer.reason})" if answer.reason else "")
        deploy.output.monitor_reasons.append(said)
        ctx.step(f"deployment monitor said {said}")
        if answer.directive == "continue":
            return
        if answer.directive == "rollback":
            raise BusinessError(
                ErrorCode.REJECTED,
                f"the deployment monitor asked for a rollback at {percent}%: {answer.reason}",
                {"directive": "rollback", "reason": answer.reason},
            )
        if answer.directive == "abort":
            ctx.commit()  # abort: stop here, leave the cluster as it is
            raise BusinessError(
                ErrorCode.REJECTED,
                f"the deployment monitor aborted the deploy at {percent}% (not rolled back): "
                f"{answer.reason}",
                {"directive": "abort", "reason": answer.reason},
            )
        if ctx.now() >= deadline:  # wait, beyond max_analysis_minutes
            if options.on_failure == "continue":
                return
            raise BusinessError(
                ErrorCode.TIMED_OUT,
                f"the deployment monitor kept waiting beyond {options.max_analysis_minutes:g} "
                "minutes; rolled back",
            )
        await ctx.sleep(input.poll_interval_seconds)


class RedBlack(cloudops.CloudOperation[RedBlackInput, DeployOutput]):
    """Red/black (blue/green): new group healthy and enabled, old ones disabled, or rolled back."""

    provider = "deploy"
    name = "redBlack"

    async def run(self, ctx: OperationContext, input: RedBlackInput) -> DeployOutput:
        """Create, wait healthy, enable, (monitor, judge, delay), disable old, commit, clean up."""
        deploy = Deploy(ctx, input)
        before, old = await deploy.start()
        new = await deploy.create_new(
            deploy.create, "create the new server group and wait until healthy"
        )
        await deploy.enable_new()
        await deploy.monitor(100, "enabled")
        await deploy.bake()
        deploy.output.judged_by = await _judge(ctx, input)
        await deploy.disable_old(old)
        await deploy.release_pin()
        await cut_over(ctx)  # traffic is on the new group: what follows never rolls back
        await _clean_up(deploy.groups, input, old, before, new, deploy.output)
        return deploy.output


class Highlander(cloudops.CloudOperation[RedBlackInput, DeployOutput]):
    """Highlander: red/black, then destroy every other group of the cluster once healthy."""

    provider = "deploy"
    name = "highlander"

    async def run(self, ctx: OperationContext, input: RedBlackInput) -> DeployOutput:
        """A red/black keeping only the new group (``max_remaining_server_groups`` is 1)."""
        return await RedBlack().run(
            ctx, input.model_copy(update={"max_remaining_server_groups": 1})
        )


class NoStrategy(cloudops.CloudOperation[DeployOptions, DeployOutput]):
    """Strategy ``none``: create the next group and enable it; other groups are untouched."""

    provider = "deploy"
    name = "none"

    async def run(self, ctx: OperationContext, input: DeployOptions) -> DeployOutput:
        """Create, wait healthy, enable, (monitor)."""
        deploy = Deploy(ctx, input)
        await deploy.start()
        await deploy.create_new(deploy.create, "create the new server group and wait until healthy")
        await deploy.enable_new()
        await deploy.monitor(100, "enabled")
        await deploy.release_pin()
        return deploy.output


class Custom(cloudops.CloudOperation[CustomInput, DeployOutput]):
    """Strategy ``custom``: run another installed operation that takes the deploy input."""

    provider = "deploy"
    name = "custom"

    async def run(self, ctx: OperationContext, input: CustomInput) -> DeployOutput:
        """Validate ``strategy``'s input (the deploy's, plus ``parameters``), then run it."""
        require_strategy(ctx, input.strategy)
        payload = {
            **input.model_dump(mode="json", exclude={"strategy", "parameters"}, exclude_unset=True),
            **input.parameters,
        }
        model = ctx.validate(input.strategy, payload)
        with ctx.step(f"run {input.strategy}"):
            out = await ctx.run(input.strategy, model)
        return DeployOutput.model_validate(out.model_dump())


def _share(total: int, percent: int) -> int:
    return math.ceil(total * percent / 100)


class RollingRedBlack(cloudops.CloudOperation[RollingRedBlackInput, DeployOutput]):
    """Rolling red/black: the new group grows while a share of the old ones leaves traffic.

    At each percentage the new group is resized to that share of its capacity (health awaited)
    and the same share of each old group's instances is taken out of its load balancers
    (``disableServerGroup`` with ``desired_percentage``), still running. A rollback at any
    step puts that traffic back at once; nothing has to boot. At 100% the old groups are
    disabled; ``scale_down`` then resizes them to 0.
    """

    provider = "deploy"
    name = "rollingRedBlack"

    async def run(self, ctx: OperationContext, input: RollingRedBlackInput) -> DeployOutput:
        """Create at the first share, then for each percentage: grow new, take old out."""
        if not patching.patched(PATCH_TRAFFIC_SHARES):
            return await _shrinking_rolling_red_black(ctx, input)
        deploy = Deploy(ctx, input)
        before, old = await deploy.start()
        target = deploy.create.capacity
        first = _share(target.desired, input.percentages[0])
        start = deploy.create.model_copy(
            update={"capacity": Capacity(min=min(target.min, first), max=target.max, desired=first)}
        )
        new = await deploy.create_new(
            start, f"create the new server group at {input.percentages[0]}%"
        )
        await deploy.enable_new()
        size = first
        for percent in input.percentages:
            if _share(target.desired, percent) != size:
                size = _share(target.desired, percent)
                with ctx.step(f"{percent}%: {new} to {size} instance(s)"):
                    await deploy.resize_new(
                        Capacity(min=min(target.min, size), max=target.max, desired=size)
                    )
            if percent < 100:
                for group in old:
                    with ctx.step(f"{percent}%: {percent}% of {group.name} out of traffic"):
                        out = await deploy.groups.disable(group.name, desired_percentage=percent)
                    moved = len(out.out_of_traffic or [])
                    deploy.output.traffic_steps.append(
                        f"{percent}%: {moved} of {len(group.instances)} of {group.name} out"
                    )
            await deploy.monitor(percent, f"{percent}%")
        await deploy.bake()
        deploy.output.judged_by = await _judge(ctx, input)
        await deploy.disable_old(old)
        await deploy.release_pin()
        await cut_over(ctx)
        scale_down = input.scale_down or input.scale_down_old
        await _clean_up(
            deploy.groups,
            input.model_copy(
                update={
                    "scale_down_old": scale_down,
                    "scale_down_delay_seconds": max(
                        input.scale_down_delay_seconds, input.delay_before_scale_down_seconds
                    ),
                }
            ),
            old,
            before,
            new,
            deploy.output,
        )
        return deploy.output


class Monitored(cloudops.CloudOperation[MonitoredInput, DeployOutput]):
    """Monitored deploy: a rolling red/black that asks a deployment monitor at every step."""

    provider = "deploy"
    name = "monitored"

    async def run(self, ctx: OperationContext, input: MonitoredInput) -> DeployOutput:
        """Spinnaker's ``monitored`` strategy: ``deploy.rollingRedBlack`` with a monitor."""
        return await RollingRedBlack().run(ctx, input)


async def _shrinking_rolling_red_black(
    ctx: OperationContext, input: RollingRedBlackInput
) -> DeployOutput:
    """Before traffic shares (histories recorded then): the old groups shrank at each step."""
    groups = ServerGroups(ctx, input)
    groups.check_installed()
    create = groups.create_input(input.server_group)
    groups.scope_from(create)
    target = create.capacity
    cluster = ClusterRef(application=create.application, stack=create.stack, detail=create.detail)
    output = DeployOutput(cluster=cluster.cluster)

    with ctx.step("find the cluster's server groups"):
        before = await groups.list(cluster)
    old = [g for g in before if not g.disabled]
    output.previous_server_groups = [g.name for g in old]

    first = _share(target.desired, input.percentages[0])
    start = create.model_copy(
        update={"capacity": Capacity(min=min(target.min, first), max=target.max, desired=first)}
    )
    with ctx.step(f"create the new server group at {input.percentages[0]}%"):
        async with _health_deadline(input, cluster.cluster, "the new server group"):
            new = (await groups.create(start)).name
    output.new_server_group = new
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
                await groups.resize(
                    new, Capacity(min=min(target.min, size), max=target.max, desired=size)
                )
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


async def _recreate(groups: ServerGroups, settings: dict[str, Any]) -> ServerGroupDescription:
    """Previous-image rollback: re-create a destroyed group from its recorded launch settings.

    It comes back as the cluster's next ``vNNN`` (disabled until the rollback enables it);
    its create registers its destruction, so a failing rollback leaves nothing behind.
    """
    create = groups.create_input(settings)
    groups.scope_from(create)
    with groups.ctx.step("re-create the previous server group from its launch settings"):
        name = (await groups.create(create)).name
    return await groups.describe(name)


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
            try:
                restore = await groups.describe(input.restore)
            except BusinessError as err:
                if err.code != ErrorCode.NOT_FOUND or input.recreate is None:
                    raise
                restore = await _recreate(groups, input.recreate)
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
