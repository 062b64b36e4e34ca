"""Throttling and an unreachable endpoint are retryable errors.

A whole lifecycle through injected faults is in the conformance suite.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aws_testkit import book_for

import cloudops
from cloudops.accounts import using_accounts
from cloudops_aws.activities import wait_for_capacity
from cloudops_aws.models import WaitForCapacityInput
from cloudops_testing.faults import FaultRules
from cloudops_testing.fixtures_aws import MotoNetwork


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
