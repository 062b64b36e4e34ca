"""The chaos harness: many server-group operations while workers die and Temporal restarts.

Why: the claim that an operation ends exactly once, with nothing duplicated or leaked, only
means something under conditions worse than production. :func:`run_chaos` starts a Temporal dev
server persisted to SQLite, moto behind the seeded fault proxy (transient throttling with
Retry-After, 500/503, connection resets and slow answers), and worker processes; it runs a
seeded mix of creates, resizes, disables, enables, destroys and ``deploy.redBlack`` deploys,
each scenario on an application of its own, while it SIGKILLs workers and kills and restarts the
Temporal server. At the end it audits moto against what the operations reported.

Each application is prepared, through the same chaos, with the security group and load balancer
of the cloud's demo (``network_inputs``), as ``{application}-edge`` (the ``edge`` stack keeps
them apart from what a local cloud makes by hand for the application's ``web`` groups), by
``upsertSecurityGroup`` and ``upsertLoadBalancer``; those preparations are reported apart from
the operations, and the audit checks that each application has exactly the one load balancer
and security group its upserts reported.

``ChaosConfig.clouds`` names the local clouds to run on (the providers' registered
:class:`~cloudops.localcloud.LocalCloud` profiles, each behind a fault proxy of its own flavor):
the same seeded plan runs on each cloud (``{cloud}.*`` operations and ``deploy.redBlack`` on its
account), and each cloud is audited by its profile from the emulator's own state.

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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudops.localcloud import Audit, ExpectedNetwork, RunningCloud, audit_network

if TYPE_CHECKING:
    from cloudops_testing.throttling import Bucket, CloudThrottle

__all__ = [
    "Audit",
    "ChaosConfig",
    "ChaosReport",
    "HoldCall",
    "Op",
    "Recovery",
    "Scenario",
    "create_input",
    "measure_recovery",
    "plan_scenarios",
    "run_chaos",
]

#: Codes a scenario provokes on purpose (an operation on a group that does not exist).
EXPECTED_FAILURES = frozenset({"NOT_FOUND"})
#: The stack of the applications' load balancer and security group (``{application}-edge``).
NETWORK_STACK = "edge"
#: The network upserts of an application's preparation, in order: kind -> verb.
NETWORK_UPSERTS = (
    ("security_group", "upsertSecurityGroup"),
    ("load_balancer", "upsertLoadBalancer"),
)


@dataclass
class ChaosConfig:
    """What to run and how hard to hit it. Everything random derives from ``seed``."""

    #: Operations per cloud.
    operations: int = 100
    #: Local clouds to run the plan on (each gets ``operations`` operations): aws, gcp, azure...
    clouds: tuple[str, ...] = ("aws",)
    #: Per-cloud operation counts that replace ``operations`` for those clouds.
    cloud_operations: dict[str, int] = field(default_factory=dict)
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
    #: Each cloud's throttling model in its fault proxy (:mod:`cloudops_testing.throttling`),
    #: on top of the random faults: cloud -> family -> bucket (an empty or missing entry: the
    #: cloud's published limits). None: off.
    throttling: dict[str, dict[str, Bucket]] | None = None
    #: Give every account an empty ``[accounts.NAME.budget]`` table (the provider's default
    #: budget), so cloudops paces its calls under the throttling model.
    budgets: bool = False
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
    cloud: str = "aws"


@dataclass
class ChaosReport:
    """The figures of a run."""

    config: dict[str, Any]
    outcomes: list[Outcome] = field(default_factory=list)
    #: The network upserts preparing each application (not counted as operations).
    preparations: list[Outcome] = field(default_factory=list)
    #: All clouds together; ``audits`` and ``cloud_faults`` per cloud.
    audit: Audit = field(default_factory=Audit)
    faults: dict[str, int] = field(default_factory=dict)
    audits: dict[str, Audit] = field(default_factory=dict)
    cloud_faults: dict[str, dict[str, int]] = field(default_factory=dict)
    #: With ``throttling``: cloud -> {"calls": served, "throttled": answered with throttling}.
    throttling: dict[str, dict[str, int]] = field(default_factory=dict)
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
    def failed_preparations(self) -> list[Outcome]:
        """Network upserts of a preparation that did not end ok (none is expected to fail)."""
        return [o for o in self.preparations if o.ok is not True]

    @property
    def passed(self) -> bool:
        """No workflow failure, no duplicate, no leak (the harness's exit status)."""
        return not (
            self.workflow_failures
            or self.failed_preparations
            or self.audit.duplicates
            or self.audit.leaks
        )

    def cloud_figures(self, cloud: str) -> dict[str, Any]:
        """One cloud's figures (operations, failures, audit, faults)."""
        outcomes = [o for o in self.outcomes if o.cloud == cloud]
        audit = self.audits.get(cloud, Audit())
        faults = self.cloud_faults.get(cloud, {})
        seconds = sorted(o.seconds for o in outcomes) or [0.0]
        return {
            "operations": len(outcomes),
            "succeeded": sum(1 for o in outcomes if o.ok),
            "business_failures": sum(1 for o in outcomes if o.ok is False),
            "unexpected_business_failures": sum(
                1 for o in outcomes if o.ok is False and o.code not in EXPECTED_FAILURES
            ),
            "workflow_failures": sum(1 for o in outcomes if o.ok is None),
            "duplicates": len(audit.duplicates),
            "leaks": len(audit.leaks),
            "missing": len(audit.missing),
            "mismatches": len(audit.mismatches),
            "groups_expected": audit.groups_expected,
            "groups_found": audit.groups_found,
            "scaling": dict(sorted(audit.scaling.items())),
            "preparations": sum(1 for o in self.preparations if o.cloud == cloud),
            "failed_preparations": sum(1 for o in self.failed_preparations if o.cloud == cloud),
            "network_expected": audit.network_expected,
            "network_found": audit.network_found,
            "requests_forwarded": faults.get("forwarded", 0),
            "faults_injected": sum(v for k, v in faults.items() if k != "forwarded"),
            "faults": {k: v for k, v in sorted(faults.items()) if k != "forwarded"},
            "latency_p50": seconds[len(seconds) // 2],
            "latency_p99": seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))],
            **{f"throttle_{k}": v for k, v in self.throttling.get(cloud, {}).items()},
        }

    def cloud_lines(self) -> list[str]:
        """One line of figures per cloud."""
        lines = ["per cloud:"]
        for cloud in self.audits:
            f = self.cloud_figures(cloud)
            lines.append(
                f"  {cloud:6} {f['operations']} ops, {f['succeeded']} ok, "
                f"{f['business_failures']} business failures "
                f"({f['unexpected_business_failures']} unexpected), "
                f"{f['workflow_failures']} workflow failures, {f['duplicates']} duplicates, "
                f"{f['leaks']} leaks, {f['missing']} missing, {f['mismatches']} mismatches, "
                f"{f['groups_found']}/{f['groups_expected']} groups, "
                f"{f['network_found']}/{f['network_expected']} load balancers and "
                "security groups, "
                f"{f['requests_forwarded']} requests, {f['faults_injected']} faults, "
                f"latency p50 {f['latency_p50']:.1f} s, p99 {f['latency_p99']:.1f} s"
                + (
                    f", throttling model: {f['throttle_calls']} calls served, "
                    f"{f['throttle_throttled']} throttled"
                    if "throttle_calls" in f
                    else ""
                )
            )
        return lines

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
            f"autoscaling audited:     {dict(sorted(self.audit.scaling.items()))}",
            f"network preparations:   {len(self.preparations)} upserts, "
            f"{len(self.failed_preparations)} failed",
            f"LBs/SGs audited:         {self.audit.network_found} found / "
            f"{self.audit.network_expected} expected",
            f"cloud API requests:      {self.faults.get('forwarded', 0)} forwarded, "
            f"{sum(faults.values())} faults injected {faults}",
            f"activity retries:        {self.activity_retries}",
            f"worker SIGKILLs:         {self.worker_kills} (unplanned exits: {self.worker_exits})",
            f"server restarts:         {self.server_restarts}",
            f"client retries:          {self.client_reconnects}",
            f"wall time:               {self.wall_seconds:.1f} s",
        ]
        if len(self.audits) > 1:
            lines += self.cloud_lines()
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
            (
                "failed preparation",
                [f"{o.request_id}: {o.code} {o.message}" for o in self.failed_preparations],
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


#: The share of deploy scenarios whose cluster gets a scaling policy after its first deploy.
AUTOSCALED_SHARE = 0.4


def plan_scenarios(operations: int, seed: int, prefix: str = "chaos") -> list[Scenario]:
    """A seeded mix of scenarios adding up to exactly ``operations`` operations.

    Applications are named ``{prefix}{seed}x{index:05d}`` (``prefix`` tells the clouds apart).

    - lifecycle: create, then resizes / disable+enable, and half the time a destroy;
    - deploy: one or two ``deploy.redBlack`` (the second disables the first, keeps at most
      two groups), sometimes followed by destroying the older group;
      Some deploy clusters are autoscaled: a scaling policy (``upsertScalingPolicy``, the
      cloud profile's ``scaling_policy``) after the first deploy, which the next one copies;
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
            # An autoscaled cluster (the first deploy scenario always): the next deploy copies
            # the policy. Its own generator, so the rest of a seed's plan stays as it was.
            share = random.Random(f"{seed}:{index}:autoscaled").random() < AUTOSCALED_SHARE
            if share or not any(o.kind == "autoscale" for s in scenarios for o in s.ops):
                ops.append(Op("autoscale", 0))
            if rng.random() < 0.6:
                ops.append(Op("redBlack", 1))
                if rng.random() < 0.5:
                    ops.append(Op("destroy", 0))
        else:
            ops = [Op("missing")]
        ops = ops[: operations - total]
        scenarios.append(Scenario(f"{prefix}{seed}x{index:05d}", ops))
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
                if k not in ("log", "throttling")
            }
        )
        if config.throttling is not None:
            self.report.config["throttling"] = {
                cloud: {family: vars(bucket) for family, bucket in limits.items()}
                for cloud, limits in config.throttling.items()
            }
        self.throttles: dict[str, CloudThrottle] = {}
        self.server: Any = None
        self.clouds: Any = None
        self.workers: list[Any] = []
        self.client: Any = None
        self.ops: Any = None
        self.server_up = asyncio.Event()
        self.finished = asyncio.Event()
        self.done_count = 0
        #: cloud -> application -> server group -> {"disabled": bool, "desired": int}
        self.expected: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
            cloud: {} for cloud in config.clouds
        }
        #: cloud -> application -> kind -> the names its network upserts reported
        self.expected_network: dict[str, ExpectedNetwork] = {cloud: {} for cloud in config.clouds}
        self.config_file: Path | None = None
        self.planned = {
            cloud: config.cloud_operations.get(cloud, config.operations) for cloud in config.clouds
        }
        self.total_operations = sum(self.planned.values())
        self.worker_lock = asyncio.Lock()

    # -- set-up ---------------------------------------------------------------------------

    def start_infrastructure(self) -> None:
        from cloudops.server import DevServer
        from cloudops_testing.faults import FaultRules
        from cloudops_testing.stack import local_clouds_of, write_config
        from cloudops_testing.throttling import CloudThrottle, install

        if not self.config.clouds:
            raise ValueError("clouds must name at least one local cloud")
        clouds = local_clouds_of(self.config.clouds, FaultRules(seed=self.config.seed))
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
        self.clouds = clouds.start()
        for cloud in self.clouds:
            cloud.placement("warm")  # what the inputs need is read now (AWS: moto's network)
            # each cloud behind its fault proxy, answering in its cloud's dialect
            cloud.proxy.rules = replace(faults, flavor=cloud.profile.flavor)
            cloud.proxy.reset_counts()
        if self.config.throttling is not None:
            for name in self.config.clouds:
                cloud = self.clouds[name]
                limits = self.config.throttling.get(name) or {}
                self.throttles[name] = install(
                    cloud.proxy, CloudThrottle(cloud.profile.flavor, limits=limits)
                )
        accounts = self.clouds.accounts()
        if self.config.budgets:
            accounts = {name: {**table, "budget": {}} for name, table in accounts.items()}
        self.config_file = write_config(self.workdir / "cloudops.toml", {"accounts": accounts})

    def start_worker(self, index: int) -> Any:
        from cloudops_testing.processes import WorkerProcess

        worker = WorkerProcess(
            self.server.address,
            self.config.task_queue,
            config=self.config_file,
            plugins=[*self.config.clouds, "deploy"],
            env={**self.clouds.env, "PYTHONFAULTHANDLER": "1"},
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
        if self.clouds is not None:
            with contextlib.suppress(Exception):
                self.clouds.stop()
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
        self, cloud: str, scenario: Scenario, op: Op, number: int, groups: list[str]
    ) -> tuple[Outcome, dict[str, Any] | None]:
        """Run one operation of a scenario; what it reported."""
        operation, payload = self._request(cloud, scenario, op, groups)
        request_id = f"{scenario.application}-{number}-{op.kind}"
        outcome, value = await self._submit(
            cloud, scenario, op.kind, request_id, operation, payload
        )
        self.report.outcomes.append(outcome)
        self._count(outcome)
        return outcome, value

    async def prepare_network(self, cloud: str, scenario: Scenario) -> None:
        """Upsert the application's security group and load balancer (``{app}-edge``)."""
        app = scenario.application
        inputs = self.clouds[cloud].network_inputs(app)
        expected: dict[str, list[str]] = {}
        for kind, verb in NETWORK_UPSERTS:
            if kind not in inputs:
                continue
            payload = {**inputs[kind], "stack": NETWORK_STACK}
            request_id = f"{app}-prepare-{kind}"
            outcome, value = await self._submit(
                cloud, scenario, verb, request_id, f"{cloud}.{verb}", payload
            )
            self.report.preparations.append(outcome)
            if outcome.ok is not True:
                self.config.log(
                    f"  {request_id}: {outcome.code or 'WORKFLOW FAILED'} {outcome.message}"
                )
            # a failed upsert rolls back what it made; one that never ended is not audited
            if outcome.ok is not None:
                expected[kind] = [str(value["name"])] if value is not None else []
        self.expected_network[cloud][app] = expected

    async def _submit(
        self,
        cloud: str,
        scenario: Scenario,
        kind: str,
        request_id: str,
        operation: str,
        payload: dict[str, Any],
    ) -> tuple[Outcome, dict[str, Any] | None]:
        from temporalio.client import WorkflowFailureError

        app = scenario.application
        account, region = self.clouds[cloud].account, self.clouds[cloud].region
        started = time.monotonic()
        deadline = started + self.config.operation_timeout
        outcome = Outcome(app, kind, request_id, None, cloud=cloud)
        try:
            handle = await self._retrying(
                lambda: self.ops.submit(
                    operation,
                    payload,
                    account=account,
                    region=region,
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
        return outcome

    def _count(self, outcome: Outcome) -> None:
        self.done_count += 1
        status = "ok" if outcome.ok else (outcome.code or "WORKFLOW FAILED")
        if outcome.ok is not True:
            self.config.log(f"  {outcome.request_id}: {status} {outcome.message or ''}")
        if self.done_count % 50 == 0:
            self.config.log(
                f"{self.done_count}/{self.total_operations} operations done "
                f"({self.report.succeeded} ok)"
            )

    def _request(
        self, cloud: str, scenario: Scenario, op: Op, groups: list[str]
    ) -> tuple[str, dict[str, Any]]:
        wait = {"poll_interval_seconds": 1, "wait_timeout_seconds": 600}
        create = create_input(self.clouds[cloud], scenario.application, op.desired)
        if op.kind == "create":
            return f"{cloud}.createServerGroup", {**create, **wait}
        if op.kind == "redBlack":
            return "deploy.redBlack", {
                "server_group": create,
                "health_timeout_seconds": 600,
                "poll_interval_seconds": 1,
                "max_remaining_server_groups": 2,
            }
        if op.kind == "missing":
            return f"{cloud}.resizeServerGroup", {
                "server_group": f"{scenario.application}-web-v999",
                "capacity": {"min": 0, "max": 1, "desired": 1},
                **wait,
            }
        assert op.group is not None
        name = groups[op.group] if op.group < len(groups) else f"{scenario.application}-web-v998"
        if op.kind == "autoscale":
            policy = getattr(self.clouds[cloud], "scaling_policy", None)
            if policy is None:  # a cloud without scaling policies: a read in its place
                return f"{cloud}.describeServerGroup", {"server_group": name}
            # Named after the group: moto keys policies by name alone (cloud-apis.md).
            return f"{cloud}.upsertScalingPolicy", {
                "server_group": name,
                "policy_name": f"{name}-cpu",
                **policy,
            }
        if op.kind == "resize":
            return f"{cloud}.resizeServerGroup", {
                "server_group": name,
                "capacity": {"min": 0, "max": 3, "desired": op.desired},
                **wait,
            }
        verb = {"disable": "disable", "enable": "enable", "destroy": "destroy"}[op.kind]
        return f"{cloud}.{verb}ServerGroup", {"server_group": name, **wait}

    async def run_scenario(self, cloud: str, scenario: Scenario, gate: asyncio.Semaphore) -> None:
        """Run a scenario's operations in order and track what should exist afterwards."""
        async with gate:
            groups: list[str] = []  # created, in order
            state: dict[str, dict[str, Any]] = {}  # name -> {"disabled": bool, "desired": int}
            self.expected[cloud][scenario.application] = state
            # the application's load balancer, where the cloud needs one made beforehand
            await asyncio.to_thread(
                self.clouds[cloud].prepare_application, scenario.application, small=True
            )
            # its load balancer and security group, through cloudops (and the same chaos)
            await self.prepare_network(cloud, scenario)
            for number, op in enumerate(scenario.ops):
                # A deploy copies the autoscaling of the cluster's newest serving group.
                serving = [g for g in groups if g in state and not state[g]["disabled"]]
                scaled = bool(serving and state[serving[-1]]["scaled"])
                outcome, value = await self.run_op(cloud, scenario, op, number, groups)
                if not outcome.ok or value is None:
                    continue
                if op.kind == "create":
                    groups.append(value["name"])
                    state[value["name"]] = {
                        "disabled": False,
                        "desired": op.desired,
                        "scaled": False,
                    }
                elif op.kind == "autoscale":
                    policy = getattr(self.clouds[cloud], "scaling_policy", None)
                    if policy is not None and value.get("name") in state:
                        state[value["name"]]["scaled"] = True
                elif op.kind == "redBlack":
                    new = value["new_server_group"]
                    groups.append(new)
                    state[new] = {"disabled": False, "desired": op.desired, "scaled": scaled}
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
        marks = [self.total_operations * (i + 1) // (restarts + 1) for i in range(restarts)]
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

        requests = [o.request_id for o in [*self.report.preparations, *self.report.outcomes]]
        counts = await asyncio.gather(*(one(request_id) for request_id in requests))
        retries = sum(counts)
        return retries

    async def run(self) -> ChaosReport:
        config = self.config
        started = time.monotonic()
        await asyncio.to_thread(self.start_infrastructure)
        self.server_up.set()
        config.log(
            f"Temporal {self.server.address} (db {self.server.db_file}), "
            + ", ".join(
                f"{cloud.profile.label} {cloud.upstream} behind fault proxy {cloud.proxy.url}"
                for cloud in self.clouds
            )
        )
        for index in range(config.workers):
            self.workers.append(await asyncio.to_thread(self.start_worker, index))
        await self.connect()
        plans = {
            cloud: plan_scenarios(count, config.seed, self.clouds[cloud].profile.app_prefix)
            for cloud, count in self.planned.items()
        }
        # interleaved, so that every cloud has operations in flight when something breaks
        scenarios = [
            (cloud, plan[i])
            for i in range(max(len(p) for p in plans.values()))
            for cloud, plan in plans.items()
            if i < len(plan)
        ]
        config.log(
            f"{len(scenarios)} scenarios, {self.total_operations} operations "
            f"({', '.join(f'{c}: {n}' for c, n in self.planned.items())})"
        )
        gate = asyncio.Semaphore(config.concurrency)
        chaos = [
            asyncio.ensure_future(self.kill_workers()),
            asyncio.ensure_future(self.restart_server()),
            asyncio.ensure_future(self.watch_workers()),
        ]
        try:
            await asyncio.gather(*(self.run_scenario(c, s, gate) for c, s in scenarios))
        finally:
            self.finished.set()
            for task in chaos:
                task.cancel()
            await asyncio.gather(*chaos, return_exceptions=True)
        # the chaos tasks may have ended with an error (a worker that cannot be replaced)
        faults: Counter[str] = Counter()
        for cloud in config.clouds:
            counts = self.clouds[cloud].fault_counts()
            self.report.cloud_faults[cloud] = counts
            faults.update(counts)
            self.report.audits[cloud] = await asyncio.to_thread(
                self.clouds[cloud].audit, self.expected[cloud]
            )
            found = await asyncio.to_thread(self.clouds[cloud].network_names)
            if found is not None:
                audit_network(
                    self.report.audits[cloud],
                    found,
                    self.expected_network[cloud],
                    prefix=f"-{NETWORK_STACK}",
                )
        self.report.faults = dict(faults)
        self.report.throttling = {
            cloud: {"calls": throttle.calls(), "throttled": throttle.throttles()}
            for cloud, throttle in self.throttles.items()
        }
        self.report.audit = Audit.merged(list(self.report.audits.values()))
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
# Recovery after a SIGKILL mid-call
# --------------------------------------------------------------------------------------------


def create_input(cloud: RunningCloud, app: str, desired: int) -> dict[str, Any]:
    """A small createServerGroup input (one zone, ``{app}-web``) on a started local cloud."""
    return cloud.server_group(
        app, capacity={"min": 0, "max": 3, "desired": desired}, tags={"chaos": "1"}, small=True
    )


class HoldCall:
    """A fidelity rule that keeps matching requests hanging while ``held`` (a slow answer).

    The first matching request is recorded (``seen``) and kept waiting until :meth:`release`;
    it is then answered 503 and never forwarded (its client is dead by then). Later matching
    requests, once released, pass.
    """

    def __init__(self, matches: Callable[[Any], bool]) -> None:
        import threading

        self.matches = matches
        self.held = True
        self.seen = threading.Event()
        self.seen_at = 0.0
        self.passed: list[float] = []

    def release(self) -> None:
        """Let later matching requests through (the held one is answered 503)."""
        self.held = False

    async def __call__(self, request: Any) -> Any:
        """Hold the first matching request until released; let the others through."""
        from cloudops_testing.faults import ProxyResponse

        if not self.matches(request):
            return None
        if not self.held:
            self.passed.append(time.monotonic())
            return None
        self.seen_at = time.monotonic()
        self.seen.set()
        deadline = time.monotonic() + 300
        while self.held and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return ProxyResponse(503, {"Content-Type": "text/plain"}, b"held, then dropped")


@dataclass
class Recovery:
    """What one SIGKILL mid-call cost (seconds, from the SIGKILL)."""

    cloud: str
    activity: str
    heartbeat_timeout: float
    start_to_close_timeout: float
    #: The replacement worker polls (it is started right after the SIGKILL).
    replacement_ready: float = 0.0
    #: Temporal marks the lost attempt failed (heartbeat timeout) and schedules the next one.
    attempt_failed: float | None = None
    #: The next attempt starts on the replacement worker.
    retry_started: float | None = None
    #: The next attempt's request reaches the cloud.
    retry_reached_cloud: float | None = None
    #: The operation's result is there.
    completed: float | None = None
    ok: bool = False
    failure: str = ""


async def measure_recovery(
    cloud: RunningCloud,
    *,
    client: Any,
    server_address: str,
    workdir: Path,
    kill_after: float = 1.0,
    timeout: float = 240.0,
    log: Callable[[str], None] = lambda message: None,
) -> Recovery:
    """SIGKILL the worker while ``{cloud}.createServerGroup`` waits on its creation call.

    ``cloud`` is a started local cloud (:class:`~cloudops.localcloud.RunningCloud`); a fault
    proxy holding the group's creation call goes in front of its emulator. A
    replacement worker is started right after the SIGKILL; the figures are timed from it, on
    the server's clock for the attempts.
    """
    import uuid

    from temporalio.api.enums.v1 import EventType, PendingActivityState

    from cloudops.client import CloudOpsClient
    from cloudops_testing.faults import FaultProxy, FaultRules
    from cloudops_testing.processes import WorkerProcess
    from cloudops_testing.stack import write_config

    cloud_name, account, region = cloud.name, cloud.account, cloud.region
    hold = HoldCall(cloud.is_group_creation)
    rules = FaultRules(flavor=cloud.profile.flavor)
    proxy = FaultProxy(cloud.upstream, rules, fidelity=[hold, *cloud.fidelity])
    proxy.start()
    tag = uuid.uuid4().hex[:8]
    queue = f"recovery-{cloud_name}-{tag}"
    app = f"rec{tag}"
    # only this cloud's account (and plugin), its endpoint the proxy
    config = write_config(
        workdir / f"recovery-{cloud_name}-{tag}.toml",
        {"accounts": {account: cloud.account_settings(proxy.url)}},
    )
    plugins = [cloud_name]

    def worker(index: int) -> WorkerProcess:
        return WorkerProcess(
            server_address,
            queue,
            config=config,
            plugins=plugins,
            env=dict(cloud.env),
            log_file=workdir / f"recovery-{cloud_name}-{tag}-{index}.log",
            args=["--log-level", "WARNING"],
        ).start(timeout=120)

    first = await asyncio.to_thread(worker, 0)
    workers = [first]
    try:
        await asyncio.to_thread(cloud.prepare_application, app, small=True)
        ops = CloudOpsClient(client, task_queue=queue)
        data = {
            **create_input(cloud, app, 1),
            "poll_interval_seconds": 0.5,
            "wait_timeout_seconds": 120,
        }
        handle = await ops.submit(
            f"{cloud_name}.createServerGroup",
            data,
            account=account,
            region=region,
            request_id=f"{app}-recovery",
        )
        if not await asyncio.to_thread(hold.seen.wait, 120):
            raise RuntimeError(f"{cloud_name}: the group's creation call never came")
        await asyncio.sleep(kill_after)  # mid-call: heartbeats have been going on
        pending = (await handle.handle.describe()).raw_description.pending_activities
        activity = pending[0].activity_type.name if pending else "?"
        first.kill()
        killed = time.monotonic()
        log(f"{cloud_name}: SIGKILL the worker {kill_after:g} s into {activity}")
        hold.release()
        figures = Recovery(cloud_name, activity, 0.0, 0.0)
        starting = asyncio.ensure_future(asyncio.to_thread(worker, 1))
        wall_offset = time.time() - time.monotonic()  # server timestamps -> monotonic

        def since_kill(stamp: Any) -> float:
            return float(stamp.ToNanoseconds()) / 1e9 - wall_offset - killed

        deadline = killed + timeout
        while figures.retry_started is None and time.monotonic() < deadline:
            if starting.done() and not figures.replacement_ready:
                workers.append(starting.result())
                figures.replacement_ready = time.monotonic() - killed
            description = await handle.handle.describe()
            for info in description.raw_description.pending_activities:
                if info.activity_type.name != activity or info.attempt < 2:
                    continue
                if figures.attempt_failed is None:
                    figures.attempt_failed = time.monotonic() - killed
                    figures.failure = info.last_failure.message
                if info.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                    figures.retry_started = since_kill(info.last_started_time)
            if figures.retry_started is None and not description.raw_description.pending_activities:
                # the next attempt started and ended between two looks: read the history
                history = await handle.handle.fetch_history()
                for event in history.events:
                    attrs = event.activity_task_started_event_attributes
                    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED and (
                        attrs.attempt >= 2
                    ):
                        figures.retry_started = since_kill(event.event_time)
                break
            await asyncio.sleep(0.1)
        result = await asyncio.wait_for(handle.result(), max(1.0, deadline - time.monotonic()))
        figures.completed = time.monotonic() - killed
        figures.ok = result.ok
        if not result.ok and result.error is not None:
            figures.failure = f"{result.error.code}: {result.error.message}"
        if hold.passed:
            figures.retry_reached_cloud = hold.passed[0] - killed
        if not figures.replacement_ready:
            workers.append(await starting)
            figures.replacement_ready = time.monotonic() - killed
        history = await handle.handle.fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                scheduled = event.activity_task_scheduled_event_attributes
                if scheduled.activity_type.name == activity:
                    figures.heartbeat_timeout = (
                        scheduled.heartbeat_timeout.ToTimedelta().total_seconds()
                    )
                    figures.start_to_close_timeout = (
                        scheduled.start_to_close_timeout.ToTimedelta().total_seconds()
                    )
        return figures
    finally:
        hold.release()
        for one in workers:
            with contextlib.suppress(Exception):
                one.kill()
        proxy.stop()
