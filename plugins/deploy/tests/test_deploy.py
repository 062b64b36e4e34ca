"""Deploy strategies on every installed cloud (moto, the GCP and Azure emulators; real Temporal).

Each scenario runs once per cloud (the ``cloud`` fixture) and checks the cloud's real state
through the cloud's adapter (:mod:`deploy_clouds`): which groups exist, their size and whether
they serve traffic. It also checks that the provider's ``listServerGroups`` reports the same
``disabled`` state, since deploys decide what to disable from it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from deploy_clouds import AzureCloud, Cloud, GroupState, require_provider

import cloudops_deploy.plugin
from cloudops.client import CloudOpsClient

FAST = {"health_timeout_seconds": 60, "poll_interval_seconds": 0.5}


def v(app: str, sequence: int) -> str:
    """The name of server group ``sequence`` of the test's cluster."""
    return f"{app}-prod-v{sequence:03d}"


async def red_black(ops: CloudOpsClient, cloud: Cloud, app: str, **extra: Any) -> Any:
    payload = {"server_group": cloud.server_group(app), **FAST, **extra}
    return await ops.execute("deploy.redBlack", payload, **cloud.where)


async def cluster_state(ops: CloudOpsClient, cloud: Cloud, app: str) -> dict[str, GroupState]:
    """The cluster as the cloud holds it, after checking the provider lists it the same way."""
    state = await cloud.groups(f"{app}-prod")
    listed = await ops.execute(
        f"{cloud.name}.listServerGroups",
        {"application": app, "stack": "prod", **cloud.scope},
        **cloud.where,
    )
    assert listed.ok, listed.error
    reported = {g["name"]: not g["disabled"] for g in listed.value["server_groups"]}
    assert reported == {name: group.serving for name, group in state.items()}, (
        "listServerGroups disagrees with the cloud",
        reported,
        state,
    )
    return state


async def test_red_black_replaces_the_old_group_and_rollback_restores_it(
    deploy_ops: CloudOpsClient, cloud: Cloud, app: str
) -> None:
    first = await red_black(deploy_ops, cloud, app)
    assert first.ok, first.error
    assert first.value["new_server_group"] == v(app, 0)
    assert first.value["previous_server_groups"] == []

    second = await red_black(deploy_ops, cloud, app)
    assert second.ok, second.error
    assert second.value["new_server_group"] == v(app, 1)
    assert second.value["disabled"] == [v(app, 0)]
    assert await cluster_state(deploy_ops, cloud, app) == {
        v(app, 0): GroupState(desired=2, serving=False),
        v(app, 1): GroupState(desired=2, serving=True),
    }
    steps = [s.name for s in second.metadata.steps]
    assert steps[0] == "find the cluster's server groups"
    assert f"disable {v(app, 0)}" in steps

    # deploy.rollback puts the previous group back in service and takes the new one out.
    back = await deploy_ops.execute(
        "deploy.rollback", {"restore": v(app, 0), **FAST}, **cloud.where
    )
    assert back.ok, back.error
    assert back.value["enabled"] == [v(app, 0)]
    assert back.value["disabled"] == [v(app, 1)]
    assert back.value["resized"] == []
    assert await cluster_state(deploy_ops, cloud, app) == {
        v(app, 0): GroupState(desired=2, serving=True),
        v(app, 1): GroupState(desired=2, serving=False),
    }


async def test_a_failed_create_leaves_the_cluster_as_it_was(
    deploy_ops: CloudOpsClient, cloud: Cloud, app: str
) -> None:
    assert (await red_black(deploy_ops, cloud, app)).ok
    payload = {"server_group": cloud.broken_server_group(app), **FAST}
    result = await deploy_ops.execute("deploy.redBlack", payload, **cloud.where)
    assert not result.ok and result.error is not None
    assert result.error.code == "NOT_FOUND", result.error
    assert all(r.ok for r in result.error.rollbacks), result.error.rollbacks
    assert await cluster_state(deploy_ops, cloud, app) == {
        v(app, 0): GroupState(desired=2, serving=True)
    }


