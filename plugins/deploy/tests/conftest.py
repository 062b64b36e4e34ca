"""Fixtures of the deploy tests: each scenario runs once per installed cloud provider."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from deploy_clouds import CLOUDS, Cloud, cloud_for

import cloudops_deploy.plugin
from cloudops.client import CloudOpsClient


@pytest.fixture(params=CLOUDS)
def cloud(request: pytest.FixtureRequest) -> Cloud:
    """The cloud under test (its fixtures, emulator or moto, start only when needed)."""
    return cloud_for(request.param, request)


@pytest.fixture
async def deploy_ops(cloudops_worker: Any, cloud: Cloud) -> AsyncIterator[CloudOpsClient]:
    """A worker with the cloud's provider plugin and the deploy plugin, on its local cloud."""
    async with cloudops_worker(
        plugins=[cloud.plugin, cloudops_deploy.plugin],
        load_entrypoints=False,
        accounts=cloud.accounts,
    ) as ops:
        yield ops


@pytest.fixture
def app() -> str:
    """A fresh application per test (lowercase, so GCP can name groups after it)."""
    return f"d{uuid.uuid4().hex[:10]}"


class Monitor:
    """An HTTP deployment monitor: ``answer(body)`` gives each step's directive."""

    def __init__(self, answer: Callable[[dict[str, Any]], str]) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []
        monitor = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                monitor.calls.append(body)
                directive = monitor.answer(body)
                data = json.dumps(
                    {"nextStep": {"directive": directive}, "statusReason": f"said {directive}"}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/evaluateHealth"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def monitor() -> Iterator[Callable[[Callable[[dict[str, Any]], str]], Monitor]]:
    started: list[Monitor] = []

    def start(answer: Callable[[dict[str, Any]], str]) -> Monitor:
        started.append(Monitor(answer))
        return started[-1]

    yield start
    for m in started:
        m.close()
