"""A CI-sized chaos round on three clouds: operations end once, nothing is duplicated or leaked.

Runs the harness of ``benchmarks/chaos.py`` (``cloudops_testing.chaos``) small: a few dozen
server-group operations and red/black deploys against moto and the GCP and Azure emulators,
each behind a fault proxy (20% transient faults), while one worker is SIGKILLed and the
Temporal server (its own, on free ports, SQLite) is killed and restarted. Each cloud is audited
on its own. Then the recovery time after one SIGKILL in the middle of a cloud call
(``benchmarks/recovery.py`` measures it on every provider). The large runs and their figures
are in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from temporalio.client import Client

from cloudops.localcloud import Audit, audit_network, reported_groups
from cloudops.server import DevServer
from cloudops_testing.chaos import ChaosConfig, measure_recovery, run_chaos
from cloudops_testing.stack import local_clouds_of
from cloudops_testing.throttling import Bucket

COUNTS = {"aws": 24, "gcp": 12, "azure": 12}


async def test_chaos_round_has_no_failure_duplicate_or_leak(tmp_path: Path) -> None:
    lines: list[str] = []
    saved = dict(os.environ)  # the local cloud sets dummy AWS variables in this process
    try:
        report = await run_chaos(
            ChaosConfig(
                clouds=tuple(COUNTS),
                cloud_operations=COUNTS,
                concurrency=8,
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
    assert len(report.outcomes) == sum(COUNTS.values()), summary
    assert report.worker_kills == 1 and report.server_restarts == 1, summary
    assert report.workflow_failures == [], summary
    assert report.audit.duplicates == [], summary
    assert report.audit.leaks == [], summary
    # and what the operations reported is what each cloud holds
    assert report.unexpected_business_failures == [], summary
    assert report.audit.missing == [] and report.audit.mismatches == [], summary
    # each application's load balancer and security group, upserted through the same chaos
    assert report.failed_preparations == [], summary
    for cloud, count in COUNTS.items():
        figures = report.cloud_figures(cloud)
        assert figures["operations"] == count, (cloud, summary)
        assert figures["groups_found"] == figures["groups_expected"] > 0, (cloud, summary)
        # exactly one load balancer and one security group per application
        applications = len({o.scenario for o in report.outcomes if o.cloud == cloud})
        assert figures["preparations"] == 2 * applications, (cloud, summary)
        assert figures["network_found"] == figures["network_expected"], (cloud, summary)
        assert figures["network_expected"] == 2 * applications, (cloud, summary)
        assert figures["faults_injected"] > 0, (cloud, summary)
    # autoscaled clusters: their policies (and the copies deploys made) were counted
    assert report.audit.scaling.get("policy", 0) > 0, summary


async def test_chaos_round_under_the_throttling_model_with_budgets(tmp_path: Path) -> None:
    """The AWS buckets made small enough to run dry: throttled calls are retried, budgets
    pace the rest, and a SIGKILLed worker still leaves no failure, duplicate or leak."""
    saved = dict(os.environ)
    try:
        report = await run_chaos(
            ChaosConfig(
                clouds=("aws",),
                operations=10,
                concurrency=5,
                fault_rate=0.05,
                seed=12,
                worker_kills=1,
                kill_interval=4.0,
                server_restarts=0,
                task_queue="chaos-throttled",
                workdir=tmp_path,
                throttling={"aws": {"autoscaling": Bucket(4, 2), "ec2-mutations": Bucket(3, 1)}},
                budgets=True,
            )
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    summary = report.summary()
    assert report.passed and report.unexpected_business_failures == [], summary
    assert report.audit.missing == [] and report.audit.mismatches == [], summary
    figures = report.cloud_figures("aws")
    assert figures["throttle_calls"] > 0 and "throttle_throttled" in figures, summary


async def test_a_worker_killed_mid_call_is_retried_within_seconds(
    temporal_server: DevServer, temporal_client: Client, tmp_path: Path
) -> None:
    """SIGKILL during a slow cloud call: the next attempt starts after the heartbeat timeout
    (10 s), on a replacement worker, long before the start-to-close timeout (2 min)."""
    saved = dict(os.environ)
    cloud = await asyncio.to_thread(local_clouds_of(["aws"]).start)
    try:
        figures = await measure_recovery(
            cloud["aws"],
            client=temporal_client,
            server_address=temporal_server.address,
            workdir=tmp_path,
        )
    finally:
        await asyncio.to_thread(cloud.stop)
        os.environ.clear()
        os.environ.update(saved)
    assert figures.ok, figures
    assert figures.start_to_close_timeout == 120 and figures.heartbeat_timeout == 10, figures
    assert "heartbeat" in figures.failure.lower(), figures
    assert figures.retry_started is not None and figures.retry_started < 40, figures
    assert figures.completed is not None and figures.completed < 60, figures


def test_audits_count_unreported_groups_as_leaks_and_absent_ones_as_missing() -> None:
    """The check the three clouds' audits share, on a state that is wrong both ways."""
    audit = Audit()
    found = {"a-v000": {"id": 0}, "a-v009": {"id": 9}}  # v009: made, never reported
    state = {"a-v000": {"desired": 1}, "a-v001": {"desired": 2}}  # v001: reported, not there
    present = list(reported_groups(audit, "scale set", found, state))
    assert present == [("a-v000", {"desired": 1}, {"id": 0})]
    assert audit.leaks == ["scale set a-v009 that no operation reported"]
    assert audit.missing == ["scale set a-v001 reported but absent"]
    assert (audit.groups_expected, audit.groups_found) == (2, 2)


def test_network_audit_counts_extra_load_balancers_as_leaks_and_absent_ones_as_missing() -> None:
    """The load-balancer and security-group check of the three clouds' audits, wrong both ways."""
    audit = Audit()
    found = {
        "load_balancer": ["a-edge", "a-edge-old", "b-web", "ab-edge"],
        "security_group": ["a-edge", "a-edge"],
    }
    expected = {
        "a": {"load_balancer": ["a-edge"], "security_group": ["a-edge"]},
        "b": {"load_balancer": ["b-edge"], "security_group": []},
    }
    audit_network(audit, found, expected, prefix="-edge")
    assert audit.leaks == ["load balancer a-edge-old that no upsert reported"]
    assert audit.duplicates == ["2 of security group a-edge"]
    assert audit.missing == ["load balancer b-edge reported but absent"]
    assert (audit.network_expected, audit.network_found) == (3, 4)
