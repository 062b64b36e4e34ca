"""The chaos harness: many server-group operations while workers die and Temporal restarts.

Why: the claim that an operation ends exactly once, with nothing duplicated or leaked, only
means something under conditions worse than production. :func:`run_chaos` starts a Temporal dev
server persisted to SQLite, moto behind the seeded fault proxy (transient throttling with
Retry-After, 500/503, connection resets and slow answers), and worker processes; it runs a
seeded mix of creates, resizes, disables, enables, destroys and ``deploy.redBlack`` deploys,
each scenario on an application of its own, while it SIGKILLs workers and kills and restarts the
Temporal server. At the end it audits moto against what the operations reported.

``benchmarks/chaos.py`` is the command line; ``tests/test_chaos.py`` runs a CI-sized round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Audit",
    "ChaosConfig",
    "ChaosReport",
    "Op",
    "Scenario",
    "audit_cloud",
    "plan_scenarios",
    "run_chaos",
]

TAG_APPLICATION = "cloudops:application"
TAG_SERVER_GROUP = "cloudops:server-group"
TAG_REQUEST_ID = "cloudops:request-id"

#: Codes a scenario provokes on purpose (an operation on a group that does not exist).
EXPECTED_FAILURES = frozenset({"NOT_FOUND"})


@dataclass
class ChaosConfig:
    """What to run and how hard to hit it. Everything random derives from ``seed``."""

    operations: int = 100
    concurrency: int = 8
    fault_rate: float = 0.2
    seed: int = 1
    workers: int = 2
    #: SIGKILLs of a random worker (each followed by a replacement); None: until the end.
    worker_kills: int | None = None
    kill_interval: float = 5.0
    #: Temporal server kills + restarts, spread evenly over the operations' progress.
    server_restarts: int = 2
    server_down_seconds: float = 2.0
    #: Slow answers take this long (part of the fault rate).
    delay_seconds: float = 1.0
    retry_after: int = 1
    task_queue: str = "cloudops-chaos"
    workdir: Path | None = None
    #: Give up waiting for one operation after this long (a hang counts as a workflow failure).
    operation_timeout: float = 900.0
    log: Callable[[str], None] = field(default=lambda message: None, repr=False)


@dataclass
class Op:
    """One operation of a scenario; ``group`` is an index into the scenario's created groups."""

    kind: str  # create | resize | disable | enable | destroy | redBlack | missing
    group: int | None = None
    desired: int = 1


@dataclass
class Scenario:
    """Operations on one application (its own cluster), run one after another."""

    application: str
    ops: list[Op]


@dataclass
class Outcome:
    """What one operation reported."""

    scenario: str
    kind: str
    request_id: str
    ok: bool | None  # None: the workflow itself failed (or never ended)
    code: str | None = None
    message: str | None = None
    seconds: float = 0.0


@dataclass
class Audit:
    """moto's state against the operations' reports."""

    groups_expected: int = 0
    groups_found: int = 0
    duplicates: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)


