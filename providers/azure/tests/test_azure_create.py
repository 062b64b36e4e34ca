from __future__ import annotations

import base64

from azure_testkit import RG, WHERE, create_input, in_pool, scale_set, tagged, vm_states

from cloudops.client import CloudOpsClient
from cloudops_testing.azure_emulator import AzureEmulator
from cloudops_testing.checks import check_first_create, succeed
from cloudops_testing.fixtures_azure import AZURE_SSH_KEY


async def test_create_server_group(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    created = create_input(app, user_data="#!/bin/sh\necho hi")
    options = {"request_id": f"{app}-create", **WHERE}
    value = await check_first_create(azure_ops, "azure", created, **options)
    name = value["name"]
    assert value["resources"]["resource_group"] == RG

    found = scale_set(azure_emulator, name)
    assert found is not None
    assert found["sku"] == {"name": "Standard_B1s", "tier": "Standard", "capacity": 2}
    assert found["properties"]["provisioningState"] == "Succeeded"
    assert found["zones"] == ["1", "2"]
    tags = found["tags"]
    assert tags["cloudops:request-id"] == f"{app}-create"
    assert tags["team"] == "cloudops"
    assert (tags["cloudops:capacity-min"], tags["cloudops:capacity-max"]) == ("1", "3")
    profile = found["properties"]["virtualMachineProfile"]
    assert base64.b64decode(profile["userData"]).decode() == "#!/bin/sh\necho hi"
    assert profile["storageProfile"]["imageReference"]["offer"] == "ubuntu-24_04-lts"
    assert vm_states(azure_emulator, name) == [("Succeeded", "running")] * 2
    assert in_pool(azure_emulator, "web", name) == {f"{name}_0", f"{name}_1"}
    assert azure_emulator.put_count(RG, name) == 1
    assert tagged(azure_emulator, "cloudops:request-id", f"{app}-create") == [name]

    # The next server group of the cluster takes the next sequence.
    second = await azure_ops.execute(
        "azure.createServerGroup",
        create_input(app, capacity={"min": 0, "max": 1, "desired": 1}, load_balancers=[]),
        **WHERE,
    )
    assert second.ok, second.error
    assert second.value["name"] == f"{app}-test-v001"


async def test_create_needs_an_ssh_key_and_an_allowed_admin_name(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    """Real ARM refuses a Linux profile without an SSH key and names such as ``admin``."""
    # The account's key is used.
    keyless = await succeed(azure_ops, "azure.createServerGroup", create_input(app), **WHERE)
    found = scale_set(azure_emulator, keyless["name"])
    assert found is not None
    linux = found["properties"]["virtualMachineProfile"]["osProfile"]["linuxConfiguration"]
    assert linux["ssh"]["publicKeys"][0]["keyData"] == AZURE_SSH_KEY

    refused = await azure_ops.execute(
        "azure.createServerGroup", create_input(app, admin_username="admin"), **WHERE
    )
    assert not refused.ok and refused.error.code == "INVALID_INPUT"
    assert "administrator name" in str(refused.error.details)
    assert len(tagged(azure_emulator, "cloudops:cluster", f"{app}-test")) == 1  # nothing sent
