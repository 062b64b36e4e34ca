"""Fixtures of the cloudops-gcp tests: ``gcp_ops`` (a worker with only this plugin, on
the emulator) and ``app`` (an application of each test's own)."""

from __future__ import annotations

import pytest

import cloudops_gcp.plugin
from cloudops_testing.conformance import fresh_application, provider_ops

gcp_ops = provider_ops(cloudops_gcp.plugin, "gcp_accounts")


@pytest.fixture
def app() -> str:
    """A fresh application name per test: the local cloud's state is shared by the session."""
    return fresh_application()
