"""The emulator's wire format, exercised with the official google-cloud-compute client.

These tests pin what the provider relies on: Operations that go PENDING -> RUNNING -> DONE and
apply their change only when DONE, ``requestId`` deduplication, Compute's error bodies (mapped
by google-api-core onto NotFound, Conflict...), paging, decimal ids and links that point back at
whatever address the client used.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.api_core import exceptions as api
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1 as v1

from cloudops_testing.faults import FaultProxy
from cloudops_testing.gcp_emulator import ApiError, GcpEmulator, Timing

PROJECT = "wire-test"
ZONE = "us-central1-a"
REGION = "us-central1"
IMAGE = "projects/debian-cloud/global/images/family/debian-12"
DONE = v1.Operation.Status.DONE


@pytest.fixture(scope="module")
def emulator() -> Iterator[GcpEmulator]:
    # Operations need two polls to finish: a client that does not poll never sees the change.
    timing = Timing(operation_seconds=0.0, operation_polls=2, instance_seconds=0.3)
    with GcpEmulator(PROJECT, timing=timing, seed=7) as emu:
        yield emu


@pytest.fixture
def client(emulator: GcpEmulator) -> Callable[..., Any]:
    def make(name: str, endpoint: str | None = None) -> Any:
        return getattr(v1, name)(
            credentials=AnonymousCredentials(),
            transport="rest",
            client_options=ClientOptions(api_endpoint=endpoint or emulator.url),
        )

    return make


def rid() -> str:
    return str(uuid.uuid4())


def template(name: str, image: str = IMAGE) -> Any:
    return v1.InstanceTemplate(
        name=name,
        properties=v1.InstanceProperties(
            machine_type="e2-small",
            disks=[
                v1.AttachedDisk(
                    boot=True,
                    auto_delete=True,
                    initialize_params=v1.AttachedDiskInitializeParams(source_image=image),
                )
            ],
            metadata=v1.Metadata(items=[v1.Items(key="owner", value="wire")]),
        ),
    )


def wait_done(ops: Any, op: Any, **where: Any) -> Any:
    for _ in range(200):
        op = ops.get(project=PROJECT, operation=op.name, **where)
        if op.status == DONE:
            return op
        time.sleep(0.02)
    raise AssertionError(f"{op.name} never finished")


def insert_template(client: Callable[..., Any], name: str) -> None:
    op = client("InstanceTemplatesClient").insert_unary(
        request=v1.InsertInstanceTemplateRequest(
            project=PROJECT, instance_template_resource=template(name), request_id=rid()
        )
    )
    wait_done(client("GlobalOperationsClient"), op)


def insert_group(
    client: Callable[..., Any], name: str, template_name: str, size: int, **extra: Any
) -> Any:
    op = client("InstanceGroupManagersClient").insert_unary(
        request=v1.InsertInstanceGroupManagerRequest(
            project=PROJECT,
            zone=ZONE,
            instance_group_manager_resource=v1.InstanceGroupManager(
                name=name,
                base_instance_name=name,
                instance_template=f"global/instanceTemplates/{template_name}",
                target_size=size,
                **extra,
            ),
            request_id=rid(),
        )
    )
    return wait_done(client("ZoneOperationsClient"), op, zone=ZONE)


def stable(client: Callable[..., Any], name: str) -> Any:
    groups = client("InstanceGroupManagersClient")
    for _ in range(200):
        group = groups.get(project=PROJECT, zone=ZONE, instance_group_manager=name)
        if group.status.is_stable:
            return group
        time.sleep(0.05)
    raise AssertionError(f"{name} never became stable")


def test_insert_returns_a_pending_operation_applied_only_when_done(
    emulator: GcpEmulator, client: Callable[..., Any]
) -> None:
    templates = client("InstanceTemplatesClient")
    request_id = rid()
    op = templates.insert_unary(
        request=v1.InsertInstanceTemplateRequest(
            project=PROJECT, instance_template_resource=template("lifecycle"), request_id=request_id
        )
    )
    assert op.status == v1.Operation.Status.PENDING
    assert op.operation_type == "insert"
    assert op.id > 0 and op.target_id > 0  # decimal strings on the wire, parsed as uint64
    assert (
        op.self_link == f"{emulator.url}/compute/v1/projects/{PROJECT}/global/operations/{op.name}"
    )
    assert op.target_link.endswith(f"/projects/{PROJECT}/global/instanceTemplates/lifecycle")
    # Not there until the Operation is DONE.
    with pytest.raises(api.NotFound):
        templates.get(project=PROJECT, instance_template="lifecycle")

    ops = client("GlobalOperationsClient")
    first = ops.get(project=PROJECT, operation=op.name)
    assert first.status == v1.Operation.Status.RUNNING
    done = ops.wait(project=PROJECT, operation=op.name)
    assert done.status == DONE
    assert done.progress == 100 and done.end_time
    found = templates.get(project=PROJECT, instance_template="lifecycle")
    assert found.name == "lifecycle"
    assert found.id > 0
    assert found.self_link.startswith(emulator.url)
    assert found.properties.metadata.items[0].key == "owner"

    # The same requestId answers the same Operation and applies nothing again (no 409).
    again = templates.insert_unary(
        request=v1.InsertInstanceTemplateRequest(
            project=PROJECT, instance_template_resource=template("lifecycle"), request_id=request_id
        )
    )
    assert again.name == op.name and again.status == DONE
    assert emulator.applied("instanceTemplates.insert", "lifecycle") == 1
    assert emulator.requests_by_request_id()[request_id] == 2


def test_errors_have_compute_bodies(emulator: GcpEmulator, client: Callable[..., Any]) -> None:
    templates = client("InstanceTemplatesClient")
    insert_template(client, "dupe")
    with pytest.raises(api.NotFound) as missing:
        templates.get(project=PROJECT, instance_template="nope")
    assert missing.value.errors[0]["reason"] == "notFound"
    assert "projects/wire-test/global/instanceTemplates/nope" in missing.value.message

    with pytest.raises(api.Conflict) as duplicate:
        templates.insert_unary(project=PROJECT, instance_template_resource=template("dupe"))
    assert duplicate.value.errors[0]["reason"] == "alreadyExists"

    with pytest.raises(api.NotFound):  # the image must exist
        templates.insert_unary(
            project=PROJECT,
            instance_template_resource=template("noimage", "projects/x/global/images/missing"),
        )
    with pytest.raises(api.BadRequest):
        templates.insert_unary(project=PROJECT, instance_template_resource=template("Bad_Name"))
    with pytest.raises(api.BadRequest):  # request ids must be UUIDs
        templates.insert_unary(
            request=v1.InsertInstanceTemplateRequest(
                project=PROJECT, instance_template_resource=template("x1"), request_id="nope"
            )
        )
    with pytest.raises(api.NotFound):
        templates.get(project="another-project", instance_template="dupe")


def test_list_pages_with_max_results_and_page_token(
    emulator: GcpEmulator, client: Callable[..., Any]
) -> None:
    for index in range(5):
        insert_template(client, f"page-{index}")
    templates = client("InstanceTemplatesClient")
    pager = templates.list(
        request=v1.ListInstanceTemplatesRequest(
            project=PROJECT, max_results=2, filter="name eq page-.*"
        )
    )
    pages = list(pager.pages)
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert pages[0].next_page_token and not pages[-1].next_page_token
    assert [t.name for p in pages for t in p.items] == [f"page-{i}" for i in range(5)]
    literal = templates.list(
        request=v1.ListInstanceTemplatesRequest(project=PROJECT, filter='name = "page-3"')
    )
    assert [t.name for t in literal] == ["page-3"]
    with pytest.raises(api.BadRequest):
        list(
            templates.list(
                request=v1.ListInstanceTemplatesRequest(project=PROJECT, max_results=501)
            )
        )


def test_group_instances_boot_and_group_becomes_stable(
    emulator: GcpEmulator, client: Callable[..., Any]
) -> None:
    insert_template(client, "boot-tpl")
    groups = client("InstanceGroupManagersClient")
    insert_group(client, "boot", "boot-tpl", 3)
    group = groups.get(project=PROJECT, zone=ZONE, instance_group_manager="boot")
    assert group.status.is_stable is False
    assert group.current_actions.creating == 3
    assert group.instance_group.endswith(f"/zones/{ZONE}/instanceGroups/boot")
    seen = {
        m.instance_status
        for m in groups.list_managed_instances(
            project=PROJECT, zone=ZONE, instance_group_manager="boot"
        )
    }
    assert seen <= {"PROVISIONING", "STAGING"}
    group = stable(client, "boot")
    assert group.current_actions.none == 3
    pages = list(
        groups.list_managed_instances(
            request=v1.ListManagedInstancesInstanceGroupManagersRequest(
                project=PROJECT, zone=ZONE, instance_group_manager="boot", max_results=2
            )
        ).pages
    )
    managed = [m for p in pages for m in p.managed_instances]
    assert len(pages) == 2 and len(managed) == 3
    assert {(m.instance_status, m.current_action) for m in managed} == {("RUNNING", "NONE")}
    instance = client("InstancesClient").get(project=PROJECT, zone=ZONE, instance=managed[0].name)
    assert instance.status == "RUNNING"
    assert instance.self_link == managed[0].instance

    # Aggregated list finds it by name in its zone.
    found = [
        (scope, [g.name for g in scoped.instance_group_managers])
        for scope, scoped in groups.aggregated_list(
            request=v1.AggregatedListInstanceGroupManagersRequest(
                project=PROJECT, filter='name = "boot"'
            )
        )
        if scoped.instance_group_managers
    ]
    assert found == [(f"zones/{ZONE}", ["boot"])]

    # A template in use cannot be deleted.
    with pytest.raises(api.BadRequest) as in_use:
        client("InstanceTemplatesClient").delete(project=PROJECT, instance_template="boot-tpl")
    assert in_use.value.errors[0]["reason"] == "resourceInUseByAnotherResource"


def test_resize_delete_abandon_and_recreate_instances(
    emulator: GcpEmulator, client: Callable[..., Any]
) -> None:
    insert_template(client, "ops-tpl")
    insert_group(client, "ops", "ops-tpl", 3)
    stable(client, "ops")
    groups = client("InstanceGroupManagersClient")
    zone_ops = client("ZoneOperationsClient")
    op = groups.resize_unary(
        request=v1.ResizeInstanceGroupManagerRequest(
            project=PROJECT, zone=ZONE, instance_group_manager="ops", size=4, request_id=rid()
        )
    )
    assert op.operation_type == "compute.instanceGroupManagers.resize"
    assert op.zone.endswith(f"/zones/{ZONE}")
    assert groups.get(project=PROJECT, zone=ZONE, instance_group_manager="ops").target_size == 3
    wait_done(zone_ops, op, zone=ZONE)
    assert stable(client, "ops").target_size == 4

    managed = list(
        groups.list_managed_instances(project=PROJECT, zone=ZONE, instance_group_manager="ops")
    )
    first, second, third = (m.instance for m in managed[:3])
    delete = groups.delete_instances_unary(
        request=v1.DeleteInstancesInstanceGroupManagerRequest(
            project=PROJECT,
            zone=ZONE,
            instance_group_manager="ops",
            instance_group_managers_delete_instances_request_resource=(
                v1.InstanceGroupManagersDeleteInstancesRequest(instances=[first])
            ),
            request_id=rid(),
        )
    )
    wait_done(zone_ops, delete, zone=ZONE)
    abandon = groups.abandon_instances_unary(
        request=v1.AbandonInstancesInstanceGroupManagerRequest(
            project=PROJECT,
            zone=ZONE,
            instance_group_manager="ops",
            instance_group_managers_abandon_instances_request_resource=(
                v1.InstanceGroupManagersAbandonInstancesRequest(instances=[second])
            ),
            request_id=rid(),
        )
    )
    wait_done(zone_ops, abandon, zone=ZONE)
    group = stable(client, "ops")
    assert group.target_size == 2
    names = {
        m.instance
        for m in groups.list_managed_instances(
            project=PROJECT, zone=ZONE, instance_group_manager="ops"
        )
    }
    assert first not in names and second not in names and third in names
    abandoned = second.rsplit("/", 1)[-1]
    assert (
        client("InstancesClient").get(project=PROJECT, zone=ZONE, instance=abandoned).status
        == "RUNNING"
    )

    recreate = groups.recreate_instances_unary(
        request=v1.RecreateInstancesInstanceGroupManagerRequest(
            project=PROJECT,
            zone=ZONE,
            instance_group_manager="ops",
            instance_group_managers_recreate_instances_request_resource=(
                v1.InstanceGroupManagersRecreateInstancesRequest(instances=[third])
            ),
            request_id=rid(),
        )
    )
    wait_done(zone_ops, recreate, zone=ZONE)
    actions = {
        m.current_action
        for m in groups.list_managed_instances(
            project=PROJECT, zone=ZONE, instance_group_manager="ops"
        )
    }
    assert "RECREATING" in actions or "CREATING" in actions
    assert stable(client, "ops").target_size == 2

    with pytest.raises(api.BadRequest):  # not a member any more
        groups.delete_instances_unary(
            project=PROJECT,
            zone=ZONE,
            instance_group_manager="ops",
            instance_group_managers_delete_instances_request_resource=(
                v1.InstanceGroupManagersDeleteInstancesRequest(instances=[second])
            ),
        )


def test_regional_group_and_region_operations(
    emulator: GcpEmulator, client: Callable[..., Any]
) -> None:
    insert_template(client, "regional-tpl")
    groups = client("RegionInstanceGroupManagersClient")
    op = groups.insert_unary(
        request=v1.InsertRegionInstanceGroupManagerRequest(
            project=PROJECT,
            region=REGION,
            instance_group_manager_resource=v1.InstanceGroupManager(
                name="regional",
                base_instance_name="regional",
                instance_template="global/instanceTemplates/regional-tpl",
                target_size=4,
                distribution_policy=v1.DistributionPolicy(
                    zones=[
                        v1.DistributionPolicyZoneConfiguration(zone=f"zones/{REGION}-b"),
                        v1.DistributionPolicyZoneConfiguration(zone=f"zones/{REGION}-c"),
                    ]
                ),
            ),
            request_id=rid(),
        )
    )
    assert op.region.endswith(f"/regions/{REGION}") and not op.zone
    wait_done(client("RegionOperationsClient"), op, region=REGION)
    for _ in range(100):
        group = groups.get(project=PROJECT, region=REGION, instance_group_manager="regional")
        if group.status.is_stable:
            break
        time.sleep(0.05)
    assert group.status.is_stable
    zones = {
        m.instance.split("/zones/")[1].split("/")[0]
        for m in groups.list_managed_instances(
            project=PROJECT, region=REGION, instance_group_manager="regional"
        )
    }
    assert zones == {f"{REGION}-b", f"{REGION}-c"}


def test_failed_operation_is_done_with_an_error(
    emulator: GcpEmulator, client: Callable[..., Any]
) -> None:
    emulator.fail_next(
        "instanceTemplates.insert",
        ApiError(403, "quotaExceeded", "Quota 'INSTANCE_TEMPLATES' exceeded.", "QUOTA_EXCEEDED"),
    )
    op = client("InstanceTemplatesClient").insert_unary(
        project=PROJECT, instance_template_resource=template("quota")
    )
    done = wait_done(client("GlobalOperationsClient"), op)
    assert done.error.errors[0].code == "QUOTA_EXCEEDED"
    assert done.http_error_status_code == 403
    assert done.http_error_message == "FORBIDDEN"
    with pytest.raises(api.NotFound):
        client("InstanceTemplatesClient").get(project=PROJECT, instance_template="quota")


def test_backend_services_and_target_pools(
    emulator: GcpEmulator, client: Callable[..., Any]
) -> None:
    insert_template(client, "lb-tpl")
    emulator.add_target_pool(REGION, "pool")
    insert_group(client, "lb", "lb-tpl", 2, target_pools=[f"regions/{REGION}/targetPools/pool"])
    group = stable(client, "lb")
    pool = client("TargetPoolsClient").get(project=PROJECT, region=REGION, target_pool="pool")
    assert len(pool.instances) == 2
    health = client("TargetPoolsClient").get_health(
        project=PROJECT,
        region=REGION,
        target_pool="pool",
        instance_reference_resource=v1.InstanceReference(instance=pool.instances[0]),
    )
    assert health.health_status[0].health_state == "HEALTHY"

    # setTargetPools with none takes every instance out of the pool.
    groups = client("InstanceGroupManagersClient")
    op = groups.set_target_pools_unary(
        request=v1.SetTargetPoolsInstanceGroupManagerRequest(
            project=PROJECT,
            zone=ZONE,
            instance_group_manager="lb",
            instance_group_managers_set_target_pools_request_resource=(
                v1.InstanceGroupManagersSetTargetPoolsRequest(fingerprint=group.fingerprint)
            ),
            request_id=rid(),
        )
    )
    wait_done(client("ZoneOperationsClient"), op, zone=ZONE)
    pool = client("TargetPoolsClient").get(project=PROJECT, region=REGION, target_pool="pool")
    assert list(pool.instances) == []

    emulator.add_backend_service("web")
    where_lb = {"project": PROJECT, "zone": ZONE, "instance_group_manager": "lb"}
    services = client("BackendServicesClient")
    service = services.get(project=PROJECT, backend_service="web")
    service.backends = [v1.Backend(group=group.instance_group, balancing_mode="UTILIZATION")]
    op = services.update_unary(
        request=v1.UpdateBackendServiceRequest(
            project=PROJECT,
            backend_service="web",
            backend_service_resource=service,
            request_id=rid(),
        )
    )
    wait_done(client("GlobalOperationsClient"), op)
    health = services.get_health(
        project=PROJECT,
        backend_service="web",
        resource_group_reference_resource=v1.ResourceGroupReference(group=group.instance_group),
    )
    # Health checks probe the service's portName ("http"): unhealthy until the instance group
    # names that port (InstanceGroupManager.namedPorts is output only).
    assert {s.health_state for s in health.health_status} == {"UNHEALTHY"}
    instance_groups = client("InstanceGroupsClient")
    named = instance_groups.get(project=PROJECT, zone=ZONE, instance_group="lb")
    op = instance_groups.set_named_ports_unary(
        request=v1.SetNamedPortsInstanceGroupRequest(
            project=PROJECT,
            zone=ZONE,
            instance_group="lb",
            instance_groups_set_named_ports_request_resource=v1.InstanceGroupsSetNamedPortsRequest(
                named_ports=[v1.NamedPort(name="http", port=8080)], fingerprint=named.fingerprint
            ),
            request_id=rid(),
        )
    )
    wait_done(client("ZoneOperationsClient"), op, zone=ZONE)
    assert [(p.name, p.port) for p in groups.get(**where_lb).named_ports] == [("http", 8080)]
    health = services.get_health(
        project=PROJECT,
        backend_service="web",
        resource_group_reference_resource=v1.ResourceGroupReference(group=group.instance_group),
    )
    assert {s.health_state for s in health.health_status} == {"HEALTHY"}
    # The fingerprint changed: updating with the old one is refused (412).
    with pytest.raises(api.PreconditionFailed):
        services.update_unary(
            project=PROJECT, backend_service="web", backend_service_resource=service
        )
    # A group that backs a service cannot be deleted.
    with pytest.raises(api.BadRequest):
        groups.delete(project=PROJECT, zone=ZONE, instance_group_manager="lb")


def test_links_point_at_the_fault_proxy_in_front(
    emulator: GcpEmulator, client: Callable[..., Any]
) -> None:
    insert_template(client, "proxied")
    with FaultProxy(emulator.url) as proxy:
        base = proxy.url
        found = client("InstanceTemplatesClient", base).get(
            project=PROJECT, instance_template="proxied"
        )
    assert base != emulator.url
    assert found.self_link.startswith(f"{base}/compute/v1/projects/{PROJECT}/")


def test_group_deletion_is_not_atomic(emulator: GcpEmulator, client: Callable[..., Any]) -> None:
    """The group stays while its instances are deleted; its Operation is DONE when they are."""
    insert_template(client, "del-tpl")
    insert_group(client, "del", "del-tpl", 2)
    stable(client, "del")
    groups = client("InstanceGroupManagersClient")
    op = groups.delete_unary(
        request=v1.DeleteInstanceGroupManagerRequest(
            project=PROJECT, zone=ZONE, instance_group_manager="del", request_id=rid()
        )
    )
    going = groups.get(project=PROJECT, zone=ZONE, instance_group_manager="del")
    assert going.current_actions.deleting == 2 and going.target_size == 2
    wait_done(client("ZoneOperationsClient"), op, zone=ZONE)
    with pytest.raises(api.NotFound):
        groups.get(project=PROJECT, zone=ZONE, instance_group_manager="del")


def test_instances_over_quota_stay_creating_with_their_errors(
    emulator: GcpEmulator, client: Callable[..., Any]
) -> None:
    """The group's insert succeeds; the instances carry lastAttempt errors and listErrors."""
    insert_template(client, "quota-tpl")
    emulator.limit_instances(0)
    try:
        done = insert_group(client, "quota", "quota-tpl", 1)
        assert not done.error.errors  # the group's Operation does not fail
        groups = client("InstanceGroupManagersClient")
        where = {"project": PROJECT, "zone": ZONE, "instance_group_manager": "quota"}
        for _ in range(100):
            (managed,) = groups.list_managed_instances(**where)
            if managed.last_attempt.errors.errors:
                break
            time.sleep(0.02)
        assert managed.current_action == "CREATING" and not managed.instance_status
        assert managed.last_attempt.errors.errors[0].code == "QUOTA_EXCEEDED"
        (listed,) = groups.list_errors(**where)
        assert listed.error.code == "QUOTA_EXCEEDED"
        assert listed.instance_action_details.action == "CREATING"
    finally:
        emulator.limit_instances(None)
    stable(client, "quota")  # created once the quota allows it
