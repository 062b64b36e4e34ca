"""Determinism of the AWS, GCP and Azure operations and deploy.redBlack: histories replay today.

Each case runs for real (moto or the GCP / Azure emulator, a worker with the cloud's plugin and
deploy) and its history is replayed with temporalio's ``Replayer``; the committed histories in
``tests/histories/{aws,gcp,azure}/`` are replayed too, so a change to an operation that would
break workflows in flight fails CI.
Set ``CLOUDOPS_RECORD_HISTORIES=1`` to rewrite them from a fresh run (see docs/reliability.md:
change an operation with ``workflow.patched`` first, re-record only for new paths).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
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
from cloudops_testing.fixtures_azure import (
    AZURE_ACCOUNT,
    AZURE_IMAGE,
    AZURE_LOAD_BALANCER,
    AZURE_REGION,
)
from cloudops_testing.fixtures_gcp import GCP_ACCOUNT, GCP_REGION
from cloudops_testing.histories import split_after_local_activities

ROOT = Path(__file__).parent / "histories"
HISTORIES = ROOT / "aws"
PLUGINS = ["aws", "deploy"]
WHERE = {"account": MOTO_ACCOUNT, "region": MOTO_REGION}
FAST = {"poll_interval_seconds": 0.5, "wait_timeout_seconds": 120}
CLOUDS = ("aws", "gcp", "azure")
GCP_WHERE = {"account": GCP_ACCOUNT, "region": GCP_REGION}
AZURE_WHERE = {"account": AZURE_ACCOUNT, "region": AZURE_REGION}


def _replayer(cloud: str = "aws") -> Replayer:
    """A replayer with the cloud's plugin and deploy (``multi``: a deploy across every cloud)."""
    clouds = list(CLOUDS) if cloud == "multi" else [cloud]
    plugin = CloudOpsPlugin(CloudOps(allow=[*clouds, "deploy"]), accounts=AccountBook())
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
    ops: CloudOpsClient,
    histories: dict[str, WorkflowHistory],
    name: str,
    op: str,
    data: Any,
    where: dict[str, str] | None = None,
) -> Any:
    where = where or WHERE
    handle = await ops.submit(
        op,
        data,
        request_id=f"replay-{name}-{uuid.uuid4().hex[:8]}",
        account=where["account"],
        region=where["region"],
    )
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
    await _keep_and_replay("aws", histories)


