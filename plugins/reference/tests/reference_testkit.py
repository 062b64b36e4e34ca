"""Helpers of the reference provider's tests: an account on a cloud file, reads of the file.

The reads take no control-loop step: a test sees the cloud as it is while workers act on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudops.client import CloudOpsClient
from cloudops.models import OperationError
from cloudops.servergroups.models import ServerGroupDescription
from cloudops_reference import translate
from reference_cloud import Cloud

REGION = "local-1"


def account_config(path: Path, name: str = "reference", **settings: Any) -> dict[str, Any]:
    """A ``cloudops.toml``-shaped dict with one account whose cloud is the file ``path``."""
    account = {"provider": "reference", "endpoint": f"sqlite:///{path}", "regions": [REGION]}
    return {"accounts": {name: {**account, **settings}}}


def read_groups(path: Path, region: str = REGION) -> list[ServerGroupDescription]:
    """Every group of ``region`` as stored, described as ``describeServerGroup`` would."""
    with Cloud.open(path, region) as cloud:
        groups = [cloud.peek(name) for name in cloud.names()]
    return [translate.description(group, region) for group in groups if group]


def read_group(path: Path, name: str, region: str = REGION) -> ServerGroupDescription | None:
    """One group as stored, or None."""
    return next((g for g in read_groups(path, region) if g.name == name), None)


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
