"""Traffic-share rolling red/black, monitored deploys, guards and the other strategies.

Each scenario runs once per cloud (moto, the GCP and Azure emulators; a real Temporal server).
A small HTTP deployment monitor (conftest.py, Spinnaker's monitor API shape) is consulted at
every step: it reads the old group's traffic share straight from the cloud's load balancer
while the deploy waits for its answer, so the shares are checked at each step.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy_clouds import Cloud, GroupState
from test_deploy import FAST, cluster_state, v

import cloudops
import cloudops_deploy.plugin
from cloudops.client import CloudOpsClient
from cloudops_deploy.models import DeployOutput, MonitorAnswer, MonitorRequest, RedBlackInput

HISTORIES = Path(__file__).parents[3] / "tests" / "histories"


async def keep_history(ops: CloudOpsClient, folder: str, case: str, workflow_id: str) -> None:
    """With ``CLOUDOPS_RECORD_HISTORIES=1``, commit the run's history for the replay tests.

    ``folder``: the cloud's (``aws``...), or ``multi`` for a deploy across clouds.
    """
    if not os.environ.get("CLOUDOPS_RECORD_HISTORIES"):
        return
    history = await ops.client.get_workflow_handle(workflow_id).fetch_history()
    (HISTORIES / folder / f"{case}.json").write_text(history.to_json())


async def test_rolling_red_black_moves_traffic_shares_and_rolls_back_instantly(
    deploy_ops: CloudOpsClient, cloud: Cloud, app: str, monitor: Any
) -> None:
    sized = cloud.server_group(app, **cloud.balanced(app))
    first = await deploy_ops.execute(
        "deploy.redBlack", {"server_group": sized, **FAST}, **cloud.where
    )
    assert first.ok, first.error

    shares: dict[int, float] = {}

    def read_share(body: dict[str, Any]) -> str:
        shares[body["currentProgress"]] = cloud.traffic_share(app, v(app, 0))
        return "continue"

    watching = monitor(read_share)
    payload = {
        "server_group": sized,
        "percentages": [50, 100],
        "monitor": {"url": watching.url, "max_analysis_minutes": 1},
        **FAST,
    }
    handle = await deploy_ops.submit("deploy.monitored", payload, **cloud.where)
    result = await handle.result()
    assert result.ok, result.error
    await keep_history(deploy_ops, cloud.name, "deploy-monitored-hook-ok", handle.id)
    # At 50% half of v000 (1 of 2 instances) was out of its load balancer, still running.
    assert shares == {50: 0.5, 100: 0.5}, shares
    assert result.value["traffic_steps"] == [f"50%: 1 of 2 of {v(app, 0)} out"]
    assert [c["stageId"] for c in watching.calls] == ["50%", "100%"]
    assert result.value["monitor_reasons"] == ["50%: continue (said continue)"] * 1 + [
        "100%: continue (said continue)"
    ]
    assert await cluster_state(deploy_ops, cloud, app) == {
        v(app, 0): GroupState(desired=2, serving=False),  # disabled, never shrunk
        v(app, 1): GroupState(desired=2, serving=True),
    }

    # A monitor that asks for a rollback at 50%: the traffic is back on v001 at once.
    before = await deploy_ops.execute(
        f"{cloud.name}.describeServerGroup",
        {"server_group": v(app, 1), **cloud.scope},
        **cloud.where,
    )
    rolling_back = monitor(lambda body: "rollback")
    back = await deploy_ops.execute(
        "deploy.rollingRedBlack",
        {**payload, "monitor": {"url": rolling_back.url}},
        **cloud.where,
    )
    assert back.error is not None and back.error.code == "REJECTED", back.error
    assert "rollback at 50%" in back.error.message
    assert all(r.ok for r in back.error.rollbacks), back.error.rollbacks
    assert cloud.traffic_share(app, v(app, 1)) == 1.0
    after = await deploy_ops.execute(
        f"{cloud.name}.describeServerGroup",
        {"server_group": v(app, 1), **cloud.scope},
        **cloud.where,
    )
    ids = sorted(i["id"] for i in after.value["instances"])
    assert ids == sorted(i["id"] for i in before.value["instances"])  # nothing was started
    assert await cluster_state(deploy_ops, cloud, app) == {
        v(app, 0): GroupState(desired=2, serving=False),
        v(app, 1): GroupState(desired=2, serving=True),  # v002 is gone
    }


async def test_options_guards_highlander_and_none(
    cloudops_worker: Any, cloud: Cloud, app: str
) -> None:
    """max_initial_server_groups, a traffic guard, use_source_capacity, highlander, none."""
    accounts = json.loads(json.dumps(cloud.accounts))
    table = accounts["accounts"][cloud.where["account"]]
    table["traffic_guards"] = [{"cluster": f"{app}-prod"}]
    async with cloudops_worker(
        plugins=[cloud.plugin, cloudops_deploy.plugin], load_entrypoints=False, accounts=accounts
    ) as ops:
        group = cloud.server_group(app)
        first = await ops.execute("deploy.none", {"server_group": group, **FAST}, **cloud.where)
        assert first.ok, first.error
        await keep_history(ops, cloud.name, "deploy-none-ok", first.metadata.workflow_id)
        refused = await ops.execute(
            "deploy.redBlack",
            {"server_group": group, "max_initial_server_groups": 0, **FAST},
            **cloud.where,
        )
        assert refused.error is not None and refused.error.code == "CONFLICT", refused.error
        assert refused.error.rollbacks == []  # nothing had changed

        # A new group with no instance would leave the guarded cluster without a healthy one.
        empty = cloud.server_group(app, capacity={"min": 0, "max": 4, "desired": 0})
        guarded = await ops.execute(
            "deploy.redBlack", {"server_group": empty, **FAST}, **cloud.where
        )
        assert guarded.error is not None and guarded.error.code == "CONFLICT", guarded.error
        assert f"traffic guard {app}-prod" in guarded.error.message
        assert all(r.ok for r in guarded.error.rollbacks)

        # use_source_capacity: the new group takes v000's size (2), not the input's (1).
        small = cloud.server_group(app, capacity={"min": 1, "max": 4, "desired": 1})
        result = await ops.execute(
            "deploy.highlander",
            {"server_group": small, "use_source_capacity": True, **FAST},
            **cloud.where,
        )
        assert result.ok, result.error
        await keep_history(ops, cloud.name, "deploy-highlander-ok", result.metadata.workflow_id)
        assert result.value["destroyed"] == [v(app, 0)]
        assert result.value["previous_launch_settings"]["capacity"]["desired"] == 2
        assert await cluster_state(ops, cloud, app) == {
            v(app, 1): GroupState(desired=2, serving=True)  # the guarded try left no v001
        }

        # Previous-image rollback: v000 is gone; it comes back from its launch settings.
        back = await ops.execute(
            "deploy.rollback",
            {
                "restore": v(app, 0),
                "recreate": result.value["previous_launch_settings"],
                "scope": cloud.scope,
                **FAST,
            },
            **cloud.where,
        )
        assert back.ok, back.error
        assert back.value["enabled"] == [v(app, 2)] and back.value["disabled"] == [v(app, 1)]


class CanaryInput(RedBlackInput):
    """A third party's strategy input: the deploy input and a field of its own."""

    canary_note: str


