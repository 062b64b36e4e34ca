"""A third party's activities recover from a lost worker as fast as the providers' do.

The activities of ``recovery_plugin`` never heartbeat and their operation keeps the default
activity options, as a plugin author who never heard of heartbeats would write them. They run
on ``cloudops worker`` child processes that load the plugin through an entry point, and the
tests SIGKILL or SIGTERM those processes mid-activity. The assertions compare with the
5-minute start-to-close timeout (what a lost attempt cost before the worker heartbeated
activities), never with tight wall-clock bounds: the machine is shared.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from cloudops.client import CloudOpsClient, OperationHandle
from cloudops.operation import ActivityDefaults
from cloudops_testing.processes import WorkerProcess

TESTS = Path(__file__).resolve().parent
START_TO_CLOSE = ActivityDefaults().start_to_close_timeout.total_seconds()  # 300 s
HEARTBEAT = ActivityDefaults().heartbeat_timeout


class Workers:
    """Starts ``cloudops worker`` processes with the recovery plugin installed (entry point)."""

    def __init__(self, factory: Callable[..., WorkerProcess], tmp_path: Path) -> None:
        self.factory = factory
        self.journal = tmp_path / "journal.jsonl"
        self.journal.touch()
        site = tmp_path / "site"
        dist = site / "cloudops_recovery_test-0.1.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: cloudops-recovery-test\nVersion: 0.1\n"
        )
        (dist / "entry_points.txt").write_text("[cloudops]\nrecovery = recovery_plugin\n")
        path = [str(site), str(TESTS), os.environ.get("PYTHONPATH", "")]
        self.env = {
            "PYTHONPATH": os.pathsep.join(p for p in path if p),
            "RECOVERY_JOURNAL": str(self.journal),
        }

    def start(self, queue: str, *args: str) -> WorkerProcess:
        return self.factory(queue, plugins=["recovery"], env=self.env, args=list(args))

    def lines(self, workflow_id: str) -> list[dict[str, Any]]:
        entries = [json.loads(line) for line in self.journal.read_text().splitlines() if line]
        return [e for e in entries if e["workflow_id"] == workflow_id]

    async def wait_for(
        self, workflow_id: str, event: str, attempt: int, timeout: float
    ) -> dict[str, Any]:
        """The journal line of ``event`` of ``attempt``, once written; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.lines(workflow_id):
                if entry["event"] == event and entry["attempt"] == attempt:
                    return entry
            await asyncio.sleep(0.1)
        raise AssertionError(
            f"no {event} of attempt {attempt} within {timeout} s: {self.lines(workflow_id)}"
        )


@pytest.fixture
def workers(worker_process: Callable[..., WorkerProcess], tmp_path: Path) -> Workers:
    return Workers(worker_process, tmp_path)


def _owner(processes: list[WorkerProcess], pid: int) -> WorkerProcess:
    return next(p for p in processes if p.process is not None and p.process.pid == pid)


async def _scheduled_heartbeat_timeout(handle: OperationHandle[Any]) -> float:
    history = await handle.handle.fetch_history()
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            return attrs.heartbeat_timeout.ToTimedelta().total_seconds()
    raise AssertionError("no activity scheduled")


async def test_a_plain_activity_lost_with_its_worker_is_retried_within_the_heartbeat_timeout(
    workers: Workers, temporal_client: Client
) -> None:
    """SIGKILL mid-activity: the next attempt starts on the other worker after about the
    heartbeat timeout (10 s), not the start-to-close timeout (5 minutes)."""
    queue = f"recovery-{uuid.uuid4().hex[:8]}"
    first, second = await asyncio.gather(
        asyncio.to_thread(workers.start, queue), asyncio.to_thread(workers.start, queue)
    )
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    handle = await ops.submit(
        "recovery.hold", {"name": "killed", "first_seconds": START_TO_CLOSE * 2}
    )
    started = await workers.wait_for(handle.id, "start", 1, timeout=60)
    await asyncio.sleep(3)  # mid-activity, after the worker has heartbeated it
    victim = _owner([first, second], started["pid"])
    killed_at = time.time()
    victim.kill()
    retried = await workers.wait_for(handle.id, "start", 2, timeout=START_TO_CLOSE / 2)
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.ok, result
    assert result.value["attempt"] == 2 and retried["pid"] != started["pid"], result
    waited = retried["time"] - killed_at
    # 10 s heartbeat timeout + 1 s retry interval, on a noisy machine: far below 300 s
    assert waited < START_TO_CLOSE / 5, waited
    assert HEARTBEAT is not None
    assert await _scheduled_heartbeat_timeout(handle) == HEARTBEAT.total_seconds()


