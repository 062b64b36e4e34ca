"""updateLaunchTemplate and rebootInstances on Azure, over HTTP on a real Temporal server.

Each verb is read back from the emulator with the official ComputeManagementClient (the scale
set's model, its VMs' ``latestModelApplied``) or from the emulator's own record (restarts per
VM); repeated, it changes nothing more; inside ``testkit.thenFail`` its undo restores the model.
"""

from __future__ import annotations

import asyncio
import base64

from azure_testkit import FAST, RG, WHERE, create_group

from cloudops.client import CloudOpsClient
from cloudops_testing.azure_emulator import AzureEmulator
from cloudops_testing.fixtures_azure import AZURE_IMAGE, emulator_compute_client

OTHER_IMAGE = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest"


def _model(emulator: AzureEmulator, group: str) -> tuple[str, str, str | None, list[bool]]:
    """(image, VM size, user data, each VM's latestModelApplied) as the official client reads."""
    client = emulator_compute_client(emulator.url)
    found = client.virtual_machine_scale_sets.get(RG, group, expand="userData")
    image = found.virtual_machine_profile.storage_profile.image_reference
    urn = ":".join([image.publisher, image.offer, image.sku, image.version])
    vms = client.virtual_machine_scale_set_vms.list(RG, group)
    latest = [bool(vm.latest_model_applied) for vm in vms if vm.provisioning_state != "Deleting"]
    return urn, found.sku.name, found.virtual_machine_profile.user_data, latest


async def _read(emulator: AzureEmulator, group: str) -> tuple[str, str, str | None, list[bool]]:
    return await asyncio.to_thread(_model, emulator, group)


async def test_update_launch_template_patches_the_model_rolls_and_goes_back(
    ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    group = await create_group(ops, app, upgrade_policy="Manual")
    assert await _read(azure_emulator, group) == (AZURE_IMAGE, "Standard_B1s", None, [True, True])
    update = {
        "server_group": group,
        "instance_type": "Standard_B2s",
        "user_data": "#!/bin/sh\necho hi\n",
        **FAST,
    }
    done = await ops.execute("azure.updateLaunchTemplate", update, **WHERE)
    assert done.ok and done.value["changed"], done.error
    encoded = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
    # Manual policy: the running VMs keep the model they have until upgraded.
    assert await _read(azure_emulator, group) == (
        AZURE_IMAGE,
        "Standard_B2s",
        encoded,
        [False, False],
    )
    assert '"Standard_B1s"' in done.value["resources"]["previous"]

    # The model matches already: nothing is sent; rolling upgrades the VMs one at a time.
    patches = azure_emulator.operations()
    rolled = await ops.execute(
        "azure.updateLaunchTemplate", {**update, "roll_instances": True}, **WHERE
    )
    assert rolled.ok and not rolled.value["changed"], rolled.error
    assert await _read(azure_emulator, group) == (
        AZURE_IMAGE,
        "Standard_B2s",
        encoded,
        [True, True],
    )
    kinds = [op["kind"] for op in azure_emulator.operations()[len(patches) :]]
    assert kinds == ["upgradeInstances", "upgradeInstances"]
    assert rolled.value["resources"]["replaced"] == f"{group}_0,{group}_1"

    # A later failure: the previous image comes back (and the VM size stays).
    failed = await ops.execute(
        "testkit.thenFail",
        {
            "steps": [
                {
                    "operation": "azure.updateLaunchTemplate",
                    "input": {"server_group": group, "image": OTHER_IMAGE, **FAST},
                }
            ]
        },
        **WHERE,
    )
    assert not failed.ok and [r.ok for r in failed.error.rollbacks] == [True], failed.error
    assert (await _read(azure_emulator, group))[:3] == (AZURE_IMAGE, "Standard_B2s", encoded)


async def test_a_failed_model_update_puts_the_previous_model_back(
    ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    group = await create_group(ops, app, capacity={"min": 1, "max": 1, "desired": 1})
    azure_emulator.fail_next(group)  # the PATCH's operation ends Failed (AllocationFailed)
    update = {"server_group": group, "instance_type": "Standard_B2s", **FAST}
    failed = await ops.execute("azure.updateLaunchTemplate", update, **WHERE)
    assert not failed.ok and failed.error.code == "CLOUD_REJECTED", failed.error
    assert [r.ok for r in failed.error.rollbacks] == [True], failed.error
    assert (await _read(azure_emulator, group))[1] == "Standard_B1s"
    found = await asyncio.to_thread(
        emulator_compute_client(azure_emulator.url).virtual_machine_scale_sets.get, RG, group
    )
    assert found.provisioning_state == "Succeeded"


async def test_update_launch_template_refuses_bad_input_before_any_change(
    ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    group = await create_group(ops, app, capacity={"min": 1, "max": 1, "desired": 1})
    before = await _read(azure_emulator, group)
    for field, value in (("image", "not-an-urn"), ("key_name", "mine")):
        bad = await ops.execute(
            "azure.updateLaunchTemplate", {"server_group": group, field: value}, **WHERE
        )
        assert not bad.ok and bad.error.code == "INVALID_INPUT", bad.error
        assert bad.error.details["errors"][0]["field"] == field
    # An image Azure does not know: ARM's 400 on the PATCH (a missing image, as on a create),
    # naming the image reference; the model stays.
    unknown = {"server_group": group, "image": "Canonical:no-such-offer:none:latest", **FAST}
    refused = await ops.execute("azure.updateLaunchTemplate", unknown, **WHERE)
    assert not refused.ok and refused.error.code == "NOT_FOUND", refused.error
    assert refused.error.details["azure_target"] == "imageReference"
    assert await _read(azure_emulator, group) == before


async def test_reboot_restarts_the_vms_of_the_group_only(
    ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    group = await create_group(ops, app)
    assert azure_emulator.restarts(RG, group) == {"0": 0, "1": 0}
    reboot = {"server_group": group, "instance_ids": [f"{group}_1"]}
    done = await ops.execute("azure.rebootInstances", reboot, request_id=f"{group}-r", **WHERE)
    assert done.ok and done.value["changed"], done.error
    assert done.value["resources"]["instances"] == f"{group}_1"
    assert azure_emulator.restarts(RG, group) == {"0": 0, "1": 1}

    # The same request again runs once: no second restart.
    again = await ops.execute("azure.rebootInstances", reboot, request_id=f"{group}-r", **WHERE)
    assert again.ok and again.value == done.value
    assert azure_emulator.restarts(RG, group) == {"0": 0, "1": 1}

    # An id outside the group: NOT_FOUND, as on AWS, and nothing restarts.
    outside = {"server_group": group, "instance_ids": ["0", "other-vmss_0"]}
    failed = await ops.execute("azure.rebootInstances", outside, **WHERE)
    assert not failed.ok and failed.error.code == "NOT_FOUND", failed.error
    assert "other-vmss_0" in failed.error.message
    assert azure_emulator.restarts(RG, group) == {"0": 0, "1": 1}
