"""The spec checks: what breaks the vendored compute v1 and Microsoft.Compute excerpts."""

from __future__ import annotations

import contextlib
import json
import urllib.request

from cloudops_testing.gcp_emulator import GcpEmulator
from cloudops_testing.specs import check_azure, check_gcp, schemas

TEMPLATES = "/compute/v1/projects/p/global/instanceTemplates"
VMSS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/x"


def test_unknown_fields_types_and_enums_are_caught() -> None:
    found = check_gcp(
        "POST",
        TEMPLATES,
        {"name": "x", "bogus": 1, "properties": {"machineType": 3}},
        200,
        {"kind": "compute#operation", "status": "WEIRD", "id": 12},
    )
    assert [f.split(": ", 1)[1] for f in found] == [
        "request.bogus: unknown field of InstanceTemplate",
        "request.properties.machineType: 3 is not of type string",
        "answer.status: 'WEIRD' is not one of ['DONE', 'PENDING', 'RUNNING']",
        "answer.id: 12 is not of type int64",  # a uint64 travels as a decimal string
    ]
    # The discovery document's annotations.required: fields an insert needs.
    regional = "/compute/v1/projects/p/regions/r/instanceGroupManagers"
    assert check_gcp("POST", regional, {"name": "g"}, 200, {"status": "DONE"}) == [
        f"POST {regional}: request.targetSize: required field of InstanceGroupManager missing"
    ]
    managed = {"managedInstances": [{"currentAction": "FLYING"}]}
    path = "/compute/v1/projects/p/zones/z/instanceGroupManagers/g/listManagedInstances"
    assert "FLYING" in check_gcp("POST", path, {}, 200, managed)[0]


def test_azure_required_fields_and_provisioning_states() -> None:
    body = {"properties": {"upgradePolicy": {"mode": "Sometimes"}}}
    answer = {"location": "eastus", "properties": {"provisioningState": "Weird"}}
    found = [f.split(": ", 1)[1] for f in check_azure("PUT", VMSS, body, 200, answer)]
    assert found == [
        "request.properties.upgradePolicy.mode: 'Sometimes' is not one of "
        "['Automatic', 'Manual', 'Rolling']",
        "request.location: required field of VirtualMachineScaleSet missing",
        "answer.properties.provisioningState: 'Weird' is not one of "
        "['Creating', 'Updating', 'Deleting', 'Succeeded', 'Failed', 'Canceled']",
    ]
    assert "VirtualMachineScaleSetVM" in schemas("azure")


def test_the_emulator_records_what_breaks_the_spec() -> None:
    with GcpEmulator("p") as emulator:
        request = urllib.request.Request(f"{emulator.url}{TEMPLATES}/missing", method="GET")
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(request)
        assert emulator.state.spec_violations == []  # an error answer is not checked
        body = json.dumps({"name": "t", "flavour": "x"}).encode()
        request = urllib.request.Request(f"{emulator.url}{TEMPLATES}", body, method="POST")
        with contextlib.suppress(urllib.error.HTTPError):  # refused: no properties
            urllib.request.urlopen(request)
        assert emulator.state.spec_violations == [
            f"POST {TEMPLATES}: request.flavour: unknown field of InstanceTemplate"
        ]
