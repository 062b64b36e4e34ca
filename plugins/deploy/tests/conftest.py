"""Fixtures of the deploy tests: each scenario runs once per installed cloud provider."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from deploy_clouds import CLOUDS, Cloud, cloud_for

import cloudops_deploy.plugin
from cloudops.client import CloudOpsClient


@pytest.fixture(params=CLOUDS)
def cloud(request: pytest.FixtureRequest) -> Cloud:
    """The cloud under test (its fixtures, emulator or moto, start only when needed)."""
    return cloud_for(request.param, request)


@pytest.fixture
async def deploy_ops(cloudops_worker: Any, cloud: Cloud) -> AsyncIterator[CloudOpsClient]:
    """A worker with the cloud's provider plugin and the deploy plugin, on its local cloud."""
    async with cloudops_worker(
        plugins=[cloud.plugin, cloudops_deploy.plugin],
        load_entrypoints=False,
        accounts=cloud.accounts,
    ) as ops:
        yield ops


@pytest.fixture
def app() -> str:
    """A fresh application per test (lowercase, so GCP can name groups after it)."""
    return f"d{uuid.uuid4().hex[:10]}"
