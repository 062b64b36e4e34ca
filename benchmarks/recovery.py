"""Recovery after a lost or stopped worker: how soon its activities run again.

    uv run python benchmarks/recovery.py                          # plugin, rolling (~12 min)
    uv run python benchmarks/recovery.py --scenarios plugin --rounds 20
    uv run python benchmarks/recovery.py --scenarios rolling --operations 200
    uv run python benchmarks/recovery.py --scenarios cost --activities 200
    uv run python benchmarks/recovery.py --scenarios clouds --clouds aws,gcp,azure --rounds 3

Scenarios (each on its own Temporal dev server and ``cloudops worker`` processes):

- ``plugin``: a third party's plain activity that never heartbeats (``recbench.steps``, default
  activity options) runs on one of two workers; a random 1-12 s into it that worker is
  SIGKILLed and a replacement started. Measures the time from the SIGKILL to the next attempt's
  start, ``--rounds`` times (p50, p99).
- ``rolling``: ``--operations`` operations of ``--steps`` such activities, submitted over
  ``--window`` seconds, run on 3 workers; once without a restart, once while the workers are
  restarted one after the other (SIGTERM one and start its replacement, wait, next). Compares
  the latencies, and checks every operation succeeded and every step ended exactly once.
- ``cost``: ``--activities`` activities sleeping ``--hold`` seconds at once on one worker, with
  the default heartbeat timeout, twice it, and none: CPU of the dev server and of the worker.
- ``clouds``: for each cloud, a worker runs ``{cloud}.createServerGroup`` until the call that
  creates the group hangs at a fault proxy, is SIGKILLed a second into that call, and a
  replacement is started. It prints, from the SIGKILL: when the replacement polls, when
  Temporal failed the lost attempt (heartbeat timeout), when the next attempt started, when its
  request reached the cloud and when the operation completed.

See docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cloudops_testing.chaos import Recovery, measure_recovery


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(
        prog="benchmarks/recovery.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--scenarios", default="plugin,rolling", help="plugin, rolling, cost and/or clouds"
    )
    parser.add_argument("--clouds", default="aws,gcp,azure", help="clouds: comma-separated")
    parser.add_argument(
        "--rounds", type=int, default=20, help="plugin: SIGKILLs (clouds: per cloud)"
    )
    parser.add_argument(
        "--kill-after", type=float, default=1.0, help="clouds: seconds into the hanging call"
    )
    parser.add_argument("--operations", type=int, default=200, help="rolling: operations")
    parser.add_argument("--steps", type=int, default=3, help="rolling: activities per operation")
    parser.add_argument("--step-seconds", type=float, default=3.0, help="rolling: per activity")
    parser.add_argument("--window", type=float, default=60.0, help="rolling: submission window")
    parser.add_argument("--grace-period", type=float, default=20.0, help="rolling: workers' grace")
    parser.add_argument("--activities", type=int, default=200, help="cost: concurrent activities")
    parser.add_argument("--hold", type=float, default=60.0, help="cost: seconds they run")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs here")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args(argv)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


async def run_clouds(args: argparse.Namespace, workdir: Path) -> list[Recovery]:
    """Start a Temporal dev server and the local clouds, measure every round."""
    from cloudops.client import connect_client
    from cloudops.server import DevServer
    from cloudops_testing.stack import local_clouds_of

    clouds = [c.strip() for c in args.clouds.split(",") if c.strip()]
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


def report_clouds(results: list[Recovery]) -> None:
    """Print a table per cloud."""
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


# --- a third party's plain activities on `cloudops worker` processes -------------------------
HERE = Path(__file__).resolve().parent


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def log(message: str) -> None:
    """A timestamped progress line."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Stack:
    """A dev server and ``cloudops worker`` processes with ``recovery_plugin`` installed."""

    def __init__(self, workdir: Path) -> None:
        from cloudops.server import DevServer

        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.server = DevServer(log_file=workdir / "temporal.log")
        self.journal = workdir / "journal.jsonl"
        self.journal.write_text("")
        site = workdir / "site"
        dist = site / "cloudops_recbench-0.1.dist-info"
        dist.mkdir(parents=True, exist_ok=True)
        (dist / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: cloudops-recbench\nVersion: 0.1\n"
        )
        (dist / "entry_points.txt").write_text("[cloudops]\nrecbench = recovery_plugin\n")
        (workdir / "cloudops.toml").write_text("")
        self.env = {
            "PYTHONPATH": os.pathsep.join([str(site), str(HERE)]),
            "RECOVERY_JOURNAL": str(self.journal),
        }
        self.started = 0

    def start_worker(self, queue: str, *args: str) -> Any:
        """Start a ``cloudops worker`` on ``queue`` and wait until it polls."""
        from cloudops_testing.processes import WorkerProcess

        self.started += 1
        worker = WorkerProcess(
            self.server.address,
            queue,
            config=self.workdir / "cloudops.toml",
            plugins=["recbench"],
            env=self.env,
            log_file=self.workdir / f"worker-{self.started}.log",
            args=["--no-search-attributes", *args],
        )
        return worker.start(timeout=120)

    def lines(self) -> list[dict[str, Any]]:
        """Every journal line so far."""
        return [json.loads(line) for line in self.journal.read_text().splitlines() if line]

    async def wait_line(self, workflow_id: str, event: str, attempt: int, timeout: float) -> Any:
        """The journal line of ``event`` of ``attempt`` of ``workflow_id``, once written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.lines():
                if (entry["workflow_id"], entry["event"], entry["attempt"]) == (
                    workflow_id,
                    event,
                    attempt,
                ):
                    return entry
            await asyncio.sleep(0.05)
        raise RuntimeError(f"no {event} of attempt {attempt} of {workflow_id} in {timeout} s")


async def run_plugin(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """SIGKILL the worker of a plain activity ``--rounds`` times; time the next attempt."""
    from cloudops.client import CloudOpsClient, connect_client

    rng = random.Random(args.seed)
    stack = Stack(workdir / "plugin")
    await asyncio.to_thread(stack.server.start)
    queue = "recovery-plugin"
    workers = list(
        await asyncio.gather(*(asyncio.to_thread(stack.start_worker, queue) for _ in range(2)))
    )
    rounds: list[dict[str, Any]] = []
    try:
        client = await connect_client(stack.server.address, connect_timeout=60)
        ops = CloudOpsClient(client, task_queue=queue)
        for n in range(args.rounds):
            handle = await ops.submit("recbench.steps", {"first_seconds": 900})
            first = await stack.wait_line(handle.id, "start", 1, 60)
            after = rng.uniform(1.0, 12.0)
            await asyncio.sleep(after)
            victim = next(w for w in workers if w.process.pid == first["pid"])
            killed = time.time()
            victim.kill()
            workers.remove(victim)
            replacement = asyncio.ensure_future(asyncio.to_thread(stack.start_worker, queue))
            second = await stack.wait_line(handle.id, "start", 2, 900)
            result = await handle.result()
            history = await handle.handle.fetch_history()
            failure = ""
            for event in history.events:
                if event.HasField("activity_task_started_event_attributes"):
                    failure = event.activity_task_started_event_attributes.last_failure.message
            workers.append(await replacement)
            figures = {
                "killed_after": round(after, 2),
                "retry_started": round(second["time"] - killed, 2),
                "same_worker": second["pid"] == first["pid"],
                "ok": result.ok,
                "failure": failure,
            }
            rounds.append(figures)
            log(
                f"round {n + 1}: killed {after:.1f} s into the attempt, next attempt "
                f"{figures['retry_started']:.1f} s later ({failure}), ok={result.ok}"
            )
    finally:
        for worker in workers:
            worker.kill()
        await asyncio.to_thread(stack.server.stop)
    waits = [r["retry_started"] for r in rounds]
    return {
        "rounds": rounds,
        "p50": pct(waits, 0.5),
        "p99": pct(waits, 0.99),
        "min": min(waits),
        "max": max(waits),
        "ok": all(r["ok"] for r in rounds),
    }


async def _rolling_run(
    args: argparse.Namespace, stack: Stack, client: Any, restart: bool
) -> dict[str, Any]:
    from cloudops.client import CloudOpsClient

    queue = f"rolling-{uuid.uuid4().hex[:6]}"
    grace = ["--grace-period", str(args.grace_period)]
    workers = list(
        await asyncio.gather(
            *(asyncio.to_thread(stack.start_worker, queue, *grace) for _ in range(3))
        )
    )
    ops = CloudOpsClient(client, task_queue=queue)
    body = {"steps": args.steps, "seconds": args.step_seconds}
    gap = args.window / args.operations
    t0 = time.monotonic()
    latencies: dict[str, float] = {}
    outcomes: dict[str, bool] = {}

    async def one(index: int) -> None:
        await asyncio.sleep(index * gap)
        started = time.monotonic()
        handle = await ops.submit("recbench.steps", body, request_id=f"{queue}-{index}")
        result = await handle.result()
        latencies[handle.id] = time.monotonic() - started
        outcomes[handle.id] = result.ok

    restarts: list[dict[str, float]] = []

    async def roll() -> None:
        await asyncio.sleep(min(10.0, args.window / 6))
        for i in range(len(workers)):
            old = workers[i]
            began = time.monotonic()
            stopping = asyncio.to_thread(old.stop, args.grace_period + 60)
            starting = asyncio.to_thread(stack.start_worker, queue, *grace)
            code, workers[i] = await asyncio.gather(stopping, starting)
            restarts.append(
                {
                    "at": round(began - t0, 1),
                    "took": round(time.monotonic() - began, 1),
                    "exit": float(code if code is not None else -1),
                }
            )
            log(f"  worker {i + 1} restarted ({restarts[-1]})")

    tasks = [one(i) for i in range(args.operations)]
    if restart:
        tasks.append(roll())
    await asyncio.gather(*tasks)
    for worker in workers:
        await asyncio.to_thread(worker.stop, 30)
    ends: dict[tuple[str, int], int] = {}
    retried = 0
    for entry in stack.lines():
        if not entry["workflow_id"].startswith(queue):
            continue
        if entry["event"] == "end":
            key = (entry["workflow_id"], entry["step"])
            ends[key] = ends.get(key, 0) + 1
        if entry["event"] == "start" and entry["attempt"] > 1:
            retried += 1
    values = list(latencies.values())
    return {
        "restart": restart,
        "operations": len(values),
        "failed": sum(1 for ok in outcomes.values() if not ok),
        "steps_ended_twice": sum(1 for n in ends.values() if n > 1),
        "steps_never_ended": args.operations * args.steps - len(ends),
        "retried_attempts": retried,
        "p50": round(pct(values, 0.5), 2),
        "p99": round(pct(values, 0.99), 2),
        "max": round(max(values), 2),
        "restarts": restarts,
        "wall": round(time.monotonic() - t0, 1),
    }


async def run_rolling(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The same operations without, then with, a rolling restart of the 3 workers."""
    from cloudops.client import connect_client

    stack = Stack(workdir / "rolling")
    await asyncio.to_thread(stack.server.start)
    try:
        client = await connect_client(stack.server.address, connect_timeout=60)
        runs = []
        for restart in (False, True):
            log(f"rolling: {args.operations} operations, restart={restart}")
            runs.append(await _rolling_run(args, stack, client, restart))
            log(f"  {runs[-1]}")
    finally:
        await asyncio.to_thread(stack.server.stop)
    base, rolled = runs
    return {
        "baseline": base,
        "rolling": rolled,
        "extra_p50": round(rolled["p50"] - base["p50"], 2),
        "extra_p99": round(rolled["p99"] - base["p99"], 2),
        "ok": all(
            r["failed"] == r["steps_ended_twice"] == r["steps_never_ended"] == 0 for r in runs
        ),
    }


