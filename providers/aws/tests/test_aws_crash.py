"""A worker killed with SIGKILL in the middle of createServerGroup: a new one finishes it, once."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

from aws_testkit import WHERE, create_input, target_group
from temporalio.api.enums.v1 import PendingActivityState

from cloudops.client import CloudOpsClient
from cloudops_testing.faults import (
    FaultRules,
    ProxyRequest,
    ProxyResponse,
    aws_reject_duplicate_asg,
)
from cloudops_testing.fixtures_aws import MotoNetwork, aws_account_config, count_tagged


class HoldTargetHealth:
    """A fidelity rule: while held, target groups report no healthy target (as during a slow
    health check), so the create keeps polling; it records when it last answered."""

    def __init__(self) -> None:
        self.held = True
        self.answered = threading.Event()
        self.last_answer = 0.0

    def __call__(self, request: ProxyRequest) -> ProxyResponse | None:
        if request.action != "DescribeTargetHealth" or not self.held:
            return None
        body = (
            '<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/'
            'doc/2015-12-01/"><DescribeTargetHealthResult><TargetHealthDescriptions/>'
            "</DescribeTargetHealthResult><ResponseMetadata><RequestId>held</RequestId>"
            "</ResponseMetadata></DescribeTargetHealthResponse>"
        )
        self.last_answer = time.monotonic()
        self.answered.set()
        return ProxyResponse(200, {"Content-Type": "text/xml"}, body.encode())


async def between_polls(handle: Any) -> None:
    """Return once the polling activity has failed an attempt and waits for its next one."""
    for _ in range(300):
        pending = (await handle.describe()).raw_description.pending_activities
        if (
            pending
            and pending[0].attempt > 1
            and pending[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the health poll never paused between two attempts")


async def test_worker_killed_during_create_finishes_once(
    worker_process: Any,
    temporal_client: Any,
    aws_fault_proxy: Any,
    moto_client: Any,
    moto_network: MotoNetwork,
    app: str,
) -> None:
    hold = HoldTargetHealth()
    proxy = aws_fault_proxy(FaultRules(), fidelity=[hold, aws_reject_duplicate_asg])
    arn = target_group(moto_client, moto_network, f"{app}-tg")
    queue = f"aws-crash-{uuid.uuid4().hex[:8]}"
    accounts = aws_account_config(proxy.url)
    worker = await asyncio.to_thread(worker_process, queue, accounts=accounts, plugins=["aws"])
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    request = f"{app}-crash"
    handle = await ops.submit(
        "aws.createServerGroup",
        create_input(
            moto_network,
            app,
            target_groups=[arn],
            poll_interval_seconds=2,
            wait_timeout_seconds=120,
        ),
        request_id=request,
        **WHERE,
    )

    # Wait until the create polls for health, then kill the worker between two polls: a check
    # lost with the worker would only be retried after its heartbeat timeout (10 s);
    # tests/test_chaos.py covers a kill in the middle of a call.
    assert await asyncio.to_thread(hold.answered.wait, 60), "the create never waited for health"
    assert (await handle.progress()).current_step == "wait for healthy instances"
    await between_polls(handle.handle)
    worker.kill()
    killed_at = time.monotonic()
    hold.answered.clear()

    await asyncio.to_thread(worker.start)
    assert await asyncio.to_thread(hold.answered.wait, 60), "the new worker does not poll"
    assert hold.last_answer > killed_at
    hold.held = False
    result = await asyncio.wait_for(handle.result(), 90)
    assert result.ok, result.error
    assert result.value["name"] == f"{app}-test-v000"
    assert result.value["healthy_count"] == 2

    counts = count_tagged(moto_client, "cloudops:request-id", request)
    assert counts.auto_scaling_groups == [f"{app}-test-v000"]
    assert counts.launch_templates == [f"{app}-test-v000"]
    assert len(counts.instances) == 2
    history = await handle.handle.fetch_history()
    creates = [
        e
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name.startswith("aws.create")
    ]
    assert len(creates) == 2  # one launch template, one group: nothing ran twice in history
