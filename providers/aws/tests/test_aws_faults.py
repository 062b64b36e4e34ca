"""With 30% of AWS calls throttled or failing with 5xx, operations still end once and right."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aws_testkit import FAST, WHERE, asg_of, book_for, create_input, target_group

import cloudops
import cloudops_aws.plugin
from cloudops.accounts import using_accounts
from cloudops_aws.activities import wait_for_capacity
from cloudops_aws.models import WaitForCapacityInput
from cloudops_testing.faults import FaultRules
from cloudops_testing.fixtures_aws import MotoNetwork, aws_account_config, count_tagged


async def test_lifecycle_under_throttling_and_5xx(
    cloudops_worker: Any,
    aws_fault_proxy: Any,
    moto_client: Any,
    moto_network: MotoNetwork,
    app: str,
) -> None:
    proxy = aws_fault_proxy(
        FaultRules(throttle=0.15, unavailable=0.10, server_error=0.05, seed=20240601)
    )
    arn = target_group(moto_client, moto_network, f"{app}-tg")  # straight to moto: no faults
    request = f"{app}-chaos"
    async with cloudops_worker(
        plugins=[cloudops_aws.plugin],
        load_entrypoints=False,
        accounts=aws_account_config(proxy.url),
    ) as ops:
        created = await ops.execute(
            "aws.createServerGroup",
            create_input(moto_network, app, target_groups=[arn]),
            request_id=request,
            **WHERE,
        )
        assert created.ok, created.error
        name = created.value["name"]
        counts = count_tagged(moto_client, "cloudops:request-id", request)
        assert counts.auto_scaling_groups == [name]
        assert counts.launch_templates == [name]
        assert len(counts.instances) == 2

        steps: list[tuple[str, dict[str, Any]]] = [
            (
                "aws.resizeServerGroup",
                {"server_group": name, "capacity": {"min": 1, "max": 4, "desired": 3}, **FAST},
            ),
            ("aws.disableServerGroup", {"server_group": name, **FAST}),
            ("aws.enableServerGroup", {"server_group": name, **FAST}),
        ]
        for operation, payload in steps:
            result = await ops.execute(operation, payload, **WHERE)
            assert result.ok, (operation, result.error)

        counts = count_tagged(moto_client, "cloudops:request-id", request)
        assert counts.auto_scaling_groups == [name]
        assert counts.launch_templates == [name]
        assert len(counts.instances) == 3
        group = asg_of(moto_client, name)
        assert group is not None
        assert group["SuspendedProcesses"] == []

        destroyed = await ops.execute(
            "aws.destroyServerGroup", {"server_group": name, **FAST}, **WHERE
        )
        assert destroyed.ok, destroyed.error

    counts = count_tagged(moto_client, "cloudops:request-id", request)
    assert counts.auto_scaling_groups == [] and counts.launch_templates == []
    assert counts.instances == []
    injected = proxy.counts
    assert injected["throttle"] > 0 and injected["unavailable"] > 0, injected
    assert injected["server_error"] > 0, injected
    assert injected["forwarded"] > injected["throttle"], injected


async def test_throttling_is_retryable_with_retry_after(
    aws_fault_proxy: Any, moto_client: Any, moto_network: MotoNetwork, app: str
) -> None:
    proxy = aws_fault_proxy(FaultRules(throttle=1.0, retry_after=2, seed=1))
    with (
        using_accounts(book_for(proxy.url, max_attempts=1)),
        pytest.raises(cloudops.RetryableError) as caught,
    ):
        await wait_for_capacity(
            WaitForCapacityInput(account="moto", region="us-east-1", name=f"{app}-v000")
        )
    assert caught.value.next_retry_delay == timedelta(seconds=2)
    assert "Throttling" in caught.value.message
    assert proxy.counts["throttle"] == 1


async def test_unreachable_endpoint_is_retryable(app: str, moto_server: Any) -> None:
    with (
        using_accounts(book_for("http://127.0.0.1:9", max_attempts=1)),
        pytest.raises(cloudops.RetryableError),
    ):
        await asyncio.wait_for(
            wait_for_capacity(
                WaitForCapacityInput(account="moto", region="us-east-1", name=f"{app}-v000")
            ),
            timeout=30,
        )
