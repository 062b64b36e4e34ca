"""Observability: metrics on a Prometheus endpoint, one trace per operation, log context."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
import uuid

import pytest

import fake_plugin
from cloudops.client import CloudOpsClient, connect_client
from cloudops.registry import CloudOps
from cloudops.server import DevServer, free_port
from cloudops.telemetry import (
    ContextFilter,
    JsonFormatter,
    configure_logging,
    operation_context,
    runtime_with_prometheus,
)
from cloudops.worker import build_worker
from cloudops_testing.pytest_plugin import accounts_from
from fake_plugin import ACCOUNTS
from test_cloud_api_telemetry import memory_span_exporter


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


async def test_worker_exports_operation_retry_and_cloud_api_metrics(
    temporal_server: DevServer,
) -> None:
    port = free_port()
    client = await connect_client(
        temporal_server.address, runtime=runtime_with_prometheus(f"127.0.0.1:{port}")
    )
    registry = CloudOps([fake_plugin], allow=["example"])
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    worker = build_worker(
        client, registry, task_queue=queue, accounts=accounts_from(ACCOUNTS, registry)
    )
    async with worker:
        ops = CloudOpsClient(client, task_queue=queue)
        retried = {"steps": [{"name": "r", "fail_with": "retryable", "fail_times": 1}]}
        assert (await ops.execute("fake.chain", retried)).ok
        refused = {"steps": [{"name": "q", "fail_with": "QUOTA_EXCEEDED"}]}
        assert (await ops.execute("fake.chain", refused)).error.code == "QUOTA_EXCEEDED"
        assert (
            await ops.execute("fakecloud.touch", {"name": "t"}, account="lab", region="eu-west-1")
        ).ok
        text = ""
        for _ in range(50):  # the SDK exports periodically
            text = await asyncio.to_thread(_scrape, port)
            if "cloudops_cloud_api_latency" in text and "cloudops_operations_failed" in text:
                break
            await asyncio.sleep(0.2)
    lines = text.splitlines()

    def value(prefix: str, *labels: str) -> float:
        found = [ln for ln in lines if ln.startswith(prefix) and all(x in ln for x in labels)]
        assert found, f"no {prefix} with {labels} in metrics"
        return sum(float(ln.rsplit(" ", 1)[1]) for ln in found)

    assert value("cloudops_operations_started_total", 'operation="fake.chain"') == 2
    assert value("cloudops_operations_succeeded_total", 'operation="fake.chain"') == 1
    assert value("cloudops_operations_failed_total", 'code="QUOTA_EXCEEDED"') == 1
    assert value("cloudops_activity_retries_total", 'activity="fake.make"') == 1
    assert (
        value("cloudops_activity_failures_total", 'error_type="Retryable"', 'retryable="true"') == 1
    )
    assert (
        value(
            "cloudops_activity_failures_total", 'error_type="QUOTA_EXCEEDED"', 'retryable="false"'
        )
        == 1
    )
    assert value("cloudops_cloud_api_latency_count", 'api="Touch"', 'provider="fakecloud"') == 1


async def test_one_trace_per_operation_with_activity_and_cloud_call_spans(
    temporal_server: DevServer,
) -> None:
    from temporalio.contrib.opentelemetry import TracingInterceptor

    exporter = memory_span_exporter()
    client = await connect_client(temporal_server.address, interceptors=[TracingInterceptor()])
    registry = CloudOps([fake_plugin], allow=["example"])
    queue = f"trace-{uuid.uuid4().hex[:8]}"
    worker = build_worker(
        client, registry, task_queue=queue, accounts=accounts_from(ACCOUNTS, registry), tracing=True
    )
    async with worker:
        ops = CloudOpsClient(client, task_queue=queue)
        result = await ops.execute(
            "fakecloud.touch", {"name": "t"}, account="lab", region="eu-west-1"
        )
        assert result.ok
    spans = exporter.get_finished_spans()
    exporter.shutdown()
    names = {span.name for span in spans}
    assert "StartWorkflow:UntypedCloudOperationRunner" in names
    assert "RunWorkflow:UntypedCloudOperationRunner" in names
    assert "RunActivity:fakecloud.touch" in names
    assert "fakecloud.things.Touch" in names
    run_ids = {
        span.context.trace_id
        for span in spans
        if span.name
        in (
            "StartWorkflow:UntypedCloudOperationRunner",
            "RunActivity:fakecloud.touch",
            "fakecloud.things.Touch",
        )
    }
    assert len(run_ids) == 1, "the operation's spans belong to one trace"
    call = next(span for span in spans if span.name == "fakecloud.things.Touch")
    assert call.attributes["cloudops.operation"] == "fakecloud.touch"
    assert call.attributes["cloudops.account"] == "lab"


async def test_activity_logs_carry_operation_account_region_and_workflow_id(
    ops: CloudOpsClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(ContextFilter())
    request_id = f"logs-{uuid.uuid4()}"
    with caplog.at_level(logging.INFO, logger="fakecloud"):
        result = await ops.execute(
            "fakecloud.touch",
            {"name": "t"},
            account="lab",
            region="us-east-1",
            request_id=request_id,
        )
    assert result.ok
    [record] = [r for r in caplog.records if r.name == "fakecloud"]
    assert record.cloudops_operation == "fakecloud.touch"
    assert record.cloudops_account == "lab"
    assert record.cloudops_region == "us-east-1"
    assert record.cloudops_workflow_id == request_id
    # --log-format json: the same record as one JSON object, the context as fields.
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry.pop("time")
    assert entry == {
        "level": "INFO",
        "logger": "fakecloud",
        "message": "touching t",
        "operation": "fakecloud.touch",
        "account": "lab",
        "region": "us-east-1",
        "workflow_id": request_id,
    }


def test_json_logs_are_one_object_per_line_with_the_exception_and_only_known_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("json", "debug")
        log = logging.getLogger("cloudops.test")
        log.debug("outside any operation")
        with operation_context({"operation": "aws.resizeServerGroup", "region": "eu-west-1"}):
            try:
                raise ValueError("multi\nline")
            except ValueError:
                log.exception("failed: %s", "resize")
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    plain, failed = (json.loads(line) for line in lines)
    assert plain.keys() == {"time", "level", "logger", "message"}
    assert (plain["level"], plain["logger"], plain["message"]) == (
        "DEBUG",
        "cloudops.test",
        "outside any operation",
    )
    assert failed["message"] == "failed: resize" and failed["level"] == "ERROR"
    assert (failed["operation"], failed["region"]) == ("aws.resizeServerGroup", "eu-west-1")
    assert "account" not in failed and "workflow_id" not in failed  # empty fields are left out
    assert (
        failed["exception"].startswith("Traceback")
        and "ValueError: multi\nline" in failed["exception"]
    )


class _Collector:
    """A minimal OTLP/HTTP traces endpoint: keeps every span it is sent."""

    def __init__(self) -> None:
        import http.server
        import threading

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        self.spans: list[tuple[str, bytes, str]] = []  # (name, trace id, service.name)
        spans = self.spans

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    service = next(
                        (
                            a.value.string_value
                            for a in resource.resource.attributes
                            if a.key == "service.name"
                        ),
                        "",
                    )
                    for scope in resource.scope_spans:
                        spans.extend((s.name, s.trace_id, service) for s in scope.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def test_worker_sends_its_spans_to_an_otlp_endpoint(
    worker_process, temporal_server: DevServer
) -> None:
    from temporalio.contrib.opentelemetry import TracingInterceptor

    # The caller traces too (its StartWorkflow span is the trace's root, carried in headers).
    caller_spans = memory_span_exporter()
    client = await connect_client(temporal_server.address, interceptors=[TracingInterceptor()])
    collector = _Collector()
    queue = f"otlp-{uuid.uuid4().hex[:8]}"
    try:
        worker = await asyncio.to_thread(
            worker_process,
            queue,
            plugins=["example"],
            args=["--otlp-endpoint", collector.url],
        )
        ops = CloudOpsClient(client, task_queue=queue)
        assert (await ops.execute("example.echo", {"message": "traced"})).ok
        assert await asyncio.to_thread(worker.stop) == 0  # a clean stop flushes the spans
        names = {name: (trace, service) for name, trace, service in collector.spans}
        workflow = names.get("RunWorkflow:UntypedCloudOperationRunner")
        activity = names.get("RunActivity:example.echo")
        assert workflow and activity, sorted(names)
        assert workflow[0] == activity[0]  # one trace per operation
        assert workflow[1] == "cloudops-worker"
        starts = [
            span
            for span in caller_spans.get_finished_spans()
            if span.name == "StartWorkflow:UntypedCloudOperationRunner"
            and span.context.trace_id.to_bytes(16, "big") == workflow[0]
        ]
        assert len(starts) == 1  # the worker's spans continue the caller's trace
    finally:
        collector.server.shutdown()
        caller_spans.shutdown()


async def test_worker_tracing_flag_exports_to_the_standard_otlp_environment(
    worker_process, temporal_server: DevServer
) -> None:
    """``--tracing`` with ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the SDK's own variable) exports too."""
    collector = _Collector()
    queue = f"otlp-env-{uuid.uuid4().hex[:8]}"
    try:
        worker = await asyncio.to_thread(
            worker_process,
            queue,
            plugins=["example"],
            args=["--tracing"],
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url.removesuffix("/v1/traces")},
        )
        client = await connect_client(temporal_server.address)
        ops = CloudOpsClient(client, task_queue=queue)
        assert (await ops.execute("example.echo", {"message": "traced"})).ok
        assert await asyncio.to_thread(worker.stop) == 0  # a clean stop flushes the spans
        names = {name for name, _, _ in collector.spans}
        assert "RunActivity:example.echo" in names, sorted(names)
    finally:
        collector.server.shutdown()
