"""Benchmark-only plugin for ``benchmarks/recovery.py``: a third party's plain activities.

``recbench.steps`` runs ``steps`` activities one after the other with the default activity
options; each is a plain ``async def`` that sleeps and never heartbeats (its first attempt
sleeps ``first_seconds`` when set, to be killed mid-way). ``recbench.steps_unbeaten`` is the
same without a heartbeat timeout (the options before the worker heartbeated activities). Every
attempt appends a JSON line (workflow id, step, attempt, pid, event, time) to the file named by
``RECOVERY_JOURNAL``. Workers load it through an entry point that the benchmark writes.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from typing import Any

from temporalio import activity

import cloudops
from cloudops import ActivityDefaults, CloudOperation, OperationContext


class StepsInput(cloudops.Input):
    """``steps`` activities of ``seconds`` each.

    The first attempt of each takes ``first_seconds`` instead when it is set.
    """

    steps: int = 1
    seconds: float = 0
    first_seconds: float | None = None


class StepInput(cloudops.Input):
    """One step."""

    step: int
    seconds: float
    first_seconds: float | None = None


class StepsOutput(cloudops.Output):
    """The attempt that completed each step."""

    attempts: list[int]


class StepOutput(cloudops.Output):
    """The attempt that completed the step."""

    attempt: int


def _journal(event: str, step: int) -> None:
    info = activity.info()
    line = {
        "workflow_id": info.workflow_id,
        "step": step,
        "attempt": info.attempt,
        "pid": os.getpid(),
        "event": event,
        "time": time.time(),
    }
    with open(os.environ["RECOVERY_JOURNAL"], "a") as out:
        out.write(json.dumps(line) + "\n")


@activity.defn(name="recbench.work")
async def work(input: StepInput) -> StepOutput:
    """Sleep (the work), never heartbeat."""
    attempt = activity.info().attempt
    _journal("start", input.step)
    seconds = input.first_seconds if attempt == 1 and input.first_seconds else input.seconds
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        _journal("cancelled", input.step)
        raise
    _journal("end", input.step)
    return StepOutput(attempt=attempt)


class Steps(CloudOperation[StepsInput, StepsOutput]):
    """Run ``steps`` plain activities one after the other."""

    provider = "recbench"
    name = "steps"

    async def run(self, ctx: OperationContext, input: StepsInput) -> StepsOutput:
        """One activity per step, in order."""
        attempts = []
        for step in range(input.steps):
            arg = StepInput(step=step, seconds=input.seconds, first_seconds=input.first_seconds)
            out: StepOutput = await ctx.execute_activity("recbench.work", arg)
            attempts.append(out.attempt)
        return StepsOutput(attempts=attempts)


class StepsUnbeaten(Steps):
    """``recbench.steps`` without a heartbeat timeout."""

    name = "steps_unbeaten"
    activity_defaults = ActivityDefaults(heartbeat_timeout=None)


@cloudops.hookimpl
def register_operations(register: Callable[[type[Any]], None]) -> None:
    """The two operations."""
    register(Steps)
    register(StepsUnbeaten)


@cloudops.hookimpl
def register_activities(register: Callable[[Any], None]) -> None:
    """The one activity."""
    register(work)
