"""``cloudops demo``: the main job on embedded defaults, with nothing to set up.

cloudops-testing adds the command to the ``cloudops`` CLI (``register_commands``). With
cloudops-deploy and provider plugins that register a local cloud (cloudops-aws, cloudops-gcp,
cloudops-azure: the workspace default), it starts a local Temporal server (with its UI), each
provider's local cloud (moto, the GCP and Azure emulators) behind its own fault-injecting proxy
(transient throttling, 5xx and resets), and a worker process; then deploys a sample app
red/black twice on every cloud at once (v000, then v001 replacing it) with live progress and
retries shown, SIGKILLs the worker in the middle of the second deploys and starts a new one, and
prints the final WorkflowResults, what each proxy injected, each cluster's final state as the
cloud holds it and the Temporal UI links. Without those plugins it runs ``example.echo``. No
cloud account and no network are needed, and nothing here imports pytest.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from cloudops.accounts import AccountBook
from cloudops.client import CloudOpsClient, OperationHandle, connect_client
from cloudops.localcloud import LocalCloud, LocalClouds, RunningCloud, local_clouds
from cloudops.models import ProgressReport, WorkflowResult
from cloudops.registry import CloudOps
from cloudops.render import print_result, progress_line
from cloudops.serve import serve
from cloudops.server import DevServer

__all__ = ["DEFAULT_FAULT_RATE", "DemoUsageError", "available_clouds", "run_demo"]

DEMO_TASK_QUEUE = "cloudops-demo"
#: Share of cloud API calls the fault proxies answer with a transient fault by default.
DEFAULT_FAULT_RATE = 0.2
#: Seconds into the second deploys at which the worker is killed.
KILL_AFTER_SECONDS = 1.0
#: How long a worker process may take to start (importing every cloud SDK, on a busy machine).
WORKER_START_SECONDS = 90.0


async def _follow(
    console: Console, handle: OperationHandle[Any], label: str
) -> WorkflowResult[Any]:
    """Show live progress (step, attempt, last error) until the result arrives."""
    task = asyncio.ensure_future(handle.result())
    with console.status(f"{label}: starting") as status:
        while not task.done():
            with contextlib.suppress(Exception):  # best-effort display
                status.update(progress_line(label, await handle.progress()))
            await asyncio.wait([task], timeout=0.4)
    return task.result()


async def _echo_demo(console: Console, cloudops: CloudOps, keep: bool) -> bool:
    with tempfile.TemporaryDirectory(prefix="cloudops-demo-") as folder:
        server = DevServer(ui=True, db_file=Path(folder) / "temporal.sqlite")
        with console.status("starting a local Temporal server"):
            server.start()
        try:
            console.print(f"Temporal server {server.address}, UI {server.ui_url}")
            client = await connect_client(server.address, connect_timeout=30)
            ops = CloudOpsClient(client, task_queue=DEMO_TASK_QUEUE)
            stop = asyncio.Event()
            outcome: dict[str, bool] = {}
            tasks: list[asyncio.Future[None]] = []

            async def scenario() -> None:
                try:
                    handle = await ops.submit("example.echo", {"message": "hello", "repeat": 2})
                    result = await _follow(console, handle, "example.echo")
                    print_result(console, result, as_json=False)
                    console.print(f"Temporal UI: {server.workflow_url(handle.id)}")
                    outcome["ok"] = result.ok
                finally:
                    if not keep:
                        stop.set()

            async def ready() -> None:
                tasks.append(asyncio.ensure_future(scenario()))

            await serve(
                client,
                cloudops,
                task_queue=DEMO_TASK_QUEUE,
                accounts=AccountBook(),
                on_ready=ready,
                stop=stop,
            )
            return outcome.get("ok", False)
        finally:
            server.stop()


@dataclass
class _Deploy:
    """One cloud's deploy as the live table shows it."""

    cloud: str
    handle: OperationHandle[Any]
    line: str = "starting"
    retries: set[tuple[str, int]] = field(default_factory=set)
    result: WorkflowResult[Any] | None = None
    last_retry: str = ""