async def run_cost(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Server and worker CPU while ``--activities`` activities run, by heartbeat timeout."""
    from datetime import timedelta

    from cloudops.client import CloudOpsClient, connect_client
    from cloudops.operation import ActivityDefaults

    default = (ActivityDefaults().heartbeat_timeout or timedelta(seconds=10)).total_seconds()
    stack = Stack(workdir / "cost")
    await asyncio.to_thread(stack.server.start)
    rows = []
    try:
        client = await connect_client(stack.server.address, connect_timeout=60)
        for label, heartbeat in (
            ("none", None),
            (f"{default:g} s", default),
            (f"{2 * default:g} s", 2 * default),
        ):
            queue = f"cost-{uuid.uuid4().hex[:6]}"
            worker = await asyncio.to_thread(stack.start_worker, queue)
            ops = CloudOpsClient(client, task_queue=queue)
            operation = "recbench.steps_unbeaten" if heartbeat is None else "recbench.steps"
            handles = []
            for _ in range(args.activities):
                body: dict[str, Any] = {"seconds": args.hold + 15}
                handles.append(await ops.submit(operation, body))
            deadline = time.monotonic() + 60
            while sum(
                1 for e in stack.lines() if e["workflow_id"] in {h.id for h in handles}
            ) < len(handles):
                if time.monotonic() > deadline:
                    raise RuntimeError("activities did not all start")
                await asyncio.sleep(0.5)
            await asyncio.sleep(5)  # past the start-up, into the steady state
            assert stack.server.process is not None and worker.process is not None
            pids = (stack.server.process.pid, worker.process.pid)
            before = [cpu_seconds(pid) for pid in pids]
            await asyncio.sleep(args.hold)
            after = [cpu_seconds(pid) for pid in pids]
            row = {
                "heartbeat_timeout": label,
                "server_cpu_percent": round(100 * (after[0] - before[0]) / args.hold, 1),
                "worker_cpu_percent": round(100 * (after[1] - before[1]) / args.hold, 1),
            }
            rows.append(row)
            log(f"cost: {args.activities} activities running, heartbeat {label}: {row}")
            await asyncio.gather(*(h.result() for h in handles))
            await asyncio.to_thread(worker.stop, 30)
    finally:
        await asyncio.to_thread(stack.server.stop)
    return {"activities": args.activities, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios, print their figures, return 1 if an operation did not end ok."""
    args = parse(argv)
    print(f"recovery run: {' '.join(sys.argv[1:])} (cpus: {os.cpu_count()})", flush=True)
    sys.path.insert(0, str(HERE))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="recovery-"))
    workdir.mkdir(parents=True, exist_ok=True)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    figures: dict[str, Any] = {}
    ok = True
    for scenario in scenarios:
        if scenario == "clouds":
            results = asyncio.run(run_clouds(args, workdir))
            report_clouds(results)
            figures["clouds"] = [asdict(r) for r in results]
            ok = ok and all(r.ok for r in results)
        elif scenario == "plugin":
            result = asyncio.run(run_plugin(args, workdir))
            figures["plugin"] = result
            print(
                f"plugin: SIGKILL -> next attempt over {len(result['rounds'])} rounds: "
                f"p50 {result['p50']:.1f} s, p99 {result['p99']:.1f} s "
                f"(min {result['min']:.1f}, max {result['max']:.1f}), ok={result['ok']}"
            )
            ok = ok and result["ok"]
        elif scenario == "rolling":
            result = asyncio.run(run_rolling(args, workdir))
            figures["rolling"] = result
            print(
                f"rolling: p50 {result['baseline']['p50']} -> {result['rolling']['p50']} s "
                f"(+{result['extra_p50']}), p99 {result['baseline']['p99']} -> "
                f"{result['rolling']['p99']} s (+{result['extra_p99']}), ok={result['ok']}"
            )
            ok = ok and result["ok"]
        elif scenario == "cost":
            figures["cost"] = asyncio.run(run_cost(args, workdir))
            for row in figures["cost"]["rows"]:
                print(f"cost: {row}")
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
    print(f"logs: {workdir}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    from cloudops.shutdown import hard_exit

    hard_exit(main())  # temporalio may abort at interpreter exit (sdk-python#300)
