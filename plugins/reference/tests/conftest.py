"""Fixtures of the cloudops-reference tests: a cloud file per test and a worker acting on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from reference_testkit import account_config

import cloudops_reference.plugin
from cloudops.client import CloudOpsClient


@pytest.fixture
def cloud_db(tmp_path: Path) -> Path:
    """The file of this test's reference cloud."""
    return tmp_path / "cloud.db"


@pytest.fixture
async def ref_ops(cloudops_worker: Any, cloud_db: Path) -> AsyncIterator[CloudOpsClient]:
    """A worker running only the reference provider, its account on ``cloud_db``."""
    async with cloudops_worker(
        plugins=[cloudops_reference.plugin],
        load_entrypoints=False,
        accounts=account_config(cloud_db, boot_polls=2),
    ) as ops:
        yield ops


@pytest.fixture
def app() -> str:
    """A fresh application name per test."""
    return f"t{uuid.uuid4().hex[:8]}"
