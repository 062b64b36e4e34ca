"""Every cloud API call of the three providers is a span and a latency sample.

One worker with the AWS, GCP and Azure plugins runs real operations on a real Temporal server
(boto3 on moto, google-cloud-compute and azure-mgmt-compute on the emulators), traced into an
in-memory OpenTelemetry exporter and exporting metrics on a Prometheus endpoint, as
``cloudops worker --tracing --metrics-port`` does.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest_asyncio

import cloudops_aws.plugin
import cloudops_azure.plugin
import cloudops_gcp.plugin
from cloudops.client import CloudOpsClient, connect_client
from cloudops.registry import CloudOps
from cloudops.server import DevServer, free_port
from cloudops.telemetry import runtime_with_prometheus
from cloudops.worker import build_worker
from cloudops_testing.faults import FaultProxy, FaultRules, ProxyRequest
from cloudops_testing.fixtures_aws import MOTO_REGION, MotoNetwork, aws_account_config
from cloudops_testing.fixtures_azure import (
    AZURE_IMAGE,
    AZURE_LOAD_BALANCER,
    AZURE_REGION,
    azure_account_config,
)
from cloudops_testing.fixtures_gcp import GCP_REGION, gcp_account_config
from cloudops_testing.pytest_plugin import accounts_from

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from cloudops_testing.azure_emulator import AzureEmulator
    from cloudops_testing.gcp_emulator import GcpEmulator
    from cloudops_testing.moto_server import MotoServer

FAST = {"poll_interval_seconds": 0.2, "wait_timeout_seconds": 60}


def memory_span_exporter() -> InMemorySpanExporter:
    """An in-memory exporter of every span finished from now on.

    OpenTelemetry allows one global tracer provider per process: the first caller sets an SDK
    provider, later ones add their exporter to it (call ``shutdown()`` on it when done).
    """
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@dataclass
class Traced:
    """A traced, metered worker serving the three providers, and where to read what it emits."""

    ops: CloudOpsClient
    spans: InMemorySpanExporter
    metrics_port: int
    aws_proxy: FaultProxy  # in front of moto, for the ``moto-faulty`` account


@pytest_asyncio.fixture(scope="module")
async def traced(
    temporal_server: DevServer,
    moto_server: MotoServer,
    gcp_emulator: GcpEmulator,
    azure_emulator: AzureEmulator,
) -> AsyncIterator[Traced]:
    from temporalio.contrib.opentelemetry import TracingInterceptor

    exporter = memory_span_exporter()
    port = free_port()
    client = await connect_client(
        temporal_server.address,
        runtime=runtime_with_prometheus(f"127.0.0.1:{port}"),
        interceptors=[TracingInterceptor()],
    )
    proxy = FaultProxy(moto_server.url, FaultRules())
    proxy.start()
    accounts: dict[str, Any] = {}
    for config in (
        aws_account_config(moto_server.url),
        aws_account_config(proxy.url, name="moto-faulty", max_attempts=2),
        gcp_account_config(gcp_emulator.url),
        azure_account_config(azure_emulator.url),
    ):
        accounts.update(config["accounts"])
    registry = CloudOps(
        [cloudops_aws.plugin, cloudops_gcp.plugin, cloudops_azure.plugin], load_entrypoints=False
    )
    queue = f"cloud-api-{uuid.uuid4().hex[:8]}"
    worker = build_worker(
        client,
        registry,
        task_queue=queue,
        accounts=accounts_from({"accounts": accounts}, registry),
        tracing=True,
    )
    try:
        async with worker:
            yield Traced(CloudOpsClient(client, task_queue=queue), exporter, port, proxy)
    finally:
        proxy.stop()
        exporter.shutdown()


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


async def _latency_lines(traced: Traced, *labels: str) -> list[str]:
    """The ``cloudops_cloud_api_latency`` lines carrying every one of ``labels``.

    Waits for them a little: the SDK exports metrics periodically.
    """
    found: list[str] = []
    for _ in range(50):
        text = await asyncio.to_thread(_scrape, traced.metrics_port)
        found = [
            line
            for line in text.splitlines()
            if line.startswith("cloudops_cloud_api_latency") and all(x in line for x in labels)
        ]
        if any(line.startswith("cloudops_cloud_api_latency_count") for line in found):
            return found
        await asyncio.sleep(0.2)
    return found


def _count(lines: list[str]) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("cloudops_cloud_api_latency_count")
    )


def _trace_of(spans: list[ReadableSpan], request_id: str) -> list[ReadableSpan]:
    """Every span of the trace the operation ``request_id`` started."""
    start = next(
        s
        for s in spans
        if s.name.startswith("StartWorkflow:")
        and (s.attributes or {}).get("temporalWorkflowID") == request_id
    )
    assert start.context is not None
    return [
        s for s in spans if s.context is not None and s.context.trace_id == start.context.trace_id
    ]


def _calls(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def _assert_under_activity(call: ReadableSpan, trace: list[ReadableSpan], operation: str) -> None:
    """The cloud call's parent is an activity's span of the operation's trace."""
    assert call.parent is not None
    parent = next(
        s for s in trace if s.context is not None and s.context.span_id == call.parent.span_id
    )
    assert parent.name.startswith("RunActivity:"), parent.name
    attributes = call.attributes or {}
    assert attributes["cloudops.operation"] == operation


