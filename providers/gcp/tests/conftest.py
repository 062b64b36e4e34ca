"""Shared fixtures of the cloudops-gcp tests: a worker with only this plugin, on the emulator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

import cloudops_gcp.plugin
from cloudops.client import CloudOpsClient


@pytest.fixture
async def gcp_ops(
    cloudops_worker: Any, gcp_accounts: dict[str, Any]
) -> AsyncIterator[CloudOpsClient]:
    """A worker running only the GCP plugin, its account pointed straight at the emulator."""
    async with cloudops_worker(
        plugins=[cloudops_gcp.plugin], load_entrypoints=False, accounts=gcp_accounts
    ) as ops:
        yield ops


@pytest.fixture
def app() -> str:
    """A fresh application name per test: the emulator's state is shared by the session."""
    return f"t{uuid.uuid4().hex[:10]}"
