"""Fixtures of the cloudops-azure tests: ``azure_ops`` (a worker with only this plugin, on
the emulator), ``ops`` (the same with ``testkit.thenFail``, to see undos run) and ``app`` (an
application of each test's own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import cloudops_azure.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing import then_fail
from cloudops_testing.conformance import fresh_application, provider_ops

azure_ops = provider_ops(cloudops_azure.plugin, "azure_accounts")


@pytest.fixture
def app() -> str:
    """A fresh application name per test: the local cloud's state is shared by the session."""
    return fresh_application()


@pytest.fixture
async def ops(
    cloudops_worker: Any, azure_accounts: dict[str, Any]
) -> AsyncIterator[CloudOpsClient]:
    """A worker with this plugin and ``testkit.thenFail`` (operations that then fail)."""
    async with cloudops_worker(
        plugins=[cloudops_azure.plugin, then_fail], load_entrypoints=False, accounts=azure_accounts
    ) as client:
        yield client
