"""Checks the providers' own tests share: run an operation, and what every cloud must answer.

Why here: the AWS, GCP and Azure tests ran the same sequences (a first create's output, a load
balancer in use, the tag verbs) and each kept its own copy; they differ only in how they read
their cloud back, which stays in each provider's tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudops.client import CloudOpsClient
from cloudops.models import OperationError
from cloudops_testing.network_inputs import security_group_input

__all__ = [
    "check_first_create",
    "check_load_balancer_in_use",
    "check_pin_rolled_back",
    "check_tag_verbs",
    "fail",
    "sample_create_input",
    "succeed",
    "upsert_web_allowing_db",
]

#: Quick waits for tests.
FAST: dict[str, Any] = {"poll_interval_seconds": 0.2, "wait_timeout_seconds": 60}


async def succeed(
    ops: CloudOpsClient, operation: str, input: dict[str, Any], **options: Any
) -> dict[str, Any]:
    """Run ``operation``: its output, or the test fails with the error."""
    result = await ops.execute(operation, input, **options)
    assert result.ok and result.value is not None, result.error
    return dict(result.value)


async def fail(
    ops: CloudOpsClient, operation: str, input: dict[str, Any], **options: Any
) -> OperationError:
    """Run ``operation`` expecting a business failure: its error."""
    result = await ops.execute(operation, input, **options)
    assert not result.ok and result.error is not None, result.value
    return result.error


def sample_create_input(
    application: str, image: str, instance_type: str, /, **settings: Any
) -> dict[str, Any]:
    """A small, fast createServerGroup input: a group of 2 (1 to 3) of ``stack`` ``test``.

    ``settings`` add fields or replace any (the application, image and type included).
    """
    return {
        "application": application,
        "stack": "test",
        "image": image,
        "instance_type": instance_type,
        "capacity": {"min": 1, "max": 3, "desired": 2},
        "tags": {"team": "cloudops"},
        **FAST,
        **settings,
    }


async def check_first_create(
    ops: CloudOpsClient, provider: str, input: dict[str, Any], **options: Any
) -> dict[str, Any]:
    """Create the first group of the input's cluster and check what every cloud answers."""
    value = await succeed(ops, f"{provider}.createServerGroup", input, **options)
    cluster = f"{input['application']}-{input['stack']}"
    assert (value["name"], value["cluster"]) == (f"{cluster}-v000", cluster)
    assert (value["sequence"], value["healthy_count"]) == (0, input["capacity"]["desired"])
    return value


async def check_load_balancer_in_use(
    ops: CloudOpsClient, provider: str, name: str, create_input: dict[str, Any], **where: Any
) -> None:
    """A group joins load balancer ``name``: its delete waits for the group's destroy.

    Described and listed with the group; deleteLoadBalancer refused (CONFLICT), then done.
    """
    group = (await succeed(ops, f"{provider}.createServerGroup", create_input, **where))["name"]
    described = await succeed(ops, f"{provider}.describeLoadBalancer", {"name": name}, **where)
    assert described["server_groups"] == [group]
    assert described["address"]
    application = {"application": create_input["application"]}
    listed = await succeed(ops, f"{provider}.listLoadBalancers", application, **where)
    assert [b["name"] for b in listed["load_balancers"]] == [name]
    refused = await fail(ops, f"{provider}.deleteLoadBalancer", {"name": name}, **where)
    assert refused.code == "CONFLICT", refused
    destroy = {"server_group": group, "poll_interval_seconds": 0.2}
    await succeed(ops, f"{provider}.destroyServerGroup", destroy, **where)
    deleted = await succeed(ops, f"{provider}.deleteLoadBalancer", {"name": name}, **where)
    assert deleted["changed"], deleted


async def check_tag_verbs(
    ops: CloudOpsClient,
    provider: str,
    group: str,
    tags: Callable[[], dict[str, str]],
    **where: Any,
) -> None:
    """UpsertServerGroupTags sets tags once (again: unchanged); deleteServerGroupTags removes.

    ``tags()`` reads the group's own tags (not cloudops') back from the cloud.
    """
    upsert = {"server_group": group, "tags": {"owner": "ann", "team": "web"}}
    assert (await succeed(ops, f"{provider}.upsertServerGroupTags", upsert, **where))["changed"]
    assert tags() == {"owner": "ann", "team": "web"}
    assert not (await succeed(ops, f"{provider}.upsertServerGroupTags", upsert, **where))["changed"]
    remove = {"server_group": group, "keys": ["owner"]}
    assert (await succeed(ops, f"{provider}.deleteServerGroupTags", remove, **where))["changed"]
    assert tags() == {"team": "web"}


async def upsert_web_allowing_db(
    ops: CloudOpsClient, provider: str, application: str, **where: Any
) -> dict[str, Any]:
    """Security group ``{application}-db``, then ``{application}-web`` allowing 5432 from it.

    The db group has no rules; the web group is the sample's with the one rule more. Returns
    the web group's upsert input.
    """
    db = security_group_input(application, stack="db", ingress=[])
    await succeed(ops, f"{provider}.upsertSecurityGroup", db, **where)
    web = security_group_input(application)
    web["ingress"].append(
        {"protocol": "tcp", "from_port": 5432, "source_groups": [f"{application}-db"]}
    )
    await succeed(ops, f"{provider}.upsertSecurityGroup", web, **where)
    return web


def check_pin_rolled_back(result: Any, new: str) -> None:
    """A deploy rejected at its judgement undid its pin and its copy, on any cloud.

    The ``new`` group's pinned min went back to 1 and the autoscaling copied to it was
    deleted, and every rollback step succeeded.
    """
    assert result.error is not None and result.error.code == "REJECTED"
    assert all(r.ok for r in result.error.rollbacks), result.error.rollbacks
    steps = [r.step for r in result.error.rollbacks]
    assert f"restore the min of {new} to 1" in steps
    assert f"delete the autoscaling copied to {new}" in steps
