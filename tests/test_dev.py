"""`cloudops worker` and `cloudops dev` as processes: durable across restarts, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from cloudops.client import CloudOpsClient, connect_client
from cloudops.server import free_port
from cloudops_testing.processes import WorkerProcess


async def test_worker_process_serves_and_stops_cleanly(worker_process, temporal_client) -> None:
    queue = f"proc-{uuid.uuid4().hex[:8]}"
    worker = await asyncio.to_thread(worker_process, queue, plugins=["example"])
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    result = await ops.execute("example.echo", {"message": "from a worker process"})
    assert result.ok and result.value["text"] == "from a worker process"
    assert await asyncio.to_thread(worker.stop) == 0


async def test_killed_worker_is_replaced_and_the_operation_finishes_once(
    worker_process, temporal_client
) -> None:
    queue = f"kill-{uuid.uuid4().hex[:8]}"
    worker = await asyncio.to_thread(worker_process, queue, plugins=["example"])
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    handle = await ops.submit("example.echo", {"message": "durable", "wait_seconds": 2})
    await asyncio.sleep(0.5)
    worker.kill()
    await asyncio.to_thread(worker.start)
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.ok and result.value["text"] == "durable"
    history = await handle.handle.fetch_history()
    completed = [
        e for e in history.events if e.HasField("activity_task_completed_event_attributes")
    ]
    assert len(completed) == 1


async def test_worker_metrics_port_and_json_logs(worker_process, temporal_client) -> None:
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    port = free_port()
    worker = await asyncio.to_thread(
        worker_process,
        queue,
        plugins=["example"],
        args=["--metrics-port", str(port), "--log-format", "json"],
    )
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    assert (await ops.execute("example.echo", {"message": "counted"})).ok
    text = ""
    for _ in range(50):
        text = await asyncio.to_thread(_scrape, port)
        if "cloudops_operations_succeeded_total" in text:
            break
        await asyncio.sleep(0.2)
    assert "cloudops_operations_succeeded_total{" in text
    assert "temporal_workflow_completed" in text  # the SDK's own metrics too
    assert await asyncio.to_thread(worker.stop) == 0


def _scrape(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def _start_dev(
    db: Path, port: int, ui_port: int, log: Path, plugins: str = "example"
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CLOUDOPS_LOAD_PLUGINS": plugins}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudops",
            "dev",
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
            "--db",
            str(db),
        ],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def test_dev_restart_finishes_a_workflow_started_before_the_stop(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    db, log = tmp_path / "not" / "yet" / "temporal.sqlite", tmp_path / "dev.log"  # no folder
    dev = _start_dev(db, port, ui_port, log)
    try:
        client = await connect_client(f"127.0.0.1:{port}", connect_timeout=60)
        ops = CloudOpsClient(client)
        for _ in range(200):  # wait until the worker prints that it is ready
            if "worker ready" in log.read_text():
                break
            await asyncio.sleep(0.1)
        assert f"http://127.0.0.1:{ui_port}" in log.read_text()
        handle = await ops.submit("example.echo", {"message": "survivor", "wait_seconds": 3})
        await asyncio.sleep(0.5)
        dev.send_signal(signal.SIGINT)  # Ctrl-C
        assert await asyncio.to_thread(dev.wait, 30) == 0
        assert WorkerProcess.wait_port_closed("127.0.0.1", port)
        assert "stopped the worker and the Temporal server" in log.read_text()

        dev = _start_dev(db, port, ui_port, log)
        client = await connect_client(f"127.0.0.1:{port}", connect_timeout=60)
        result = await asyncio.wait_for(CloudOpsClient(client).get_handle(handle.id).result(), 60)
        assert result.ok and result.value["text"] == "survivor"
    finally:
        dev.send_signal(signal.SIGINT)
        await asyncio.to_thread(dev.wait, 30)


async def test_dev_starts_local_cloud_emulators_with_accounts(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    log = tmp_path / "dev.log"
    dev = _start_dev(tmp_path / "t.sqlite", port, ui_port, log, plugins="aws,gcp,azure")
    try:
        for _ in range(300):
            if "worker ready" in log.read_text():
                break
            await asyncio.sleep(0.1)
        assert "local cloud accounts: local-aws, local-azure, local-gcp" in log.read_text()
        ops = CloudOpsClient(await connect_client(f"127.0.0.1:{port}", connect_timeout=60))
        for cloud, region in (("aws", "us-east-1"), ("gcp", "us-central1"), ("azure", "eastus")):
            listed = await ops.execute(
                f"{cloud}.listServerGroups" if cloud == "aws" else f"{cloud}.describeServerGroup",
                {"application": "nothing"} if cloud == "aws" else {"server_group": "nothing-v000"},
                account=f"local-{cloud}",
                region=region,
            )
            if cloud == "aws":
                assert listed.ok and listed.value["server_groups"] == []
            else:  # the emulator answered: the group does not exist
                assert listed.error is not None and listed.error.code == "NOT_FOUND", listed
    finally:
        dev.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(dev.wait, 30) == 0
