"""Run the cloudops benchmarks and write the figures into docs/performance.md.

    uv run python benchmarks/run.py            # everything (about 25 minutes)
    uv run python benchmarks/run.py --quick    # a smaller version of everything (about 5 minutes)
    uv run python benchmarks/run.py --only overhead,startup

Each section starts its own processes (a Temporal dev server, workers, moto) and replaces only
its own block of docs/performance.md, between ``<!-- bench:NAME -->`` markers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOC = ROOT / "docs" / "performance.md"
PY = sys.executable
TICK = os.sysconf("SC_CLK_TCK")


# --- measuring processes through /proc -------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory (``VmRSS``) or its peak (``VmHWM``), in MB."""
    match = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) / 1024 if match else 0.0


def loadavg() -> str:
    """The 1-minute load average: how busy the machine was (other jobs share it)."""
    return Path("/proc/loadavg").read_text().split()[0]


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Proc:
    """A child process that prints a ready line; its pid is what we measure."""

    def __init__(
        self,
        cmd: list[str],
        ready: str,
        env: dict[str, str] | None = None,
        cwd: Any = None,
        inherit_env: bool = True,
    ):
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # inherit_env=False: exactly ``env`` (e.g. without PYTHONDONTWRITEBYTECODE)
            env={**(os.environ if inherit_env else {}), **(env or {})},
            cwd=cwd,
        )
        self.lines: list[str] = []
        self.ready_after: float | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()

    def _read(self, ready: str) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if ready in line and not self._ready.is_set():
                self.ready_after = time.perf_counter() - self.started
                self._ready.set()

    def wait_ready(self, timeout: float = 60) -> Proc:
        """Wait for the ready line (and note how long it took)."""
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("process not ready:\n" + "".join(self.lines[-30:]))
        return self

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


#: ``--patched PYTHON``: the interpreter of a scratch worktree whose core carries a proposed
#: patch; its worker runs as kind ``cloudops-patched`` next to the others.
PATCHED: list[str] = []
#: ``--baseline PYTHON``: the interpreter of a scratch worktree at an earlier commit; the e2e
#: and startup sections time its ``cloudops worker`` next to this one's.
BASELINE: list[str] = []


def cli_worker(
    python: str, address: str, task_queue: str, config: Any, env: dict[str, str]
) -> Proc:
    """``cloudops worker`` of ``python``'s environment with the aws plugin, ready to poll."""
    return Proc(
        [python, "-m", "cloudops", "worker", "--task-queue", task_queue, "--config", str(config)],
        "worker ready",
        env={**env, "TEMPORAL_ADDRESS": address, "CLOUDOPS_LOAD_PLUGINS": "aws"},
    ).wait_ready()


def bench_worker(
    kind: str, address: str, task_queue: str, env: dict[str, str] | None = None, **options: int
) -> Proc:
    """A worker of ``benchmarks/worker.py`` in its own process, polling ``task_queue``."""
    args = [f"{k}={v}" for k, v in options.items()]
    python, kind = (PATCHED[0], "cloudops") if kind == "cloudops-patched" else (PY, kind)
    return Proc(
        [python, str(HERE / "worker.py"), kind, address, task_queue, *args],
        "worker ready",
        env=env,
    ).wait_ready()


async def start_with_attributes(client: Any, task_queue: str) -> Any:
    """What the patched CloudOpsClient.submit does: search attributes set at start."""
    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    from cloudops import search_attributes as sa

    workflow_id = f"cloudops-{uuid.uuid4()}"
    request = {"operation": "bench.noop", "input": {"message": "x"}, "request_id": workflow_id}
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(sa.OPERATION, "bench.noop"),
            SearchAttributePair(sa.OUTCOME, "running"),
            SearchAttributePair(sa.PROVIDER, "bench"),
        ]
    )
    handle = await client.start_workflow(
        "UntypedCloudOperationRunner",
        request,
        id=workflow_id,
        task_queue=task_queue,
        search_attributes=attributes,
    )
    return await handle.result()


