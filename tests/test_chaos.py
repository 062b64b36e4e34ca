"""A CI-sized chaos round: operations end once, nothing is duplicated or leaked.

Runs the harness of ``benchmarks/chaos.py`` (``cloudops_testing.chaos``) small: a few dozen
server-group operations and red/black deploys against moto behind the fault proxy (20% transient
faults), while one worker is SIGKILLed and the Temporal server (its own, on free ports, SQLite)
is killed and restarted. The large runs and their figures are in docs/reliability.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from cloudops_testing.chaos import ChaosConfig, run_chaos


async def test_chaos_round_has_no_failure_duplicate_or_leak(tmp_path: Path) -> None:
    lines: list[str] = []
    saved = dict(os.environ)  # the local cloud sets dummy AWS variables in this process
    try:
        report = await run_chaos(
            ChaosConfig(
                operations=30,
                concurrency=6,
                fault_rate=0.2,
                seed=11,
                workers=2,
                worker_kills=1,
                kill_interval=4.0,
                server_restarts=1,
                task_queue="chaos-ci",
                workdir=tmp_path,
                log=lines.append,
            )
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    summary = report.summary() + "\n" + "\n".join(lines[-30:])
    assert len(report.outcomes) == 30, summary
    assert report.worker_kills == 1 and report.server_restarts == 1, summary
    assert report.workflow_failures == [], summary
    assert report.audit.duplicates == [], summary
    assert report.audit.leaks == [], summary
    # and what the operations reported is what the cloud holds
    assert report.unexpected_business_failures == [], summary
    assert report.audit.missing == [] and report.audit.mismatches == [], summary
    assert report.audit.groups_found == report.audit.groups_expected > 0, summary
    assert sum(v for k, v in report.faults.items() if k != "forwarded") > 0, summary
