"""Invalid input, business failures and operation errors (rollback, NOT_FOUND: the suite)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from gcp_testkit import IMAGE, WHERE, create_input

from cloudops.client import CloudOpsClient
from cloudops_testing.gcp_emulator import ApiError, GcpEmulator


def made_by(emulator: GcpEmulator, app: str) -> tuple[list[str], list[str]]:
    """Names of the templates and groups of this test's application."""
    templates = [t["name"] for t in emulator.templates() if t["name"].startswith(f"{app}-")]
    groups = [g["name"] for g in emulator.groups() if g["name"].startswith(f"{app}-")]
    return templates, groups


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"capacity": {"min": 3, "max": 1, "desired": 2}}, "capacity"),
        ({"application": "bad name"}, "application"),
        ({"application": "Upper"}, "(root)"),  # GCE names are lowercase
        ({"detail": "x" * 60}, "(root)"),  # too long for a group and its template
        ({"tags": {"cloudops:request-id": "spoofed"}}, "tags"),
        ({"tags": {"Team": "x"}}, "(root)"),  # not a GCP label
        ({"target_groups": ["tg"]}, "(root)"),  # AWS only
        ({"key_name": "mine"}, "(root)"),
        ({"subnets": ["a", "b"]}, "(root)"),
        ({"regional": False, "zones": ["us-central1-a", "us-central1-b"]}, "(root)"),
        ({"zones": ["europe-west1-b"]}, "zones"),  # not in the request's region
        ({"instance_typo": "e2-small"}, "instance_typo"),
    ],
)
async def test_invalid_input(
    gcp_ops: CloudOpsClient,
    gcp_emulator: GcpEmulator,
    app: str,
    change: dict[str, Any],
    field: str,
) -> None:
    result = await gcp_ops.execute("gcp.createServerGroup", create_input(app, **change), **WHERE)
    assert not result.ok
    assert result.error.code == "INVALID_INPUT", result.error
    fields = [e["field"] for e in result.error.details["errors"]]
    assert any(f.startswith(field) for f in fields), fields
    assert made_by(gcp_emulator, app) == ([], [])


async def test_a_failed_operation_maps_to_its_code_and_rolls_back(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, app: str
) -> None:
    gcp_emulator.fail_next(
        "instanceGroupManagers.insert",
        ApiError(
            403, "quotaExceeded", "Quota 'INSTANCE_GROUP_MANAGERS' exceeded.", "QUOTA_EXCEEDED"
        ),
    )
    result = await gcp_ops.execute("gcp.createServerGroup", create_input(app), **WHERE)
    assert not result.ok
    assert result.error.code == "QUOTA_EXCEEDED"
    assert result.error.details["gcp_code"] == "QUOTA_EXCEEDED"
    assert result.error.details["http_status"] == 403
    assert [r.ok for r in result.error.rollbacks] == [True]
    assert made_by(gcp_emulator, app) == ([], [])


@pytest.mark.parametrize(
    ("quota", "stockout", "code"),
    [(0, None, "QUOTA_EXCEEDED"), (None, "us-central1-a", "ZONE_RESOURCE_POOL_EXHAUSTED")],
)
async def test_instances_that_cannot_be_created_fail_the_wait_fast(
    gcp_ops: CloudOpsClient,
    gcp_emulator: GcpEmulator,
    app: str,
    quota: int | None,
    stockout: str | None,
    code: str,
) -> None:
    """GCE's group Operations succeed; the errors are in ManagedInstance.lastAttempt."""
    gcp_emulator.limit_instances(quota, {stockout} if stockout else None)
    try:
        result = await gcp_ops.execute(
            "gcp.createServerGroup", create_input(app, wait_timeout_seconds=30), **WHERE
        )
    finally:
        gcp_emulator.limit_instances(None)
    assert not result.ok
    assert result.error.code == "QUOTA_EXCEEDED", result.error
    assert result.error.details["gcp_code"] == code
    assert [r.ok for r in result.error.rollbacks] == [True]
    assert made_by(gcp_emulator, app) == ([], [])