def _is_poll(step: str | None) -> bool:
    """A wait's polls are retries of one activity too, but they are not faults."""
    return bool(step) and (step or "").rsplit(" > ", 1)[-1].startswith(("wait", "gcp.wait"))


def _note(deploy: _Deploy, report: ProgressReport, console: Console) -> None:
    deploy.line = progress_line(report.operation, report)
    attempt = report.current_attempt or 0
    key = (report.current_step or "", attempt)
    if attempt > 1 and not _is_poll(report.current_step) and key not in deploy.retries:
        deploy.retries.add(key)
        step = (report.current_step or "").rsplit(" > ", 1)[-1]
        deploy.last_retry = f"{step} (attempt {attempt}: {(report.last_failure or '')[:70]})"
        console.print(f"  [yellow]retrying[/yellow] {deploy.cloud}: {escape(deploy.last_retry)}")


def _table(deploys: list[_Deploy], injected: Callable[[str], int]) -> Table:
    table = Table(expand=True)
    table.add_column("cloud", no_wrap=True)
    table.add_column("deploy.redBlack", ratio=3)
    table.add_column("retries seen", justify="right", no_wrap=True)
    table.add_column("faults injected", justify="right", no_wrap=True)
    for deploy in deploys:
        if deploy.result is None:
            state = escape(deploy.line)
        elif deploy.result.ok:
            state = f"[green]ok[/green] {(deploy.result.value or {}).get('new_server_group')}"
        else:
            error = deploy.result.error
            state = f"[red]{error.code if error else 'failed'}[/red]"
        table.add_row(deploy.cloud, state, str(len(deploy.retries)), str(injected(deploy.cloud)))
    return table


