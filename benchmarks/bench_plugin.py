"""A benchmark-only cloudops plugin: a no-op operation and a durable polling loop.

``bench.noop`` is the smallest operation: one activity that returns at once.
``bench.poll`` sleeps on a durable timer ``polls`` times and after each wake-up runs a trivial
activity that reports how late it ran compared with when the timer was due (poll lateness): the
shape of :meth:`cloudops.OperationContext.wait_for`.
``bench.wait`` waits for a slow emulated server group the way the providers wait for theirs,
with :meth:`cloudops.OperationContext.poll` (retry-as-poll: each poll is an attempt of one
activity, due one interval after the previous one on the server's durable retry timer); the
group is ready at the ``polls``-th poll after the first check. Each poll appends its lateness
to the file named by ``CLOUDOPS_BENCH_LATENESS`` (the worker's), since attempts that answer
NotReady return nothing to the workflow.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import activity

import cloudops


class NoopInput(cloudops.Input):
    """What ``bench.noop`` echoes."""

    message: str = "x"


class NoopOutput(cloudops.Output):
    """The echoed message."""

    message: str


class PollInput(cloudops.Input):
    """How many durable polls, how far apart."""

    polls: int = 4
    interval_seconds: float = 30.0


class ObserveInput(cloudops.Input):
    """When the poll was due (epoch seconds)."""

    due: float


class ObserveOutput(cloudops.Output):
    """How late the poll ran (seconds)."""

    late_seconds: float


class PollOutput(cloudops.Output):
    """Lateness of every poll."""

    late_seconds: list[float]


class GroupInput(cloudops.Input):
    """The emulated group: ready at the ``polls``-th poll after the first check."""

    polls: int = 4


class GroupOutput(cloudops.Output):
    """How late the poll that found the group ready ran (seconds)."""

    late_seconds: float
    attempts: int


class WaitInput(cloudops.Input):
    """How many polls, how far apart."""

    polls: int = 4
    interval_seconds: float = 30.0


@activity.defn(name="bench.noop")
async def noop(arg: NoopInput) -> NoopOutput:
    """Return at once."""
    return NoopOutput(message=arg.message)


@activity.defn(name="bench.observe")
async def observe(arg: ObserveInput) -> ObserveOutput:
    """Report how late this poll runs."""
    return ObserveOutput(late_seconds=time.time() - arg.due)


@activity.defn(name="bench.group_ready")
async def group_ready(arg: GroupInput) -> GroupOutput:
    """Answer NotReady until the ``polls``-th retry, recording each retry's lateness.

    A retry is due at ``current_attempt_scheduled_time`` (the previous attempt's end plus the
    retry interval, as the server scheduled it), so its lateness is now minus that; the wall
    clock is written too, so that the driver can measure the attempts' spacing itself.
    """
    info = activity.info()
    now = time.time()
    late = now - info.current_attempt_scheduled_time.timestamp()
    path = os.environ.get("CLOUDOPS_BENCH_LATENESS")
    if path:  # one line per attempt: the driver also checks it against the attempts' spacing
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{info.workflow_id} {info.attempt} {late:.3f} {now:.3f}\n")
    if info.attempt <= arg.polls:
        raise cloudops.NotReady(f"poll {info.attempt}: not ready")
    return GroupOutput(late_seconds=late, attempts=info.attempt)


class Noop(cloudops.CloudOperation[NoopInput, NoopOutput]):
    """One activity, nothing else."""

    provider = "bench"
    name = "noop"

    async def run(self, ctx: cloudops.OperationContext, input: NoopInput) -> NoopOutput:
        """Call ``bench.noop``."""
        with ctx.step("noop"):
            result: NoopOutput = await ctx.execute_activity("bench.noop", input)
        return result


class Poll(cloudops.CloudOperation[PollInput, PollOutput]):
    """Poll ``polls`` times on durable timers, recording each poll's lateness."""

    provider = "bench"
    name = "poll"

    async def run(self, ctx: cloudops.OperationContext, input: PollInput) -> PollOutput:
        """Sleep, observe, repeat."""
        late = []
        for i in range(input.polls):
            with ctx.step(f"poll {i + 1}"):
                due = ctx.now() + timedelta(seconds=input.interval_seconds)
                await ctx.sleep(input.interval_seconds)
                seen: ObserveOutput = await ctx.execute_activity(
                    "bench.observe", ObserveInput(due=due.timestamp())
                )
                late.append(seen.late_seconds)
        return PollOutput(late_seconds=late)


class Wait(cloudops.CloudOperation[WaitInput, GroupOutput]):
    """Wait for the emulated group with retry-as-poll, as the providers do."""

    provider = "bench"
    name = "wait"

    async def run(self, ctx: cloudops.OperationContext, input: WaitInput) -> GroupOutput:
        """One ``ctx.poll``."""
        interval = timedelta(seconds=input.interval_seconds)
        with ctx.step("wait for the group"):
            result: GroupOutput = await ctx.poll(
                "bench.group_ready",
                GroupInput(polls=input.polls),
                interval=interval,
                timeout=interval * (input.polls + 10),
                result_type=GroupOutput,
            )
        return result


@cloudops.hookimpl
def register_operations(register: Callable[[type[Any]], None]) -> None:
    """Add ``bench.noop``, ``bench.poll`` and ``bench.wait``."""
    register(Noop)
    register(Poll)
    register(Wait)


@cloudops.hookimpl
def register_activities(register: Callable[[Any], None]) -> None:
    """Add their activities."""
    register(noop)
    register(observe)
    register(group_ready)
