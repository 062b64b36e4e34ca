"""Autoscalers: created with the group, reported, resized, cloned, destroyed, made once.

The operations run on a real Temporal server; the autoscalers are read back from the emulator
through the official ``AutoscalersClient`` / ``RegionAutoscalersClient``.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from gcp_testkit import FAST, WHERE, create_input
from google.api_core import exceptions as api
from google.cloud import compute_v1

import cloudops_gcp.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing.faults import FaultProxy, FaultRules
from cloudops_testing.fixtures_gcp import GCP_PROJECT, GCP_REGION, gcp_account_config
from cloudops_testing.gcp_emulator import GcpEmulator

ZONE = "us-central1-a"
POLICY = {"cpu_utilization_target": 0.5, "cool_down_period_seconds": 90}


async def read_autoscaler(
    gcp_client: Callable[[str], Any], name: str, zone: str | None = ZONE
) -> Any:
    """The autoscaler ``name`` as the official client reads it, or None (404)."""

    def get() -> Any:
        try:
            if zone is None:
                return gcp_client("RegionAutoscalersClient").get(
                    project=GCP_PROJECT, region=GCP_REGION, autoscaler=name
                )
            return gcp_client("AutoscalersClient").get(
                project=GCP_PROJECT, zone=zone, autoscaler=name
            )
        except api.NotFound:
            return None

    return await asyncio.to_thread(get)


def kinds_on(emulator: GcpEmulator, name: str) -> list[str]:
    """The kinds of the new (not deduplicated) mutations of resources named ``name``."""
    return [
        m.kind
        for m in emulator.mutations()
        if not m.deduplicated and m.target.rsplit("/", 1)[-1] == name
    ]


async def test_an_autoscaled_group_from_create_to_destroy(
    gcp_ops: CloudOpsClient,
    gcp_emulator: GcpEmulator,
    gcp_client: Callable[[str], Any],
    app: str,
) -> None:
    created = await gcp_ops.execute(
        "gcp.createServerGroup",
        create_input(app, capacity={"min": 1, "max": 4, "desired": 2}, autoscaling=POLICY),
        request_id=f"{app}-create",
        **WHERE,
    )
    assert created.ok, created.error
    name = created.value["name"]
    assert created.value["capacity"] == {"min": 1, "max": 4, "desired": 2}
    assert created.value["resources"]["autoscaler"] == name
    assert created.value["healthy_count"] == 2

    scaler = await read_autoscaler(gcp_client, name)
    assert scaler is not None
    assert scaler.target.endswith(f"/zones/{ZONE}/instanceGroupManagers/{name}")
    policy = scaler.autoscaling_policy
    assert (policy.min_num_replicas, policy.max_num_replicas) == (1, 4)
    assert policy.cpu_utilization.utilization_target == pytest.approx(0.5)
    assert policy.cool_down_period_sec == 90
    assert policy.mode == "ON"
    assert f"{app}-create" in scaler.description  # the cloudops request that made it

    described = await gcp_ops.execute("gcp.describeServerGroup", {"server_group": name}, **WHERE)
    assert described.ok, described.error
    assert described.value["capacity"] == {"min": 1, "max": 4, "desired": 2}
    assert described.value["autoscaling"]["mode"] == "ON"
    listed = await gcp_ops.execute(
        "gcp.listServerGroups", {"application": app, "stack": "test"}, **WHERE
    )
    assert listed.ok, listed.error
    assert [g["capacity"] for g in listed.value["server_groups"]] == [
        {"min": 1, "max": 4, "desired": 2}
    ]

    # Resize an autoscaled group: the autoscaler's bounds change, and it (not a manual resize)
    # brings the group up to its new minimum.
    resized = await gcp_ops.execute(
        "gcp.resizeServerGroup",
        {"server_group": name, "capacity": {"min": 3, "max": 5, "desired": 3}, **FAST},
        **WHERE,
    )
    assert resized.ok, resized.error
    assert resized.value["capacity"] == {"min": 3, "max": 5, "desired": 3}
    assert resized.value["healthy_count"] == 3
    scaler = await read_autoscaler(gcp_client, name)
    policy = scaler.autoscaling_policy
    assert (policy.min_num_replicas, policy.max_num_replicas) == (3, 5)
    assert policy.cool_down_period_sec == 90  # the rest of the policy is kept
    found = gcp_emulator.group(name)
    assert found is not None and found["targetSize"] == 3
    assert "instanceGroupManagers.resize" not in kinds_on(gcp_emulator, name)

    # Recreating an instance keeps the size; the result reports the autoscaler's bounds.
    victim = sorted(i["name"] for i in gcp_emulator.instances(name))[0]
    replaced = await gcp_ops.execute(
        "gcp.terminateInstances",
        {"server_group": name, "instance_ids": [victim], **FAST},
        **WHERE,
    )
    assert replaced.ok, replaced.error
    assert replaced.value["capacity"] == {"min": 3, "max": 5, "desired": 3}

    # A clone copies the policy (its bounds follow the copied capacity).
    cloned = await gcp_ops.execute(
        "gcp.cloneServerGroup", {"source": name, **FAST}, request_id=f"{app}-clone", **WHERE
    )
    assert cloned.ok, cloned.error
    clone = cloned.value["name"]
    assert cloned.value["capacity"] == {"min": 3, "max": 5, "desired": 3}
    copied = await read_autoscaler(gcp_client, clone)
    assert copied is not None
    assert copied.target.endswith(f"/instanceGroupManagers/{clone}")
    policy = copied.autoscaling_policy
    assert (policy.min_num_replicas, policy.max_num_replicas) == (3, 5)
    assert policy.cpu_utilization.utilization_target == pytest.approx(0.5)
    assert policy.cool_down_period_sec == 90

    # A create naming the group as its source (as a deploy does) copies the policy with the
    # create's bounds; a clone told not to copy the source's autoscaling gets no autoscaler.
    sourced = await gcp_ops.execute(
        "gcp.createServerGroup",
        create_input(app, capacity={"min": 1, "max": 2, "desired": 1}, source=name),
        **WHERE,
    )
    assert sourced.ok, sourced.error
    assert sourced.value["resources"]["scaling_copied"] == "autoscaler=1"
    policy = (await read_autoscaler(gcp_client, sourced.value["name"])).autoscaling_policy
    assert (policy.min_num_replicas, policy.max_num_replicas) == (1, 2)
    assert policy.cool_down_period_sec == 90
    plain = await gcp_ops.execute(
        "gcp.cloneServerGroup",
        {
            "source": name,
            "copy_source_scaling": False,
            "capacity": {"min": 1, "max": 1, "desired": 1},
            **FAST,
        },
        **WHERE,
    )
    assert plain.ok, plain.error
    assert await read_autoscaler(gcp_client, plain.value["name"]) is None

    # Destroy deletes the autoscaler first (the emulator, like gcloud, will not delete an
    # autoscaled group), then the group.
    for group in (clone, name):
        destroyed = await gcp_ops.execute(
            "gcp.destroyServerGroup", {"server_group": group, **FAST}, **WHERE
        )
        assert destroyed.ok, destroyed.error
        assert await read_autoscaler(gcp_client, group) is None
        assert gcp_emulator.group(group) is None
        kinds = kinds_on(gcp_emulator, group)
        assert kinds.count("autoscalers.delete") == 1
        assert kinds.index("autoscalers.delete") < kinds.index("instanceGroupManagers.delete")
    for group in (sourced.value["name"], plain.value["name"]):
        destroyed = await gcp_ops.execute(
            "gcp.destroyServerGroup", {"server_group": group, **FAST}, **WHERE
        )
        assert destroyed.ok, destroyed.error


async def test_a_regional_group_with_its_autoscaler_off_is_resized_by_hand(
    gcp_ops: CloudOpsClient,
    gcp_emulator: GcpEmulator,
    gcp_client: Callable[[str], Any],
    app: str,
) -> None:
    autoscaling = {"min_replicas": 1, "max_replicas": 6, "mode": "OFF"}
    created = await gcp_ops.execute(
        "gcp.createServerGroup",
        create_input(
            app,
            zones=["us-central1-a", "us-central1-b"],
            capacity={"min": 2, "max": 2, "desired": 2},
            autoscaling=autoscaling,
        ),
        **WHERE,
    )
    assert created.ok, created.error
    name = created.value["name"]
    assert created.value["capacity"] == {"min": 1, "max": 6, "desired": 2}
    scaler = await read_autoscaler(gcp_client, name, zone=None)
    assert scaler is not None and scaler.region.endswith(f"/regions/{GCP_REGION}")
    assert scaler.autoscaling_policy.mode == "OFF"
    assert scaler.autoscaling_policy.min_num_replicas == 1

    resized = await gcp_ops.execute(
        "gcp.resizeServerGroup",
        {"server_group": name, "capacity": {"min": 0, "max": 4, "desired": 4}, **FAST},
        **WHERE,
    )
    assert resized.ok, resized.error
    assert resized.value["capacity"] == {"min": 0, "max": 4, "desired": 4}
    assert resized.value["healthy_count"] == 4
    scaler = await read_autoscaler(gcp_client, name, zone=None)
    policy = scaler.autoscaling_policy
    assert (policy.min_num_replicas, policy.max_num_replicas) == (0, 4)
    assert kinds_on(gcp_emulator, name).count("instanceGroupManagers.resize") == 1

    destroyed = await gcp_ops.execute(
        "gcp.destroyServerGroup", {"server_group": name, **FAST}, **WHERE
    )
    assert destroyed.ok, destroyed.error
    assert await read_autoscaler(gcp_client, name, zone=None) is None
    assert gcp_emulator.group(name) is None


async def test_an_autoscaler_of_any_name_is_found_by_its_target(
    gcp_ops: CloudOpsClient,
    gcp_emulator: GcpEmulator,
    gcp_client: Callable[[str], Any],
    app: str,
) -> None:
    """Autoscalers made outside cloudops may have any name: a group's is the one targeting it.

    Two groups: an autoscaler named as the first (``v000``) targets the second (``v001``). The
    first is not autoscaled; the second is, and every operation acts on that autoscaler.
    """
    names = []
    for _ in range(2):
        created = await gcp_ops.execute("gcp.createServerGroup", create_input(app), **WHERE)
        assert created.ok, created.error
        names.append(created.value["name"])
    plain, scaled = names
    assert (plain, scaled) == (f"{app}-test-v000", f"{app}-test-v001")
    body = compute_v1.Autoscaler(
        name=plain,  # misleading on purpose: the name is the other group's
        target=f"https://compute.googleapis.com/compute/v1/projects/{GCP_PROJECT}/zones/{ZONE}"
        f"/instanceGroupManagers/{scaled}",
        autoscaling_policy=compute_v1.AutoscalingPolicy(
            min_num_replicas=1, max_num_replicas=5, mode="OFF"
        ),
    )
    op = await asyncio.to_thread(
        gcp_client("AutoscalersClient").insert_unary,
        project=GCP_PROJECT,
        zone=ZONE,
        autoscaler_resource=body,
    )
    await asyncio.to_thread(_settle, gcp_emulator, op)

    fixed = {"min": 2, "max": 2, "desired": 2}
    bounded = {"min": 1, "max": 5, "desired": 2}
    for name, capacity, mode in ((plain, fixed, None), (scaled, bounded, "OFF")):
        described = await gcp_ops.execute(
            "gcp.describeServerGroup", {"server_group": name}, **WHERE
        )
        assert described.ok, described.error
        assert described.value["capacity"] == capacity, name
        assert (described.value["autoscaling"] or {}).get("mode") == mode, name
    listed = await gcp_ops.execute(
        "gcp.listServerGroups", {"application": app, "stack": "test"}, **WHERE
    )
    assert listed.ok, listed.error
    assert {g["name"]: g["capacity"] for g in listed.value["server_groups"]} == {
        plain: fixed,
        scaled: bounded,
    }

    # terminateInstances reports the autoscaler's bounds too, around the new target size.
    victim = sorted(i["name"] for i in gcp_emulator.instances(scaled))[0]
    shrunk = await gcp_ops.execute(
        "gcp.terminateInstances",
        {"server_group": scaled, "instance_ids": [victim], "decrement_desired": True, **FAST},
        **WHERE,
    )
    assert shrunk.ok, shrunk.error
    assert shrunk.value["capacity"] == {"min": 1, "max": 5, "desired": 1}

    # A resize patches that autoscaler (by its own name), not one named as the group.
    resized = await gcp_ops.execute(
        "gcp.resizeServerGroup",
        {"server_group": scaled, "capacity": {"min": 2, "max": 6, "desired": 3}, **FAST},
        **WHERE,
    )
    assert resized.ok, resized.error
    assert resized.value["capacity"] == {"min": 2, "max": 6, "desired": 3}
    policy = (await read_autoscaler(gcp_client, plain)).autoscaling_policy
    assert (policy.min_num_replicas, policy.max_num_replicas) == (2, 6)
    assert await read_autoscaler(gcp_client, scaled) is None

    # Destroy deletes it first (Compute keeps an autoscaled group); the plain group keeps none.
    for name in (scaled, plain):
        destroyed = await gcp_ops.execute(
            "gcp.destroyServerGroup", {"server_group": name, **FAST}, **WHERE
        )
        assert destroyed.ok, destroyed.error
        assert gcp_emulator.group(name) is None
    assert gcp_emulator.autoscaler(plain) is None
    assert kinds_on(gcp_emulator, plain).count("autoscalers.delete") == 1


@pytest.mark.parametrize(
    "autoscaling",
    [
        {"min_replicas": 5, "max_replicas": 2},  # min > max
        {"min_replicas": -1},  # negative
        {"cool_down_period_seconds": -5},
        {"cpu_utilization_target": 0},  # outside (0, 1]
        {"cpu_utilization_target": 1.5},
        {"mode": "SOMETIMES"},
        {"min_replicas": 3},  # desired (2) below the autoscaler's minimum
    ],
)
async def test_an_invalid_policy_is_invalid_input(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, app: str, autoscaling: dict[str, Any]
) -> None:
    result = await gcp_ops.execute(
        "gcp.createServerGroup", create_input(app, autoscaling=autoscaling), **WHERE
    )
    assert not result.ok
    assert result.error.code == "INVALID_INPUT", result.error
    assert [g for g in gcp_emulator.groups() if g["name"].startswith(app)] == []
    assert [a for a in gcp_emulator.autoscalers() if a["name"].startswith(app)] == []


async def test_a_failed_create_rolls_back_its_autoscaler(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, app: str
) -> None:
    # The backend service does not exist: the step after the autoscaler fails.
    result = await gcp_ops.execute(
        "gcp.createServerGroup",
        create_input(app, autoscaling=POLICY, load_balancers=[f"{app}-missing"]),
        **WHERE,
    )
    assert not result.ok
    assert result.error.code == "NOT_FOUND"
    name = f"{app}-test-v000"
    assert [r.ok for r in result.error.rollbacks] == [True]
    kinds = kinds_on(gcp_emulator, name)
    assert kinds.count("autoscalers.insert") == kinds.count("autoscalers.delete") == 1
    assert gcp_emulator.autoscaler(name) is None
    assert gcp_emulator.group(name) is None


async def test_faults_on_autoscaler_calls_still_make_exactly_one(
    cloudops_worker: Any,
    gcp_emulator: GcpEmulator,
    gcp_fault_proxy: Callable[..., FaultProxy],
    app: str,
) -> None:
    # Faults on the autoscaler's mutations: each refused insert or delete is retried by
    # Temporal (the activity looks again, then sends the same requestId).
    mutations = re.compile(r"^(POST|DELETE) \S*/autoscalers")
    rules = FaultRules(throttle=0.3, unavailable=0.3, seed=3, match=(mutations,))
    proxy = gcp_fault_proxy(rules)
    async with cloudops_worker(
        plugins=[cloudops_gcp.plugin],
        load_entrypoints=False,
        accounts=gcp_account_config(proxy.url),
    ) as ops:
        created = await ops.execute(
            "gcp.createServerGroup",
            create_input(app, autoscaling=POLICY, wait=False),
            request_id=f"{app}-faults",
            **WHERE,
        )
        assert created.ok, created.error
        name = created.value["name"]
        destroyed = await ops.execute(
            "gcp.destroyServerGroup", {"server_group": name, **FAST}, **WHERE
        )
        assert destroyed.ok, destroyed.error
    refused = [e for e in proxy.log if e.outcome in ("throttle", "unavailable")]
    assert "POST" in {e.method for e in refused}, proxy.log  # the insert was refused
    assert gcp_emulator.applied("autoscalers.insert", name) == 1
    assert gcp_emulator.applied("autoscalers.delete", name) == 1
    assert gcp_emulator.autoscaler(name) is None


# --------------------------------------------------------------------------------------------
# The emulator's autoscalers, through the official client (wire format)
# --------------------------------------------------------------------------------------------


def test_emulated_autoscalers_speak_the_rest_api(
    gcp_emulator: GcpEmulator, gcp_client: Callable[[str], Any], app: str
) -> None:
    v1 = compute_v1
    templates = gcp_client("InstanceTemplatesClient")
    groups = gcp_client("InstanceGroupManagersClient")
    scalers = gcp_client("AutoscalersClient")
    where = {"project": GCP_PROJECT, "zone": ZONE}
    disk = v1.AttachedDisk(
        boot=True,
        initialize_params=v1.AttachedDiskInitializeParams(
            source_image="projects/debian-cloud/global/images/family/debian-12"
        ),
    )
    op = templates.insert_unary(
        project=GCP_PROJECT,
        instance_template_resource=v1.InstanceTemplate(
            name=f"{app}-t", properties=v1.InstanceProperties(machine_type="e2-small", disks=[disk])
        ),
    )
    _settle(gcp_emulator, op)
    op = groups.insert_unary(
        **where,
        instance_group_manager_resource=v1.InstanceGroupManager(
            name=app,
            base_instance_name=app,
            instance_template=f"projects/{GCP_PROJECT}/global/instanceTemplates/{app}-t",
            target_size=1,
        ),
    )
    _settle(gcp_emulator, op)
    target = f"projects/{GCP_PROJECT}/zones/{ZONE}/instanceGroupManagers/{app}"
    body = v1.Autoscaler(
        name=app,
        target=target,
        autoscaling_policy=v1.AutoscalingPolicy(min_num_replicas=2, max_num_replicas=3),
    )
    request_id = str(uuid.uuid4())
    insert = v1.InsertAutoscalerRequest(**where, autoscaler_resource=body, request_id=request_id)
    first = scalers.insert_unary(request=insert)
    assert first.status in (v1.Operation.Status.PENDING, v1.Operation.Status.RUNNING)
    assert scalers.insert_unary(request=insert).name == first.name  # requestId dedup
    _settle(gcp_emulator, first)
    got = scalers.get(**where, autoscaler=app)
    assert got.autoscaling_policy.mode == "ON"  # the API's defaults
    assert got.autoscaling_policy.cpu_utilization.utilization_target == pytest.approx(0.6)
    assert got.autoscaling_policy.cool_down_period_sec == 60
    assert got.recommended_size == 2
    assert gcp_emulator.group(app)["targetSize"] == 2  # type: ignore[index]  # raised to min
    assert [
        a.name
        for a in scalers.list(request=v1.ListAutoscalersRequest(**where, filter=f'name = "{app}"'))
    ] == [app]

    with pytest.raises(api.Conflict):
        scalers.insert_unary(**where, autoscaler_resource=body)
    bad = v1.Autoscaler(
        name=f"{app}-x",
        target=target,
        autoscaling_policy=v1.AutoscalingPolicy(min_num_replicas=4, max_num_replicas=3),
    )
    with pytest.raises(api.BadRequest):
        scalers.insert_unary(**where, autoscaler_resource=bad)
    with pytest.raises(api.BadRequest) as in_use:  # an autoscaled group cannot be deleted
        groups.delete_unary(**where, instance_group_manager=app)
    assert in_use.value.errors[0]["reason"] == "resourceInUseByAnotherResource"

    # patch merges (the cool-down is kept); update replaces (defaults come back).
    patched = v1.Autoscaler(
        autoscaling_policy=v1.AutoscalingPolicy(max_num_replicas=5, cool_down_period_sec=120)
    )
    op = scalers.patch_unary(
        request=v1.PatchAutoscalerRequest(**where, autoscaler=app, autoscaler_resource=patched)
    )
    _settle(gcp_emulator, op)
    policy = scalers.get(**where, autoscaler=app).autoscaling_policy
    assert (policy.min_num_replicas, policy.max_num_replicas) == (2, 5)
    assert policy.cool_down_period_sec == 120
    replaced = v1.Autoscaler(
        name=app, target=target, autoscaling_policy=v1.AutoscalingPolicy(max_num_replicas=4)
    )
    op = scalers.update_unary(
        request=v1.UpdateAutoscalerRequest(**where, autoscaler=app, autoscaler_resource=replaced)
    )
    _settle(gcp_emulator, op)
    policy = scalers.get(**where, autoscaler=app).autoscaling_policy
    assert (policy.min_num_replicas, policy.max_num_replicas) == (1, 4)
    assert policy.cool_down_period_sec == 60

    _settle(gcp_emulator, scalers.delete_unary(**where, autoscaler=app))
    with pytest.raises(api.NotFound) as missing:
        scalers.get(**where, autoscaler=app)
    assert missing.value.errors[0]["reason"] == "notFound"
    with pytest.raises(api.NotFound):
        scalers.delete_unary(**where, autoscaler=app)
    _settle(gcp_emulator, groups.delete_unary(**where, instance_group_manager=app))
    templates.delete_unary(project=GCP_PROJECT, instance_template=f"{app}-t")


def _settle(emulator: GcpEmulator, op: Any) -> None:
    """Wait until the operation ``op`` is DONE (and did not fail)."""
    deadline = time.monotonic() + 10
    while True:
        found = [o for o in emulator.operations() if o["name"] == op.name]
        if found and found[0]["status"] == "DONE":
            assert "error" not in found[0], found[0]
            return
        assert time.monotonic() < deadline, f"operation {op.name} did not finish"
        time.sleep(0.05)
