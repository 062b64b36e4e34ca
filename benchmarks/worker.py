"""One benchmark worker process: ``python benchmarks/worker.py KIND ADDRESS TASK_QUEUE``.

KIND is ``bare`` (plain Temporal), ``cloudops`` (build_worker, defaults: sandbox, search
attributes, telemetry interceptor, pydantic), or a cloudops variant with one part switched off,
used to attribute the overhead: ``cloudops-nosa`` (no search attribute upserts),
``cloudops-notelemetry`` (no TelemetryInterceptor), ``cloudops-nosandbox`` (unsandboxed runner),
``cloudops-nostc`` (``bench.noop``'s activity without the default 30-minute schedule-to-close
timeout, like the bare workflow's).
Prints ``worker ready`` once polling; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkerConfig


class _Variant:
    """Wraps CloudOpsPlugin.configure_worker to switch one part off (benchmark only)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def patch(self, plugin: Any) -> None:
        from cloudops.telemetry import TelemetryInterceptor

        original = plugin.configure_worker
        kind = self.kind

        def configure_worker(config: WorkerConfig) -> WorkerConfig:
            config = original(config)
            if kind == "cloudops-nosandbox":
                config["workflow_runner"] = UnsandboxedWorkflowRunner()
            if kind == "cloudops-notelemetry":
                config["interceptors"] = [
                    i
                    for i in config.get("interceptors", [])
                    if not isinstance(i, TelemetryInterceptor)
                ]
            return config

        plugin.configure_worker = configure_worker


async def main(kind: str, address: str, task_queue: str, options: dict[str, Any]) -> None:
    """Run the worker until SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if kind == "bare":
        from bare import BareEmptyWorkflow, BareWorkflow, bare_noop

        client = await Client.connect(address)
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[BareWorkflow, BareEmptyWorkflow],
            activities=[bare_noop],
            **options,
        )
    else:
        import bench_plugin
        from temporalio.contrib.pydantic import pydantic_data_converter

        from cloudops.accounts import FileConfig
        from cloudops.registry import CloudOps
        from cloudops.worker import CloudOpsPlugin, account_book

        if kind == "cloudops-nostc":
            from cloudops.operation import ActivityDefaults

            bench_plugin.Noop.activity_defaults = ActivityDefaults(schedule_to_close_timeout=None)
        ops = CloudOps(plugins=[bench_plugin], load_entrypoints=False)
        plugin = CloudOpsPlugin(
            ops,
            accounts=account_book(ops, FileConfig()),
            search_attributes=kind != "cloudops-nosa",
        )
        _Variant(kind).patch(plugin)
        client = await Client.connect(address, data_converter=pydantic_data_converter)
        worker = Worker(client, task_queue=task_queue, plugins=[plugin], **options)
    async with worker:
        print("worker ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    kind, address, task_queue, *rest = sys.argv[1:]
    opts = {k: int(v) for k, v in (item.split("=") for item in rest)}
    asyncio.run(main(kind, address, task_queue, opts))
    from cloudops.shutdown import hard_exit

    hard_exit(0)  # sdk-python#300: never let interpreter exit abort after a Worker ran