# --- 1. runner overhead ----------------------------------------------------------------------
async def overhead(server: Any, quick: bool, variants: bool) -> str:
    """Section 1: bare workflow vs cloudops runner, throughput, latency, worker CPU."""
    from bare import BareInput
    from temporalio.client import Client

    from cloudops.client import CloudOpsClient, connect_client

    kinds = ["bare", "cloudops"]
    if variants:
        kinds += ["cloudops-nosa", "cloudops-notelemetry", "cloudops-nosandbox", "cloudops-nostc"]
    if PATCHED:
        kinds.append("cloudops-patched")
    reps, batch, concurrency, sequential = (3, 150, 50, 40) if quick else (5, 300, 100, 100)
    workers = {k: bench_worker(k, server.target, f"bench-{k}") for k in kinds}
    bare_client = await Client.connect(server.target)
    pyd_client = await connect_client(server.target)
    clients = {k: CloudOpsClient(pyd_client, task_queue=f"bench-{k}") for k in kinds if k != "bare"}

    async def one(kind: str) -> float:
        started = time.perf_counter()
        if kind == "bare":
            await bare_client.execute_workflow(
                "BareWorkflow",
                BareInput(),
                id=f"bare-{uuid.uuid4()}",
                task_queue="bench-bare",
                result_type=BareInput,
            )
        elif kind == "cloudops-patched":
            result = await start_with_attributes(pyd_client, f"bench-{kind}")
            assert result["ok"], result["error"]
        else:
            result = await clients[kind].execute("bench.noop", {"message": "x"})
            assert result.ok, result.error
        return time.perf_counter() - started

    async def run_batch(kind: str, n: int) -> dict[str, float]:
        gate = asyncio.Semaphore(concurrency)

        async def gated() -> float:
            async with gate:
                return await one(kind)

        cpu0, scpu0, ccpu0, t0 = (
            cpu_seconds(workers[kind].pid),
            cpu_seconds(server.pid),
            cpu_seconds(os.getpid()),
            time.perf_counter(),
        )
        latencies = await asyncio.gather(*(gated() for _ in range(n)))
        wall = time.perf_counter() - t0
        return {
            "ops_s": n / wall,
            "p50": pct(latencies, 0.5),
            "p99": pct(latencies, 0.99),
            "cpu_ms": 1000 * (cpu_seconds(workers[kind].pid) - cpu0) / n,
            "server_cpu_ms": 1000 * (cpu_seconds(server.pid) - scpu0) / n,
            "client_cpu_ms": 1000 * (cpu_seconds(os.getpid()) - ccpu0) / n,
        }

    load = [loadavg()]
    try:
        for kind in kinds:  # warm up: caches, connections, the sandbox's first import
            await run_batch(kind, 20)
        seq: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(sequential):  # one at a time, interleaved
            for kind in kinds:
                seq[kind].append(await one(kind))
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
        for rep in range(reps):  # batches, alternating the order
            for kind in kinds if rep % 2 == 0 else kinds[::-1]:
                runs[kind].append(await run_batch(kind, batch))
            load.append(loadavg())
        idle = {k: cpu_seconds(w.pid) for k, w in workers.items()}
        await asyncio.sleep(5)
        idle_ms = {k: 1000 * (cpu_seconds(w.pid) - idle[k]) / 5 for k, w in workers.items()}
        rss = {k: rss_mb(w.pid, "VmHWM") for k, w in workers.items()}
    finally:
        for w in workers.values():
            w.stop()

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[kind])

    def spread(kind: str, key: str) -> str:
        values = [r[key] for r in runs[kind]]
        return f"{min(values):.3g}-{max(values):.3g}"

    base = {key: med("bare", key) for key in ("ops_s", "p50", "p99", "cpu_ms", "server_cpu_ms")}
    seq_base = statistics.median(seq["bare"])
    rows = [
        "| worker | throughput ops/s (range) | x bare | p50 seq. ms | x bare | p99 seq. ms "
        "| p50 / p99 under load ms | worker CPU ms/op (range) | x bare | server CPU ms/op "
        "| client CPU ms/op | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in kinds:
        s50 = statistics.median(seq[kind])
        rows.append(
            f"| {kind} | {med(kind, 'ops_s'):.1f} ({spread(kind, 'ops_s')}) "
            f"| {med(kind, 'ops_s') / base['ops_s']:.2f} | {1000 * s50:.0f} | {s50 / seq_base:.2f} "
            f"| {1000 * pct(seq[kind], 0.99):.0f} "
            f"| {1000 * med(kind, 'p50'):.0f} / {1000 * med(kind, 'p99'):.0f} "
            f"| {med(kind, 'cpu_ms'):.2f} ({spread(kind, 'cpu_ms')}) "
            f"| {med(kind, 'cpu_ms') / base['cpu_ms']:.2f} | {med(kind, 'server_cpu_ms'):.1f} "
            f"| {med(kind, 'client_cpu_ms'):.1f} | {rss[kind]:.0f} |"
        )
    co = "cloudops"
    verdict = [
        (
            "throughput ≥ 0.9x bare",
            med(co, "ops_s") / base["ops_s"] >= 0.9,
            f"{med(co, 'ops_s') / base['ops_s']:.2f}x",
        ),
        (
            "p50 (sequential) ≤ 1.1x bare",
            statistics.median(seq[co]) / seq_base <= 1.1,
            f"{statistics.median(seq[co]) / seq_base:.2f}x",
        ),
        (
            "worker CPU/op ≤ 1.5x bare",
            med(co, "cpu_ms") / base["cpu_ms"] <= 1.5,
            f"{med(co, 'cpu_ms') / base['cpu_ms']:.2f}x",
        ),
    ]
    return "\n".join(
        [
            f"{reps} batches of {batch} operations per worker ({concurrency} in flight), "
            f"alternating order; medians of the batches, range in brackets. Sequential latency: "
            f"{sequential} operations one at a time, interleaved. Load average during the run: "
            f"{', '.join(load)}. Idle worker CPU (polling only): "
            + ", ".join(f"{k} {v:.1f} ms/s" for k, v in idle_ms.items())
            + ". Client CPU: the load generator (this process; bare and cloudops clients).",
            "",
            *rows,
            "",
            *(f"- {name}: **{got}** - {'met' if ok else 'MISSED'}" for name, ok, got in verdict),
        ]
    )


# --- 2. in-flight scale ----------------------------------------------------------------------
def retry_lateness(path: Path, interval: float) -> list[float]:
    """Lateness of every retry in ``bench.group_ready``'s log (``wf attempt late time``).

    A retry's lateness is the larger of the server's own measure (start minus the attempt's
    scheduled time) and the spacing from the previous attempt minus the interval, which also
    counts the time the previous failure took to reach the server.
    """
    attempts: dict[str, dict[int, tuple[float, float]]] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        workflow_id, attempt, late, at = line.split()
        attempts.setdefault(workflow_id, {})[int(attempt)] = (float(late), float(at))
    result = []
    for by_attempt in attempts.values():
        for attempt, (late, at) in sorted(by_attempt.items()):
            if attempt > 1 and attempt - 1 in by_attempt:
                spacing_late = at - by_attempt[attempt - 1][1] - interval
                result.append(max(late, spacing_late))
    return result


#: The scale section's ways of waiting: the operation, and how its table rows are labelled.
WAIT_STYLES = {
    "poll": ("bench.wait", "retry-as-poll"),
    "timers": ("bench.poll", "timer + activity"),
}


async def scale(
    server: Any, quick: bool, big: bool, only: str, caches: str, styles: str = "poll"
) -> str:
    """Section 2: N long-running polling operations on one worker.

    ``only`` replaces the list of N; ``caches`` lists the workers' ``max_cached_workflows``
    to compare (``default`` is temporalio's 1,000); ``styles`` the ways of waiting
    (:data:`WAIT_STYLES`): ``poll`` is how the providers wait for a server group
    (``ctx.poll``), ``timers`` a durable timer and an activity per poll (``ctx.wait_for``).
    """
    from cloudops.client import CloudOpsClient, connect_client

    sizes, polls, interval = ([100, 500], 2, 10.0) if quick else ([100, 500, 1000, 2000], 3, 30.0)
    if big:
        sizes.append(5000)
    if only:
        sizes = [int(n) for n in only.split(",")]
    runs = [(n, c, w) for n in sizes for c in caches.split(",") for w in styles.split(",")]
    client = await connect_client(server.target)
    rows = [
        "| N in flight | waiting by | start rate /s | peak worker RSS MB "
        "| worker CPU s (avg % of a core) | server CPU s | lateness p50 / p99 / max s "
        "| polls later than interval/2 | failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, cache, style in runs:
        operation, style_label = WAIT_STYLES[style]
        lateness_file = Path(tempfile.mkdtemp(prefix="cloudops-bench-late-")) / "late.txt"
        queue = f"bench-scale-{n}-{uuid.uuid4().hex[:6]}"
        options = {} if cache == "default" else {"max_cached_workflows": int(cache)}
        worker = bench_worker(
            "cloudops",
            server.target,
            queue,
            env={"CLOUDOPS_BENCH_LATENESS": str(lateness_file)},
            **options,
        )
        ops = CloudOpsClient(client, task_queue=queue)
        try:
            cpu0, scpu0, t0 = cpu_seconds(worker.pid), cpu_seconds(server.pid), time.perf_counter()
            starts = asyncio.Semaphore(50)

            async def start(ops: Any = ops, starts: Any = starts, name: str = operation) -> Any:
                async with starts:
                    return await ops.submit(name, {"polls": polls, "interval_seconds": interval})

            handles = await asyncio.gather(*(start() for _ in range(n)))
            start_rate = n / (time.perf_counter() - t0)
            # At most RESULTS_AT_ONCE (100) results awaited at once: well under the long-poll limit.
            results: list[Any] = await ops.wait_all(handles)  # raises if a wait fails
            wall = time.perf_counter() - t0
            wcpu, scpu = cpu_seconds(worker.pid) - cpu0, cpu_seconds(server.pid) - scpu0
            peak = rss_mb(worker.pid, "VmHWM")
        finally:
            worker.stop()
        if style == "poll":  # every attempt wrote a line; NotReady attempts return nothing
            late = retry_lateness(lateness_file, interval)
        else:
            late = [x for r in results if r.ok for x in r.value["late_seconds"]]
        failed = sum(1 for r in results if not r.ok)
        over = sum(1 for x in late if x > interval / 2)
        label = f"{n}" if cache == "default" else f"{n} (cache {cache})"
        rows.append(
            f"| {label} | {style_label} | {start_rate:.0f} | {peak:.0f} "
            f"| {wcpu:.1f} ({100 * wcpu / wall:.0f}%) "
            f"| {scpu:.1f} | {pct(late, 0.5):.2f} / {pct(late, 0.99):.2f} / {max(late):.2f} "
            f"| {over} of {len(late)} | {failed} |"
        )
        print(rows[-1], flush=True)
    return "\n".join(
        [
            f"Each operation polls {polls} times, {interval:g} s apart, on the server's durable "
            f"timers: retry-as-poll (`bench.wait`: `ctx.poll`, each poll a retry of one "
            f"activity, the way the providers wait for a server group) or timer + activity "
            f"(`bench.poll`: a workflow timer, then an activity). One fresh cloudops worker "
            f"process per row (default worker settings unless a cache is given). The client "
            f"starts at most 50 at once and awaits at most 100 results at once. Lateness: when "
            f"the poll's activity ran minus when it was due. "
            f"Load average at the end: {loadavg()}.",
            "",
            *rows,
        ]
    )


#: Idle time before each "spaced" end-to-end run: long enough for a worker to leave the slower
#: dispatch it falls into after ~10 back-to-back workflows.
IDLE_SECONDS = 11.0


# --- 3. end to end against moto -----------------------------------------------------------------
async def end_to_end(server: Any, quick: bool) -> str:
    """Section 3: AWS create + destroy through cloudops vs a direct boto3 script."""
    from cloudops.client import CloudOpsClient, connect_client
    from cloudops_testing.clouds.aws import LOCAL_AWS
    from cloudops_testing.faults import FaultRules
    from cloudops_testing.processes import WorkerProcess
    from cloudops_testing.stack import write_config

    repeat, seeds = (3, 3) if quick else (7, 6)
    faults = lambda seed: FaultRules(throttle=0.10, unavailable=0.05, server_error=0.05, seed=seed)  # noqa: E731
    cloud = LOCAL_AWS.start()
    aws_env = cloud.env  # moto's dummy credentials
    tmp = Path(tempfile.mkdtemp(prefix="cloudops-bench-"))
    worker = WorkerProcess(
        server.target,
        "bench-e2e",
        config=write_config(tmp / "cloudops.toml", {"accounts": cloud.accounts()}),
        plugins=["aws"],
        env=aws_env,
    ).start()
    baseline = (
        cli_worker(BASELINE[0], server.target, "bench-e2e-base", tmp / "cloudops.toml", aws_env)
        if BASELINE
        else None
    )
    ops = CloudOpsClient(await connect_client(server.target), task_queue="bench-e2e")
    base_ops = CloudOpsClient(ops.client, task_queue="bench-e2e-base")
    bare = bench_worker("bare", server.target, "bench-e2e-bare")

    async def floor_once() -> float:
        """Two empty plain-Temporal workflows in a row: the least two operations cost here."""
        started = time.perf_counter()
        for _ in range(2):  # no payload either way, so the client's converter does not matter
            await ops.client.execute_workflow(
                "BareEmptyWorkflow", id=f"floor-{uuid.uuid4()}", task_queue="bench-e2e-bare"
            )
        return time.perf_counter() - started

    net = cloud.network()
    where = {"account": cloud.account, "region": cloud.region}
    assert cloud.proxy is not None

    last_ids: list[str] = []  # workflow ids of the latest create + destroy

    async def cloudops_once(app: str, ops: CloudOpsClient = ops) -> tuple[bool, float, str]:
        last_ids.clear()
        started = time.perf_counter()
        created = await ops.execute(
            "aws.createServerGroup",
            {
                "application": app,
                "stack": "bench",
                "image": net.image_id,
                "instance_type": "t3.micro",
                "capacity": {"min": 1, "max": 3, "desired": 2},
                "zones": ["us-east-1a"],
                "security_groups": [net.security_group_id],
                "poll_interval_seconds": 0.5,
            },
            **where,
        )
        if created.metadata:
            last_ids.append(created.metadata.workflow_id)
        if not created.ok:
            return False, time.perf_counter() - started, f"create: {created.error}"
        destroyed = await ops.execute(
            "aws.destroyServerGroup",
            {"server_group": created.value["name"], "poll_interval_seconds": 0.5},
            **where,
        )
        if destroyed.metadata:
            last_ids.append(destroyed.metadata.workflow_id)
        return (
            destroyed.ok,
            time.perf_counter() - started,
            "" if destroyed.ok else f"destroy: {destroyed.error}",
        )

    def script(app: str, repeat: int, retries: str) -> list[dict[str, Any]]:
        out = subprocess.run(
            [
                PY,
                str(HERE / "direct_boto3.py"),
                "--endpoint",
                cloud.proxy.url,
                "--image",
                net.image_id,
                "--security-group",
                net.security_group_id,
                "--app",
                app,
                "--repeat",
                str(repeat),
                "--retries",
                retries,
            ],
            capture_output=True,
            text=True,
            env={**os.environ, **aws_env},
            check=True,
        ).stdout
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    try:
        tag = uuid.uuid4().hex[:5]
        direct = script(f"d{tag}", repeat + 1, "cloudops")[1:]  # first run warms up
        clean: list[tuple[bool, float, str]] = []
        base: list[tuple[bool, float, str]] = []
        floor: list[float] = []
        for i in range(repeat + 1):  # alternating this worker's, the baseline's and the floor
            clean.append(await cloudops_once(f"c{tag}{i}"))
            floor.append(await floor_once())
            if baseline is not None:
                base.append(await cloudops_once(f"b{tag}{i}", base_ops))
        clean, base, floor = clean[1:], base[1:], floor[1:]
        # The same runs spaced out: after ~10 back-to-back workflows a temporalio worker (bare
        # or cloudops) dispatches tasks tens of ms later, until it has idled ~10 s (docs).
        spaced: list[float] = []
        spaced_floor: list[float] = []
        for i in range(repeat):
            await asyncio.sleep(IDLE_SECONDS)
            spaced.append((await cloudops_once(f"i{tag}{i}"))[1])
            await asyncio.sleep(IDLE_SECONDS)
            spaced_floor.append(await floor_once())
        calls = {}  # AWS API calls of one create + destroy, counted by the proxy
        cloud.proxy.reset_counts()
        script(f"n{tag}", 1, "cloudops")
        calls["direct"] = cloud.proxy.counts["forwarded"]
        cloud.proxy.reset_counts()
        await cloudops_once(f"m{tag}")
        calls["cloudops"] = cloud.proxy.counts["forwarded"]
        steps = {"activities": 0, "workflow tasks": 0}  # Temporal round trips of that run
        for workflow_id in last_ids:
            history = await ops.client.get_workflow_handle(workflow_id).fetch_history()
            for event in history.events:
                if event.HasField("activity_task_scheduled_event_attributes"):
                    steps["activities"] += 1
                elif event.HasField("workflow_task_completed_event_attributes"):
                    steps["workflow tasks"] += 1
        if baseline is not None:
            cloud.proxy.reset_counts()
            await cloudops_once(f"k{tag}", base_ops)
            calls["baseline"] = cloud.proxy.counts["forwarded"]
        direct_s = statistics.median(r["seconds"] for r in direct)
        base_s = statistics.median(t for _, t, _ in base) if base else 0.0
        cloudops_s = statistics.median(t for _, t, _ in clean)
        floor_s, spaced_s = statistics.median(floor), statistics.median(spaced)
        spaced_floor_s = statistics.median(spaced_floor)
        cloud.proxy.rules = FaultRules(delay=1.0, delay_seconds=0.1)  # a real API's latency
        slow_direct = statistics.median(r["seconds"] for r in script(f"s{tag}", repeat, "cloudops"))
        slow_cloudops = statistics.median(
            [(await cloudops_once(f"t{tag}{i}"))[1] for i in range(repeat)]
        )
        slow_base = (
            statistics.median(
                [(await cloudops_once(f"u{tag}{i}", base_ops))[1] for i in range(repeat)]
            )
            if baseline is not None
            else 0.0
        )
        cloud.proxy.rules = FaultRules()
        rows = {
            "direct boto3, cloudops' botocore retries (2 tries)": [],
            "direct boto3, boto3 default retries": [],
            "cloudops": [],
        }
        for seed in range(seeds):
            for retries, key in (
                ("cloudops", "direct boto3, cloudops' botocore retries (2 tries)"),
                ("default", "direct boto3, boto3 default retries"),
            ):
                cloud.proxy.rules = faults(seed)
                r = script(f"f{tag}{retries[0]}{seed}", 1, retries)[0]
                rows[key].append((r["ok"], r["seconds"], r["error"] or ""))
            cloud.proxy.rules = faults(seed)
            rows["cloudops"].append(await cloudops_once(f"g{tag}{seed}"))
        cloud.proxy.rules = FaultRules()
    finally:
        worker.stop()
        bare.stop()
        if baseline is not None:
            baseline.stop()
        cloud.stop()
    lines = [
        f"createServerGroup (2 instances) + destroyServerGroup against moto behind the fault "
        f"proxy, 0.5 s poll interval on both sides; medians of {repeat} runs after a warm-up run. "
        f"Load average at the end: {loadavg()}.",
        "",
        "| no faults | AWS calls | wall time s (runs) | x direct |",
        "|---|---|---|---|",
        f"| direct boto3 script | {calls['direct']} | {direct_s:.2f} "
        f"({_list(r['seconds'] for r in direct)}) | 1.00 |",
        f"| cloudops | {calls['cloudops']} | {cloudops_s:.2f} ({_list(t for _, t, _ in clean)}) "
        f"| {cloudops_s / direct_s:.2f} |",
        *(
            [
                f"| cloudops before this change (baseline worker) | {calls['baseline']} "
                f"| {base_s:.2f} ({_list(t for _, t, _ in base)}) | {base_s / direct_s:.2f} |"
            ]
            if base
            else []
        ),
        f"| Temporal's floor: two empty plain-Temporal workflows (start, one workflow task, "
        f"result) | 0 | {floor_s:.2f} ({_list(floor)}) | {floor_s / direct_s:.2f} |",
        f"| direct script + that floor: the least any Temporal version can take "
        f"| {calls['direct']} | {direct_s + floor_s:.2f} | {(direct_s + floor_s) / direct_s:.2f} |",
        "",
        f"The same, each run after {IDLE_SECONDS:g} s idle (operations started now and then, "
        "not back to back):",
        "",
        "| no faults, spaced | wall time s (runs) | x direct |",
        "|---|---|---|",
        f"| cloudops | {spaced_s:.2f} ({_list(spaced)}) | {spaced_s / direct_s:.2f} |",
        f"| Temporal's floor (two empty workflows) | {spaced_floor_s:.2f} "
        f"({_list(spaced_floor)}) | {spaced_floor_s / direct_s:.2f} |",
        f"| direct script + that floor | {direct_s + spaced_floor_s:.2f} "
        f"| {(direct_s + spaced_floor_s) / direct_s:.2f} |",
        "",
        f"cloudops' Temporal steps in one create + destroy: 2 workflows, "
        f"{steps['activities']} activities, {steps['workflow tasks']} workflow tasks.",
        "",
        "| 100 ms added to every AWS call (closer to a real API) | wall time s | x direct |",
        "|---|---|---|",
        f"| direct boto3 script | {slow_direct:.2f} | 1.00 |",
        f"| cloudops | {slow_cloudops:.2f} | {slow_cloudops / slow_direct:.2f} |",
        *(
            [f"| cloudops before this change | {slow_base:.2f} | {slow_base / slow_direct:.2f} |"]
            if base
            else []
        ),
        "",
        f"With 20% of AWS calls failing (10% throttled, 5% 503, 5% 500; seeds 0-{seeds - 1}):",
        "",
        "| 20% faults | completed | median wall time s of those that completed | first error |",
        "|---|---|---|---|",
    ]
    for name, results in rows.items():
        done = [t for ok, t, _ in results if ok]
        errors = [e for ok, _, e in results if not ok]
        lines.append(
            f"| {name} | {len(done)} of {len(results)} | "
            f"{statistics.median(done):.2f} | {errors[0][:120] if errors else '-'} |"
            if done
            else f"| {name} | 0 of {len(results)} | - | {errors[0][:120]} |"
        )
    ratio = cloudops_s / direct_s
    lines += [
        "",
        f"- cloudops within 1.5x of the direct script: **{ratio:.2f}x** - "
        f"{'met' if ratio <= 1.5 else 'MISSED'}",
    ]
    return "\n".join(lines)


def _list(values: Any) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


# --- 4. start-up ------------------------------------------------------------------------------
#: This workspace's package sources: what a wheel install of cloudops and its plugins holds.
WORKSPACE_SOURCES = [HERE.parent / "cloudops", HERE.parent / "providers", HERE.parent / "plugins"]


def sysconfig_paths(python: str, *names: str) -> list[str]:
    """Install paths of ``python`` by sysconfig name (``stdlib``, ``purelib``, ``platlib``)."""
    code = "import sys, sysconfig; print(*(sysconfig.get_path(n) for n in sys.argv[1:]))"
    out = subprocess.run(
        [python, "-c", code, *names], capture_output=True, text=True, check=True
    ).stdout.split()
    return sorted(set(out))


def compiled_prefix(
    python: str, env: dict[str, str], *names: str, extra: Sequence[Path] = ()
) -> str:
    """A scratch ``PYTHONPYCACHEPREFIX`` holding the bytecode of these install paths (and dirs).

    With a prefix set Python reads bytecode only from it, so the standard library (always
    compiled in a normal Python) is compiled into every prefix.
    """
    prefix = tempfile.mkdtemp(prefix="cloudops-bench-pyc-")
    paths = [*sysconfig_paths(python, *names), *(str(p) for p in extra)]
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", *paths],
        env={**env, "PYTHONPYCACHEPREFIX": prefix},
        capture_output=True,
        check=False,  # a few test files in third-party packages do not compile; pip skips them too
    )
    return prefix


def startup(server: Any, quick: bool) -> str:
    """Section 4: `cloudops --help` and `cloudops worker` start-up beyond Python's own.

    Timed three ways, none writing into the repo or the venv: as installed by pip, which
    compiles every file it installs by default (``uv pip install --compile-bytecode`` does the
    same): the site-packages and this workspace's packages (what ``pip install cloudops-aws``
    would install) are compiled into a scratch ``PYTHONPYCACHEPREFIX`` first, and
    ``PYTHONDONTWRITEBYTECODE=1`` keeps the run from adding to it;
    with no bytecode beyond the standard library's (every other module compiled from source at
    every start, as after uv's default install under ``PYTHONDONTWRITEBYTECODE=1``, this
    project's sandboxes); and with a warm cache (a scratch prefix filled by the warm-up run).
    """
    runs = 5 if quick else 10
    bindir = Path(PY).parent
    cwd = tempfile.mkdtemp(prefix="cloudops-bench-")  # no cloudops.toml here
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOPS_")}
    base_env.pop("PYTHONPYCACHEPREFIX", None)
    envs = {
        "installed": {
            **base_env,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPYCACHEPREFIX": compiled_prefix(
                PY, base_env, "stdlib", "purelib", "platlib", extra=WORKSPACE_SOURCES
            ),
        },
        "no bytecode": {
            **base_env,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPYCACHEPREFIX": compiled_prefix(PY, base_env, "stdlib"),
        },
        "cache": {
            **{k: v for k, v in base_env.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "PYTHONPYCACHEPREFIX": tempfile.mkdtemp(prefix="cloudops-bench-pyc-"),
        },
    }

    def timed(cmd: list[str], env: dict[str, str]) -> list[float]:
        subprocess.run(cmd, capture_output=True, env=env, cwd=cwd, check=True)  # warm-up
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, env=env, cwd=cwd, check=True)
            times.append(time.perf_counter() - t0)
        return times

    def worker_ready(env: dict[str, str], bindir: Path, runs: int) -> list[float]:
        times = []
        for i in range(runs + 1):
            proc = Proc(
                [str(bindir / "cloudops"), "worker", "--task-queue", f"startup-{i}"],
                "worker ready",
                env={**env, "TEMPORAL_ADDRESS": server.target},
                cwd=cwd,
                inherit_env=False,  # the "cache" runs must not inherit PYTHONDONTWRITEBYTECODE
            )
            proc.wait_ready()
            proc.stop()
            times.append(proc.ready_after or 0.0)
        return times[1:]

    commands = {
        "python -c pass": [PY, "-c", "pass"],
        "python -c 'import cloudops'": [PY, "-c", "import cloudops"],
        "cloudops --help": [str(bindir / "cloudops"), "--help"],
        "cloudops operations (loads every plugin)": [str(bindir / "cloudops"), "operations"],
    }
    results: dict[str, dict[str, list[float]]] = {name: {} for name in commands}
    ready = "cloudops worker, until 'worker ready'"
    results[ready] = {}
    if BASELINE:
        results[ready + " (baseline)"] = {}
    for label, env in envs.items():
        for name, cmd in commands.items():
            results[name][label] = timed(cmd, env)
        rounds, each = (2, runs // 2) if BASELINE else (1, runs)
        for _ in range(rounds):  # interleaved with the baseline's
            results[ready].setdefault(label, []).extend(worker_ready(env, bindir, each))
            if BASELINE:
                results[ready + " (baseline)"].setdefault(label, []).extend(
                    worker_ready(env, Path(BASELINE[0]).parent, each)
                )
    base = {label: statistics.median(results["python -c pass"][label]) for label in envs}

    def cell(times: list[float], label: str) -> str:
        m = statistics.median(times)
        low, high = 1000 * min(times), 1000 * max(times)
        return f"{1000 * m:.0f} ({low:.0f}-{high:.0f}) | **{1000 * (m - base[label]):.0f}**"

    rows = [
        "| " + " | ".join([name, *(cell(by[label], label) for label in envs)]) + " |"
        for name, by in results.items()
    ]
    return "\n".join(
        [
            f"{runs} timed runs after one warm-up each (hyperfine-style), every plugin installed "
            f"(aws, gcp, azure, deploy, example). Medians in ms (range), and in bold the time "
            f"beyond `python -c pass`. Load average at the end: {loadavg()}.",
            "",
            "| command | as installed: median (range) | beyond python "
            "| no bytecode but the stdlib's: median (range) | beyond python "
            "| warm bytecode cache: median (range) | beyond python |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )


# --- the report -------------------------------------------------------------------------------
def machine() -> str:
    """What the run ran on."""
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    mem = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    return (
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on "
        f"{cpu.group(1) if cpu else platform.processor()}, "
        f"{os.cpu_count()} cores, {int(mem.group(1)) // 1024 // 1024 if mem else '?'} GB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"temporalio {_version('temporalio')}, "
        f"temporal CLI {_temporal_version()}. "
        "Dev server, workers and load generator share the machine."
    )


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def _temporal_version() -> str:
    from cloudops.server import find_temporal

    out = subprocess.run([find_temporal(), "--version"], capture_output=True, text=True).stdout
    return out.strip().split("version")[-1].strip() if out else "?"


def write_block(name: str, body: str) -> None:
    """Replace the ``<!-- bench:NAME -->`` block of docs/performance.md (append if absent)."""
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + f"\n\n{block}\n"
    DOC.write_text(text)
    print(block, flush=True)


async def main() -> None:
    """Parse the options and run the sections."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller N, 10 s polls")
    parser.add_argument(
        "--only", default="overhead,e2e,startup,scale", help="comma-separated sections"
    )
    parser.add_argument(
        "--variants", action="store_true", help="also time cloudops with parts switched off"
    )
    parser.add_argument("--big", action="store_true", help="also N = 5000 in the scale section")
    parser.add_argument("--sizes", default="", help="scale: comma-separated N (e.g. 2000)")
    parser.add_argument("--cache", default="default", help="scale: max_cached_workflows values")
    parser.add_argument(
        "--wait-style",
        default="poll",
        help="scale: comma-separated ways of waiting: poll (ctx.poll), timers (ctx.wait_for)",
    )
    parser.add_argument("--patched", help="python of a worktree with a core patch to compare")
    parser.add_argument(
        "--baseline", help="python of a worktree at an earlier commit (e2e and startup sections)"
    )
    parser.add_argument(
        "--server-arg", action="append", default=[], help="extra dev-server argument"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    if args.patched:
        PATCHED.append(args.patched)
    if args.baseline:
        BASELINE.append(args.baseline)
    from cloudops.server import DevServer

    sections = args.only.split(",")
    with DevServer(log_level="error", extra_args=args.server_arg) as server:
        server.target = f"{server.host}:{server.port}"
        server.pid = server.process.pid
        mode = ("--quick" if args.quick else "full") + (
            f", server args {' '.join(args.server_arg)}" if args.server_arg else ""
        )
        complete = set(sections) == {"overhead", "e2e", "startup", "scale"}
        if complete:
            write_block("machine", machine() + f" Mode: {mode}.")
        stamp = (
            ""
            if complete
            else f"Re-run of this section alone at {datetime.now(UTC):%H:%M} UTC ({mode}). "
        )
        jobs: dict[str, Callable[[], Any]] = {
            "overhead": lambda: overhead(server, args.quick, args.variants),
            "e2e": lambda: end_to_end(server, args.quick),
            "startup": lambda: asyncio.to_thread(startup, server, args.quick),
            "scale": lambda: scale(
                server, args.quick, args.big, args.sizes, args.cache, args.wait_style
            ),
        }
        for name in sections:
            write_block(name, stamp + await jobs[name]())


if __name__ == "__main__":
    asyncio.run(main())
    from cloudops.shutdown import hard_exit

    hard_exit(0)  # sdk-python#300
