"""Hostile input: malformed OperationRequests end as a clear WorkflowResult, fast, at no cost.

Property-based (hypothesis): wrong types, missing fields, huge strings, unknown operations,
the wrong provider's account, negative capacities, unicode, oversized payloads. Each request
goes to the runner as a raw payload (as a client in any language may send it) and must come
back as ``INVALID_INPUT`` or ``UNKNOWN_OPERATION`` with a message, with no activity scheduled
(only the local account check may run), no workflow task failed or retried, and no request
reaching the cloud (the AWS account points at a fault proxy that counts every request).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.service import RPCError

from cli_helpers import run_cli
from cloudops.client import CloudOpsClient
from cloudops.models import OperationError, WorkflowResult
from cloudops.registry import CloudOps
from cloudops_testing.faults import FaultProxy, FaultRules
from cloudops_testing.fixtures_aws import aws_account_config
from cloudops_testing.fixtures_gcp import gcp_account_config

PLUGINS = ["aws", "deploy", "gcp"]
CODES = {"INVALID_INPUT", "UNKNOWN_OPERATION"}
AWS_OPERATIONS = [
    "aws.createServerGroup",
    "aws.cloneServerGroup",
    "aws.resizeServerGroup",
    "aws.enableServerGroup",
    "aws.disableServerGroup",
    "aws.destroyServerGroup",
    "aws.terminateInstances",
    "aws.describeServerGroup",
    "aws.listServerGroups",
    "deploy.redBlack",
]
HYPOTHESIS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@pytest.fixture
def proxy(aws_fault_proxy: Any) -> FaultProxy:
    """Counts every request to the AWS account's endpoint: there must be none."""
    return aws_fault_proxy(FaultRules())


@pytest_asyncio.fixture
async def ops(cloudops_worker: Any, proxy: FaultProxy) -> AsyncIterator[CloudOpsClient]:
    accounts = aws_account_config(proxy.url)
    accounts["accounts"].update(gcp_account_config("http://127.0.0.1:9")["accounts"])
    async with cloudops_worker(allow=PLUGINS, accounts=accounts) as client:
        yield client


async def _send(ops: CloudOpsClient, payload: Any) -> tuple[WorkflowResult[Any], float]:
    started = time.monotonic()
    handle = await ops.client.start_workflow(
        "UntypedCloudOperationRunner",
        payload,
        id=f"hostile-{uuid.uuid4()}",
        task_queue=ops.task_queue,
    )
    raw = await asyncio.wait_for(handle.result(), 60)
    result = WorkflowResult[Any].model_validate(raw)
    history = await handle.fetch_history()
    _assert_cheap(history, payload)
    return result, time.monotonic() - started


def _assert_cheap(history: WorkflowHistory, payload: Any) -> None:
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in kinds, payload
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds, payload
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT not in kinds, payload
    assert kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, payload
    started = [
        e.workflow_task_scheduled_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    ]
    assert max(started) == 1, payload


def _check(result: WorkflowResult[Any], seconds: float, payload: Any) -> None:
    assert result.ok is False and result.value is None, payload
    assert result.error is not None, payload
    assert result.error.code in CODES, (result.error, payload)
    assert result.error.message and len(result.error.message) < 20_000, payload
    # the answer does not echo a huge input back
    assert len(result.model_dump_json()) < 200_000
    assert seconds < 30, (seconds, payload)


def _drive(ops: CloudOpsClient, strategy: st.SearchStrategy[Any]) -> Any:
    """Run a hypothesis property on a thread; each example runs on the test's event loop.

    Returns the errors the runner answered, one per example.
    """
    loop = asyncio.get_running_loop()
    seen: list[OperationError] = []

    @HYPOTHESIS
    @given(strategy)
    def prop(payload: Any) -> None:
        future = asyncio.run_coroutine_threadsafe(_send(ops, payload), loop)
        result, seconds = future.result(120)
        _check(result, seconds, payload)
        assert result.error is not None
        seen.append(result.error)

    async def go() -> list[OperationError]:
        await asyncio.to_thread(prop)
        return seen

    return go()