@dataclass
class ChaosReport:
    """The figures of a run."""

    config: dict[str, Any]
    outcomes: list[Outcome] = field(default_factory=list)
    audit: Audit = field(default_factory=Audit)
    faults: dict[str, int] = field(default_factory=dict)
    activity_retries: int = 0
    worker_kills: int = 0
    worker_exits: int = 0
    server_restarts: int = 0
    client_reconnects: int = 0
    wall_seconds: float = 0.0

    @property
    def succeeded(self) -> int:
        """Operations that ended ok."""
        return sum(1 for o in self.outcomes if o.ok)

    @property
    def business_failures(self) -> list[Outcome]:
        """Operations that ended with ok=False."""
        return [o for o in self.outcomes if o.ok is False]

    @property
    def unexpected_business_failures(self) -> list[Outcome]:
        """Business failures the plan did not provoke on purpose."""
        return [o for o in self.business_failures if o.code not in EXPECTED_FAILURES]

    @property
    def workflow_failures(self) -> list[Outcome]:
        """Operations whose workflow failed, or that never ended."""
        return [o for o in self.outcomes if o.ok is None]

    @property
    def passed(self) -> bool:
        """No workflow failure, no duplicate, no leak (the harness's exit status)."""
        return not (self.workflow_failures or self.audit.duplicates or self.audit.leaks)

    def summary(self) -> str:
        """The figures, one per line."""
        faults = {k: v for k, v in sorted(self.faults.items()) if k != "forwarded"}
        codes = Counter(o.code for o in self.business_failures)
        lines = [
            f"operations run:          {len(self.outcomes)}",
            f"succeeded:               {self.succeeded}",
            f"business failures:       {len(self.business_failures)} {dict(codes) or ''}".rstrip(),
            f"  unexpected:            {len(self.unexpected_business_failures)}",
            f"workflow failures:       {len(self.workflow_failures)}",
            f"duplicated resources:    {len(self.audit.duplicates)}",
            f"leaked resources:        {len(self.audit.leaks)}",
            f"missing resources:       {len(self.audit.missing)}",
            f"state mismatches:        {len(self.audit.mismatches)}",
            f"server groups audited:   {self.audit.groups_found} found / "
            f"{self.audit.groups_expected} expected",
            f"cloud API requests:      {self.faults.get('forwarded', 0)} forwarded, "
            f"{sum(faults.values())} faults injected {faults}",
            f"activity retries:        {self.activity_retries}",
            f"worker SIGKILLs:         {self.worker_kills} (unplanned exits: {self.worker_exits})",
            f"server restarts:         {self.server_restarts}",
            f"client retries:          {self.client_reconnects}",
            f"wall time:               {self.wall_seconds:.1f} s",
        ]
        slow = sorted(self.outcomes, key=lambda o: o.seconds)
        if slow:
            p50 = slow[len(slow) // 2].seconds
            p99 = slow[min(len(slow) - 1, int(len(slow) * 0.99))].seconds
            lines.append(
                f"operation latency:       p50 {p50:.1f} s, p99 {p99:.1f} s, "
                f"max {slow[-1].seconds:.1f} s"
            )
        for label, items in (
            ("workflow failure", [f"{o.request_id}: {o.message}" for o in self.workflow_failures]),
            (
                "unexpected business failure",
                [
                    f"{o.request_id} {o.kind}: {o.code} {o.message}"
                    for o in self.unexpected_business_failures
                ],
            ),
            ("duplicate", self.audit.duplicates),
            ("leak", self.audit.leaks),
            ("missing", self.audit.missing),
            ("mismatch", self.audit.mismatches),
        ):
            lines += [f"  {label}: {item}" for item in items[:20]]
        result = "PASS" if self.passed else "FAIL"
        lines.append(f"result:                  {result}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The seeded plan
# --------------------------------------------------------------------------------------------


def plan_scenarios(operations: int, seed: int) -> list[Scenario]:
    """A seeded mix of scenarios adding up to exactly ``operations`` operations.

    - lifecycle: create, then resizes / disable+enable, and half the time a destroy;
    - deploy: one or two ``deploy.redBlack`` (the second disables the first, keeps at most
      two groups), sometimes followed by destroying the older group;
    - missing: a resize or disable of a group that does not exist (a NOT_FOUND business failure).
    """
    rng = random.Random(seed)
    scenarios: list[Scenario] = []
    total = 0
    index = 0
    while total < operations:
        roll = rng.random()
        ops: list[Op]
        if roll < 0.55:
            ops = [Op("create", desired=rng.choice([1, 1, 2]))]
            for _ in range(rng.randint(0, 3)):
                step = rng.choice(["resize", "disable-enable"])
                if step == "resize":
                    ops.append(Op("resize", 0, desired=rng.choice([0, 1, 2])))
                else:
                    ops += [Op("disable", 0), Op("enable", 0)]
            if rng.random() < 0.5:
                ops.append(Op("destroy", 0))
        elif roll < 0.92:
            ops = [Op("redBlack", 0)]
            if rng.random() < 0.6:
                ops.append(Op("redBlack", 1))
                if rng.random() < 0.5:
                    ops.append(Op("destroy", 0))
        else:
            ops = [Op("missing")]
        ops = ops[: operations - total]
        scenarios.append(Scenario(f"chaos{seed}x{index:05d}", ops))
        total += len(ops)
        index += 1
    return scenarios


# --------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------


class _Chaos:
    """Owns the server, the cloud, the workers and the client for one run."""

    def __init__(self, config: ChaosConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.rng = random.Random(config.seed * 7919 + 1)
        self.report = ChaosReport(
            config={
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in vars(config).items()
                if k != "log"
            }
        )
        self.server: Any = None
        self.cloud: Any = None
        self.workers: list[Any] = []
        self.client: Any = None
        self.ops: Any = None
        self.server_up = asyncio.Event()
        self.finished = asyncio.Event()
        self.done_count = 0
        self.expected: dict[str, dict[str, dict[str, Any]]] = {}
        self.network: Any = None
        self.worker_lock = asyncio.Lock()

    # -- set-up ---------------------------------------------------------------------------

    def start_infrastructure(self) -> None:
        from cloudops.server import DevServer
        from cloudops_testing.faults import FaultRules
        from cloudops_testing.stack import LocalCloud

        rate = self.config.fault_rate
        faults = FaultRules(
            throttle=rate * 0.35,
            unavailable=rate * 0.2,
            server_error=rate * 0.15,
            reset=rate * 0.15,
            delay=rate * 0.15,
            delay_seconds=self.config.delay_seconds,
            retry_after=self.config.retry_after,
            seed=self.config.seed,
        )
        self.server = DevServer(
            db_file=self.workdir / "temporal.sqlite", log_file=self.workdir / "temporal.log"
        )
        self.server.start()
        # a killed worker drops its connections to the proxy mid-request: expected, not news
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        self.cloud = LocalCloud(faults=FaultRules(seed=self.config.seed))
        self.cloud.start()
        self.network = self.cloud.network()
        self.cloud.proxy.rules = faults  # no faults while discovering the network
        self.cloud.proxy.reset_counts()

    def start_worker(self, index: int) -> Any:
        from cloudops_testing.processes import WorkerProcess
        from cloudops_testing.stack import DUMMY_AWS_ENV

        config = self.cloud.write_config(self.workdir / "cloudops.toml")
        worker = WorkerProcess(
            self.server.address,
            self.config.task_queue,
            config=config,
            plugins=["aws", "deploy"],
            env={**DUMMY_AWS_ENV, "PYTHONFAULTHANDLER": "1"},
            log_file=self.workdir / f"worker-{index}.log",
            args=["--log-level", "WARNING"],
        )
        return worker.start(timeout=60)

    async def connect(self) -> None:
        from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

        from cloudops.client import CloudOpsClient, connect_client

        # The harness retries calls itself while the server is down: no warning per retry.
        quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
        runtime = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))
        self.client = await connect_client(self.server.address, connect_timeout=60, runtime=runtime)
        self.ops = CloudOpsClient(self.client, task_queue=self.config.task_queue)

    def stop(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(Exception):
                worker.kill()
        if self.cloud is not None:
            with contextlib.suppress(Exception):
                self.cloud.stop()
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.stop()

    # -- client calls that ride out a server restart ----------------------------------------

    async def _retrying(self, call: Callable[[], Any], deadline: float) -> Any:
        from temporalio.service import RPCError

        while True:
            try:
                return await call()
            except (RPCError, ConnectionError, RuntimeError) as err:
                if isinstance(err, RuntimeError) and "already" in str(err).lower():
                    raise
                if time.monotonic() > deadline:
                    raise
                self.report.client_reconnects += 1
                await asyncio.sleep(0.5)
                await self.server_up.wait()

    async def run_op(
        self, scenario: Scenario, op: Op, number: int, groups: list[str]
    ) -> tuple[Outcome, dict[str, Any] | None]:
        from temporalio.client import WorkflowFailureError

        app = scenario.application
        request_id = f"{app}-{number}-{op.kind}"
        operation, payload = self._request(scenario, op, groups)
        started = time.monotonic()
        deadline = started + self.config.operation_timeout
        outcome = Outcome(app, op.kind, request_id, None)
        try:
            handle = await self._retrying(
                lambda: self.ops.submit(
                    operation,
                    payload,
                    account=self.cloud.account,
                    region=self.cloud.region,
                    request_id=request_id,
                    labels={"application": app},
                ),
                deadline,
            )
            result = await self._retrying(
                lambda: asyncio.wait_for(handle.result(), max(1.0, deadline - time.monotonic())),
                deadline,
            )
        except WorkflowFailureError as err:
            outcome.message = f"{err}: {err.cause}"
            return self._finish(outcome, started), None
        except TimeoutError:
            outcome.message = f"no result within {self.config.operation_timeout:g}s"
            return self._finish(outcome, started), None
        except Exception as err:  # the harness must report, not crash
            outcome.message = f"{type(err).__name__}: {err}"
            return self._finish(outcome, started), None
        outcome.ok = result.ok
        if result.error is not None:
            outcome.code = str(result.error.code)
            outcome.message = result.error.message
        return self._finish(outcome, started), (result.value if result.ok else None)

    def _finish(self, outcome: Outcome, started: float) -> Outcome:
        outcome.seconds = time.monotonic() - started
        self.report.outcomes.append(outcome)
        self.done_count += 1
        status = "ok" if outcome.ok else (outcome.code or "WORKFLOW FAILED")
        if outcome.ok is not True:
            self.config.log(f"  {outcome.request_id}: {status} {outcome.message or ''}")
        if self.done_count % 50 == 0:
            self.config.log(
                f"{self.done_count}/{self.config.operations} operations done "
                f"({self.report.succeeded} ok)"
            )
        return outcome

    def _request(self, scenario: Scenario, op: Op, groups: list[str]) -> tuple[str, dict[str, Any]]:
        wait = {"poll_interval_seconds": 1, "wait_timeout_seconds": 600}
        create = {
            "application": scenario.application,
            "stack": "web",
            "image": self.network.image_id,
            "instance_type": "t3.micro",
            "capacity": {"min": 0, "max": 3, "desired": op.desired},
            "zones": self.network.zones[:1],
            "security_groups": [self.network.security_group_id],
            "tags": {"chaos": "1"},
        }
        if op.kind == "create":
            return "aws.createServerGroup", {**create, **wait}
        if op.kind == "redBlack":
            return "deploy.redBlack", {
                "server_group": create,
                "health_timeout_seconds": 600,
                "poll_interval_seconds": 1,
                "max_remaining_server_groups": 2,
            }
        if op.kind == "missing":
            return "aws.resizeServerGroup", {
                "server_group": f"{scenario.application}-web-v999",
                "capacity": {"min": 0, "max": 1, "desired": 1},
                **wait,
            }
        assert op.group is not None
        name = groups[op.group] if op.group < len(groups) else f"{scenario.application}-web-v998"
        if op.kind == "resize":
            return "aws.resizeServerGroup", {
                "server_group": name,
                "capacity": {"min": 0, "max": 3, "desired": op.desired},
                **wait,
            }
        operation = {
            "disable": "aws.disableServerGroup",
            "enable": "aws.enableServerGroup",
            "destroy": "aws.destroyServerGroup",
        }[op.kind]
        return operation, {"server_group": name, **wait}

    async def run_scenario(self, scenario: Scenario, gate: asyncio.Semaphore) -> None:
        """Run a scenario's operations in order and track what should exist afterwards."""
        async with gate:
            groups: list[str] = []  # created, in order
            state: dict[str, dict[str, Any]] = {}  # name -> {"disabled": bool, "desired": int}
            self.expected[scenario.application] = state
            for number, op in enumerate(scenario.ops):
                outcome, value = await self.run_op(scenario, op, number, groups)
                if not outcome.ok or value is None:
                    continue
                if op.kind == "create":
                    groups.append(value["name"])
                    state[value["name"]] = {"disabled": False, "desired": op.desired}
                elif op.kind == "redBlack":
                    new = value["new_server_group"]
                    groups.append(new)
                    state[new] = {"disabled": False, "desired": op.desired}
                    for name in value.get("disabled", []):
                        if name in state:
                            state[name]["disabled"] = True
                    for name in value.get("destroyed", []):
                        state.pop(name, None)
                elif op.kind == "resize":
                    if value["name"] in state:
                        state[value["name"]]["desired"] = op.desired
                elif op.kind in ("disable", "enable"):
                    if value["name"] in state:
                        state[value["name"]]["disabled"] = op.kind == "disable"
                elif op.kind == "destroy":
                    state.pop(value["name"], None)

    # -- chaos ------------------------------------------------------------------------------

    async def kill_workers(self) -> None:
        kills = self.config.worker_kills
        while not self.finished.is_set() and (kills is None or self.report.worker_kills < kills):
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(self.finished.wait(), self.config.kill_interval)
            if self.finished.is_set():
                return
            await self.server_up.wait()
            async with self.worker_lock:
                index = self.rng.randrange(len(self.workers))
                self.config.log(f"chaos: SIGKILL worker {index}")
                self.workers[index].kill()
                self.report.worker_kills += 1
                await self._replace(index)

    async def _replace(self, index: int) -> None:
        for _ in range(10):
            await self.server_up.wait()
            try:
                self.workers[index] = await asyncio.to_thread(self.start_worker, index)
                return
            except RuntimeError as err:
                self.config.log(f"chaos: worker {index} did not start, again: {err}"[:300])
                await asyncio.sleep(1)
        raise RuntimeError(f"worker {index} could not be replaced")

    async def watch_workers(self) -> None:
        """Restart a worker that exited on its own (it should not: that is counted)."""
        while not self.finished.is_set():
            await asyncio.sleep(1)
            async with self.worker_lock:
                for index, worker in enumerate(self.workers):
                    process = worker.process
                    if process is not None and process.poll() is not None:
                        self.report.worker_exits += 1
                        tail = "".join(worker.output[-5:]).strip()
                        self.config.log(
                            f"chaos: worker {index} exited ({process.returncode}): {tail[-300:]}"
                        )
                        await self._replace(index)

    async def restart_server(self) -> None:
        restarts = self.config.server_restarts
        marks = [self.config.operations * (i + 1) // (restarts + 1) for i in range(restarts)]
        for mark in marks:
            while self.done_count < mark and not self.finished.is_set():
                await asyncio.sleep(0.2)
            if self.finished.is_set():
                return
            async with self.worker_lock:
                self.config.log(f"chaos: kill the Temporal server after {self.done_count} ops")
                self.server_up.clear()
                await asyncio.to_thread(self.server.kill)
                await asyncio.sleep(self.config.server_down_seconds)
                await asyncio.to_thread(self.server.start, 120)
                self.report.server_restarts += 1
                self.server_up.set()
                self.config.log("chaos: Temporal server is back")

    async def count_activity_retries(self) -> int:
        """Failed activity attempts recorded in the histories.

        An activity's started event records its last attempt: sum ``attempt - 1`` over them.
        """
        from temporalio.api.enums.v1 import EventType

        retries = 0
        gate = asyncio.Semaphore(16)

        async def one(request_id: str) -> int:
            async with gate:
                try:
                    history = await self.client.get_workflow_handle(request_id).fetch_history()
                except Exception:
                    return 0
                return sum(
                    e.activity_task_started_event_attributes.attempt - 1
                    for e in history.events
                    if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
                )

        counts = await asyncio.gather(*(one(o.request_id) for o in self.report.outcomes))
        retries = sum(counts)
        return retries

    async def run(self) -> ChaosReport:
        config = self.config
        started = time.monotonic()
        await asyncio.to_thread(self.start_infrastructure)
        self.server_up.set()
        config.log(
            f"Temporal {self.server.address} (db {self.server.db_file}), "
            f"moto {self.cloud.moto.url} behind fault proxy {self.cloud.proxy.url}"
        )
        for index in range(config.workers):
            self.workers.append(await asyncio.to_thread(self.start_worker, index))
        await self.connect()
        scenarios = plan_scenarios(config.operations, config.seed)
        config.log(f"{len(scenarios)} scenarios, {config.operations} operations")
        gate = asyncio.Semaphore(config.concurrency)
        chaos = [
            asyncio.ensure_future(self.kill_workers()),
            asyncio.ensure_future(self.restart_server()),
            asyncio.ensure_future(self.watch_workers()),
        ]
        try:
            await asyncio.gather(*(self.run_scenario(s, gate) for s in scenarios))
        finally:
            self.finished.set()
            for task in chaos:
                task.cancel()
            await asyncio.gather(*chaos, return_exceptions=True)
        # the chaos tasks may have ended with an error (a worker that cannot be replaced)
        self.report.faults = dict(self.cloud.proxy.counts)
        self.report.audit = await asyncio.to_thread(audit_cloud, self.cloud, self.expected)
        self.report.activity_retries = await self.count_activity_retries()
        self.report.wall_seconds = time.monotonic() - started
        return self.report


async def run_chaos(config: ChaosConfig) -> ChaosReport:
    """Run one chaos round (see the module docstring) and return its figures."""
    with contextlib.ExitStack() as stack:
        workdir = config.workdir
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaos-")))
        workdir.mkdir(parents=True, exist_ok=True)
        chaos = _Chaos(config, workdir)
        try:
            return await chaos.run()
        finally:
            await asyncio.to_thread(chaos.stop)
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------------------------


def _tags(items: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def audit_cloud(cloud: Any, expected: dict[str, dict[str, dict[str, Any]]]) -> Audit:
    """Compare moto (read directly, without faults) with the expected server groups.

    For every application of the run: each expected group exists exactly once with its
    launch template, its reported capacity and traffic state; no other group, launch template
    or live instance carries the application's tag; no create request made two groups.
    """
    asg = cloud.client("autoscaling")
    ec2 = cloud.client("ec2")
    audit = Audit()
    groups = [
        g
        for page in asg.get_paginator("describe_auto_scaling_groups").paginate()
        for g in page["AutoScalingGroups"]
    ]
    # moto answers one page of launch templates (MaxResults) and no NextToken: ask for the
    # run's applications a few at a time, each holding a handful of templates.
    apps = sorted(expected)
    templates = [
        t
        for start in range(0, len(apps), 40)
        for t in ec2.describe_launch_templates(
            Filters=[{"Name": f"tag:{TAG_APPLICATION}", "Values": apps[start : start + 40]}],
            MaxResults=200,
        )["LaunchTemplates"]
    ]
    instances = [
        i
        for page in ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
        )
        for r in page["Reservations"]
        for i in r["Instances"]
    ]
    in_groups = {i["InstanceId"] for g in groups for i in g.get("Instances", [])}
    by_app: dict[str, list[dict[str, Any]]] = {}
    for group in groups:
        app = _tags(group.get("Tags")).get(TAG_APPLICATION)
        if app in expected:
            by_app.setdefault(app, []).append(group)
    per_request: Counter[tuple[str, str]] = Counter()
    for group in groups:
        tags = _tags(group.get("Tags"))
        if tags.get(TAG_APPLICATION) in expected:
            per_request[(tags.get(TAG_REQUEST_ID, "?"), tags[TAG_APPLICATION])] += 1
    for (request, _app), count in per_request.items():
        if count > 1:
            audit.duplicates.append(f"request {request} made {count} Auto Scaling groups")
    template_names: Counter[str] = Counter()
    for template in templates:
        tags = _tags(template.get("Tags"))
        if tags.get(TAG_APPLICATION) not in expected:
            continue
        name = tags.get(TAG_SERVER_GROUP, template["LaunchTemplateName"])
        template_names[name] += 1
        if name not in expected[tags[TAG_APPLICATION]]:
            audit.leaks.append(f"launch template {template['LaunchTemplateName']} of no group")
    for instance in instances:
        tags = _tags(instance.get("Tags"))
        if tags.get(TAG_APPLICATION) in expected and instance["InstanceId"] not in in_groups:
            audit.leaks.append(
                f"instance {instance['InstanceId']} of {tags.get(TAG_SERVER_GROUP)} "
                "belongs to no Auto Scaling group"
            )
    for app, state in expected.items():
        audit.groups_expected += len(state)
        found = {g["AutoScalingGroupName"]: g for g in by_app.get(app, [])}
        audit.groups_found += len(found)
        for name in sorted(set(found) - set(state)):
            audit.leaks.append(f"Auto Scaling group {name} that no operation reported")
        for name, want in sorted(state.items()):
            group = found.get(name)
            if group is None:
                audit.missing.append(f"Auto Scaling group {name} reported but absent")
                continue
            if template_names[name] > 1:
                audit.duplicates.append(f"{template_names[name]} launch templates for {name}")
            elif template_names[name] == 0:
                audit.missing.append(f"launch template of {name}")
            suspended = {p["ProcessName"] for p in group.get("SuspendedProcesses", [])}
            disabled = "AddToLoadBalancer" in suspended
            if disabled != want["disabled"]:
                audit.mismatches.append(f"{name}: disabled={disabled}, reported {want}")
            if group["DesiredCapacity"] != want["desired"]:
                audit.mismatches.append(
                    f"{name}: desired {group['DesiredCapacity']}, reported {want['desired']}"
                )
    return audit
