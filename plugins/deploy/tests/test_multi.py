"""deploy.multi: one request deploys to AWS (moto), GCP and Azure (the emulators) at once.

One target fails (Azure: its load balancer pool does not exist). All or nothing: AWS and GCP,
already cut over in the waves before it, roll back too, so each cloud holds its cluster as it
was. Per target: Azure rolls back alone, AWS and GCP keep the new version.
"""

from __future__ import annotations

from typing import Any

import pytest
from deploy_clouds import CLOUDS, GroupState, cloud_for
from test_deploy import FAST, cluster_state, v
from test_strategies import keep_history

import cloudops_deploy.plugin


@pytest.mark.parametrize("policy", ["all_or_nothing", "per_target"])
async def test_multi_target_deploy_across_clouds_with_one_failing_target(
    cloudops_worker: Any, request: pytest.FixtureRequest, app: str, policy: str
) -> None:
    clouds = [cloud_for(name, request) for name in CLOUDS]
    accounts = {"accounts": {k: a for c in clouds for k, a in c.accounts["accounts"].items()}}
    plugins = [*(c.plugin for c in clouds), cloudops_deploy.plugin]
    async with cloudops_worker(plugins=plugins, load_entrypoints=False, accounts=accounts) as ops:
        targets = [{"name": c.name, **c.where, "server_group": c.server_group(app)} for c in clouds]
        first = await ops.execute("deploy.multi", {"targets": targets, "options": FAST})
        assert first.ok, first.error
        assert [t["status"] for t in first.value["targets"]] == ["deployed"] * 3
        assert {t["output"]["new_server_group"] for t in first.value["targets"]} == {v(app, 0)}

        broken = [
            {**t, "server_group": c.broken_server_group(app)} if c.name == "azure" else t
            for c, t in zip(clouds, targets, strict=True)
        ]
        payload: dict[str, Any] = {"targets": broken, "options": FAST, "cut_over": policy}
        if policy == "all_or_nothing":  # AWS, then GCP, then Azure: two have cut over
            payload |= {"wave_size": 1, "bake_seconds": 1}
        handle = await ops.submit("deploy.multi", payload)
        result = await handle.result()
        await keep_history(ops, "multi", f"deploy-multi-{policy.replace('_', '-')}", handle.id)

        assert result.error is not None and result.error.code == "NOT_FOUND", result.error
        outcomes = {t["target"]: t for t in result.error.details["targets"]}
        steps = [s.name for s in result.metadata.steps]
        for name in CLOUDS:  # the progress names each target's steps
            assert any(s.startswith(f"{name} > create the new server group") for s in steps)
        if policy == "all_or_nothing":
            assert {k: o["status"] for k, o in outcomes.items()} == {
                "aws": "rolled_back",
                "gcp": "rolled_back",
                "azure": "failed",
            }
            assert "bake 1s before wave 3" in steps
            undone = [r.step for r in result.error.rollbacks]
            assert all(r.ok for r in result.error.rollbacks), result.error.rollbacks
            assert f"aws: re-enable {v(app, 0)}" in undone and f"gcp: disable {v(app, 1)}" in undone
            for cloud in clouds:  # nothing left behind: the cluster as it was, everywhere
                assert await cluster_state(ops, cloud, app) == {
                    v(app, 0): GroupState(desired=2, serving=True)
                }, cloud.name
        else:
            assert {k: o["status"] for k, o in outcomes.items()} == {
                "aws": "deployed",
                "gcp": "deployed",
                "azure": "failed",
            }
            assert result.error.rollbacks == []  # the failed target was rolled back alone
            assert all(r["ok"] for r in outcomes["azure"]["rollbacks"])
            assert all(r["step"].startswith("azure: ") for r in outcomes["azure"]["rollbacks"])
            for cloud in clouds:
                expected = (
                    {v(app, 0): GroupState(desired=2, serving=True)}
                    if cloud.name == "azure"
                    else {
                        v(app, 0): GroupState(desired=2, serving=False),
                        v(app, 1): GroupState(desired=2, serving=True),
                    }
                )
                assert await cluster_state(ops, cloud, app) == expected, cloud.name
