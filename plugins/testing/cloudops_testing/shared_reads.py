"""Measure how much concurrent waits share their reads (:mod:`cloudops.batching`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest

from cloudops.batching import WINDOW_ENV, ReadBatcher
from cloudops.client import CloudOpsClient
from cloudops_testing.faults import FaultProxy
from cloudops_testing.processes import WorkerProcess
from cloudops_testing.throttling import Bucket, CloudThrottle, install

__all__ = [
    "COUNT_ONLY",
    "Counts",
    "alone_and_shared",
    "check_waits_share_their_reads",
    "execute_all",
    "shared_under_a_budget",
    "with_a_sigkilled_worker",
]

#: Buckets a throttling model never runs dry with: the proxy only counts calls.
COUNT_ONLY = {family: Bucket(10_000, 10_000) for family in ("reads", "writes", "other")}

#: Batcher name -> (names asked, reads made) during one run.
Counts = dict[str, tuple[int, int]]


async def alone_and_shared(
    monkeypatch: pytest.MonkeyPatch,
    batchers: Mapping[str, ReadBatcher[Any]],
    run: Callable[[str], Awaitable[None]],
) -> tuple[Counts, Counts]:
    """Run ``run("alone")`` with batching off, then ``run("shared")`` with a 0.25 s window.

    Returns what each batcher was asked and read in each run (alone, shared): alone, every
    wait reads on its own (asked == reads); shared, concurrent waits of one scope share a read.
    """
    runs = []
    for mode, window in (("alone", "0"), ("shared", "0.25")):
        monkeypatch.setenv(WINDOW_ENV, window)
        before = {name: (b.asked, b.reads) for name, b in batchers.items()}
        await run(mode)
        runs.append(
            {
                name: (b.asked - before[name][0], b.reads - before[name][1])
                for name, b in batchers.items()
            }
        )
    return runs[0], runs[1]


async def execute_all(
    ops: CloudOpsClient, operation: str, inputs: Sequence[dict[str, Any]], **where: Any
) -> list[Any]:
    """Run ``operation`` once per input, all at once; every one must succeed."""
    results = list(
        await asyncio.gather(*(ops.execute(operation, data, **where) for data in inputs))
    )
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return results


async def with_a_sigkilled_worker(
    worker_process: Callable[..., WorkerProcess],
    temporal_client: Any,
    plugin: str,
    accounts: dict[str, Any],
    start: Callable[[CloudOpsClient], Awaitable[list[Any]]],
    *,
    kill_after: float = 4.0,
    settle: float = 0.0,
) -> list[Any]:
    """``start`` operations on two worker processes, SIGKILL one after ``kill_after`` s.

    ``settle``: seconds to wait once both workers run (budgeted workers count each other
    every 5 s). Returns the operations' results (``start``'s answer) once all have ended.
    """
    queue = f"{plugin}-shared-{uuid.uuid4().hex[:8]}"
    workers = [
        await asyncio.to_thread(worker_process, queue, accounts=accounts, plugins=[plugin])
        for _ in range(2)
    ]
    await asyncio.sleep(settle)
    running = asyncio.ensure_future(start(CloudOpsClient(temporal_client, task_queue=queue)))
    await asyncio.sleep(kill_after)  # the resources exist and their waits poll
    await asyncio.to_thread(workers[0].kill)
    return await asyncio.wait_for(running, 120)


async def check_waits_share_their_reads(
    monkeypatch: pytest.MonkeyPatch,
    groups: ReadBatcher[Any],
    members: ReadBatcher[Any],
    create_six: Callable[[str], Awaitable[Any]],
) -> None:
    """Six creates waiting at once (``create_six(prefix)``), alone, then sharing their reads.

    Alone, every wait attempt reads its group itself (3+ polls each); shared, one read of
    ``groups`` serves 3+ waits, and a group's ``members`` are read at most once per poll.
    """

    async def run(mode: str) -> None:
        await create_six(mode[0])

    alone, shared = await alone_and_shared(monkeypatch, {"groups": groups, "members": members}, run)
    assert alone["groups"][0] == alone["groups"][1] >= 6 * 3
    assert shared["groups"][1] * 3 <= shared["groups"][0], shared
    assert shared["members"][1] <= shared["groups"][0], shared


async def shared_under_a_budget(
    worker_process: Callable[..., WorkerProcess],
    temporal_client: Any,
    proxy: FaultProxy,
    accounts: dict[str, Any],
    key: str,
    start: Callable[[CloudOpsClient], Awaitable[list[Any]]],
) -> list[Any]:
    """``start`` on two workers through ``proxy``, one SIGKILLed, under a budget: the results.

    Every account gets a budget of 4 calls per second; the calls of ``key`` (the cloud's
    metered scope: a project, a subscription) must keep to it.
    """
    provider = next(iter(accounts["accounts"].values()))["provider"]
    throttle = install(proxy, CloudThrottle(provider, COUNT_ONLY))
    for account in accounts["accounts"].values():
        account["budget"] = {"calls_per_second": 4}
    started = time.monotonic()
    results = await with_a_sigkilled_worker(
        worker_process, temporal_client, provider, accounts, start, settle=6
    )
    # Temporal lets a key burst a second's worth.
    assert throttle.peak_rate(key, window=2.0, since=started) <= 2 * 4 + 3
    return results
