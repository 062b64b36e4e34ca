"""createServerGroup end to end, checked by reading the emulator's state."""

from __future__ import annotations

from gcp_testkit import IMAGE, WHERE, create_input

from cloudops.client import CloudOpsClient
from cloudops_testing.checks import check_first_create
from cloudops_testing.gcp_emulator import GcpEmulator


async def test_create_zonal_server_group(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, app: str
) -> None:
    created = create_input(app, user_data="#!/bin/sh\necho hi")
    value = await check_first_create(gcp_ops, "gcp", created, request_id=f"{app}-create", **WHERE)
    name = value["name"]
    assert value["resources"]["zone"] == "us-central1-a"

    group = gcp_emulator.group(name)
    assert group is not None
    assert group["targetSize"] == 2
    assert group["zone"].endswith("/zones/us-central1-a")
    assert group["status"]["isStable"] is True
    assert group["baseInstanceName"] == name
    template_name = value["resources"]["instance_template"]
    assert group["instanceTemplate"].endswith(f"/global/instanceTemplates/{template_name}")
    assert group["selfLink"].startswith(gcp_emulator.url)

    template = gcp_emulator.template(template_name)
    assert template is not None
    properties = template["properties"]
    assert properties["machineType"] == "e2-small"
    assert properties["disks"][0]["initializeParams"]["sourceImage"] == IMAGE
    assert properties["labels"] == {"team": "cloudops"}
    assert properties["tags"]["items"] == ["web"]
    metadata = {i["key"]: i["value"] for i in properties["metadata"]["items"]}
    assert metadata["cloudops-request-id"] == f"{app}-create"
    assert metadata["cloudops-server-group"] == name
    assert metadata["startup-script"] == "#!/bin/sh\necho hi"

    instances = gcp_emulator.instances(name)
    assert len(instances) == 2
    assert {i["status"] for i in instances} == {"RUNNING"}
    assert all(i["name"].startswith(f"{name}-") for i in instances)

    # Exactly one insert of each, each with a request id.
    assert gcp_emulator.applied("instanceTemplates.insert", template_name) == 1
    assert gcp_emulator.applied("instanceGroupManagers.insert", name) == 1
    inserts = gcp_emulator.mutations("instanceGroupManagers.insert")
    assert all(m.request_id for m in inserts if m.target.endswith(f"/{name}"))

    # The next server group of the cluster takes the next sequence.
    second = await gcp_ops.execute(
        "gcp.createServerGroup",
        create_input(app, capacity={"min": 0, "max": 1, "desired": 1}, zones=[]),
        **WHERE,
    )
    assert second.ok, second.error
    assert second.value["name"] == f"{app}-test-v001"
    regional = gcp_emulator.group(f"{app}-test-v001")
    assert regional is not None
    assert regional["region"].endswith("/regions/us-central1")
    assert len(regional["distributionPolicy"]["zones"]) == 3
