from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

import fake_plugin
from cloudops.client import CloudOpsClient

ACCOUNTS = fake_plugin.ACCOUNTS


@pytest_asyncio.fixture
async def ops(cloudops_worker) -> AsyncIterator[CloudOpsClient]:
    """A worker with the example plugin (entry point) and the fake test plugin."""
    async with cloudops_worker([fake_plugin], allow=["example"], accounts=ACCOUNTS) as client:
        yield client