async def _create_aws_group(
    traced: Traced, network: MotoNetwork, *, account: str, desired: int
) -> str:
    """Run aws.createServerGroup (of ``desired`` instances) on ``account``; its request id."""
    app = f"t{uuid.uuid4().hex[:10]}"
    request_id = f"{app}-create"
    result = await traced.ops.execute(
        "aws.createServerGroup",
        {
            "application": app,
            "stack": "test",
            "image": network.image_id,
            "instance_type": "t3.micro",
            "capacity": {"min": desired, "max": 1, "desired": desired},
            "zones": [f"{MOTO_REGION}a"],
            "security_groups": [network.security_group_id],
            **FAST,
        },
        account=account,
        region=MOTO_REGION,
        request_id=request_id,
    )
    assert result.ok, result.error
    return request_id


async def test_aws_calls_are_spans_under_their_activity_and_latency_samples(
    traced: Traced, moto_network: MotoNetwork
) -> None:
    request_id = await _create_aws_group(traced, moto_network, account="moto", desired=1)
    trace = _trace_of(list(traced.spans.get_finished_spans()), request_id)
    [create] = _calls(trace, "aws.autoscaling.CreateAutoScalingGroup")
    _assert_under_activity(create, trace, "aws.createServerGroup")
    attributes = create.attributes or {}
    assert attributes["cloudops.account"] == "moto"
    assert attributes["cloudops.region"] == MOTO_REGION
    assert attributes["cloudops.outcome"] == "ok"
    assert attributes["http.response.status_code"] == 200
    assert _calls(trace, "aws.ec2.CreateLaunchTemplate")

    lines = await _latency_lines(
        traced,
        'provider="aws"',
        'service="autoscaling"',
        'api="CreateAutoScalingGroup"',
        'outcome="ok"',
    )
    assert any(line.startswith("cloudops_cloud_api_latency_bucket") for line in lines), lines
    assert _count(lines) >= 1


