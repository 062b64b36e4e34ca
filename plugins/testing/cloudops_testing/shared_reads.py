"""Measure how much concurrent waits share their reads (:mod:`cloudops.batching`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest

from cloudops.batching import WINDOW_ENV, ReadBatcher
from cloudops.client import CloudOpsClient
from cloudops_testing.processes import WorkerProcess
from cloudops_testing.throttling import Bucket

__all__ = [
    "COUNT_ONLY",
    "Counts",
    "alone_and_shared",
    "execute_all",
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
