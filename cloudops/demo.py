"""``cloudops demo``: the main job on embedded defaults, with nothing to set up.

It starts a local Temporal dev server with its UI and a worker with every installed plugin, then
runs the richest operation the installed plugins offer, showing live progress, and prints the
WorkflowResult with its link in the Temporal UI.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from cloudops.accounts import AccountBook
from cloudops.client import CloudOpsClient, connect_client
from cloudops.registry import CloudOps
from cloudops.render import print_result, progress_line
from cloudops.serve import serve
from cloudops.server import DevServer

__all__ = ["run_demo"]

DEMO_TASK_QUEUE = "cloudops-demo"


async def _run_echo(ops: CloudOpsClient, console: Console, server: DevServer) -> bool:
    console.rule("example.echo")
    handle = await ops.submit(
        "example.echo",
        {"message": "hello from cloudops", "repeat": 2},
        labels={"application": "demo"},
    )
    console.print(f"started {handle.id}: {server.workflow_url(handle.id)}")
    task = asyncio.ensure_future(handle.result())
    with console.status("example.echo: starting") as status:
        while not task.done():
            with contextlib.suppress(Exception):  # best-effort display
                status.update(progress_line("example.echo", await handle.progress()))
            await asyncio.wait([task], timeout=0.3)
    result = task.result()
    print_result(console, result, as_json=False)
    console.print(f"Temporal UI: {server.workflow_url(handle.id)}")
    return result.ok


async def run_demo(cloudops: CloudOps, *, keep: bool = False) -> bool:
    """Run the demo; return True when every operation it ran ended ok."""
    console = Console()
    if cloudops.catalogue.operation("example.echo") is None:
        console.print(
            "[red]the demo needs the cloudops-example plugin[/red]: pip install cloudops-example"
        )
        return False
    with tempfile.TemporaryDirectory(prefix="cloudops-demo-") as folder:
        server = DevServer(ui=True, db_file=Path(folder) / "temporal.sqlite")
        with console.status("starting a local Temporal server"):
            server.start()
        try:
            console.print(f"Temporal server {server.address}, UI {server.ui_url}")
            client = await connect_client(server.address, connect_timeout=30)
            ops = CloudOpsClient(client, task_queue=DEMO_TASK_QUEUE)
            stop = asyncio.Event()
            outcome: dict[str, Any] = {}

            async def scenario() -> None:
                try:
                    outcome["ok"] = await _run_echo(ops, console, server)
                finally:
                    if keep:
                        console.print("server and worker keep running; Ctrl-C to stop")
                    else:
                        stop.set()

            tasks: list[asyncio.Future[None]] = []

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
            return bool(outcome.get("ok"))
        finally:
            server.stop()
