"""The scale benchmark measures what it says: retry-as-poll lateness, on a real Temporal server.

``benchmarks/`` runs on demand, not in this suite; these tests only check that its
measurement of a poll's lateness (``bench.wait``, ``retry_lateness``) is right, since the
docs' in-flight figures rest on it.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_plugin  # noqa: E402
from run import retry_lateness  # noqa: E402


async def test_bench_wait_polls_at_its_interval_and_logs_each_retry(
    cloudops_worker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only bounds a loaded machine cannot break: it delays attempts, never hastens them.

    The interval itself is checked where it is decided, in the retry policy the workflow gave
    the server; the clocks only show that no attempt came early and that the server's lateness
    measure is consistent with the attempts' spacing (both grow together under load).
    """
    log = tmp_path / "late.txt"
    monkeypatch.setenv("CLOUDOPS_BENCH_LATENESS", str(log))
    interval = 1.0
    async with cloudops_worker([bench_plugin], load_entrypoints=False) as ops:
        handle = await ops.submit("bench.wait", {"polls": 2, "interval_seconds": interval})
        result = await handle.result()
        history = await handle.handle.fetch_history()
    assert result.ok, result.error
    assert result.value["attempts"] == 3  # the first check, then the group ready at poll 2

    # One activity, retried by the server every interval: no backoff, no other schedule.
    [scheduled] = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled.activity_type.name == "bench.group_ready"
    policy = scheduled.retry_policy
    assert policy.initial_interval.ToTimedelta().total_seconds() == interval
    assert policy.maximum_interval.ToTimedelta().total_seconds() == interval
    assert policy.backoff_coefficient == 1.0

    rows = [line.split() for line in log.read_text().splitlines()]
    assert [int(attempt) for _, attempt, _, _ in rows] == [1, 2, 3]
    assert {workflow_id for workflow_id, *_ in rows} == {handle.id}
    server_late = [float(late) for _, _, late, _ in rows]
    times = [float(at) for *_, at in rows]
    spacing_late = [later - earlier - interval for earlier, later in itertools.pairwise(times)]
    # No retry comes before its interval is over, by either measure (3-decimal rounding aside).
    assert all(x >= -0.05 for x in spacing_late), spacing_late
    assert all(x >= -0.05 for x in server_late), server_late
    # A retry is due one interval after the previous attempt *failed*, which is after it logged:
    # the server's measure is never larger than the spacing's.
    assert all(s <= p + 0.05 for s, p in zip(server_late[1:], spacing_late, strict=True)), (
        server_late,
        spacing_late,
    )
    late = retry_lateness(log, interval=interval)
    assert late == pytest.approx(
        [max(s, p) for s, p in zip(server_late[1:], spacing_late, strict=True)], abs=1e-6
    )


def test_retry_lateness_takes_the_larger_of_the_two_measures(tmp_path: Path) -> None:
    log = tmp_path / "late.txt"
    log.write_text(
        "wf-a 1 0.010 100.0\n"
        "wf-a 2 0.020 131.0\n"  # spacing says 1 s late (30 s interval), the server 0.02 s
        "wf-b 2 4.000 50.0\n"  # no first attempt logged: not counted
        "wf-a 3 2.500 161.5\n"  # the server's measure is the larger one
    )
    assert retry_lateness(log, interval=30.0) == pytest.approx([1.0, 2.5])