async def _assert_only_the_new_group_was_undone(
    ops: Any, cloud: Cloud, app: str, result: Any, steps_before: list[str]
) -> None:
    """A deploy that missed its 4 s health deadline: TIMED_OUT, naming v001; only v001 was
    rolled back, after ``steps_before`` (and the cluster read); v000 still serves, at 2."""
    assert not result.ok and result.error is not None
    assert result.error.code == "TIMED_OUT", result.error
    assert "not healthy within the health deadline (4s)" in result.error.message
    assert v(app, 1) in result.error.message  # the last check names the group
    undone = [r.step for r in result.error.rollbacks]
    assert undone and all(r.ok for r in result.error.rollbacks), result.error.rollbacks
    assert all(v(app, 1) in step for step in undone), undone  # only the new group is undone
    steps = [s.name for s in result.metadata.steps if " > " not in s.name]
    rolling_back = steps.index(f"rollback: {undone[0]}")
    assert steps[:rolling_back] == [
        "find the cluster's server groups",
        *steps_before,
    ], steps
    assert {f"rollback: {step}" for step in undone} <= set(steps[rolling_back:]), steps
    assert await cluster_state(ops, cloud, app) == {
        v(app, 0): GroupState(desired=2, serving=True)  # v001 is gone
    }


async def test_a_new_group_that_never_becomes_healthy_is_rolled_back(
    cloudops_worker: Any, cloud: Cloud, app: str
) -> None:
    """The health deadline passes: the new group goes, the old one keeps serving throughout."""
    accounts = cloud.never_healthy(v(app, 1))  # the cloud never reports v001's instances healthy
    async with cloudops_worker(
        plugins=[cloud.plugin, cloudops_deploy.plugin], load_entrypoints=False, accounts=accounts
    ) as ops:
        assert (await red_black(ops, cloud, app)).ok
        result = await red_black(ops, cloud, app, health_timeout_seconds=4)
        await _assert_only_the_new_group_was_undone(
            ops, cloud, app, result, ["create the new server group and wait until healthy"]
        )  # the old group was never touched


async def test_a_rolling_deploy_whose_first_step_never_becomes_healthy_is_rolled_back(
    cloudops_worker: Any, cloud: Cloud, app: str
) -> None:
    """The first percentage step misses the health deadline: the old group never shrinks."""
    accounts = cloud.never_healthy(v(app, 1))  # the cloud never reports v001's instances healthy
    async with cloudops_worker(
        plugins=[cloud.plugin, cloudops_deploy.plugin], load_entrypoints=False, accounts=accounts
    ) as ops:
        assert (await red_black(ops, cloud, app)).ok
        payload = {
            "server_group": cloud.server_group(app),
            "percentages": [50, 100],
            **FAST,
            "health_timeout_seconds": 4,
        }
        result = await ops.execute("deploy.rollingRedBlack", payload, **cloud.where)
        await _assert_only_the_new_group_was_undone(
            ops, cloud, app, result, ["create the new server group at 50%"]
        )  # neither enabled nor resized anything: the old group's size is untouched


async def _wait_for_judgement(handle: Any) -> None:
    for _ in range(600):
        if "judgement" in (await handle.progress()).awaiting_input:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the deploy never asked for a judgement")


async def test_rejected_timed_out_or_cancelled_deploys_roll_back(
    deploy_ops: CloudOpsClient, cloud: Cloud, app: str
) -> None:
    """Each way a judged deploy can end without approval leaves only the old group, serving.

    One cluster for the three: each rolled-back deploy must leave it exactly as it was, which
    is what the next one starts from.
    """
    assert (await red_black(deploy_ops, cloud, app)).ok
    expected = {"reject": "REJECTED", "timeout": "TIMED_OUT", "cancel": "CANCELLED"}
    for decision, code in expected.items():
        payload = {
            "server_group": cloud.server_group(app),
            "manual_judgement": True,
            "judgement_timeout_seconds": 1 if decision == "timeout" else 300,
            **FAST,
        }
        handle = await deploy_ops.submit("deploy.redBlack", payload, **cloud.where)
        if decision != "timeout":
            await _wait_for_judgement(handle)
        if decision == "reject":
            await handle.send_input("judgement", {"approved": False}, sender="qa")
        elif decision == "cancel":
            await handle.cancel()
        result = await handle.result()
        assert result.error is not None and result.error.code == code, (decision, result.error)
        assert all(r.ok for r in result.error.rollbacks), (decision, result.error.rollbacks)
        assert [r.step for r in result.error.rollbacks][:1] == [f"disable {v(app, 1)}"], decision
        assert await cluster_state(deploy_ops, cloud, app) == {
            v(app, 0): GroupState(desired=2, serving=True)  # the new group is gone
        }, decision


