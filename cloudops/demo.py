"""``cloudops demo``: the main job on embedded defaults, with nothing to set up.

With cloudops-deploy, cloudops-aws and cloudops-testing installed (the workspace default), it
starts a local Temporal server (with its UI), moto behind a fault-injecting proxy (transient
throttling, 5xx and resets), and a worker process; then deploys a sample app red/black twice
(v000, then v001 replacing it) with live progress and retries shown, SIGKILLs the worker in the
middle of the second deploy and starts a new one, and prints the WorkflowResults, what the proxy
injected, the cluster's final state and the Temporal UI links. Without those plugins it runs
``example.echo``. No cloud account and no network are needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import tempfile
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console

from cloudops.accounts import AccountBook
from cloudops.client import CloudOpsClient, OperationHandle, connect_client
from cloudops.models import WorkflowResult
from cloudops.registry import CloudOps
from cloudops.render import print_result, progress_line
from cloudops.serve import serve
from cloudops.server import DevServer

__all__ = ["run_demo"]

DEMO_TASK_QUEUE = "cloudops-demo"
DEPLOY_MODULES = ("cloudops_deploy", "cloudops_aws", "cloudops_testing")


async def _follow(
    console: Console,
    handle: OperationHandle[Any],
    label: str,
    *,
    kill_after: float | None = None,
    on_kill: Any = None,
) -> WorkflowResult[Any]:
    """Show live progress (step, attempt, last error) until the result arrives."""
    task = asyncio.ensure_future(handle.result())
    loop = asyncio.get_running_loop()
    started = loop.time()
    killed = False
    shown: set[tuple[str | None, int]] = set()
    with console.status(f"{label}: starting") as status:
        while not task.done():
            with contextlib.suppress(Exception):  # best-effort display
                report = await handle.progress()
                status.update(progress_line(label, report))
                retry = (report.current_step, report.current_attempt or 0)
                if retry[1] > 1 and retry not in shown:
                    shown.add(retry)
                    console.print(f"  [yellow]retrying[/yellow] {progress_line(label, report)}")
            if kill_after is not None and not killed and loop.time() - started > kill_after:
                killed = True
                await on_kill()
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


async def _deploy_demo(console: Console, keep: bool) -> bool:
    from cloudops_testing.faults import FaultRules
    from cloudops_testing.processes import WorkerProcess
    from cloudops_testing.stack import DUMMY_AWS_ENV, LocalCloud

    faults = FaultRules(
        throttle=0.10, unavailable=0.05, server_error=0.03, reset=0.02, retry_after=1, seed=7
    )
    with tempfile.TemporaryDirectory(prefix="cloudops-demo-") as folder:
        server = DevServer(
            ui=True,
            db_file=Path(folder) / "temporal.sqlite",
            log_file=Path(folder) / "temporal.log",
        )
        with console.status("starting a local Temporal server and a local AWS (moto)"):
            server.start()
            cloud = LocalCloud(faults=faults).start()
        worker: WorkerProcess | None = None
        try:
            config = cloud.write_config(Path(folder) / "cloudops.toml")
            console.print(f"Temporal server {server.address}, UI [link]{server.ui_url}[/link]")
            console.print(
                f"local AWS (moto) behind a fault proxy injecting ~20% transient faults "
                f"(throttling with Retry-After, 500/503, connection resets): {cloud.proxy.url}"
                if cloud.proxy
                else ""
            )
            worker = WorkerProcess(
                server.address,
                DEMO_TASK_QUEUE,
                config=config,
                plugins=["aws", "deploy", "example"],
                env=DUMMY_AWS_ENV,
                log_file=Path(folder) / "worker.log",
            )
            with console.status("starting a worker process"):
                await asyncio.to_thread(worker.start)
            client = await connect_client(server.address, connect_timeout=30)
            ops = CloudOpsClient(client, task_queue=DEMO_TASK_QUEUE)
            network = await asyncio.to_thread(cloud.network)
            app = f"demo{uuid.uuid4().hex[:4]}"
            request = {
                "server_group": {
                    "application": app,
                    "stack": "web",
                    "image": network.image_id,
                    "instance_type": "t3.micro",
                    "capacity": {"min": 1, "max": 4, "desired": 2},
                    "zones": network.zones[:2],
                    "security_groups": [network.security_group_id],
                    "tags": {"team": "demo"},
                },
                "health_timeout_seconds": 300,
                "poll_interval_seconds": 1,
                "max_remaining_server_groups": 2,
            }
            labels = {"application": app}
            results = []
            for round_ in (1, 2):
                console.rule(f"deploy {round_} of 2: deploy.redBlack of {app}-web")
                handle = await ops.submit(
                    "deploy.redBlack",
                    request,
                    account=cloud.account,
                    region=cloud.region,
                    labels=labels,
                )
                console.print(f"started {handle.id}: {server.workflow_url(handle.id)}")

                async def crash_and_replace(w: WorkerProcess = worker) -> None:
                    console.print(
                        "[bold red]SIGKILL the worker[/bold red] in the middle of the "
                        "deploy, then start a new one: the deploy carries on"
                    )
                    w.kill()
                    await asyncio.to_thread(w.start)

                result = await _follow(
                    console,
                    handle,
                    "deploy.redBlack",
                    kill_after=1.0 if round_ == 2 else None,
                    on_kill=crash_and_replace,
                )
                print_result(console, result, as_json=False, full=False)
                results.append(result)
                if not result.ok:
                    break
            counts = cloud.proxy.counts if cloud.proxy else {}
            console.rule("what happened")
            injected = {k: v for k, v in counts.items() if k != "forwarded" and v}
            console.print(
                f"cloud API calls forwarded: {counts.get('forwarded', 0)}; "
                f"faults injected and survived: {injected or 'none'}"
            )
            groups = await asyncio.to_thread(_cluster_state, cloud, f"{app}-web")
            for name, state in groups.items():
                console.print(f"  {name}: {state}")
            console.print(f"Temporal UI: [link]{server.ui_url}[/link]")
            ok = len(results) == 2 and all(r.ok for r in results)
            console.print("[green]demo ok[/green]" if ok else "[red]demo failed[/red]")
            if keep:
                console.print("server, moto and worker keep running; Ctrl-C to stop")
                with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
                    await asyncio.Event().wait()
            return ok
        finally:
            if worker is not None:
                worker.stop()
            cloud.stop()
            server.stop()


def _cluster_state(cloud: Any, cluster: str) -> dict[str, str]:
    asg = cloud.client("autoscaling")
    states = {}
    for group in asg.describe_auto_scaling_groups()["AutoScalingGroups"]:
        name = group["AutoScalingGroupName"]
        if name.startswith(cluster + "-v"):
            suspended = {p["ProcessName"] for p in group.get("SuspendedProcesses", [])}
            serving = "disabled" if "AddToLoadBalancer" in suspended else "serving"
            states[name] = f"{serving}, {len(group['Instances'])} instance(s)"
    return dict(sorted(states.items()))


async def run_demo(cloudops: CloudOps, *, keep: bool = False) -> bool:
    """Run the demo; return True when every operation it ran ended ok."""
    console = Console()
    deploy_ready = all(importlib.util.find_spec(m) for m in DEPLOY_MODULES) and all(
        cloudops.catalogue.operation(name)
        for name in ("deploy.redBlack", "aws.createServerGroup", "aws.listServerGroups")
    )
    if deploy_ready:
        return await _deploy_demo(console, keep)
    if cloudops.catalogue.operation("example.echo") is None:
        console.print(
            "[red]the demo needs cloudops-deploy with cloudops-aws and cloudops-testing, or "
            "cloudops-example[/red]: pip install cloudops-deploy cloudops-aws cloudops-testing"
        )
        return False
    return await _echo_demo(console, cloudops, keep)
