"""Azure autoscale settings over real HTTP on a real Temporal server, read back with the
official MonitorManagementClient from the emulator: copied and re-targeted on clone (once,
however often the request runs; deleted by the rollback), scaling policies as profiles, and
the scale set's tags (set, repeated, removed, undone).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure_testkit import FAST, RG, WHERE, create_input, scale_set

import cloudops_azure.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing.azure_emulator import AzureEmulator
from cloudops_testing.checks import check_pin_rolled_back, check_tag_verbs
from cloudops_testing.fixtures_azure import AZURE_SUBSCRIPTION, emulator_monitor_client


def vmss_id(name: str) -> str:
    return (
        f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{RG}/providers/"
        f"Microsoft.Compute/virtualMachineScaleSets/{name}"
    )


def settings_of(emulator: AzureEmulator, group: str) -> dict[str, dict[str, Any]]:
    """The autoscale settings that target ``group``, by name, as the official client reads them."""
    client = emulator_monitor_client(emulator.url)
    found = {}
    for setting in client.autoscale_settings.list_by_resource_group(RG):
        data = setting.serialize(keep_readonly=True)
        if data["properties"]["targetResourceUri"].lower() == vmss_id(group).lower():
            found[data["name"]] = data
    return found


def put_setting(emulator: AzureEmulator, group: str) -> None:
    rule = {
        "metricTrigger": {
            "metricName": "Percentage CPU",
            "metricResourceUri": vmss_id(group),
            "timeGrain": "PT1M",
            "statistic": "Average",
            "timeWindow": "PT5M",
            "timeAggregation": "Average",
            "operator": "GreaterThan",
            "threshold": 75,
        },
        "scaleAction": {
            "direction": "Increase",
            "type": "ChangeCount",
            "value": "1",
            "cooldown": "PT5M",
        },
    }
    body = {
        "location": "eastus",
        "properties": {
            "enabled": True,
            "targetResourceUri": vmss_id(group),
            "profiles": [
                {
                    "name": "default",
                    "capacity": {"minimum": "1", "maximum": "3", "default": "2"},
                    "rules": [rule],
                }
            ],
        },
    }
    client = emulator_monitor_client(emulator.url)
    client.autoscale_settings.create_or_update(RG, f"{group}-autoscale", body)


async def _settings(emulator: AzureEmulator, group: str) -> dict[str, dict[str, Any]]:
    return await asyncio.to_thread(settings_of, emulator, group)


async def test_a_clone_copies_the_autoscale_setting_retargeted(
    ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    made = await ops.execute("azure.createServerGroup", create_input(app), **WHERE)
    assert made.ok, made.error
    source = made.value["name"]
    await asyncio.to_thread(put_setting, azure_emulator, source)
    before = await _settings(azure_emulator, source)

    clone = {"source": source, **FAST}
    result = await ops.execute("azure.cloneServerGroup", clone, request_id=f"{source}-c", **WHERE)
    assert result.ok, result.error
    name = result.value["name"]
    assert result.value["resources"]["scaling_copied"] == "autoscale_setting=1"
    copied = await _settings(azure_emulator, name)
    assert list(copied) == [f"{name}-autoscale"]
    (rule,) = copied[f"{name}-autoscale"]["properties"]["profiles"][0]["rules"]
    assert rule["metricTrigger"]["metricResourceUri"].lower() == vmss_id(name).lower()
    assert await _settings(azure_emulator, source) == before

    again = await ops.execute("azure.cloneServerGroup", clone, request_id=f"{source}-c", **WHERE)
    assert again.ok and again.value["name"] == name
    assert list(await _settings(azure_emulator, name)) == [f"{name}-autoscale"]

    off = await ops.execute(
        "azure.cloneServerGroup", {**clone, "copy_source_scaling": False}, **WHERE
    )
    assert off.ok and await _settings(azure_emulator, off.value["name"]) == {}

    # A clone inside an operation that then fails: the group and its copied setting go.
    failed = await ops.execute(
        "testkit.thenFail",
        {"steps": [{"operation": "azure.cloneServerGroup", "input": clone}]},
        **WHERE,
    )
    assert not failed.ok and all(r.ok for r in failed.error.rollbacks), failed.error
    labels = " ".join(r.step for r in failed.error.rollbacks)
    assert "delete the autoscaling copied to" in labels
    gone = labels.split("delete the autoscaling copied to ", 1)[1].split()[0]
    assert await _settings(azure_emulator, gone) == {}


async def test_scaling_policies_are_profiles_of_the_setting(
    ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    made = await ops.execute("azure.createServerGroup", create_input(app), **WHERE)
    assert made.ok, made.error
    group = made.value["name"]
    alarm = {"metric": "Percentage CPU", "comparison": "GreaterThanThreshold", "threshold": 70}
    policy = {
        "server_group": group,
        "policy_name": "busy",
        "step": {"steps": [{"adjustment": 1}], "alarm": alarm},
    }
    first = await ops.execute("azure.upsertScalingPolicy", policy, **WHERE)
    assert first.ok and first.value["changed"], first.error
    again = await ops.execute("azure.upsertScalingPolicy", policy, **WHERE)
    assert again.ok and not again.value["changed"], again.value
    (setting,) = (await _settings(azure_emulator, group)).values()
    (profile,) = setting["properties"]["profiles"]
    assert profile["name"] == "busy" and profile["capacity"] == {
        "minimum": "1",
        "maximum": "3",
        "default": "2",
    }
    assert profile["rules"][0]["metricTrigger"]["threshold"] == 70
    assert profile["rules"][0]["scaleAction"]["direction"] == "Increase"

    tracking = {"server_group": group, "policy_name": "t", "target_tracking": {"target": 50}}
    assert (
        await ops.execute("azure.upsertScalingPolicy", tracking, **WHERE)
    ).error.code == "INVALID_INPUT"

    higher = {**policy, "step": {**policy["step"], "alarm": {**alarm, "threshold": 90}}}
    failed = await ops.execute(
        "testkit.thenFail",
        {"steps": [{"operation": "azure.upsertScalingPolicy", "input": higher}]},
        **WHERE,
    )
    assert not failed.ok and [r.ok for r in failed.error.rollbacks] == [True], failed.error
    (setting,) = (await _settings(azure_emulator, group)).values()
    assert setting["properties"]["profiles"][0]["rules"][0]["metricTrigger"]["threshold"] == 70

    ref = {"server_group": group, "policy_name": "busy"}
    assert (await ops.execute("azure.deleteScalingPolicy", ref, **WHERE)).value["changed"]
    assert await _settings(azure_emulator, group) == {}  # its last profile: the setting went
    assert not (await ops.execute("azure.deleteScalingPolicy", ref, **WHERE)).value["changed"]


async def test_tags_are_set_repeated_removed_and_undone(
    ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    made = await ops.execute("azure.createServerGroup", create_input(app), **WHERE)
    assert made.ok, made.error
    group = made.value["name"]

    def tags() -> dict[str, str]:
        found = scale_set(azure_emulator, group) or {}
        return {k: v for k, v in found["tags"].items() if not k.startswith("cloudops")}

    await check_tag_verbs(ops, "azure", group, tags, **WHERE)
    again = {"server_group": group, "tags": {"team": "x"}}
    failed = await ops.execute(
        "testkit.thenFail",
        {"steps": [{"operation": "azure.upsertServerGroupTags", "input": again}]},
        **WHERE,
    )
    assert not failed.ok and [r.ok for r in failed.error.rollbacks] == [True], failed.error
    assert tags() == {"team": "web"}


@pytest.fixture
async def deploy_ops(
    cloudops_worker: Any, azure_accounts: dict[str, Any]
) -> AsyncIterator[CloudOpsClient]:
    import cloudops_deploy.plugin

    async with cloudops_worker(
        plugins=[cloudops_azure.plugin, cloudops_deploy.plugin],
        load_entrypoints=False,
        accounts=azure_accounts,
    ) as client:
        yield client


def _bounds(setting: dict[str, Any]) -> list[dict[str, str]]:
    return [p["capacity"] for p in setting["properties"]["profiles"]]


async def _pinned_deploy(
    ops: CloudOpsClient, emulator: AzureEmulator, app: str
) -> tuple[Any, str, str, dict[str, Any]]:
    """Deploy a cluster's first group and autoscale it (bounds 1..3, default 2), then start a
    second red/black deploy and wait for its judgement, its new group pinned (min 2).

    Returns the deploy's handle, the source, the new group and the source's settings.
    """
    group = create_input(app, capacity={"min": 1, "max": 3, "desired": 2})
    payload = {"server_group": group, "health_timeout_seconds": 60, "poll_interval_seconds": 0.3}
    first = await ops.execute("deploy.redBlack", payload, **WHERE)
    assert first.ok, first.error
    old = str(first.value["new_server_group"])
    await asyncio.to_thread(put_setting, emulator, old)
    source = await _settings(emulator, old)
    handle = await ops.submit("deploy.redBlack", {**payload, "manual_judgement": True}, **WHERE)
    for _ in range(600):
        if "judgement" in (await handle.progress()).awaiting_input:
            break
        await asyncio.sleep(0.1)
    new = f"{app}-test-v001"
    (pinned,) = (await _settings(emulator, new)).values()
    assert _bounds(pinned) == [{"minimum": "2", "maximum": "3", "default": "2"}]
    assert "cloudops:unpinned" in pinned["tags"]
    return handle, old, new, source


async def test_a_deploy_pins_the_copied_minimum_and_ends_with_the_source_bounds(
    deploy_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    handle, old, new, source = await _pinned_deploy(deploy_ops, azure_emulator, app)
    await handle.send_input("judgement", {"approved": True}, sender="qa")
    result = await handle.result()
    assert result.ok, result.error
    (copied,) = (await _settings(azure_emulator, new)).values()
    assert _bounds(copied) == [{"minimum": "1", "maximum": "3", "default": "2"}]
    assert copied["tags"] == {} and await _settings(azure_emulator, old) == source


async def test_a_failed_deploy_leaves_no_copied_setting_and_no_pinned_min(
    deploy_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    handle, old, new, source = await _pinned_deploy(deploy_ops, azure_emulator, app)
    await handle.send_input("judgement", {"approved": False}, sender="qa")
    result = await handle.result()
    check_pin_rolled_back(result, new)
    assert await _settings(azure_emulator, new) == {}
    assert scale_set(azure_emulator, new) is None
    assert await _settings(azure_emulator, old) == source