# ---------------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
huge_text = st.integers(min_value=10_000, max_value=300_000).map(lambda n: "é" * n)
nasty_text = (
    st.text(min_size=1, max_size=80)
    | huge_text
    | st.sampled_from(
        ["", " ", "\x00", "a\nb", "../../etc/passwd", "'; DROP TABLE x;--", "🚀" * 40, "ǅ" * 300]
    )
)


def _not_a_string(value: Any) -> bool:
    return not isinstance(value, str)


envelope_wrong_types = st.fixed_dictionaries(
    {},
    optional={
        "operation": json_values.filter(_not_a_string) | st.just(""),
        "account": json_values.filter(lambda v: v is not None and not isinstance(v, str)),
        "region": st.integers() | st.lists(st.text(max_size=3), max_size=2),
        "input": json_values.filter(lambda v: not isinstance(v, dict)),
        "request_id": st.integers() | st.just("has spaces/and?marks") | huge_text,
        "labels": json_values.filter(lambda v: not isinstance(v, dict)),
    },
).filter(lambda d: "operation" not in d or _not_a_string(d["operation"]) or d["operation"] == "")


bad_capacity = st.fixed_dictionaries(
    {
        "min": st.integers(max_value=-1) | st.text(max_size=5) | st.none(),
        "max": st.integers(min_value=-(10**12), max_value=10**12),
        "desired": st.integers(min_value=-(10**12), max_value=-1) | st.floats(allow_nan=False),
    }
)


@st.composite
def bad_operation_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """A known operation with an input that is certainly invalid (and would otherwise act)."""
    operation = draw(st.sampled_from(AWS_OPERATIONS))
    data: dict[str, Any] = draw(
        st.dictionaries(
            st.sampled_from(
                ["application", "stack", "server_group", "image", "instance_type", "source",
                 "instance_ids", "zones", "tags", "wait", "poll_interval_seconds"]
            ),
            json_values | nasty_text,
            max_size=5,
        )
    )  # fmt: skip
    poison = draw(st.sampled_from(["capacity", "extra", "interval", "name"]))
    if poison == "capacity" and operation != "deploy.redBlack":
        data["capacity"] = draw(bad_capacity)
        data.setdefault("server_group", "app-v000")
        data["not_a_field"] = True  # operations without capacity still refuse it
    elif poison == "interval":
        data["poll_interval_seconds"] = draw(st.floats(max_value=0.0, allow_nan=False))
        data["wait_timeout_seconds"] = -1
    elif poison == "name":
        data["server_group"] = draw(nasty_text.filter(lambda s: not s.isascii() or not s))
        data["extra_" + draw(st.text(max_size=8))] = 1
    else:
        data[draw(st.text(min_size=1, max_size=20)).replace("server_group", "x") + "_x"] = 1
    return {
        "operation": operation,
        "account": "moto",
        "region": "us-east-1",
        "input": data,
        "request_id": None,
    }


unknown_operations = st.fixed_dictionaries(
    {
        "operation": nasty_text.filter(lambda s: 0 < len(s) <= 200).filter(
            lambda s: s not in AWS_OPERATIONS
        ),
        "account": st.sampled_from(["moto", "nope", None]),
        "input": st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    }
)


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------


async def test_non_objects_and_wrong_types_are_invalid_input(
    ops: CloudOpsClient, proxy: FaultProxy
) -> None:
    strategy = json_values.filter(lambda v: not isinstance(v, dict)) | envelope_wrong_types
    errors = await _drive(ops, strategy)
    assert {e.code for e in errors} == {"INVALID_INPUT"}
    assert proxy.counts.get("forwarded", 0) == 0


async def test_malformed_operation_inputs_never_reach_the_cloud(
    ops: CloudOpsClient, proxy: FaultProxy
) -> None:
    errors = await _drive(ops, bad_operation_inputs())
    assert {e.code for e in errors} == {"INVALID_INPUT"}
    assert sum(proxy.counts.values()) == 0, proxy.counts


