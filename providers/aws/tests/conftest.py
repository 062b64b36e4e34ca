"""Shared fixtures of the cloudops-aws tests: a worker with only this plugin, on moto."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

import cloudops_aws.plugin
from cloudops.client import CloudOpsClient


@pytest.fixture
async def aws_ops(
    cloudops_worker: Any, aws_accounts: dict[str, Any]
) -> AsyncIterator[CloudOpsClient]:
    """A worker running only the AWS plugin, its account pointed straight at moto."""
    async with cloudops_worker(
        plugins=[cloudops_aws.plugin], load_entrypoints=False, accounts=aws_accounts
    ) as ops:
        yield ops


@pytest.fixture
def app() -> str:
    """A fresh application name per test: moto's state is shared by the whole session."""
    return f"t{uuid.uuid4().hex[:10]}"
