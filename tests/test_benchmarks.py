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
    log = tmp_path / "late.txt"
    monkeypatch.setenv("CLOUDOPS_BENCH_LATENESS", str(log))
    async with cloudops_worker([bench_plugin], load_entrypoints=False) as ops:
        result = await ops.execute("bench.wait", {"polls": 2, "interval_seconds": 1.0})
    assert result.ok, result.error
    assert result.value["attempts"] == 3  # the first check, then the group ready at poll 2
    rows = [line.split() for line in log.read_text().splitlines()]
    assert [int(attempt) for _, attempt, _, _ in rows] == [1, 2, 3]
    times = [float(at) for *_, at in rows]
    # Each retry is due one interval after the previous attempt (the server's retry timer).
    assert all(0.9 <= later - earlier < 3.0 for earlier, later in itertools.pairwise(times))
    late = retry_lateness(log, interval=1.0)
    assert len(late) == 2
    assert all(-0.1 <= x < 2.0 for x in late)


def test_retry_lateness_takes_the_larger_of_the_two_measures(tmp_path: Path) -> None:
    log = tmp_path / "late.txt"
    log.write_text(
        "wf-a 1 0.010 100.0\n"
        "wf-a 2 0.020 131.0\n"  # spacing says 1 s late (30 s interval), the server 0.02 s
        "wf-b 2 4.000 50.0\n"  # no first attempt logged: not counted
        "wf-a 3 2.500 161.5\n"  # the server's measure is the larger one
    )
    assert retry_lateness(log, interval=30.0) == pytest.approx([1.0, 2.5])