class Canary(cloudops.CloudOperation[CanaryInput, DeployOutput]):
    """A custom strategy (``deploy.custom`` names it): a red/black with a step of its own."""

    provider = "testdeploy"
    name = "canary"

    async def run(self, ctx: cloudops.OperationContext, input: CanaryInput) -> DeployOutput:
        ctx.step(f"canary: {input.canary_note}")
        payload = input.model_dump(mode="json", exclude={"canary_note"}, exclude_unset=True)
        out = await ctx.run("deploy.redBlack", payload)
        return DeployOutput.model_validate(out.model_dump())


class Votes:
    """A third-party plugin: a deployment monitor (the hook) and a custom strategy."""

    def __init__(self) -> None:
        self.votes: list[str] = []
        self.asked: list[str] = []

    @cloudops.hookimpl
    def register_deployment_monitors(self, register: Callable[[Any], None]) -> None:
        register(cloudops.DeploymentMonitor(name="votes", evaluate=self.evaluate))

    @cloudops.hookimpl
    def register_operations(self, register: Callable[[Any], None]) -> None:
        register(Canary)

    async def evaluate(self, request: MonitorRequest) -> MonitorAnswer:
        self.asked.append(f"{request.cluster} {request.stage}")
        directive = self.votes.pop(0) if self.votes else "continue"
        return MonitorAnswer(directive=directive, reason=f"voted {directive}")  # type: ignore[arg-type]


async def test_custom_strategy_plugin_monitor_rollback_mode_disable_and_healthy_share(
    cloudops_worker: Any, cloud: Cloud, app: str
) -> None:
    """deploy.custom runs a plugin's strategy; a plugin's monitor (register_deployment_monitors)
    asks for a rollback: with ``rollback_mode: disable`` the new group stays, disabled."""
    votes = Votes()
    plugins = [cloud.plugin, cloudops_deploy.plugin, votes]
    async with cloudops_worker(
        plugins=plugins, load_entrypoints=False, accounts=cloud.accounts
    ) as ops:
        group = cloud.server_group(app)
        half = {"target_healthy_percentage": 50, **FAST}
        first = await ops.execute("deploy.none", {"server_group": group, **half}, **cloud.where)
        assert first.ok, first.error
        unknown = await ops.execute(
            "deploy.none", {"server_group": group, "monitor": {"name": "nope"}}, **cloud.where
        )
        assert unknown.error is not None and unknown.error.code == "INVALID_INPUT"
        assert unknown.error.rollbacks == []

        custom = {
            "server_group": group,
            "strategy": "testdeploy.canary",
            "parameters": {"canary_note": "one"},
            "monitor": {"name": "votes"},
            **FAST,
        }
        votes.votes = ["rollback"]
        kept = await ops.execute(
            "deploy.custom", {**custom, "rollback_mode": "disable"}, **cloud.where
        )
        assert kept.error is not None and kept.error.code == "REJECTED", kept.error
        assert "voted rollback" in kept.error.message
        # kept, disabled, and not left pinned: its min goes back to the input's
        assert [r.step for r in kept.error.rollbacks] == [
            f"restore the min of {v(app, 1)} to 1",
            f"disable {v(app, 1)}",
        ]
        assert "run testdeploy.canary > canary: one" in [s.name for s in kept.metadata.steps]
        assert await cluster_state(ops, cloud, app) == {
            v(app, 0): GroupState(desired=2, serving=True),
            v(app, 1): GroupState(desired=2, serving=False),  # kept for debugging
        }

        votes.votes = ["wait", "continue"]
        done = await ops.execute("deploy.custom", {**custom, **half}, **cloud.where)
        assert done.ok, done.error
        assert done.value["monitor_reasons"] == [
            "100%: wait (voted wait)",
            "100%: continue (voted continue)",
        ]
        assert done.value["disabled"] == [v(app, 0)]
        assert votes.asked == [f"{app}-prod enabled"] * 3
        assert await cluster_state(ops, cloud, app) == {
            v(app, 0): GroupState(desired=2, serving=False),
            v(app, 1): GroupState(desired=2, serving=False),
            v(app, 2): GroupState(desired=2, serving=True),
        }