async def test_approved_deploy_and_max_remaining_server_groups(
    deploy_ops: CloudOpsClient, cloud: Cloud, app: str
) -> None:
    for _ in range(2):
        assert (await red_black(deploy_ops, cloud, app)).ok
    payload = {
        "server_group": cloud.server_group(app),
        "manual_judgement": True,
        "max_remaining_server_groups": 2,
        "scale_down_old": True,
        **FAST,
    }
    handle = await deploy_ops.submit("deploy.redBlack", payload, **cloud.where)
    await _wait_for_judgement(handle)
    await handle.send_input("judgement", {"approved": True}, sender="lead")
    result = await handle.result()
    assert result.ok, result.error
    assert result.value["judged_by"] == "lead"
    assert result.value["destroyed"] == [v(app, 0)]
    assert result.value["scaled_down"] == [v(app, 1)]
    assert result.value["cleanup_errors"] == []
    assert await cluster_state(deploy_ops, cloud, app) == {
        v(app, 1): GroupState(desired=0, serving=False),
        v(app, 2): GroupState(desired=2, serving=True),
    }


async def test_rolling_red_black_moves_capacity_in_steps_and_rolls_back(
    deploy_ops: CloudOpsClient, cloud: Cloud, app: str
) -> None:
    sized = cloud.server_group(
        app, capacity={"min": 0, "max": 4, "desired": 2}, **cloud.balanced(app)
    )
    first = await deploy_ops.execute(
        "deploy.redBlack", {"server_group": sized, **FAST}, **cloud.where
    )
    assert first.ok, first.error
    result = await deploy_ops.execute(
        "deploy.rollingRedBlack",
        {"server_group": sized, "percentages": [50, 100], "scale_down": True, **FAST},
        **cloud.where,
    )
    assert result.ok, result.error
    steps = [s.name for s in result.metadata.steps]
    for step in (
        "create the new server group at 50%",
        f"50%: 50% of {v(app, 0)} out of traffic",
        f"100%: {v(app, 1)} to 2 instance(s)",
        f"disable {v(app, 0)}",
        f"scale down {v(app, 0)}",
    ):
        assert step in steps, (step, steps)
    assert await cluster_state(deploy_ops, cloud, app) == {
        v(app, 0): GroupState(desired=0, serving=False),
        v(app, 1): GroupState(desired=2, serving=True),
    }

    # Rolling back to the scaled-down group first gives it the current group's size.
    back = await deploy_ops.execute(
        "deploy.rollback", {"restore": v(app, 0), **FAST}, **cloud.where
    )
    assert back.ok, back.error
    assert back.value["resized"] == [v(app, 0)]
    steps = [s.name for s in back.metadata.steps]
    assert steps.index(f"resize {v(app, 0)} to 2 instance(s)") < steps.index(f"enable {v(app, 0)}")
    assert await cluster_state(deploy_ops, cloud, app) == {
        v(app, 0): GroupState(desired=2, serving=True),
        v(app, 1): GroupState(desired=2, serving=False),
    }


async def test_azure_deploy_and_rollback_in_the_resource_group_of_the_input(
    cloudops_worker: Any, request: pytest.FixtureRequest, app: str
) -> None:
    require_provider("azure")
    cloud = AzureCloud(request, resource_group="cloudops-deploy-rg")
    async with cloudops_worker(
        plugins=[cloud.plugin, cloudops_deploy.plugin],
        load_entrypoints=False,
        accounts=cloud.accounts,
    ) as ops:
        for _ in range(2):
            result = await red_black(ops, cloud, app)
            assert result.ok, result.error
        assert result.value["disabled"] == [v(app, 0)]
        back = await ops.execute(
            "deploy.rollback",
            {"restore": v(app, 0), "scope": cloud.scope, **FAST},
            **cloud.where,
        )
        assert back.ok, back.error
        assert back.value["disabled"] == [v(app, 1)]
        assert await cluster_state(ops, cloud, app) == {
            v(app, 0): GroupState(desired=2, serving=True),
            v(app, 1): GroupState(desired=2, serving=False),
        }


async def test_deploy_without_an_account_is_invalid_input(cloudops_worker: Any) -> None:
    async with cloudops_worker(plugins=[cloudops_deploy.plugin], load_entrypoints=False) as ops:
        result = await ops.execute("deploy.redBlack", {"server_group": {}})
    assert result.error is not None and result.error.code == "INVALID_INPUT"
    assert result.error.details["errors"][0]["field"] == "account"