async def _keep_and_replay(cloud: str, histories: dict[str, WorkflowHistory]) -> None:
    """Write the histories when recording; replay each one with today's code."""
    if os.environ.get("CLOUDOPS_RECORD_HISTORIES"):
        (ROOT / cloud).mkdir(parents=True, exist_ok=True)
        for name, history in histories.items():
            (ROOT / cloud / f"{name}.json").write_text(history.to_json())
    replayer = _replayer(cloud)
    for name, history in histories.items():
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{cloud} {name}: {result.replay_failure}"
        # As a loaded worker may record it: a task ends after each local activity.
        split = split_after_local_activities(history)
        result = await replayer.replay_workflow(split, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{cloud} {name} split: {result.replay_failure}"


# --------------------------------------------------------------------------------------------
# GCP and Azure: the same paths on the emulators
# --------------------------------------------------------------------------------------------

#: The cases recorded on GCP and on Azure.
EMULATED_CASES = {
    "create-ok", "clone-ok", "resize-ok", "disable-ok", "enable-ok", "describe-ok", "list-ok",
    "terminate-ok", "destroy-ok", "describe-not-found", "create-rollback", "create-cancelled",
    "redblack-ok", "redblack-second-ok", "redblack-rejected", "redblack-cancelled",
}  # fmt: skip
#: GCP only: a group with an autoscaler (created with it, resize patches it, destroy removes it).
AUTOSCALED_CASES = {"autoscaled-create-ok", "autoscaled-resize-ok", "autoscaled-destroy-ok"}
CASES_OF = {"aws": CASES, "gcp": EMULATED_CASES | AUTOSCALED_CASES, "azure": EMULATED_CASES}
RESIZED = {"min": 1, "max": 3, "desired": 2}


def _gcp_create(app: str, **extra: Any) -> dict[str, Any]:
    return {
        "application": app,
        "stack": "replay",
        "image": "projects/debian-cloud/global/images/family/debian-12",
        "instance_type": "e2-small",
        "capacity": {"min": 1, "max": 3, "desired": 1},
        "zones": [f"{GCP_REGION}-a"],
        "load_balancers": [f"{app}-web"],
        **extra,
    }


def _azure_create(app: str, **extra: Any) -> dict[str, Any]:
    return {
        "application": app,
        "stack": "replay",
        "image": AZURE_IMAGE,
        "instance_type": "Standard_B1s",
        "capacity": {"min": 1, "max": 3, "desired": 1},
        "zones": ["1"],
        "load_balancers": [f"{AZURE_LOAD_BALANCER}/web"],
        **extra,
    }


async def _record_emulated(
    cloud: str,
    ops: CloudOpsClient,
    create: Callable[..., dict[str, Any]],
    where: dict[str, str],
    app: str,
    fail_create: Callable[[str], dict[str, Any]],
    held: Callable[[str], contextlib.AbstractContextManager[str]],
) -> dict[str, WorkflowHistory]:
    """Record every case of ``EMULATED_CASES`` on one emulated cloud.

    ``fail_create(app)`` arranges a create that fails after its first resource was made and
    returns its input; ``held(app)`` keeps the group's creation in progress while it is entered
    and yields the step the create then waits in.
    """
    h: dict[str, WorkflowHistory] = {}
    fast = {"poll_interval_seconds": 0.2, "wait_timeout_seconds": 60}

    async def run(case: str, verb: str, data: dict[str, Any]) -> Any:
        return await _run(ops, h, case, f"{cloud}.{verb}", data, where)

    created = await run("create-ok", "createServerGroup", create(app, **fast))
    assert created.ok, created.error
    name = created.value["name"]
    group = {"server_group": name, **fast}
    steps = [
        ("clone-ok", "cloneServerGroup", {"source": name, **fast}),
        ("resize-ok", "resizeServerGroup", {**group, "capacity": RESIZED}),
        ("disable-ok", "disableServerGroup", group),
        ("enable-ok", "enableServerGroup", group),
        ("describe-ok", "describeServerGroup", {"server_group": name}),
        ("list-ok", "listServerGroups", {"application": app, "stack": "replay"}),
    ]  # fmt: skip
    for case, verb, data in steps:
        result = await run(case, verb, data)
        assert result.ok, (cloud, case, result.error)
    victim = await _described(ops, cloud, name, where)
    terminated = await run(
        "terminate-ok",
        "terminateInstances",
        {**group, "instance_ids": [victim], "decrement_desired": True},
    )
    assert terminated.ok, terminated.error
    destroyed = await run("destroy-ok", "destroyServerGroup", group)
    assert destroyed.ok, destroyed.error
    missing = await run("describe-not-found", "describeServerGroup", {"server_group": name})
    assert missing.error is not None and missing.error.code == "NOT_FOUND"
    failed = await run("create-rollback", "createServerGroup", {**fail_create(f"{app}b"), **fast})
    assert failed.error is not None and failed.error.rollbacks, failed.error
    with held(f"{app}c") as step:
        handle = await ops.submit(
            f"{cloud}.createServerGroup",
            create(f"{app}c", **fast),
            request_id=f"replay-create-cancelled-{uuid.uuid4().hex[:8]}",
            account=where["account"],
            region=where["region"],
        )
        await _in_step(handle, step)
        await handle.cancel()
    # (released: the emulator's operation ends, as a real one would, and the rollback deletes)
    cancelled = await _finished(h, "create-cancelled", handle)
    assert cancelled.error is not None and cancelled.error.code == "CANCELLED", cancelled.error
    assert cancelled.error.rollbacks, cancelled.error
    assert all(r.ok for r in cancelled.error.rollbacks), cancelled.error.rollbacks

    dapp = f"{app}d"
    deploy = {
        "server_group": create(dapp),
        "health_timeout_seconds": 60,
        "poll_interval_seconds": 0.2,
    }
    for case in ("redblack-ok", "redblack-second-ok"):
        deployed = await _run(ops, h, case, "deploy.redBlack", deploy, where)
        assert deployed.ok, (cloud, case, deployed.error)
    for case, code in (("redblack-rejected", "REJECTED"), ("redblack-cancelled", "CANCELLED")):
        handle = await ops.submit(
            "deploy.redBlack",
            {**deploy, "manual_judgement": True},
            request_id=f"replay-{case}-{uuid.uuid4().hex[:8]}",
            account=where["account"],
            region=where["region"],
        )
        await _awaiting(handle, "judgement")
        if code == "REJECTED":
            await handle.send_input("judgement", {"approved": False}, sender="replay-test")
        else:
            await handle.cancel()
        ended = await _finished(h, case, handle)
        assert ended.error is not None and ended.error.code == code, (cloud, case, ended.error)
        assert ended.error.rollbacks, (cloud, case, ended.error)
        assert all(r.ok for r in ended.error.rollbacks), (cloud, case, ended.error.rollbacks)
    return h


async def _described(ops: CloudOpsClient, cloud: str, name: str, where: dict[str, str]) -> str:
    """The id of the group's first instance (read without recording the history)."""
    described = await ops.execute(
        f"{cloud}.describeServerGroup",
        {"server_group": name},
        account=where["account"],
        region=where["region"],
    )
    assert described.ok and described.value is not None, described.error
    return str(described.value["instances"][0]["id"])


async def test_fresh_gcp_histories_replay(cloudops_worker: Any, gcp_emulator: Any) -> None:
    from cloudops_testing.fixtures_gcp import gcp_account_config
    from cloudops_testing.gcp_emulator import ApiError

    app = f"rg{uuid.uuid4().hex[:8]}"
    for suffix in ("", "c", "d", "a"):
        gcp_emulator.add_backend_service(f"{app}{suffix}-web")

    def fail_create(failing: str) -> dict[str, Any]:
        gcp_emulator.add_backend_service(f"{failing}-web")
        gcp_emulator.fail_next(
            "instanceGroupManagers.insert",
            ApiError(403, "quotaExceeded", "Quota 'INSTANCES' exceeded.", "QUOTA_EXCEEDED"),
        )
        return _gcp_create(failing, **FAST)

    @contextlib.contextmanager
    def held(_app: str) -> Iterator[str]:
        gcp_emulator.hold("instanceGroupManagers.insert")
        try:
            yield "create managed instance group"
        finally:
            gcp_emulator.release("instanceGroupManagers.insert")

    accounts = gcp_account_config(gcp_emulator.url)
    async with cloudops_worker(allow=["gcp", "deploy"], accounts=accounts) as ops:
        histories = await _record_emulated(
            "gcp", ops, _gcp_create, GCP_WHERE, app, fail_create, held
        )
        fast = {"poll_interval_seconds": 0.2, "wait_timeout_seconds": 60}
        policy = {"cpu_utilization_target": 0.5, "cool_down_period_seconds": 90}
        created = await _run(
            ops,
            histories,
            "autoscaled-create-ok",
            "gcp.createServerGroup",
            _gcp_create(f"{app}a", autoscaling=policy, **fast),
            GCP_WHERE,
        )
        assert created.ok, created.error
        group = {"server_group": created.value["name"], **fast}
        resized = await _run(
            ops,
            histories,
            "autoscaled-resize-ok",
            "gcp.resizeServerGroup",
            {**group, "capacity": {"min": 1, "max": 4, "desired": 2}},
            GCP_WHERE,
        )
        assert resized.ok, resized.error
        destroyed = await _run(
            ops, histories, "autoscaled-destroy-ok", "gcp.destroyServerGroup", group, GCP_WHERE
        )
        assert destroyed.ok, destroyed.error
    assert set(histories) == EMULATED_CASES | AUTOSCALED_CASES
    await _keep_and_replay("gcp", histories)


async def test_fresh_azure_histories_replay(cloudops_worker: Any, azure_emulator: Any) -> None:
    from cloudops_testing.fixtures_azure import azure_account_config

    app = f"rz{uuid.uuid4().hex[:8]}"

    def fail_create(failing: str) -> dict[str, Any]:
        azure_emulator.fail_next(
            f"{failing}-replay-v000", "AllocationFailed", "no capacity for Standard_B1s"
        )
        return _azure_create(failing, **FAST)

    @contextlib.contextmanager
    def held(held_app: str) -> Iterator[str]:
        azure_emulator.hold(f"{held_app}-replay-v000")
        try:
            yield "wait for provisioning"
        finally:
            azure_emulator.release(f"{held_app}-replay-v000")

    accounts = azure_account_config(azure_emulator.url)
    async with cloudops_worker(allow=["azure", "deploy"], accounts=accounts) as ops:
        histories = await _record_emulated(
            "azure", ops, _azure_create, AZURE_WHERE, app, fail_create, held
        )
    assert set(histories) == EMULATED_CASES
    await _keep_and_replay("azure", histories)


def _committed(cloud: str | None = None) -> list[Path]:
    """The committed histories of ``cloud``, or of every cloud's folder under tests/histories."""
    return sorted(ROOT.glob(f"{cloud or '*'}/*.json"))


@pytest.mark.parametrize("cloud", CLOUDS)
def test_histories_are_committed(cloud: str) -> None:
    assert {p.stem for p in _committed(cloud)} >= CASES_OF[cloud]


@pytest.mark.parametrize("path", _committed(), ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_committed_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = _replayer(path.parent.name)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_a_patch_read_straight_after_a_local_activity_needs_the_baseline() -> None:
    """Why ``cloudops.patching``: reshaped so a task ends after the account check, a history
    recorded before the baseline fails to replay (TMPRL1100), so the reshaping in the fresh
    replays above does reproduce what a loaded worker can record."""
    path = ROOT / "aws" / "destroy-ok-v2.json"
    history = WorkflowHistory.from_json("destroy-ok-v2", path.read_text())
    replayer = _replayer("aws")
    whole = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert whole.replay_failure is None
    split = split_after_local_activities(history)
    assert len(split.events) > len(history.events)
    result = await replayer.replay_workflow(split, raise_on_replay_failure=False)
    assert "TMPRL1100" in str(result.replay_failure), result.replay_failure
