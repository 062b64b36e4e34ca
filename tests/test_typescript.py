"""Embedding from another language: examples/typescript runs an operation with @temporalio/client.

``npm ci`` runs only when ``package-lock.json`` changed since the last install (a stamp in
``node_modules`` records its hash), so a warm run takes a few seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cloudops.client import CloudOpsClient
from cloudops.server import DevServer

EXAMPLE = Path(__file__).parent.parent / "examples" / "typescript"
STAMP = EXAMPLE / "node_modules" / ".cloudops-lock-sha256"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are needed for the TypeScript example (Node 20+ from nodejs.org or apt)",
)


def _npm(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    npm = shutil.which("npm")
    assert npm is not None
    done = subprocess.run(
        [npm, *args], cwd=EXAMPLE, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"npm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _install_and_build() -> None:
    lock = hashlib.sha256((EXAMPLE / "package-lock.json").read_bytes()).hexdigest()
    if not STAMP.is_file() or STAMP.read_text().strip() != lock:
        _npm("ci", "--no-audit", "--no-fund")
        STAMP.write_text(lock)
    _npm("run", "--silent", "build")  # tsc: the example type-checks against the SDK's types


async def _run_example(
    server: DevServer, task_queue: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """Build and run ``dist/run.js``; its exit and the WorkflowResults it printed."""
    await asyncio.to_thread(_install_and_build)
    node = shutil.which("node")
    assert node is not None
    done = await asyncio.to_thread(
        subprocess.run,
        [node, "dist/run.js"],
        cwd=EXAMPLE,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("CLOUDOPS_")},
            "TEMPORAL_ADDRESS": server.address,
            "TEMPORAL_NAMESPACE": "default",
            "CLOUDOPS_TASK_QUEUE": task_queue,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


async def test_typescript_client_runs_an_operation(
    temporal_server: DevServer, ops: CloudOpsClient
) -> None:
    done, (echo, malformed) = await _run_example(temporal_server, ops.task_queue)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"

    assert echo["ok"] is True
    assert echo["error"] is None
    assert echo["value"]["text"] == "hello from TypeScript hello from TypeScript"
    assert echo["metadata"]["operation"] == "example.echo"
    assert echo["metadata"]["workflow_id"].startswith("cloudops-ts-")
    assert [step["name"] for step in echo["metadata"]["steps"]] == ["echo"]

    assert malformed["ok"] is False
    assert malformed["value"] is None
    assert malformed["error"]["code"] == "INVALID_INPUT"
    fields = {e["field"] for e in malformed["error"]["details"]["errors"]}
    assert fields == {"message", "repeat"}


async def test_typescript_client_seals_its_token_for_a_worker_requiring_identity(
    temporal_server: DevServer, cloudops_worker: Any, tmp_path: Path
) -> None:
    from test_authorization import PLUGINS, IdentityProvider

    idp = IdentityProvider(tmp_path)  # its rules let alice run example.*
    try:
        async with cloudops_worker(PLUGINS, allow=["example"], accounts=idp.config()) as secured:
            token = tmp_path / "token"
            token.write_text(idp.token("alice"))
            done, (echo, malformed) = await _run_example(
                temporal_server,
                secured.task_queue,
                CLOUDOPS_TOKEN_FILE=str(token),
                CLOUDOPS_SEAL_KEY=str(idp.seal_public),
            )
            assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
            assert echo["ok"] is True, echo["error"]
            assert echo["metadata"]["subject"] == "alice"
            assert malformed["error"]["code"] == "INVALID_INPUT"

            # the same program without a token: the worker refuses it
            done, (refused, _) = await _run_example(temporal_server, secured.task_queue)
            assert done.returncode == 1, f"{done.stdout}\n{done.stderr}"
            assert refused["error"]["code"] == "UNAUTHENTICATED"
            assert refused["error"]["details"]["reason"] == "missing"

            # a token without the seal key is never sent in clear
            done, printed = await _run_example(
                temporal_server, secured.task_queue, CLOUDOPS_TOKEN=idp.token("alice")
            )
            assert done.returncode == 2 and printed == []
            assert "CLOUDOPS_SEAL_KEY" in done.stderr
    finally:
        idp.stop()