async def _follow_all(
    console: Console,
    deploys: list[_Deploy],
    injected: Callable[[str], int],
    *,
    kill_after: float | None = None,
    on_kill: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Live progress of concurrent deploys (one row per cloud) until every result is in."""
    tasks = {d.cloud: asyncio.ensure_future(d.handle.result()) for d in deploys}
    loop = asyncio.get_running_loop()
    started = loop.time()
    killed = False

    async def look(deploy: _Deploy) -> None:
        with contextlib.suppress(Exception):  # best-effort display (no worker: no answer)
            report = await asyncio.wait_for(deploy.handle.progress(), timeout=2)
            _note(deploy, report, console)

    with Live(_table(deploys, injected), console=console, refresh_per_second=4) as live:
        while not all(t.done() for t in tasks.values()):
            running = [d for d in deploys if not tasks[d.cloud].done()]
            await asyncio.gather(*(look(d) for d in running))
            for deploy in deploys:
                if tasks[deploy.cloud].done():
                    deploy.result = tasks[deploy.cloud].result()
            live.update(_table(deploys, injected))
            late = kill_after is not None and loop.time() - started > kill_after
            if late and on_kill is not None and not killed:
                killed = True
                await on_kill()
            await asyncio.wait(list(tasks.values()), timeout=0.4)
        for deploy in deploys:
            deploy.result = tasks[deploy.cloud].result()
        live.update(_table(deploys, injected))
    if not console.is_terminal:
        console.line()  # the last render ends without a newline


async def _deploy_demo(
    console: Console, profiles: Sequence[LocalCloud], fault_rate: float, kill: bool, keep: bool
) -> bool:
    from cloudops_testing.faults import FaultRules
    from cloudops_testing.processes import WorkerProcess
    from cloudops_testing.stack import write_config

    faults = FaultRules(
        throttle=fault_rate * 0.5,
        unavailable=fault_rate * 0.25,
        server_error=fault_rate * 0.15,
        reset=fault_rate * 0.10,
        retry_after=1,
        seed=7,
    )
    with tempfile.TemporaryDirectory(prefix="cloudops-demo-") as folder:
        server = DevServer(
            ui=True,
            db_file=Path(folder) / "temporal.sqlite",
            log_file=Path(folder) / "temporal.log",
        )
        clouds = [profile.name for profile in profiles]
        emulated = ", ".join(profile.label for profile in profiles)
        with console.status(f"starting a local Temporal server, {emulated}"):
            server.start()
            local = LocalClouds(profiles, faults)
            try:
                local.start()
            except BaseException:
                server.stop()
                raise
        worker: WorkerProcess | None = None
        try:
            # A local demo: authorization explicitly off (docs/security.md).
            settings = {"authorization": "off", "accounts": local.accounts()}
            config = write_config(Path(folder) / "cloudops.toml", settings)
            app = f"demo{uuid.uuid4().hex[:4]}"
            # The sample apps are arranged straight on the clouds, not through the proxies.
            requests = {name: await asyncio.to_thread(_sample, local[name], app) for name in clouds}
            console.print(f"Temporal server {server.address}, UI [link]{server.ui_url}[/link]")
            console.print(
                f"local clouds: {', '.join(clouds)}, each behind a fault proxy answering "
                f"~{fault_rate:.0%} of API calls with a transient fault (throttling with "
                "Retry-After, 500/503, connection resets)"
            )
            console.print("authorization: off (a local demo; production: docs/security.md)")
            worker = WorkerProcess(
                server.address,
                DEMO_TASK_QUEUE,
                config=config,
                plugins=[*clouds, "deploy", "example"],
                env=local.env,
                log_file=Path(folder) / "worker.log",
            )
            with console.status("starting a worker process"):
                await asyncio.to_thread(worker.start, WORKER_START_SECONDS)
            client = await connect_client(server.address, connect_timeout=30)
            ops = CloudOpsClient(client, task_queue=DEMO_TASK_QUEUE)

            def injected(name: str) -> int:
                counts = local[name].fault_counts()
                return sum(v for k, v in counts.items() if k in _FAULT_KINDS)

            async def crash_and_replace() -> None:
                assert worker is not None
                console.print(
                    "[bold red]SIGKILL the worker[/bold red] in the middle of the "
                    "deploys, then start a new one: the deploys carry on"
                )
                worker.kill()
                await asyncio.to_thread(worker.start, WORKER_START_SECONDS)

            finals: list[_Deploy] = []
            for round_ in (1, 2):
                console.rule(
                    f"deploy {round_} of 2: deploy.redBlack of {app}-web "
                    f"(v{round_ - 1:03d}) on {', '.join(clouds)}"
                )
                deploys = []
                for name in clouds:
                    handle = await ops.submit(
                        "deploy.redBlack",
                        {
                            "server_group": requests[name],
                            "health_timeout_seconds": 300,
                            "poll_interval_seconds": 1,
                            "max_remaining_server_groups": 2,
                        },
                        labels={"application": app},
                        account=local[name].account,
                        region=local[name].region,
                    )
                    deploys.append(_Deploy(name, handle))
                await _follow_all(
                    console,
                    deploys,
                    injected,
                    kill_after=KILL_AFTER_SECONDS if round_ == 2 and kill else None,
                    on_kill=crash_and_replace,
                )
                for deploy in deploys:
                    assert deploy.result is not None
                    outcome = (
                        f"ok {deploy.result.metadata.operation if deploy.result.metadata else ''}"
                        if deploy.result.ok
                        else f"{deploy.result.error.code if deploy.result.error else 'failed'}"
                    )
                    console.print(
                        f"{deploy.cloud}: {outcome}, {len(deploy.retries)} retried call(s) seen, "
                        f"{server.workflow_url(deploy.handle.id)}"
                    )
                finals = deploys
                if not all(d.result and d.result.ok for d in deploys):
                    break
            for deploy in finals:
                console.rule(f"final WorkflowResult on {deploy.cloud}")
                assert deploy.result is not None
                print_result(console, deploy.result, as_json=False, full=False)
            console.rule("what happened")
            for name in clouds:
                counts = local[name].fault_counts()
                faults_seen = {k: v for k, v in counts.items() if k in _FAULT_KINDS and v}
                console.print(
                    f"{name}: cloud API calls forwarded: {counts.get('forwarded', 0)}; "
                    f"faults injected and survived: {faults_seen or 'none'}"
                )
                # each group as the cloud itself holds it (not what cloudops says)
                state = await asyncio.to_thread(local[name].cluster_state, f"{app}-web")
                for group in state:
                    console.print(f"  {group.name}: {group.describe()}")
            console.print(f"Temporal UI: [link]{server.ui_url}[/link]")
            ok = len(finals) == len(clouds) and all(
                d.result is not None and d.result.ok for d in finals
            )
            console.print("[green]demo ok[/green]" if ok else "[red]demo failed[/red]")
            if keep:
                console.print("server, clouds and worker keep running; Ctrl-C to stop")
                with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
                    await asyncio.Event().wait()
            return ok
        finally:
            if worker is not None:
                worker.stop()
            local.stop()
            server.stop()


_FAULT_KINDS = ("throttle", "unavailable", "server_error", "reset", "delay")


def _sample(cloud: RunningCloud, app: str) -> dict[str, Any]:
    """A small sample app on ``cloud``: a cluster ``{app}-web`` of two instances."""
    cloud.prepare_application(app)
    return cloud.server_group(
        app, capacity={"min": 1, "max": 4, "desired": 2}, tags={"team": "demo"}
    )


class DemoUsageError(ValueError):
    """The demo was asked for something it cannot do here; raised before anything starts."""


def available_clouds(cloudops: CloudOps) -> dict[str, LocalCloud]:
    """The local clouds the deploy demo can use here (sorted by name).

    Each is registered by a provider plugin whose operations are installed, and can start here;
    the deploy plugin must be installed too.
    """
    if cloudops.catalogue.operation("deploy.redBlack") is None:
        return {}
    return {
        name: profile
        for name, profile in local_clouds(cloudops).items()
        if not profile.missing()
        and all(
            cloudops.catalogue.operation(f"{name}.{verb}")
            for verb in ("createServerGroup", "listServerGroups")
        )
    }


async def run_demo(
    cloudops: CloudOps,
    *,
    keep: bool = False,
    clouds: Sequence[str] | None = None,
    fault_rate: float = DEFAULT_FAULT_RATE,
    kill: bool = True,
) -> bool:
    """Run the demo; return True when every operation it ran ended ok.

    Raises :class:`DemoUsageError` before starting anything when the arguments cannot work here.

    ``clouds`` limits the deploys to some of the installed clouds (default: every one);
    ``fault_rate`` is the share of cloud API calls answered with a transient fault (0 to 1);
    ``kill`` SIGKILLs and replaces the worker during the second deploys.
    """
    console = Console()
    if not 0 <= fault_rate <= 1:
        raise DemoUsageError("--fault-rate must be between 0 and 1")
    installed = available_clouds(cloudops)
    wanted = list(clouds) if clouds else list(installed)
    unknown = [c for c in wanted if c not in installed]
    if unknown:
        raise DemoUsageError(
            f"--clouds: cannot deploy to {', '.join(unknown)}; this installation can use "
            f"{', '.join(installed) or 'no cloud'} (each needs cloudops-deploy, cloudops-testing "
            "and the cloud's provider plugin)"
        )
    if wanted:
        profiles = [profile for name, profile in installed.items() if name in wanted]
        return await _deploy_demo(console, profiles, fault_rate, kill, keep)
    if cloudops.catalogue.operation("example.echo") is None:
        console.print(
            "[red]the demo needs cloudops-deploy with a provider plugin that has a local cloud "
            "(cloudops-aws...), or cloudops-example[/red]: pip install cloudops-deploy "
            "cloudops-aws cloudops-testing"
        )
        return False
    return await _echo_demo(console, cloudops, keep)
