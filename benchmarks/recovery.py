"""Recovery after a SIGKILL: how soon a killed worker's activity is retried, per provider.

    uv run python benchmarks/recovery.py --clouds aws,gcp,azure --rounds 3

For each round and cloud: a worker runs ``{cloud}.createServerGroup`` until the call that
creates the group hangs at a fault proxy (a slow answer), is SIGKILLed a second into that call,
and a replacement worker is started at once. It prints, from the SIGKILL: when the replacement
polls, when Temporal failed the lost attempt (heartbeat timeout), when the next attempt started
(the server's timestamp), when its request reached the cloud and when the operation completed,
next to the activity's heartbeat and start-to-close timeouts. See docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from cloudops_testing.chaos import Recovery, measure_recovery


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(
        prog="benchmarks/recovery.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--clouds", default="aws,gcp,azure", help="comma-separated clouds")
    parser.add_argument("--rounds", type=int, default=3, help="SIGKILLs per cloud")
    parser.add_argument(
        "--kill-after", type=float, default=1.0, help="seconds into the hanging call"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs here")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args(argv)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


async def run(args: argparse.Namespace) -> list[Recovery]:
    """Start a Temporal dev server and the local clouds, measure every round."""
    from cloudops.client import connect_client
    from cloudops.server import DevServer
    from cloudops_testing.stack import local_clouds_of

    clouds = [c.strip() for c in args.clouds.split(",") if c.strip()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="recovery-"))
    workdir.mkdir(parents=True, exist_ok=True)
    server = DevServer(log_file=workdir / "temporal.log")
    await asyncio.to_thread(server.start)
    cloud = local_clouds_of(clouds)
    await asyncio.to_thread(cloud.start)
    results: list[Recovery] = []
    try:
        client = await connect_client(server.address, connect_timeout=60)
        for round_ in range(args.rounds):
            for name in clouds:
                figures = await measure_recovery(
                    cloud[name],
                    client=client,
                    server_address=server.address,
                    workdir=workdir,
                    kill_after=args.kill_after,
                    log=lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m}", flush=True),
                )
                results.append(figures)
                print(
                    f"  round {round_ + 1} {name}: {figures.activity} "
                    f"(heartbeat {figures.heartbeat_timeout:g} s, start-to-close "
                    f"{figures.start_to_close_timeout:g} s): replacement ready "
                    f"{_fmt(figures.replacement_ready)} s, attempt failed "
                    f"{_fmt(figures.attempt_failed)} s ({figures.failure[:60]}), "
                    f"retry started {_fmt(figures.retry_started)} s, reached the cloud "
                    f"{_fmt(figures.retry_reached_cloud)} s, completed "
                    f"{_fmt(figures.completed)} s, ok={figures.ok}",
                    flush=True,
                )
    finally:
        await asyncio.to_thread(cloud.stop)
        await asyncio.to_thread(server.stop)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run, print a table per cloud, return 1 if an operation did not end ok."""
    args = parse(argv)
    print(f"recovery run: {' '.join(sys.argv[1:])} (cpus: {os.cpu_count()})", flush=True)
    results = asyncio.run(run(args))
    print(
        f"{'cloud':6} {'activity':40} {'heartbeat':>9} {'s-t-c':>6}  "
        f"{'retry started (s)':26} completed (s)"
    )
    for name in dict.fromkeys(r.cloud for r in results):
        mine = [r for r in results if r.cloud == name]
        retries = [r.retry_started for r in mine if r.retry_started is not None]
        done = [r.completed for r in mine if r.completed is not None]

        def spread(values: list[float]) -> str:
            if not values:
                return "-"
            return f"median {statistics.median(values):.1f}, {min(values):.1f}-{max(values):.1f}"

        print(
            f"{name:6} {mine[0].activity:40} {mine[0].heartbeat_timeout:7g} s "
            f"{mine[0].start_to_close_timeout:4g} s  {spread(retries):26} {spread(done)}"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    from cloudops.shutdown import hard_exit

    hard_exit(main())  # temporalio may abort at interpreter exit (sdk-python#300)
