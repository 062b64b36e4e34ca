"""Determinism of the AWS operations and deploy.redBlack: recorded histories replay today.

Each case runs for real (moto, a worker with the aws and deploy plugins) and its history is
replayed with temporalio's ``Replayer``; the committed histories in ``tests/histories/aws/``
are replayed too, so a change to an operation that would break workflows in flight fails CI.
Set ``CLOUDOPS_RECORD_HISTORIES=1`` to rewrite them from a fresh run (see docs/reliability.md:
change an operation with ``workflow.patched`` first, re-record only for new paths).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from cloudops.accounts import AccountBook
from cloudops.client import CloudOpsClient, OperationHandle
from cloudops.registry import CloudOps
from cloudops.worker import CloudOpsPlugin
from cloudops_testing.faults import FaultRules, ProxyRequest, ProxyResponse
from cloudops_testing.fixtures_aws import MOTO_ACCOUNT, MOTO_REGION, aws_account_config

HISTORIES = Path(__file__).parent / "histories" / "aws"
PLUGINS = ["aws", "deploy"]
WHERE = {"account": MOTO_ACCOUNT, "region": MOTO_REGION}
FAST = {"poll_interval_seconds": 0.5, "wait_timeout_seconds": 120}


def _replayer() -> Replayer:
    plugin = CloudOpsPlugin(CloudOps(allow=PLUGINS), accounts=AccountBook())
    return Replayer(workflows=[], plugins=[plugin])


def hold_target_health(request: ProxyRequest) -> ProxyResponse | None:
    """Target groups report no target (a slow health check): waits for health never end."""
    if request.action != "DescribeTargetHealth":
        return None
    body = (
        '<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/'
        'doc/2015-12-01/"><DescribeTargetHealthResult><TargetHealthDescriptions/>'
        "</DescribeTargetHealthResult><ResponseMetadata><RequestId>held</RequestId>"
        "</ResponseMetadata></DescribeTargetHealthResponse>"
    )
    return ProxyResponse(200, {"Content-Type": "text/xml"}, body.encode())


@pytest_asyncio.fixture
async def held_ops(cloudops_worker: Any, aws_fault_proxy: Any) -> AsyncIterator[CloudOpsClient]:
    """A worker whose account sees target groups that never get healthy."""
    proxy = aws_fault_proxy(FaultRules(), fidelity=[hold_target_health])
    async with cloudops_worker(allow=PLUGINS, accounts=aws_account_config(proxy.url)) as ops:
        yield ops


@pytest_asyncio.fixture
async def ops(cloudops_worker: Any, aws_accounts: dict[str, Any]) -> AsyncIterator[CloudOpsClient]:
    async with cloudops_worker(allow=PLUGINS, accounts=aws_accounts) as client:
        yield client


def _create(network: Any, app: str, **extra: Any) -> dict[str, Any]:
    return {
        "application": app,
        "stack": "replay",
        "image": network.image_id,
        "instance_type": "t3.micro",
        "capacity": {"min": 1, "max": 3, "desired": 1},
        "zones": network.zones[:1],
        "security_groups": [network.security_group_id],
        **extra,
    }


def _deploy(network: Any, app: str, **extra: Any) -> dict[str, Any]:
    return {
        "server_group": _create(network, app),
        "health_timeout_seconds": 120,
        "poll_interval_seconds": 0.5,
        **extra,
    }


async def _finished(
    histories: dict[str, WorkflowHistory], name: str, handle: OperationHandle[Any]
) -> Any:
    result = await asyncio.wait_for(handle.result(), 120)
    histories[name] = await handle.handle.fetch_history()
    return result


async def _run(
    ops: CloudOpsClient, histories: dict[str, WorkflowHistory], name: str, op: str, data: Any
) -> Any:
    handle = await ops.submit(op, data, request_id=f"replay-{name}-{uuid.uuid4().hex[:8]}", **WHERE)
    return await _finished(histories, name, handle)


async def _awaiting(handle: OperationHandle[Any], what: str) -> None:
    for _ in range(600):
        if what in (await handle.progress()).awaiting_input:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never waited for {what}")


async def _in_step(handle: OperationHandle[Any], step: str) -> None:
    for _ in range(600):
        current = (await handle.progress()).current_step or ""
        if step in current:
            await asyncio.sleep(1.5)  # a few health polls
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached {step}")


async def _record(
    ops: CloudOpsClient, held: CloudOpsClient, network: Any, moto_client: Any
) -> dict[str, WorkflowHistory]:
    h: dict[str, WorkflowHistory] = {}
    app = f"rp{uuid.uuid4().hex[:8]}"
    created = await _run(
        ops, h, "create-ok", "aws.createServerGroup", _create(network, app, **FAST)
    )
    assert created.ok, created.error
    name = created.value["name"]
    group = {"server_group": name, **FAST}
    steps = [
        ("clone-ok", "aws.cloneServerGroup", {"source": name, **FAST}),
        (
            "resize-ok",
            "aws.resizeServerGroup",
            {**group, "capacity": {"min": 1, "max": 3, "desired": 2}},
        ),
        ("disable-ok", "aws.disableServerGroup", group),
        ("enable-ok", "aws.enableServerGroup", group),
        ("describe-ok", "aws.describeServerGroup", {"server_group": name}),
        ("list-ok", "aws.listServerGroups", {"application": app, "stack": "replay"}),
    ]
    for case, operation, data in steps:
        result = await _run(ops, h, case, operation, data)
        assert result.ok, (case, result.error)
    described = await _run(
        ops, h, "describe-again", "aws.describeServerGroup", {"server_group": name}
    )
    victim = described.value["instances"][0]["id"]
    h.pop("describe-again")
    terminated = await _run(
        ops,
        h,
        "terminate-ok",
        "aws.terminateInstances",
        {**group, "instance_ids": [victim], "decrement_desired": True},
    )
    assert terminated.ok, terminated.error
    destroyed = await _run(ops, h, "destroy-ok", "aws.destroyServerGroup", group)
    assert destroyed.ok, destroyed.error
    missing = await _run(
        ops, h, "describe-not-found", "aws.describeServerGroup", {"server_group": name}
    )
    assert missing.error is not None and missing.error.code == "NOT_FOUND"
    # a create that fails after its launch template was made: rolled back
    failed = await _run(
        ops,
        h,
        "create-rollback",
        "aws.createServerGroup",
        _create(network, f"{app}b", target_groups=["no-such-target-group"], **FAST),
    )
    assert failed.error is not None and failed.error.rollbacks, failed.error
    # a create cancelled while it waits for health: rolled back
    tg = moto_client("elbv2").create_target_group(
        Name=f"{app}-tg", Protocol="HTTP", Port=80, VpcId=network.vpc_id, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    handle = await held.submit(
        "aws.createServerGroup",
        _create(network, f"{app}c", target_groups=[tg], **FAST),
        request_id=f"replay-create-cancelled-{uuid.uuid4().hex[:8]}",
        **WHERE,
    )
    await _in_step(handle, "wait for healthy")
    await handle.cancel()
    cancelled = await _finished(h, "create-cancelled", handle)
    assert cancelled.error is not None and cancelled.error.code == "CANCELLED"

    # deploy.redBlack: ok twice (the second disables the first), rejected, failed, cancelled
    dapp = f"{app}d"
    for case in ("redblack-ok", "redblack-second-ok"):
        deployed = await _run(ops, h, case, "deploy.redBlack", _deploy(network, dapp))
        assert deployed.ok, (case, deployed.error)
    handle = await ops.submit(
        "deploy.redBlack",
        _deploy(network, dapp, manual_judgement=True),
        request_id=f"replay-redblack-rejected-{uuid.uuid4().hex[:8]}",
        **WHERE,
    )
    await _awaiting(handle, "judgement")
    await handle.send_input("judgement", {"approved": False}, sender="replay-test")
    rejected = await _finished(h, "redblack-rejected", handle)
    assert rejected.error is not None and rejected.error.code == "REJECTED"
    assert rejected.error.rollbacks
    bad = _deploy(network, dapp)
    bad["server_group"]["target_groups"] = ["no-such-target-group"]
    failed = await _run(ops, h, "redblack-rollback", "deploy.redBlack", bad)
    assert failed.error is not None and failed.error.code == "NOT_FOUND"
    handle = await ops.submit(
        "deploy.redBlack",
        _deploy(network, dapp, manual_judgement=True),
        request_id=f"replay-redblack-cancelled-{uuid.uuid4().hex[:8]}",
        **WHERE,
    )
    await _awaiting(handle, "judgement")
    await handle.cancel()
    cancelled = await _finished(h, "redblack-cancelled", handle)
    assert cancelled.error is not None and cancelled.error.code == "CANCELLED"
    return h


CASES = {
    "create-ok", "clone-ok", "resize-ok", "disable-ok", "enable-ok", "describe-ok", "list-ok",
    "terminate-ok", "destroy-ok", "describe-not-found", "create-rollback", "create-cancelled",
    "redblack-ok", "redblack-second-ok", "redblack-rejected", "redblack-rollback",
    "redblack-cancelled",
}  # fmt: skip


async def test_fresh_histories_of_every_operation_replay(
    ops: CloudOpsClient, held_ops: CloudOpsClient, moto_network: Any, moto_client: Any
) -> None:
    histories = await _record(ops, held_ops, moto_network, moto_client)
    assert set(histories) == CASES
    if os.environ.get("CLOUDOPS_RECORD_HISTORIES"):
        HISTORIES.mkdir(parents=True, exist_ok=True)
        for name, history in histories.items():
            (HISTORIES / f"{name}.json").write_text(history.to_json())
    replayer = _replayer()
    for name, history in histories.items():
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{name}: {result.replay_failure}"


def _committed() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def test_histories_are_committed() -> None:
    assert {p.stem for p in _committed()} >= CASES


@pytest.mark.parametrize("path", _committed(), ids=lambda p: p.stem)
async def test_committed_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
