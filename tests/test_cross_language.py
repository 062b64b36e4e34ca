"""A non-Python client: the ``temporal`` CLI starts the runner with a JSON payload."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid

from cloudops.client import CloudOpsClient
from cloudops.server import DevServer, find_temporal


async def _execute(server: DevServer, task_queue: str, payload: str) -> dict:
    cmd = [
        find_temporal(),
        "workflow",
        "execute",
        "--address",
        server.address,
        "--type",
        "UntypedCloudOperationRunner",
        "--task-queue",
        task_queue,
        "--workflow-id",
        f"cli-{uuid.uuid4()}",
        "--input",
        payload,
        "--output",
        "json",
    ]
    done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["result"]


async def test_temporal_cli_runs_an_operation_with_json(
    temporal_server: DevServer, ops: CloudOpsClient
) -> None:
    payload = json.dumps({"operation": "example.echo", "input": {"message": "from Go"}})
    result = await _execute(temporal_server, ops.task_queue, payload)
    assert result["ok"] is True
    assert result["value"]["text"] == "from Go"
    assert result["error"] is None


async def test_temporal_cli_gets_invalid_input_for_a_malformed_payload(
    temporal_server: DevServer, ops: CloudOpsClient
) -> None:
    result = await _execute(temporal_server, ops.task_queue, '"not an object"')
    assert result["ok"] is False
    assert result["error"]["code"] == "INVALID_INPUT"
    result = await _execute(
        temporal_server, ops.task_queue, '{"operation": "example.echo", "input": {"repeat": "x"}}'
    )
    assert {e["field"] for e in result["error"]["details"]["errors"]} == {"message", "repeat"}
