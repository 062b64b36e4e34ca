"""The runner workflow on a real Temporal server: results, failures, rollback, cancel, progress."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError

import fake_plugin
from cloudops.client import CloudOpsClient
from cloudops.models import WorkflowResult
from cloudops_example.models import EchoInput, EchoOutput
from cloudops_example.operations import Echo

journal = fake_plugin.JOURNAL


async def test_echo_by_name_returns_its_output(ops: CloudOpsClient) -> None:
    result = await ops.execute("example.echo", {"message": "hi", "repeat": 3})
    assert result.ok, result.error
    assert result.value["text"] == "hi hi hi"
    assert result.metadata is not None
    assert result.metadata.operation == "example.echo"
    assert [s.name for s in result.metadata.steps] == ["echo"]


async def test_typed_execute_returns_the_output_model(ops: CloudOpsClient) -> None:
    result = await ops.execute(Echo, EchoInput(message="typed"))
    assert result.ok
    assert isinstance(result.value, EchoOutput)
    assert result.value.text == "typed"


async def test_invalid_input_names_each_field_and_runs_nothing(ops: CloudOpsClient) -> None:
    request_id = f"bad-{uuid.uuid4()}"
    result = await ops.execute(
        "fake.chain", {"steps": [{"name": 5}], "colour": "red"}, request_id=request_id
    )
    assert not result.ok and result.error is not None
    assert result.error.code == "INVALID_INPUT"
    fields = {e["field"]: e["reason"] for e in result.error.details["errors"]}
    assert set(fields) == {"steps.0.name", "colour"}
    assert "string" in fields["steps.0.name"].lower()
    assert "extra" in fields["colour"].lower()
    assert journal[request_id] == []


async def test_unknown_operation_lists_what_is_known(ops: CloudOpsClient) -> None:
    result = await ops.execute("aws.doesNotExist", {})
    assert result.error is not None and result.error.code == "UNKNOWN_OPERATION"
    assert "example.echo" in result.error.details["known"]
    assert "fake.chain" in result.error.message


async def test_business_error_rolls_back_in_reverse_and_records_it(ops: CloudOpsClient) -> None:
    request_id = f"quota-{uuid.uuid4()}"
    steps = [{"name": "a"}, {"name": "b"}, {"name": "c", "fail_with": "QUOTA_EXCEEDED"}]
    result = await ops.execute("fake.chain", {"steps": steps}, request_id=request_id)
    assert not result.ok and result.error is not None
    assert result.error.code == "QUOTA_EXCEEDED"
    assert result.error.message == "c refused"
    assert result.error.details == {"resource": "c"}
    assert [(r.step, r.ok) for r in result.error.rollbacks] == [("undo b", True), ("undo a", True)]
    # c was tried once: a business error is not retried.
    assert journal[request_id] == ["make:a:1", "make:b:1", "make:c:1", "undo:b", "undo:a"]


async def test_retryable_error_is_retried_with_backoff(ops: CloudOpsClient) -> None:
    request_id = f"retry-{uuid.uuid4()}"
    steps = [{"name": "x", "fail_with": "retryable", "fail_times": 2}]
    result = await ops.execute("fake.chain", {"steps": steps}, request_id=request_id)
    assert result.ok, result.error
    assert result.value["attempts"] == [3]
    assert journal[request_id] == ["make:x:1", "make:x:2", "make:x:3"]


async def test_exhausted_retries_become_a_business_failure(ops: CloudOpsClient) -> None:
    request_id = f"exhaust-{uuid.uuid4()}"
    steps = [{"name": "ok"}, {"name": "x", "fail_with": "crash", "fail_times": 99}]
    result = await ops.execute("fake.chain", {"steps": steps}, request_id=request_id)
    assert result.error is not None
    assert result.error.code == "RETRIES_EXHAUSTED"
    assert "unexpected crash" in result.error.message
    assert result.error.details["error_type"] == "ValueError"
    assert [r.step for r in result.error.rollbacks] == ["undo ok"]
    assert journal[request_id].count("undo:ok") == 1
    assert len([e for e in journal[request_id] if e.startswith("make:x")]) == 4  # max attempts


async def test_poll_waits_until_ready(ops: CloudOpsClient) -> None:
    request_id = f"poll-{uuid.uuid4()}"
    result = await ops.execute(
        "fake.poll", {"name": "group", "not_ready_times": 3}, request_id=request_id
    )
    assert result.ok, result.error
    assert result.value["attempt"] == 4
    history = await ops.client.get_workflow_handle(request_id).fetch_history()
    scheduled = [
        e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert len(scheduled) == 1  # four polls, one activity in the history


async def test_cancel_rolls_back_and_returns_cancelled(ops: CloudOpsClient) -> None:
    request_id = f"cancel-{uuid.uuid4()}"
    handle = await ops.submit(
        "fake.chain",
        {"steps": [{"name": "a"}, {"name": "b"}], "wait_seconds": 30},
        request_id=request_id,
    )
    for _ in range(100):
        report = await handle.progress()
        if report.current_step == "wait after a":
            break
        await asyncio.sleep(0.05)
    assert report.steps_done == ["make a"]
    assert report.status == "running"
    await handle.cancel()
    result = await handle.result()
    assert result.error is not None and result.error.code == "CANCELLED"
    assert [(r.step, r.ok) for r in result.error.rollbacks] == [("undo a", True)]
    assert journal[request_id] == ["make:a:1", "undo:a"]


async def test_progress_shows_the_attempt_of_a_retrying_activity(ops: CloudOpsClient) -> None:
    handle = await ops.submit("fake.poll", {"name": "slow", "not_ready_times": 4})
    report = None
    for _ in range(100):
        report = await handle.progress()
        if report.current_attempt and report.current_attempt >= 2:
            break
        await asyncio.sleep(0.05)
    assert report is not None
    assert report.current_step == "wait until ready"
    assert report.current_attempt is not None and report.current_attempt >= 2
    assert report.last_failure and "not ready" in report.last_failure
    assert (await handle.result()).ok


async def test_same_request_id_runs_once_and_both_callers_get_the_result(
    ops: CloudOpsClient,
) -> None:
    request_id = f"once-{uuid.uuid4()}"
    request = {"steps": [{"name": "only", "sleep_seconds": 0.5}]}
    first, second = await asyncio.gather(
        ops.execute("fake.chain", request, request_id=request_id),
        ops.execute("fake.chain", request, request_id=request_id),
    )
    third = await ops.execute("fake.chain", request, request_id=request_id)  # after it ended
    assert first.ok and first == second == third
    assert journal[request_id] == ["make:only:1"]


async def test_composition_runs_other_operations_in_the_same_workflow(
    ops: CloudOpsClient,
) -> None:
    request_id = f"compose-{uuid.uuid4()}"
    result = await ops.execute(
        "fake.compose", {"message": "inner hi", "then_fail": True}, request_id=request_id
    )
    assert result.error is not None and result.error.code == "CONFLICT"
    # the composed chain's compensation ran because the outer operation failed
    assert [r.step for r in result.error.rollbacks] == ["undo inner"]
    history = await ops.client.get_workflow_handle(request_id).fetch_history()
    assert not [
        e
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    ok = await ops.execute("fake.compose", {"message": "hello"})
    assert ok.ok and ok.value["echoed"] == "hello"


async def test_operation_timeout_rolls_back_with_timed_out(ops: CloudOpsClient) -> None:
    request_id = f"slow-{uuid.uuid4()}"
    result = await ops.execute("fake.slow", {"name": "s"}, request_id=request_id)
    assert result.error is not None and result.error.code == "TIMED_OUT"
    assert [r.step for r in result.error.rollbacks] == ["fake.undo"]
    assert journal[request_id] == ["make:s:1", "undo:s"]


async def test_a_bug_fails_the_workflow_after_rolling_back(ops: CloudOpsClient) -> None:
    request_id = f"bug-{uuid.uuid4()}"
    handle = await ops.submit("fake.bug", {"name": "b"}, request_id=request_id)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert "KeyError" in str(failure.value.cause)
    assert journal[request_id] == ["make:b:1", "undo:b"]


@pytest.mark.parametrize(
    ("account", "region", "reason"),
    [
        (None, "eu-west-1", "required"),
        ("nope", "eu-west-1", "not configured on the worker"),
        ("lab", "ap-south-1", "not allowed for this account"),
        ("lab", None, "required"),
    ],
)
async def test_bad_account_or_region_is_invalid_input(
    ops: CloudOpsClient, account: str | None, region: str | None, reason: str
) -> None:
    request_id = f"acct-{uuid.uuid4()}"
    result = await ops.execute(
        "fakecloud.touch", {"name": "t"}, account=account, region=region, request_id=request_id
    )
    assert result.error is not None and result.error.code == "INVALID_INPUT"
    assert result.error.details["errors"][0]["reason"] == reason
    assert journal[request_id] == []


async def test_good_account_runs_and_any_region_account_accepts_any(ops: CloudOpsClient) -> None:
    result = await ops.execute("fakecloud.touch", {"name": "t"}, account="lab", region="us-east-1")
    assert result.ok, result.error
    result = await ops.execute(
        "fakecloud.touch", {"name": "t"}, account="anywhere", region="mars-1"
    )
    assert result.ok, result.error


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ("just a string", "(root)"),
        ([1, 2, 3], "(root)"),
        (None, "(root)"),
        ({"input": {}}, "operation"),
        ({"operation": 42}, "operation"),
        ({"operation": "example.echo", "input": "text"}, "input"),
        ({"operation": "example.echo", "request_id": "has spaces"}, "request_id"),
        ({"operation": "example.echo", "surprise": True}, "surprise"),
    ],
)
async def test_malformed_requests_answer_invalid_input_quickly(
    ops: CloudOpsClient, payload: object, field: str
) -> None:
    handle = await ops.client.start_workflow(
        "UntypedCloudOperationRunner",
        payload,
        id=f"raw-{uuid.uuid4()}",
        task_queue=ops.task_queue,
    )
    result = WorkflowResult[Any].model_validate(await asyncio.wait_for(handle.result(), 10))
    assert result.ok is False and result.error is not None
    assert result.error.code == "INVALID_INPUT"
    assert field in [e["field"] for e in result.error.details["errors"]]


async def test_outcome_search_attribute_lists_cancellations(ops: CloudOpsClient) -> None:
    request_id = f"listed-{uuid.uuid4()}"
    handle = await ops.submit(
        "fake.chain",
        {"steps": [{"name": "a"}], "wait_seconds": 30},
        request_id=request_id,
        labels={"application": "billing"},
    )
    await asyncio.sleep(0.3)
    await handle.cancel()
    assert (await handle.result()).error.code == "CANCELLED"
    query = f"WorkflowId = '{request_id}' AND CloudOpsOutcome = 'CANCELLED'"
    for _ in range(50):  # visibility is eventually consistent
        found = [e.id async for e in ops.list(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [request_id]
    app_query = "CloudOpsApplication = 'billing' AND CloudOpsOperation = 'fake.chain'"
    assert request_id in [e.id async for e in ops.list(app_query)]


async def _wait_awaiting(handle, name: str) -> None:
    for _ in range(100):
        if name in (await handle.progress()).awaiting_input:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the operation never waited for {name}")


async def test_manual_judgement_approve_reject_and_timeout(ops: CloudOpsClient) -> None:
    from cloudops.client import InputRejected

    approved = await ops.submit("fake.judged", {"name": "ok"})
    with pytest.raises(InputRejected, match="not waiting for 'vote'"):
        await _wait_awaiting(approved, "judgement")
        await approved.send_input("vote", {"approved": True})
    await approved.send_input("judgement", {"approved": True}, sender="alice")
    assert (await approved.result()).ok

    rejected = await ops.submit("fake.judged", {"name": "no"})
    await _wait_awaiting(rejected, "judgement")
    await rejected.send_input("judgement", {"approved": False}, sender="bob")
    result = await rejected.result()
    assert result.error is not None and result.error.code == "REJECTED"
    assert result.error.message == "rejected by bob"
    assert [r.step for r in result.error.rollbacks] == ["undo no"]

    timed_out = await ops.execute("fake.judged", {"name": "late", "timeout_seconds": 0.5})
    assert timed_out.error is not None and timed_out.error.code == "TIMED_OUT"
    assert [r.step for r in timed_out.error.rollbacks] == ["undo late"]


async def test_reusing_a_request_id_for_another_operation_is_an_error(ops: CloudOpsClient) -> None:
    from cloudops.client import RequestIdConflict

    request_id = f"reused-{uuid.uuid4()}"
    assert (await ops.execute("example.echo", {"message": "first"}, request_id=request_id)).ok
    with pytest.raises(RequestIdConflict, match=r"already used for example\.echo"):
        await ops.execute("fake.poll", {"name": "p"}, request_id=request_id)
