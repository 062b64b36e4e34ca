"""Fixtures of the cloudops-aws tests: ``aws_ops`` (a worker with only this plugin, on
moto) and ``app`` (an application of each test's own)."""

from __future__ import annotations

import pytest

import cloudops_aws.plugin
from cloudops_testing.conformance import fresh_application, provider_ops

aws_ops = provider_ops(cloudops_aws.plugin, "aws_accounts")


@pytest.fixture
def app() -> str:
    """A fresh application name per test: the local cloud's state is shared by the session."""
    return fresh_application()