async def test_a_transiently_failed_operation_is_started_again(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, app: str
) -> None:
    gcp_emulator.fail_next(
        "instanceTemplates.insert",
        ApiError(503, "backendError", "Rate exceeded.", "RESOURCE_OPERATION_RATE_EXCEEDED"),
    )
    result = await gcp_ops.execute("gcp.createServerGroup", create_input(app), **WHERE)
    assert result.ok, result.error
    template = result.value["resources"]["instance_template"]
    inserts = [
        m for m in gcp_emulator.mutations("instanceTemplates.insert") if m.target.endswith(template)
    ]
    assert len(inserts) == 2  # the failed one and a new one...
    assert len({m.request_id for m in inserts}) == 2  # ...with a new request id
    assert gcp_emulator.template(template) is not None


async def test_missing_image_is_not_found(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, app: str
) -> None:
    result = await gcp_ops.execute(
        "gcp.createServerGroup",
        create_input(app, image="projects/debian-cloud/global/images/no-such-image"),
        **WHERE,
    )
    assert not result.ok
    assert result.error.code == "NOT_FOUND"
    assert result.error.details["gcp_reasons"] == ["notFound"]
    assert made_by(gcp_emulator, app) == ([], [])


async def test_a_name_taken_by_someone_else_is_skipped_and_left_alone(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, gcp_client: Any, app: str
) -> None:
    from google.cloud import compute_v1 as v1

    # Someone else's group holds v000 of the cluster (made with the official client).
    template = v1.InstanceTemplate(
        name=f"{app}-theirs",
        properties=v1.InstanceProperties(
            machine_type="e2-small",
            disks=[
                v1.AttachedDisk(
                    boot=True, initialize_params=v1.AttachedDiskInitializeParams(source_image=IMAGE)
                )
            ],
        ),
    )
    gcp_client("InstanceTemplatesClient").insert_unary(
        project=gcp_emulator.project, instance_template_resource=template
    )
    await _until(lambda: gcp_emulator.template(f"{app}-theirs") is not None)
    gcp_client("InstanceGroupManagersClient").insert_unary(
        project=gcp_emulator.project,
        zone="us-central1-b",
        instance_group_manager_resource=v1.InstanceGroupManager(
            name=f"{app}-test-v000",
            base_instance_name=f"{app}-theirs",
            instance_template=f"global/instanceTemplates/{app}-theirs",
            target_size=0,
        ),
    )
    await _until(lambda: gcp_emulator.group(f"{app}-test-v000") is not None)

    result = await gcp_ops.execute("gcp.createServerGroup", create_input(app), **WHERE)
    assert result.ok, result.error
    assert result.value["name"] == f"{app}-test-v001"
    theirs = gcp_emulator.group(f"{app}-test-v000")
    assert theirs is not None and theirs["zone"].endswith("us-central1-b")

    # Destroying it with a create's guard leaves it alone: it is not ours.
    guarded = await gcp_ops.execute(
        "gcp.destroyServerGroup",
        {"server_group": f"{app}-test-v000", "only_if_request_id": str(uuid.uuid4())},
        **WHERE,
    )
    assert guarded.ok and guarded.value["changed"] is False
    assert gcp_emulator.group(f"{app}-test-v000") is not None


async def _until(condition: Any, timeout: float = 10.0) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def test_a_machine_type_url_is_sent_as_a_name(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, app: str
) -> None:
    """GCE answers INTERNAL_ERROR to a machineType URL in an instance template."""
    url = "projects/cloudops-emu/zones/us-central1-a/machineTypes/e2-small"
    result = await gcp_ops.execute(
        "gcp.createServerGroup", create_input(app, instance_type=url), **WHERE
    )
    assert result.ok, result.error
    template = gcp_emulator.template(result.value["resources"]["instance_template"])
    assert template is not None and template["properties"]["machineType"] == "e2-small"