async def test_activities_that_never_heartbeat_outlive_the_heartbeat_timeout(
    workers: Workers, temporal_client: Client
) -> None:
    """An async and a sync activity that run for twice the heartbeat timeout without
    heartbeating complete on their first attempt: the worker heartbeats them."""
    assert HEARTBEAT is not None
    queue = f"beats-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(workers.start, queue)
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    seconds = HEARTBEAT.total_seconds() * 2.2
    handles = [
        await ops.submit("recovery.hold", {"name": fn, "activity": fn, "first_seconds": seconds})
        for fn in ("recovery.hold", "recovery.hold_sync")
    ]
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 120)
    for handle, result in zip(handles, results, strict=True):
        assert result.ok, result
        assert result.value["attempt"] == 1, (result, workers.lines(handle.id))


async def test_an_activity_heartbeating_its_own_details_gets_them_back_on_retry(
    workers: Workers, temporal_client: Client
) -> None:
    """The worker's heartbeats re-send the activity's details: they survive a SIGKILL."""
    assert HEARTBEAT is not None
    queue = f"details-{uuid.uuid4().hex[:8]}"
    first, second = await asyncio.gather(
        asyncio.to_thread(workers.start, queue), asyncio.to_thread(workers.start, queue)
    )
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    handle = await ops.submit(
        "recovery.hold",
        {"name": "progress", "activity": "recovery.progress", "first_seconds": START_TO_CLOSE},
    )
    started = await workers.wait_for(handle.id, "start", 1, timeout=60)
    # Wait until a heartbeat sent after the activity's own one reached the server (the SDK
    # forwards one every 80% of the timeout): the worker's, which must carry the same details.
    deadline = time.monotonic() + 60
    while True:
        description = await handle.handle.describe()
        pending = description.raw_description.pending_activities
        if pending and pending[0].HasField("last_heartbeat_time"):
            beat = pending[0].last_heartbeat_time.ToDatetime().timestamp()
            if beat - started["time"] > HEARTBEAT.total_seconds() / 2:
                break
        assert time.monotonic() < deadline, description.raw_description
        await asyncio.sleep(0.5)
    _owner([first, second], started["pid"]).kill()
    result = await asyncio.wait_for(handle.result(), START_TO_CLOSE / 2)
    assert result.ok, result
    assert result.value["attempt"] == 2, result
    assert result.value["received"] == [{"made": "progress", "step": 1}], result


async def test_sigterm_lets_activities_finish_within_the_grace_period_then_hands_back_the_rest(
    workers: Workers, temporal_client: Client
) -> None:
    """SIGTERM with two activities running: the one that ends within the grace period
    completes there; the other is cancelled when the grace period ends and its next attempt
    starts on the other worker at once, without waiting for its (2-minute) heartbeat timeout."""
    queue = f"term-{uuid.uuid4().hex[:8]}"
    grace = 8.0
    victim = await asyncio.to_thread(workers.start, queue, "--grace-period", str(grace))
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    # a heartbeat timeout longer than the test waits: only the hand-back can be fast
    short, long = [
        await ops.submit(
            "recovery.hold", {"name": name, "first_seconds": seconds, "heartbeat_seconds": 120}
        )
        for name, seconds in (("short", grace / 2), ("long", START_TO_CLOSE))
    ]
    for handle in (short, long):
        await workers.wait_for(handle.id, "start", 1, timeout=60)
    other = await asyncio.to_thread(workers.start, queue, "--grace-period", str(grace))
    stopped_at = time.time()
    assert await asyncio.to_thread(victim.stop, 60) == 0, "".join(victim.output[-30:])
    exited_at = time.time()
    short_result = await asyncio.wait_for(short.result(), 60)
    assert short_result.ok and short_result.value["attempt"] == 1, short_result
    cancelled = await workers.wait_for(long.id, "cancelled", 1, timeout=5)
    assert cancelled["time"] - stopped_at >= grace * 0.9, cancelled  # not before the grace
    retried = await workers.wait_for(long.id, "start", 2, timeout=60)
    long_result = await asyncio.wait_for(long.result(), 60)
    assert long_result.ok and long_result.value["attempt"] == 2, long_result
    assert other.process is not None and retried["pid"] == other.process.pid
    assert retried["time"] - exited_at < 60  # far below the 120 s heartbeat timeout


async def test_histories_recorded_before_the_default_heartbeat_timeout_replay() -> None:
    """Changing the default activity options changes ScheduleActivityTask attributes, not
    commands: the committed histories, whose activities were scheduled with the old defaults
    (no heartbeat timeout), replay against today's code."""
    from temporalio.client import WorkflowHistory

    import fake_plugin
    from test_replay import HISTORIES, _replayer

    old = []
    for path in sorted(HISTORIES.glob("*.json")):
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        scheduled = [
            e.activity_task_scheduled_event_attributes
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        if scheduled and not any(
            s.HasField("heartbeat_timeout") and s.heartbeat_timeout.ToTimedelta() for s in scheduled
        ):
            old.append(history)
    assert len(old) >= 5, "expected histories recorded without a heartbeat timeout"
    replayer = _replayer([fake_plugin])
    for history in old:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (history.workflow_id, result.replay_failure)
