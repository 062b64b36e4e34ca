"""Helpers of the reference provider's tests (and, later, of the conformance suite)."""

from __future__ import annotations

from typing import Any

from cloudops.client import CloudOpsClient
from cloudops.models import OperationError
from cloudops_reference.local import REGION

#: Where every test acts: the account of :func:`account_config` and its region.
WHERE: dict[str, Any] = {"account": "reference", "region": REGION}
#: Quick waits for tests.
FAST: dict[str, Any] = {"poll_interval_seconds": 0.2, "wait_timeout_seconds": 30}


def create_input(app: str, **overrides: Any) -> dict[str, Any]:
    """A createServerGroup input of two instances behind one load balancer."""
    return {
        "application": app,
        "stack": "test",
        "image": "img-1",
        "instance_type": "small",
        "capacity": {"min": 1, "max": 4, "desired": 2},
        "load_balancers": ["lb-1"],
        "zones": ["local-1a", "local-1b"],
        "tags": {"team": "core"},
        **FAST,
        **overrides,
    }


async def succeed(
    ops: CloudOpsClient, verb: str, input: dict[str, Any], **options: Any
) -> dict[str, Any]:
    """Run ``reference.VERB`` where the tests act: its output, or the test fails with the error."""
    result = await ops.execute(f"reference.{verb}", input, **{**WHERE, **options})
    assert result.ok and result.value is not None, result.error
    return dict(result.value)


async def fail(
    ops: CloudOpsClient, verb: str, input: dict[str, Any], **options: Any
) -> OperationError:
    """Run ``reference.VERB`` where the tests act, expecting a business failure: its error."""
    result = await ops.execute(f"reference.{verb}", input, **{**WHERE, **options})
    assert not result.ok and result.error is not None, result.value
    return result.error
