"""`cloudops worker`'s operator flags: logs, metrics, and search attributes it may not add.

Each runs the installed script, against the session's Temporal server where one is needed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from cli_helpers import cloudops, run_cli
from cloudops import search_attributes as sa
from cloudops.server import DevServer, free_port
from cloudops_testing.processes import WorkerProcess

NO_SERVER = {"TEMPORAL_ADDRESS": "127.0.0.1:1", "CLOUDOPS_LOAD_PLUGINS": "example"}


def _error_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: "), out.stderr
    return lines[-1]


def test_a_log_format_that_does_not_exist() -> None:
    out = cloudops("worker", "--log-format", "xml", env=NO_SERVER)
    assert _error_line(out) == "error: --log-format must be text or json"
    assert len(out.stderr.strip().splitlines()) == 1


def test_the_log_level_is_applied_in_any_case() -> None:
    # the worker logs at DEBUG before it connects (asyncio's selector): seen at debug only
    debug = cloudops("worker", "--log-level", "debug", env=NO_SERVER)
    assert "cannot reach Temporal at 127.0.0.1:1" in _error_line(debug)
    assert " DEBUG asyncio Using selector" in debug.stderr
    default = cloudops("worker", env=NO_SERVER)
    assert "cannot reach Temporal" in _error_line(default)
    assert " DEBUG " not in default.stderr
    json_debug = cloudops("worker", "--log-level", "DEBUG", "--log-format", "json", env=NO_SERVER)
    first = json.loads(json_debug.stderr.splitlines()[0])
    assert first["level"] == "DEBUG" and first["logger"] == "asyncio", first


def test_a_metrics_host_that_is_not_an_address() -> None:
    port = free_port()
    out = cloudops(
        "worker", "--metrics-host", "metrics.invalid", "--metrics-port", str(port), env=NO_SERVER
    )
    line = _error_line(out)
    assert line.startswith(f"error: cannot serve metrics on metrics.invalid:{port} (")
    assert line.endswith("check --metrics-host and --metrics-port")


def _scrape(host: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


async def test_metrics_are_served_on_the_metrics_host(temporal_server: DevServer) -> None:
    port = free_port("127.0.0.2")
    worker = WorkerProcess(
        temporal_server.address,
        f"metrics-host-{uuid.uuid4().hex[:8]}",
        plugins=["example"],
        args=["--metrics-host", "127.0.0.2", "--metrics-port", str(port)],
    )
    await asyncio.to_thread(worker.start)
    try:
        assert "temporal_" in await asyncio.to_thread(_scrape, "127.0.0.2", port)
        with pytest.raises(urllib.error.URLError):  # not on the default 127.0.0.1
            await asyncio.to_thread(_scrape, "127.0.0.1", port)
    finally:
        assert await asyncio.to_thread(worker.stop) == 0


async def _crowded_namespace(client: Client) -> str:
    """A new namespace whose 10 Keyword search attributes are all taken: none can be added."""
    namespace = f"crowded-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    keyword = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace, search_attributes={f"Taken{i}": keyword for i in range(10)}
        )
    )
    return namespace


async def test_a_namespace_without_room_for_the_search_attributes(
    temporal_server: DevServer, temporal_client: Client
) -> None:
    namespace = await _crowded_namespace(temporal_client)
    env = {"TEMPORAL_ADDRESS": temporal_server.address, "CLOUDOPS_LOAD_PLUGINS": "example"}
    queue = f"no-sa-{uuid.uuid4().hex[:8]}"

    refused = await run_cli("worker", "--namespace", namespace, "--task-queue", queue, env=env)
    line = _error_line(refused)
    names = [key.name for key in sa.ALL]
    assert line.startswith(
        f"error: namespace '{namespace}' lacks the search attributes {', '.join(names)} and "
        "they could not be added (Unable to create search attributes: cannot have more than 10 "
        "search attribute of type Keyword.). Ask an admin to run: "
    ), line
    for name in names:
        assert (
            f"temporal operator search-attribute create --namespace {namespace} --name {name} "
            "--type Keyword" in line
        )
    assert line.endswith("; or start the worker with --no-search-attributes")

    worker = WorkerProcess(
        temporal_server.address,
        queue,
        plugins=["example"],
        args=["--namespace", namespace, "--no-search-attributes"],
    )
    await asyncio.to_thread(worker.start)
    try:
        ran = await run_cli(
            "run", "example.echo", "--input", '{"message": "no attributes"}', "--json",
            "--namespace", namespace, "--task-queue", queue, env=env,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        assert json.loads(ran.stdout)["value"]["text"] == "no attributes"
    finally:
        assert await asyncio.to_thread(worker.stop) == 0