async def test_aws_attempt_answered_by_an_injected_503_is_an_error_span_and_sample(
    traced: Traced, moto_network: MotoNetwork
) -> None:
    injected: list[str] = []
    lock = threading.Lock()

    def first_create(request: ProxyRequest) -> bool:
        with lock:
            if "CreateAutoScalingGroup" in request.summary and not injected:
                injected.append(request.summary)
                return True
            return False

    traced.aws_proxy.rules = FaultRules(unavailable=1.0, match=first_create)
    request_id = await _create_aws_group(traced, moto_network, account="moto-faulty", desired=0)
    assert injected, "the proxy answered 503 once"
    trace = _trace_of(list(traced.spans.get_finished_spans()), request_id)

    # botocore retried the 503 in the same activity attempt: two spans, one per HTTP attempt.
    failed, succeeded = sorted(
        _calls(trace, "aws.autoscaling.CreateAutoScalingGroup"), key=lambda s: s.start_time or 0
    )
    assert failed.parent is not None and succeeded.parent is not None
    assert failed.parent.span_id == succeeded.parent.span_id
    failure = failed.attributes or {}
    assert failure["cloudops.outcome"] == "error"
    assert failure["http.response.status_code"] == 503
    assert failure["cloudops.error_code"] == "ServiceUnavailable"
    assert not failed.status.is_ok
    assert (succeeded.attributes or {})["cloudops.outcome"] == "ok"

    lines = await _latency_lines(
        traced,
        'provider="aws"',
        'service="autoscaling"',
        'api="CreateAutoScalingGroup"',
        'outcome="error"',
        'http_status="503"',
    )
    assert _count(lines) == 1


async def test_gcp_calls_are_spans_under_their_activity_and_latency_samples(
    traced: Traced,
) -> None:
    app = f"t{uuid.uuid4().hex[:10]}"
    request_id = f"{app}-create"
    result = await traced.ops.execute(
        "gcp.createServerGroup",
        {
            "application": app,
            "stack": "test",
            "image": "projects/debian-cloud/global/images/family/debian-12",
            "instance_type": "e2-small",
            "capacity": {"min": 1, "max": 1, "desired": 1},
            "zones": [f"{GCP_REGION}-a"],
            **FAST,
        },
        account="gcp-emu",
        region=GCP_REGION,
        request_id=request_id,
    )
    assert result.ok, result.error
    trace = _trace_of(list(traced.spans.get_finished_spans()), request_id)
    [insert] = _calls(trace, "gcp.instanceGroupManagers.insert")
    _assert_under_activity(insert, trace, "gcp.createServerGroup")
    assert (insert.attributes or {})["cloudops.outcome"] == "ok"
    assert (insert.attributes or {})["http.response.status_code"] == 200
    assert _calls(trace, "gcp.instanceTemplates.insert")
    assert _calls(trace, "gcp.zoneOperations.get"), "operation polls are calls too"
    assert _calls(trace, "gcp.instanceGroupManagers.listManagedInstances")
    # The create reads before it inserts (idempotency): the 404 answers are labelled errors.
    missing = [s for s in trace if (s.attributes or {}).get("http.response.status_code") == 404]
    assert missing, "a read of something not there yet"
    for span in missing:
        assert (span.attributes or {})["cloudops.outcome"] == "error"
        assert (span.attributes or {})["cloudops.error_code"] == "notFound"
        assert not span.status.is_ok

    ok = await _latency_lines(
        traced, 'provider="gcp"', 'service="instanceGroupManagers"', 'api="insert"', 'outcome="ok"'
    )
    assert any(line.startswith("cloudops_cloud_api_latency_bucket") for line in ok), ok
    not_found = await _latency_lines(
        traced, 'provider="gcp"', 'outcome="error"', 'http_status="404"'
    )
    assert _count(not_found) >= 1


