"""Chaos run: many cloud operations while workers are SIGKILLed and Temporal restarts.

    uv run python benchmarks/chaos.py --operations 200 --concurrency 12 --seed 1
    uv run python benchmarks/chaos.py --clouds aws,gcp,azure --operations 100
    uv run python benchmarks/chaos.py --clouds gcp:300,azure:300

Starts its own Temporal dev server (SQLite), moto (and with --clouds the GCP and Azure
emulators) behind fault-injecting proxies and worker processes; runs a seeded mix of
createServerGroup / resizeServerGroup / disableServerGroup / enableServerGroup /
destroyServerGroup and deploy.redBlack on each cloud; kills workers and the server while they
run; audits each cloud at the end. Exit status 1 on any workflow failure, duplicate or leak.
See docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from cloudops_testing.chaos import ChaosConfig, run_chaos


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(
        prog="benchmarks/chaos.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--operations", "-n", type=int, default=100, help="operations to run on each cloud"
    )
    parser.add_argument(
        "--clouds",
        default="aws",
        help="comma-separated clouds to run on: aws (moto), gcp and azure (the emulators); "
        "CLOUD:N runs N operations on that cloud instead of --operations",
    )
    parser.add_argument(
        "--concurrency", "-c", type=int, default=8, help="scenarios (clusters) in flight at once"
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.2,
        help="share of cloud API calls answered with a transient fault (throttling with "
        "Retry-After, 503, 500, connection reset, slow answer)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seeds the plan, faults and kills")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--worker-kills",
        type=int,
        default=None,
        help="SIGKILLs of a random worker (replaced at once); default: one every "
        "--kill-interval seconds until the end",
    )
    parser.add_argument("--kill-interval", type=float, default=5.0, help="seconds between kills")
    parser.add_argument(
        "--server-restarts",
        type=int,
        default=2,
        help="kills + restarts of the Temporal server, spread over the run",
    )
    parser.add_argument(
        "--server-down", type=float, default=2.0, help="seconds the server stays down"
    )
    parser.add_argument(
        "--throttling",
        action="store_true",
        help="also throttle as each cloud does (cloudops_testing.throttling: token buckets "
        "per account and family at the cloud's published limits)",
    )
    parser.add_argument(
        "--budgets",
        action="store_true",
        help="give every account the provider's default budget ([accounts.NAME.budget])",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs and SQLite here")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="also fail on unexpected business failures, missing groups or state mismatches",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run, print the figures, return the exit status."""
    args = parse(argv)
    started = time.strftime("%Y-%m-%d %H:%M:%S")

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    clouds: list[str] = []
    counts: dict[str, int] = {}
    for item in filter(None, (c.strip() for c in args.clouds.split(","))):
        cloud, _, count = item.partition(":")
        clouds.append(cloud)
        if count:
            counts[cloud] = int(count)
    config = ChaosConfig(
        operations=args.operations,
        clouds=tuple(clouds),
        cloud_operations=counts,
        concurrency=args.concurrency,
        fault_rate=args.fault_rate,
        seed=args.seed,
        workers=args.workers,
        worker_kills=args.worker_kills,
        kill_interval=args.kill_interval,
        server_restarts=args.server_restarts,
        server_down_seconds=args.server_down,
        workdir=args.workdir,
        throttling={} if args.throttling else None,
        budgets=args.budgets,
        log=log,
    )
    log(f"chaos run started {started}: {' '.join(sys.argv[1:])} (cpus: {os.cpu_count()})")
    report = asyncio.run(run_chaos(config))
    print(report.summary(), flush=True)
    if args.json:
        audit = report.audit
        args.json.write_text(
            json.dumps(
                {
                    "started": started,
                    "config": report.config,
                    "operations": len(report.outcomes),
                    "succeeded": report.succeeded,
                    "business_failures": len(report.business_failures),
                    "unexpected_business_failures": len(report.unexpected_business_failures),
                    "workflow_failures": len(report.workflow_failures),
                    "duplicates": audit.duplicates,
                    "leaks": audit.leaks,
                    "missing": audit.missing,
                    "mismatches": audit.mismatches,
                    "faults": report.faults,
                    "activity_retries": report.activity_retries,
                    "worker_kills": report.worker_kills,
                    "worker_exits": report.worker_exits,
                    "server_restarts": report.server_restarts,
                    "wall_seconds": report.wall_seconds,
                    "clouds": {cloud: report.cloud_figures(cloud) for cloud in report.audits},
                    "audits": {cloud: vars(audit) for cloud, audit in report.audits.items()},
                },
                indent=2,
            )
        )
    ok = report.passed and (
        not args.strict
        or not (
            report.unexpected_business_failures or report.audit.missing or report.audit.mismatches
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    from cloudops.shutdown import hard_exit

    hard_exit(main())  # temporalio may abort at interpreter exit (sdk-python#300)
