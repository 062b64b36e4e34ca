"""A third-party-style plugin for the recovery tests: activities that never heartbeat.

It is loaded by ``cloudops worker`` child processes through an entry point (the tests write a
``.dist-info`` for it), as a plugin installed with pip would be. Its operation uses the default
activity options (no timeouts of its own). Every activity attempt appends a JSON line to the file
named by ``RECOVERY_JOURNAL``: the workflow id, the activity, the attempt, the worker's pid, what
happened (``start``, ``end``, ``cancelled``) and the heartbeat details it started with.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import activity

import cloudops
from cloudops import CloudOperation, OperationContext

JOURNAL_ENV = "RECOVERY_JOURNAL"


class HoldInput(cloudops.Input):
    """Run ``activity`` once; its first attempt takes ``first_seconds``, later ones ``seconds``."""

    name: str
    activity: str = "recovery.hold"
    first_seconds: float = 0
    seconds: float = 0
    heartbeat_seconds: float | None = None  # None: the operation's defaults


class HoldOutput(cloudops.Output):
    """Which attempt completed, on which worker, and the heartbeat details it started with."""

    attempt: int
    pid: int
    received: list[Any]


def journal(event: str, **extra: Any) -> None:
    """Append one line about the running attempt to the journal file."""
    info = activity.info()
    line = {
        "workflow_id": info.workflow_id,
        "activity": info.activity_type,
        "attempt": info.attempt,
        "pid": os.getpid(),
        "event": event,
        "time": time.time(),
        **extra,
    }
    with open(os.environ[JOURNAL_ENV], "a") as out:
        out.write(json.dumps(line) + "\n")


def _seconds(input: HoldInput) -> float:
    return input.first_seconds if activity.info().attempt == 1 else input.seconds


def _output() -> HoldOutput:
    info = activity.info()
    return HoldOutput(attempt=info.attempt, pid=os.getpid(), received=list(info.heartbeat_details))


@activity.defn(name="recovery.hold")
async def hold(input: HoldInput) -> HoldOutput:
    """A plain async activity: it sleeps and never heartbeats."""
    journal("start")
    try:
        await asyncio.sleep(_seconds(input))
    except asyncio.CancelledError:
        journal("cancelled")
        raise
    journal("end")
    return _output()


@activity.defn(name="recovery.hold_sync")
def hold_sync(input: HoldInput) -> HoldOutput:
    """A plain ``def`` activity (the worker runs it in a thread): it never heartbeats."""
    journal("start")
    time.sleep(_seconds(input))
    journal("end")
    return _output()


@activity.defn(name="recovery.progress")
async def progress(input: HoldInput) -> HoldOutput:
    """Heartbeats its own progress once, then works without heartbeating."""
    received = list(activity.info().heartbeat_details)
    journal("start", received=received)
    if not received:
        activity.heartbeat({"made": input.name, "step": 1})
    await asyncio.sleep(_seconds(input))
    journal("end")
    return _output()


class Hold(CloudOperation[HoldInput, HoldOutput]):
    """Run one activity of this plugin with the default activity options."""

    provider = "recovery"
    name = "hold"

    async def run(self, ctx: OperationContext, input: HoldInput) -> HoldOutput:
        heartbeat = timedelta(seconds=input.heartbeat_seconds) if input.heartbeat_seconds else None
        result: HoldOutput = await ctx.execute_activity(
            input.activity, input, result_type=HoldOutput, heartbeat_timeout=heartbeat
        )
        return result


@cloudops.hookimpl
def register_operations(register: Callable[[type[Any]], None]) -> None:
    register(Hold)


@cloudops.hookimpl
def register_activities(register: Callable[[Any], None]) -> None:
    for fn in (hold, hold_sync, progress):
        register(fn)
