"""Red/black deploys of an autoscaled AWS cluster: the new group keeps the cluster's autoscaling.

moto behind the test kit's proxy stands in for AWS (its fidelity rules create the hooks of a
CreateAutoScalingGroup's LifecycleHookSpecificationList, as AWS does). What each test checks
is read back from moto, not from the deploy's answer.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from deploy_clouds import AwsCloud

import cloudops_aws.plugin
import cloudops_deploy.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing.aws_scaling import asg_of, autoscale, copies_of, scaling_of
from cloudops_testing.checks import check_pin_rolled_back
from cloudops_testing.faults import AWS_FIDELITY, FaultProxy, ProxyRequest, ProxyResponse
from cloudops_testing.fixtures_aws import aws_account_config

FAST = {"health_timeout_seconds": 60, "poll_interval_seconds": 0.5}
NOTHING: dict[str, list[str]] = {"policies": [], "alarms": [], "scheduled": [], "hooks": []}


@pytest.fixture
def aws(request: pytest.FixtureRequest) -> AwsCloud:
    """The deploy tests' AWS cloud: its server group input, account and region."""
    return AwsCloud(request)


@pytest.fixture
def app() -> str:
    return f"s{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def ops(cloudops_worker: Any, aws_fault_proxy: Any) -> AsyncIterator[CloudOpsClient]:
    proxy: FaultProxy = aws_fault_proxy()
    async with cloudops_worker(
        plugins=[cloudops_aws.plugin, cloudops_deploy.plugin],
        load_entrypoints=False,
        accounts=aws_account_config(proxy.url),
    ) as started:
        yield started


async def autoscaled_cluster(
    ops: CloudOpsClient, aws: AwsCloud, app: str
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """Deploy a cluster's first group and autoscale it: the payload, the group, its scaling."""
    payload = {"server_group": aws.server_group(app), **FAST}
    first = await ops.execute("deploy.redBlack", payload, **aws.where)
    assert first.ok, first.error
    old: str = first.value["new_server_group"]
    autoscale(aws.client, old)
    return payload, old, scaling_of(aws.client, old)


def capacity(moto_client: Any, name: str) -> tuple[int, int, int]:
    group = asg_of(moto_client, name)
    assert group is not None, name
    return group["MinSize"], group["DesiredCapacity"], group["MaxSize"]


async def test_a_red_black_deploy_keeps_the_autoscaling_and_unpins_the_new_group(
    ops: CloudOpsClient, aws: AwsCloud, app: str
) -> None:
    payload, old, before = await autoscaled_cluster(ops, aws, app)
    moto_client, where = aws.client, aws.where

    second = await ops.execute("deploy.redBlack", payload, request_id=f"{app}-2", **where)
    assert second.ok, second.error
    new = second.value["new_server_group"]
    assert scaling_of(moto_client, new) == before
    assert scaling_of(moto_client, old) == before  # the old group's are untouched
    assert capacity(moto_client, new) == (1, 2, 4)  # pinned at 2 while traffic moved, not now
    steps = [s.name for s in second.metadata.steps]
    assert f"restore the min of {new} to 1" in steps

    # The same request again runs once: nothing is copied twice.
    copied = copies_of(moto_client, new)
    again = await ops.execute("deploy.redBlack", payload, request_id=f"{app}-2", **where)
    assert again.ok and again.value == second.value
    assert copies_of(moto_client, new) == copied


async def test_a_rejected_deploy_leaves_no_copy_and_no_pinned_group(
    ops: CloudOpsClient, aws: AwsCloud, app: str
) -> None:
    payload, old, before = await autoscaled_cluster(ops, aws, app)
    moto_client, where = aws.client, aws.where

    handle = await ops.submit("deploy.redBlack", {**payload, "manual_judgement": True}, **where)
    for _ in range(600):
        if "judgement" in (await handle.progress()).awaiting_input:
            break
        await asyncio.sleep(0.1)
    new = f"{app}-prod-v001"
    assert capacity(moto_client, new) == (2, 2, 4)  # pinned while waiting for the judgement
    assert len(copies_of(moto_client, new)["policies"]) == 4
    await handle.send_input("judgement", {"approved": False}, sender="qa")
    result = await handle.result()
    check_pin_rolled_back(result, new)
    assert asg_of(moto_client, new) is None
    assert copies_of(moto_client, new) == NOTHING
    assert scaling_of(moto_client, old) == before
    assert capacity(moto_client, old) == (1, 2, 4)


class HoldSecondPolicy:
    """A fidelity rule: the second PutScalingPolicy hangs until released (a copy in flight)."""

    def __init__(self) -> None:
        self.seen = 0
        self.holding = threading.Event()
        self.release = threading.Event()

    async def __call__(self, request: ProxyRequest) -> ProxyResponse | None:
        if request.action != "PutScalingPolicy":
            return None
        self.seen += 1
        if self.seen == 2:
            self.holding.set()
            await asyncio.to_thread(self.release.wait, 60)
        return None


async def test_a_worker_killed_mid_copy_copies_once(
    worker_process: Any, temporal_client: Any, aws_fault_proxy: Any, aws: AwsCloud, app: str
) -> None:
    hold = HoldSecondPolicy()
    proxy = aws_fault_proxy(fidelity=[hold, *AWS_FIDELITY])
    accounts = aws_account_config(proxy.url)
    queue = f"aws-copy-crash-{uuid.uuid4().hex[:8]}"
    worker = await asyncio.to_thread(
        worker_process, queue, accounts=accounts, plugins=["aws", "deploy"]
    )
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    payload, _, before = await autoscaled_cluster(ops, aws, app)
    moto_client, where = aws.client, aws.where
    hold.seen = 0  # the source's own policies were put straight to moto, not through the proxy

    handle = await ops.submit("deploy.redBlack", payload, **where)
    assert await asyncio.to_thread(hold.holding.wait, 60), "the copy never started"
    worker.kill()
    hold.release.set()
    await asyncio.to_thread(worker.start)
    result = await asyncio.wait_for(handle.result(), 120)
    assert result.ok, result.error
    new = result.value["new_server_group"]
    assert scaling_of(moto_client, new) == before
    copied = copies_of(moto_client, new)
    assert {k: len(v) for k, v in copied.items()} == {
        "policies": 4,
        "alarms": 2,
        "scheduled": 1,
        "hooks": 1,
    }
