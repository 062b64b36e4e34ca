"""Issue 20: N concurrent createServerGroup-with-wait in one AWS account, today vs budgets.

On demand only (not collected by pytest). One Temporal dev server, moto behind the fault proxy
with the AWS token buckets of :mod:`cloudops_testing.throttling` (``AWS_LIMITS``) and groups
that stay Pending for ``--slow-start`` seconds, two ``cloudops worker`` processes. Two modes in
the same run, one after the other, buckets refilled in between:

- ``today``: no budget, every wait reads on its own (``CLOUDOPS_READ_BATCH_WINDOW=0``);
- ``budgets``: ``[accounts.moto.budget]`` and shared reads (the default 0.25 s window).

    uv run python benchmarks/budgets.py --n 1000          # the issue's size (heavy)
    uv run python benchmarks/budgets.py --n 200           # what a shared 2-core VM manages
    uv run python benchmarks/budgets.py --startup 5       # worker start-up and RSS vs accounts
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import boto3

from cloudops.client import CloudOpsClient, connect_client
from cloudops.server import DevServer
from cloudops_testing.faults import FaultProxy, aws_reject_duplicate_asg
from cloudops_testing.fixtures_aws import aws_account_config
from cloudops_testing.moto_server import MotoServer, discover_moto_network
from cloudops_testing.processes import WorkerProcess
from cloudops_testing.stack import write_config
from cloudops_testing.throttling import AWS_LIMITS, AwsSlowStart, CloudThrottle, install

READS = {"DescribeAutoScalingGroups", "DescribeTargetHealth", "DescribeInstanceHealth"}
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


async def run_mode(
    mode: str, args: argparse.Namespace, server: DevServer, moto: MotoServer, folder: Path
) -> dict[str, Any]:
    """Run N creates in one mode (``today`` or ``budgets``) and return its row."""
    throttle = CloudThrottle("aws", AWS_LIMITS, accounts={"testing": "moto"})
    proxy = FaultProxy(moto.url, fidelity=[AwsSlowStart(args.slow_start), aws_reject_duplicate_asg])
    proxy.start()
    install(proxy, throttle)
    config = aws_account_config(proxy.url)
    env = dict(ENV)
    if mode == "budgets":
        config["accounts"]["moto"]["budget"] = {"reads": args.reads, "mutations": args.mutations}
    else:
        env["CLOUDOPS_READ_BATCH_WINDOW"] = "0"
    path = write_config(folder / f"{mode}.toml", config)
    queue = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
    workers = [
        WorkerProcess(
            server.address,
            queue,
            config=path,
            plugins=["aws"],
            env=env,
            log_file=folder / f"{mode}-{i}.log",
        ).start()
        for i in range(2)
    ]
    await asyncio.sleep(6)  # the workers count each other (budget pacing)
    network = discover_moto_network(
        boto3.client("ec2", endpoint_url=moto.url, region_name="us-east-1")
    )
    client = CloudOpsClient(await connect_client(server.address), task_queue=queue)
    app = f"b{mode[0]}{uuid.uuid4().hex[:5]}"
    started = time.monotonic()
    handles = []
    for i in range(args.n):
        handles.append(
            await client.submit(
                "aws.createServerGroup",
                {
                    "application": f"{app}{i}",
                    "image": network.image_id,
                    "instance_type": "t3.micro",
                    "capacity": {"min": 1, "max": 1, "desired": 1},
                    "zones": ["us-east-1a"],
                    "poll_interval_seconds": args.poll,
                    "wait_timeout_seconds": 3600,
                },
                account="moto",
                region="us-east-1",
            )
        )
    results = await client.wait_all(handles)
    elapsed = time.monotonic() - started
    for worker in workers:
        worker.stop()
    proxy.stop()
    actions = Counter(entry.target for entry in proxy.log)
    reads = sum(n for action, n in actions.items() if action in READS)
    calls = throttle.calls("moto")
    throttled = throttle.throttles("moto")
    by_bucket: Counter[str] = Counter()
    for key, count in throttle.throttled.items():
        if key.account == "moto":
            by_bucket[key.family] += count
    return {
        "mode": mode,
        "n": args.n,
        "ok": sum(1 for r in results if r.ok),
        "seconds": round(elapsed, 1),
        "calls": calls,
        "calls_per_op": round(calls / args.n, 2),
        "reads_per_op": round(reads / args.n, 2),
        "throttled": throttled,
        "throttled_pct": round(100 * throttled / max(1, calls + throttled), 2),
        "throttled_by_bucket": dict(by_bucket),
        "peak_calls_1s": throttle.peak_rate("moto"),
        "mean_calls_s": round(throttle.mean_rate("moto"), 1),
    }


def accounts_config(endpoint: str, accounts: int, regions: list[str]) -> dict[str, Any]:
    """``accounts`` AWS accounts with a default budget, each in ``regions``."""
    table = aws_account_config(endpoint)["accounts"]["moto"]
    return {
        "accounts": {
            f"acct{i:03d}": {**table, "regions": regions, "budget": {}} for i in range(accounts)
        }
    }


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_startup(
    server: DevServer, endpoint: str, folder: Path, rounds: int
) -> list[dict[str, Any]]:
    """Start-up time and RSS of a ``cloudops worker``: 1 account vs 100 accounts x 2 regions.

    Alternating, ``rounds`` times each; start-up is from the process's launch to its "worker
    ready" line (both of its workers polling); RSS 3 s after that.
    """
    sizes = {"1 account x 1 region": (1, ["us-east-1"])}
    sizes["100 accounts x 2 regions"] = (100, ["us-east-1", "us-west-2"])
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label in sizes}
    for r in range(rounds):
        for label, (accounts, regions) in sizes.items():
            path = write_config(
                folder / f"startup-{accounts}.toml", accounts_config(endpoint, accounts, regions)
            )
            started = time.monotonic()
            worker = WorkerProcess(
                server.address, f"startup-{r}-{accounts}", config=path, plugins=["aws"], env=ENV
            ).start(timeout=120)
            ready = time.monotonic() - started
            time.sleep(3)
            assert worker.process is not None
            samples[label].append((ready, rss_mb(worker.process.pid)))
            worker.stop()
    rows = []
    for label, values in samples.items():
        rows.append(
            {
                "configured": label,
                "rounds": rounds,
                "startup_s_median": round(statistics.median(v[0] for v in values), 2),
                "rss_mb_median": round(statistics.median(v[1] for v in values), 1),
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """Rows as a Markdown table."""
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


async def main() -> None:
    """Both modes in one run, one after the other; print each row, then the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--slow-start", type=float, default=30.0)
    parser.add_argument("--poll", type=float, default=10.0)
    parser.add_argument("--reads", type=float, default=6.0)
    parser.add_argument("--mutations", type=float, default=4.0)
    parser.add_argument(
        "--modes",
        default="today,budgets",
        help="which modes to run, in order (default: today,budgets)",
    )
    parser.add_argument(
        "--startup",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="instead: worker start-up and RSS, 1 account vs 100 accounts x 2 regions",
    )
    args = parser.parse_args()
    os.environ.update(ENV)
    folder = Path(tempfile.mkdtemp(prefix="cloudops-budgets-"))
    server = DevServer(db_file=folder / "temporal.sqlite", log_file=folder / "server.log")
    server.start()
    rows = []
    try:
        with MotoServer() as moto:
            if args.startup:
                rows = measure_startup(server, moto.url, folder, args.startup)
            for mode in args.modes.split(",") if not args.startup else ():
                rows.append(await run_mode(mode, args, server, moto, folder))
                print(json.dumps(rows[-1]), flush=True)
    finally:
        server.stop()
    print_table(rows)
    os._exit(0)  # sdk-python#300: never let the exit abort turn a finished run red


if __name__ == "__main__":
    asyncio.run(main())
