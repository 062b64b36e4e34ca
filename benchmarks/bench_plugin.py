"""A benchmark-only cloudops plugin: a no-op operation and a durable polling loop.

``bench.noop`` is the smallest operation: one activity that returns at once.
``bench.poll`` sleeps on a durable timer ``polls`` times and after each wake-up runs a trivial
activity that reports how late it ran compared with when the timer was due (poll lateness).
"""

from __future__ import annotations

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


@activity.defn(name="bench.noop")
async def noop(arg: NoopInput) -> NoopOutput:
    """Return at once."""
    return NoopOutput(message=arg.message)


@activity.defn(name="bench.observe")
async def observe(arg: ObserveInput) -> ObserveOutput:
    """Report how late this poll runs."""
    return ObserveOutput(late_seconds=time.time() - arg.due)


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


@cloudops.hookimpl
def register_operations(register: Callable[[type[Any]], None]) -> None:
    """Add ``bench.noop`` and ``bench.poll``."""
    register(Noop)
    register(Poll)


@cloudops.hookimpl
def register_activities(register: Callable[[Any], None]) -> None:
    """Add their activities."""
    register(noop)
    register(observe)