async def test_azure_calls_are_spans_under_their_activity_and_latency_samples(
    traced: Traced,
) -> None:
    app = f"t{uuid.uuid4().hex[:10]}"
    request_id = f"{app}-create"
    result = await traced.ops.execute(
        "azure.createServerGroup",
        {
            "application": app,
            "stack": "test",
            "image": AZURE_IMAGE,
            "instance_type": "Standard_B1s",
            "capacity": {"min": 1, "max": 1, "desired": 1},
            "zones": ["1"],
            "load_balancers": [f"{AZURE_LOAD_BALANCER}/web"],
            **FAST,
        },
        account="azure-emu",
        region=AZURE_REGION,
        request_id=request_id,
    )
    assert result.ok, result.error
    trace = _trace_of(list(traced.spans.get_finished_spans()), request_id)
    [put] = _calls(trace, "azure.virtualMachineScaleSets.createOrUpdate")
    _assert_under_activity(put, trace, "azure.createServerGroup")
    assert (put.attributes or {})["cloudops.outcome"] == "ok"
    assert (put.attributes or {})["http.response.status_code"] == 201
    assert _calls(trace, "azure.virtualMachineScaleSets/virtualMachines.list")
    polls = _calls(trace, "azure.operations.get")
    assert polls
    for poll in polls:
        _assert_under_activity(poll, trace, "azure.createServerGroup")

    missing = await traced.ops.execute(
        "azure.describeServerGroup",
        {"server_group": f"{app}-nope-v000"},
        account="azure-emu",
        region=AZURE_REGION,
        request_id=f"{app}-missing",
    )
    assert missing.error is not None and missing.error.code == "NOT_FOUND"
    [get] = _calls(
        _trace_of(list(traced.spans.get_finished_spans()), f"{app}-missing"),
        "azure.virtualMachineScaleSets.get",
    )
    assert (get.attributes or {})["cloudops.outcome"] == "error"
    assert (get.attributes or {})["http.response.status_code"] == 404
    assert (get.attributes or {})["cloudops.error_code"] == "ResourceNotFound"

    ok = await _latency_lines(
        traced,
        'provider="azure"',
        'service="virtualMachineScaleSets"',
        'api="createOrUpdate"',
        'outcome="ok"',
        'http_status="201"',
    )
    assert any(line.startswith("cloudops_cloud_api_latency_bucket") for line in ok), ok
    not_found = await _latency_lines(
        traced,
        'provider="azure"',
        'service="virtualMachineScaleSets"',
        'api="get"',
        'outcome="error"',
        'http_status="404"',
    )
    assert _count(not_found) >= 1


def _unreachable_calls(url: str) -> list[BaseException]:
    """One call per provider to ``url``, where nothing listens, outside any activity."""
    import boto3
    from botocore.config import Config
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    from cloudops_aws.clients import instrument
    from cloudops_azure.clients import telemetry_policy
    from cloudops_gcp.clients import instrumented_transport
    from cloudops_testing.fixtures_azure import emulator_compute_client

    asg = instrument(
        boto3.client(
            "autoscaling",
            region_name=MOTO_REGION,
            endpoint_url=url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # dummy: nothing listens there
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=2),
        )
    )
    templates = compute_v1.InstanceTemplatesClient(
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        transport=instrumented_transport(compute_v1.InstanceTemplatesClient),
        client_options=ClientOptions(api_endpoint=url),
    )
    compute = emulator_compute_client(url, per_retry_policies=[telemetry_policy()])
    errors: list[BaseException] = []
    for call in (
        lambda: asg.describe_auto_scaling_groups(),
        lambda: templates.get(project="p", instance_template="t", retry=None, timeout=2),
        lambda: compute.virtual_machine_scale_sets.get("rg", "vmss"),
    ):
        try:
            call()
        except Exception as err:
            errors.append(err)
    return errors


async def test_calls_without_an_answer_are_spans_outside_activities_too() -> None:
    exporter = memory_span_exporter()
    try:
        errors = await asyncio.to_thread(_unreachable_calls, f"http://127.0.0.1:{free_port()}")
        spans = {s.name: s for s in exporter.get_finished_spans()}
    finally:
        exporter.shutdown()
    # Every call failed to connect, and the SDK's own error came through.
    assert [type(err).__name__ for err in errors] == [
        "EndpointConnectionError",
        "ConnectionError",
        "ServiceRequestError",
    ]
    for name in (
        "aws.autoscaling.DescribeAutoScalingGroups",
        "gcp.instanceTemplates.get",
        "azure.virtualMachineScaleSets.get",
    ):
        attributes = spans[name].attributes or {}
        assert attributes["cloudops.outcome"] == "no_response", name
        assert "http.response.status_code" not in attributes
        assert attributes["error.type"], name
        assert "cloudops.operation" not in attributes, "no operation context outside activities"
        assert not spans[name].status.is_ok
