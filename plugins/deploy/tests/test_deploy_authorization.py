"""A real red/black deploy (AWS provider on moto) under permissions (issue 21, docs/security.md).

The worker requires identity; callers are tokens of :class:`LocalIdentityProvider`. A deploy is
checked as a whole (``deploy.redBlack`` needs WRITE on the account and the application of its
server group) and step by step (every provider operation it composes), before any cloud call.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy_clouds import GroupState, cloud_for
from temporalio.client import Client

import cloudops_deploy.plugin
from cloudops_testing.identity import LocalIdentityProvider

FAST = {"health_timeout_seconds": 60, "poll_interval_seconds": 0.5}


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[LocalIdentityProvider]:
    provider = LocalIdentityProvider(tmp_path)
    yield provider
    provider.stop()


async def test_a_red_black_deploy_needs_write_on_its_account_and_application(
    request: pytest.FixtureRequest,
    cloudops_worker: Any,
    temporal_client: Client,
    idp: LocalIdentityProvider,
    app: str,
) -> None:
    cloud = cloud_for("aws", request)
    account = cloud.where["account"]
    rules = [
        {"groups": ["deployers"], "access": "WRITE", "accounts": [account], "applications": [app]},
        {"groups": ["deployers"], "access": "WRITE", "accounts": [account], "applications": ["x"]},
        {"groups": ["auditors"], "access": "READ", "accounts": ["*"]},
        # deploys, but none of the provider's mutations they compose
        {"subjects": ["pat"], "access": "WRITE", "operations": ["deploy.*", "aws.list*"]},
    ]
    config = idp.config(cloud.accounts["accounts"], rules)
    payload = {"server_group": cloud.server_group(app), **FAST}
    async with cloudops_worker(
        plugins=[cloud.plugin, cloudops_deploy.plugin], load_entrypoints=False, accounts=config
    ) as ops:

        def as_(token: str) -> Any:
            return idp.client(temporal_client, token, ops.task_queue)

        for token, operation in [
            (idp.token("audrey", ["auditors"]), "deploy.redBlack"),  # READ only
            (idp.token("eve", ["shop-deployers"]), "deploy.redBlack"),  # no rule at all
            (idp.token("pat"), "aws.createServerGroup"),  # denied halfway
        ]:
            denied = await as_(token).execute("deploy.redBlack", payload, **cloud.where)
            assert denied.error is not None and denied.error.code == "PERMISSION_DENIED"
            assert denied.error.details["operation"] == operation, denied.error
            assert denied.error.details["account"] == account
            assert denied.error.details["application"] == app
            assert await cloud.groups(f"{app}-prod") == {}, "a denied deploy created a group"

        dana = as_(idp.token("dana", ["deployers"]))
        done = await dana.execute("deploy.redBlack", payload, **cloud.where)
        assert done.ok, done.error
        assert done.metadata.subject == "dana"
        assert await cloud.groups(f"{app}-prod") == {
            f"{app}-prod-v000": GroupState(desired=2, serving=True)
        }