async def test_unknown_operations_list_what_is_known(
    ops: CloudOpsClient, proxy: FaultProxy
) -> None:
    errors = await _drive(ops, unknown_operations)
    assert errors and {e.code for e in errors} == {"UNKNOWN_OPERATION"}
    # What the worker has: the plugins it loaded, every one of their operations.
    known = sorted(CloudOps(allow=PLUGINS).catalogue.operations)
    assert set(AWS_OPERATIONS) < set(known)
    assert any(name.startswith("gcp.") for name in known)
    for error in errors:
        assert error.details["known"] == known, error.details
        assert error.message.endswith("; known operations: " + ", ".join(known)), error.message
        assert error.message.startswith(f"unknown operation {error.details['operation']!r}")
    assert sum(proxy.counts.values()) == 0


@pytest.mark.parametrize(
    ("account", "region", "why"),
    [
        ("gcp", "us-central1", "an account of another provider"),
        ("moto", "eu-west-3", "a region the account does not allow"),
        ("nobody", "us-east-1", "an unknown account"),
        (None, "us-east-1", "no account"),
        ("moto", None, "no region"),
    ],
)
async def test_wrong_account_or_region_is_invalid_input(
    ops: CloudOpsClient, proxy: FaultProxy, account: str | None, region: str | None, why: str
) -> None:
    payload = {
        "operation": "aws.describeServerGroup",
        "account": account,
        "region": region,
        "input": {"server_group": "app-v000"},
    }
    result, seconds = await _send(ops, payload)
    _check(result, seconds, payload)
    assert result.error is not None and result.error.code == "INVALID_INPUT", why
    assert sum(proxy.counts.values()) == 0


@pytest.mark.parametrize("size", [200_000, 1_000_000, 1_900_000])
async def test_large_payloads_below_the_limit_are_invalid_input(
    ops: CloudOpsClient, proxy: FaultProxy, size: int
) -> None:
    payload = {
        "operation": "aws.createServerGroup",
        "account": "moto",
        "region": "us-east-1",
        "input": {"application": "big", "image": "x" * size, "capacity": {"min": -1}},
    }
    result, seconds = await _send(ops, payload)
    _check(result, seconds, payload["operation"])
    assert sum(proxy.counts.values()) == 0


async def test_payload_above_temporals_limit_is_refused_to_the_client(
    ops: CloudOpsClient,
) -> None:
    """Temporal refuses a start request above its blob limit (2 MB on the dev server): the
    client gets an RPCError that says so, and no workflow exists."""
    workflow_id = f"hostile-huge-{uuid.uuid4()}"
    payload = {"operation": "aws.createServerGroup", "input": {"image": "x" * 2_500_000}}
    with pytest.raises(RPCError) as caught:
        await ops.client.start_workflow(
            "UntypedCloudOperationRunner", payload, id=workflow_id, task_queue=ops.task_queue
        )
    assert "limit" in str(caught.value).lower() or "size" in str(caught.value).lower()
    with pytest.raises(RPCError):
        await ops.client.get_workflow_handle(workflow_id).describe()


# ---------------------------------------------------------------------------------------------
# the CLI
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "data", "code"),
    [
        ("aws.resizeServerGroup", {"server_group": "a-v000", "capacity": {"min": -1}}, "1"),
        ("aws.createServerGroup", {"application": "ünï", "extra": 1}, "1"),
        ("nope.nothing", {}, "1"),
        ("aws.describeServerGroup", {"server_group": "x" * 5000}, "1"),
    ],
)
async def test_cli_run_reports_the_code(
    ops: CloudOpsClient,
    temporal_server: Any,
    proxy: FaultProxy,
    operation: str,
    data: dict[str, Any],
    code: str,
) -> None:
    done = await run_cli(
        "run",
        operation,
        "--input",
        json.dumps(data),
        "--account",
        "moto",
        "--region",
        "us-east-1",
        "--json",
        "--address",
        temporal_server.address,
        "--task-queue",
        ops.task_queue,
        timeout=90,
    )
    assert str(done.returncode) == code, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    assert answer["ok"] is False
    assert answer["error"]["code"] in CODES
    assert answer["error"]["message"]
    assert sum(proxy.counts.values()) == 0


async def test_cli_refuses_input_that_is_not_an_object(temporal_server: Any) -> None:
    done = await run_cli(
        "run", "aws.describeServerGroup", "--input", "[1, 2]", "--address", temporal_server.address
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "object" in (done.stdout + done.stderr).lower()
