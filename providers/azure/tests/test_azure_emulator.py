"""The ARM emulator's wire format, checked with the official azure-mgmt-compute client.

The SDK's own code is the judge: its status-code checks, its LRO algorithms
(Azure-AsyncOperation, Location, final GET), its pager (nextLink) and its error mapping. Raw
HTTP is used only where the SDK hides the wire (status codes and headers).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from cloudops import BusinessError, ErrorCode, RetryableError
from cloudops_azure import lro
from cloudops_azure.errors import classify
from cloudops_testing.azure_emulator import AzureEmulator, EmulatorSettings
from cloudops_testing.fixtures_azure import AZURE_IMAGE, emulator_compute_client

SUB = "11111111-2222-3333-4444-555555555555"
RG = "wire-rg"
API = "2026-04-01"


@pytest.fixture(scope="module")
def emulator() -> Iterator[AzureEmulator]:
    with AzureEmulator(
        settings=EmulatorSettings(lro_seconds=0.2, retry_after=0), subscription=SUB
    ) as emu:
        yield emu


@pytest.fixture
def emu(emulator: AzureEmulator) -> AzureEmulator:
    emulator.reset()
    emulator.settings.lro_seconds, emulator.settings.lro_polls = 0.2, 0
    emulator.settings.page_size, emulator.settings.retry_after = 50, 0
    emulator.settings.instance_quota = None
    emulator.add_resource_group(RG)
    emulator.add_subnet(RG, "vnet", "default")
    emulator.add_load_balancer(RG, "lb", ["web"])
    return emulator


@pytest.fixture
def client(emu: AzureEmulator) -> Any:
    return emulator_compute_client(emu.url, SUB)


def vmss_path(name: str = "") -> str:
    path = (
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
        "Microsoft.Compute/virtualMachineScaleSets"
    )
    return f"{path}/{name}" if name else path


def body(capacity: int = 2, *, pools: bool = True, location: str = "eastus") -> dict[str, Any]:
    publisher, offer, sku, version = AZURE_IMAGE.split(":")
    ip_properties: dict[str, Any] = {
        "subnet": {
            "id": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/"
            "virtualNetworks/vnet/subnets/default"
        }
    }
    if pools:
        ip_properties["loadBalancerBackendAddressPools"] = [
            {
                "id": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/"
                "loadBalancers/lb/backendAddressPools/web"
            }
        ]
    return {
        "location": location,
        "sku": {"name": "Standard_B1s", "tier": "Standard", "capacity": capacity},
        "properties": {
            "upgradePolicy": {"mode": "Automatic"},
            "virtualMachineProfile": {
                "osProfile": {"computerNamePrefix": "wire", "adminUsername": "ops"},
                "storageProfile": {
                    "imageReference": {
                        "publisher": publisher,
                        "offer": offer,
                        "sku": sku,
                        "version": version,
                    }
                },
                "networkProfile": {
                    "networkInterfaceConfigurations": [
                        {
                            "name": "nic",
                            "properties": {
                                "primary": True,
                                "ipConfigurations": [{"name": "ipc", "properties": ip_properties}],
                            },
                        }
                    ]
                },
            },
        },
    }


def raw(
    emu: AzureEmulator,
    method: str,
    path: str,
    payload: Any = None,
    *,
    api: str | None = API,
    auth: bool = True,
) -> tuple[int, dict[str, str], Any]:
    url = emu.url + path + (f"?api-version={api}" if api else "")
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if auth:
        request.add_header("Authorization", "Bearer x")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            text = response.read()
            return response.status, dict(response.headers), json.loads(text) if text else None
    except urllib.error.HTTPError as err:
        text = err.read()
        return err.code, dict(err.headers), json.loads(text) if text else None


def test_put_answers_201_with_async_operation_and_the_sdk_polls_it(
    emu: AzureEmulator, client: Any
) -> None:
    emu.hold("raw")
    status, headers, answer = raw(emu, "PUT", vmss_path("raw"), body())
    assert status == 201
    assert answer["properties"]["provisioningState"] == "Creating"
    assert headers["Azure-AsyncOperation"].startswith(emu.url + f"/subscriptions/{SUB}/providers")
    assert "api-version=" in headers["Azure-AsyncOperation"]
    assert headers["Retry-After"] == "0"
    op_path = headers["Azure-AsyncOperation"][len(emu.url) :].split("?")[0]
    assert raw(emu, "GET", op_path)[2]["status"] == "InProgress"
    emu.release("raw")
    time.sleep(emu.settings.lro_seconds)
    assert raw(emu, "GET", op_path)[2]["status"] == "Succeeded"
    # Again on an existing scale set: 200 and Updating.
    status, _, answer = raw(emu, "PUT", vmss_path("raw"), body(3))
    assert (status, answer["properties"]["provisioningState"]) == (200, "Updating")

    poller = client.virtual_machine_scale_sets.begin_create_or_update(RG, "sdk", body())
    created = poller.result()
    assert created.properties.provisioning_state == "Succeeded"
    assert created.sku.capacity == 2
    # PUT, then status polls, then the final GET of the resource.
    assert emu.request_count("PUT", vmss_path("sdk")) == 1
    assert emu.request_count("GET", vmss_path("sdk")) == 1


def test_patch_answers_200_and_merges(emu: AzureEmulator, client: Any) -> None:
    client.virtual_machine_scale_sets.begin_create_or_update(RG, "p", body()).result()
    status, headers, answer = raw(emu, "PATCH", vmss_path("p"), {"sku": {"capacity": 3}})
    assert status == 200 and "Azure-AsyncOperation" in headers
    assert answer["properties"]["provisioningState"] == "Updating"
    assert answer["sku"] == {"name": "Standard_B1s", "tier": "Standard", "capacity": 3}
    time.sleep(emu.settings.lro_seconds)  # a second update while one runs would be a 409
    updated = client.virtual_machine_scale_sets.begin_update(
        RG, "p", {"sku": {"capacity": 1}, "tags": {"k": "v"}}
    ).result()
    assert (updated.sku.capacity, updated.tags) == (1, {"k": "v"})
    vms = list(client.virtual_machine_scale_set_vms.list(RG, "p"))
    # Scale-in removed the highest instance ids.
    assert [vm.instance_id for vm in vms] == ["0"]


def test_get_missing_is_resource_not_found(emu: AzureEmulator, client: Any) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        client.virtual_machine_scale_sets.get(RG, "nope")
    assert caught.value.error.code == "ResourceNotFound"
    assert "nope" in caught.value.error.message
    mapped = classify(caught.value)
    assert isinstance(mapped, BusinessError) and mapped.code == ErrorCode.NOT_FOUND
    with pytest.raises(ResourceNotFoundError) as caught:
        client.virtual_machine_scale_sets.get("no-such-group", "nope")
    assert caught.value.error.code == "ResourceGroupNotFound"


def test_delete_answers_202_with_both_headers_then_204(emu: AzureEmulator, client: Any) -> None:
    client.virtual_machine_scale_sets.begin_create_or_update(RG, "d", body()).result()
    status, headers, _ = raw(emu, "DELETE", vmss_path("d"))
    assert status == 202
    assert "Azure-AsyncOperation" in headers and "monitor=true" in headers["Location"]
    location = headers["Location"][len(emu.url) :]
    monitor = urllib.request.Request(emu.url + location, headers={"Authorization": "Bearer x"})
    with urllib.request.urlopen(monitor) as answer:
        assert answer.status == 202  # still deleting
    assert client.virtual_machine_scale_sets.get(RG, "d").properties.provisioning_state == (
        "Deleting"
    )
    client.virtual_machine_scale_sets.begin_delete(RG, "d").result()
    assert emu.scale_set(RG, "d") is None
    assert raw(emu, "DELETE", vmss_path("d"))[0] == 204
    assert client.virtual_machine_scale_sets.begin_delete(RG, "d").result() is None


def test_list_pages_with_next_link(emu: AzureEmulator, client: Any) -> None:
    emu.settings.page_size = 2
    for name in ("a", "b", "c"):
        client.virtual_machine_scale_sets.begin_create_or_update(RG, name, body(1, pools=False))
    status, _, page = raw(emu, "GET", vmss_path())
    assert status == 200 and len(page["value"]) == 2
    assert page["nextLink"].startswith(emu.url) and "api-version=" in page["nextLink"]
    names = [s.name for s in client.virtual_machine_scale_sets.list(RG)]
    assert names == ["a", "b", "c"]


def test_instances_become_running_and_delete_instances(emu: AzureEmulator, client: Any) -> None:
    emu.hold("vms")
    poller = client.virtual_machine_scale_sets.begin_create_or_update(RG, "vms", body(3))
    views = list(client.virtual_machine_scale_set_vms.list(RG, "vms", expand="instanceView"))
    assert {vm.properties.provisioning_state for vm in views} == {"Creating"}
    emu.release("vms")
    poller.result()
    views = list(client.virtual_machine_scale_set_vms.list(RG, "vms", expand="instanceView"))
    codes = {s.code for vm in views for s in vm.properties.instance_view.statuses}
    assert codes == {"ProvisioningState/succeeded", "PowerState/running"}
    assert (
        len(
            emu.pool_members(
                emu.scale_set(RG, "vms")["properties"]["virtualMachineProfile"]["networkProfile"][
                    "networkInterfaceConfigurations"
                ][0]["properties"]["ipConfigurations"][0]["properties"][
                    "loadBalancerBackendAddressPools"
                ][0]["id"]
            )
        )
        == 3
    )

    status, headers, _ = raw(emu, "POST", vmss_path("vms") + "/delete", {"instanceIds": ["1"]})
    assert status == 202 and "Location" in headers
    client.virtual_machine_scale_sets.begin_delete_instances(
        RG, "vms", {"instanceIds": ["2"]}
    ).result()
    assert [vm.instance_id for vm in client.virtual_machine_scale_set_vms.list(RG, "vms")] == ["0"]
    assert emu.scale_set(RG, "vms")["sku"]["capacity"] == 1


def test_failed_operation_carries_its_error(emu: AzureEmulator, client: Any) -> None:
    emu.fail_next("f", "AllocationFailed", "no capacity")
    poller = client.virtual_machine_scale_sets.begin_create_or_update(RG, "f", body())
    with pytest.raises(HttpResponseError) as caught:
        poller.result()
    assert caught.value.error.code == "AllocationFailed"
    mapped = classify(caught.value)
    assert isinstance(mapped, BusinessError)
    assert mapped.code == ErrorCode.CLOUD_REJECTED
    assert mapped.error_details["azure_code"] == "AllocationFailed"
    assert client.virtual_machine_scale_sets.get(RG, "f").properties.provisioning_state == "Failed"


def test_continuation_token_resumes_without_resending(emu: AzureEmulator, client: Any) -> None:
    emu.hold("tok")
    ops = client.virtual_machine_scale_sets
    token, done = lro.begin(ops.begin_create_or_update, RG, "tok", body())
    assert not done
    # A fresh client, as on another worker: one status check per resume.
    other = emulator_compute_client(emu.url, SUB).virtual_machine_scale_sets
    with pytest.raises(lro.Pending) as pending:
        lro.resume(other.begin_create_or_update, RG, "tok", None, token=token)
    assert pending.value.status == "InProgress"
    emu.release("tok")
    time.sleep(emu.settings.lro_seconds)
    result = lro.resume(other.begin_create_or_update, RG, "tok", None, token=token)
    assert result.properties.provisioning_state == "Succeeded"
    # The SDK's own poller resumes from the same token too.
    again = other.begin_create_or_update(RG, "tok", None, continuation_token=token).result()
    assert again.name == "tok"
    assert emu.put_count(RG, "tok") == 1


def test_lro_polls_setting_counts_status_polls(emu: AzureEmulator, client: Any) -> None:
    emu.settings.lro_seconds, emu.settings.lro_polls = 0, 3
    ops = client.virtual_machine_scale_sets
    token, _ = lro.begin(ops.begin_create_or_update, RG, "polls", body(1, pools=False))
    for _ in range(2):
        with pytest.raises(lro.Pending):
            lro.resume(ops.begin_create_or_update, RG, "polls", None, token=token)
    assert lro.resume(ops.begin_create_or_update, RG, "polls", None, token=token).name == "polls"


def test_api_version_and_authorization_are_required(emu: AzureEmulator) -> None:
    status, _, answer = raw(emu, "GET", vmss_path(), api=None)
    assert status == 400 and answer["error"]["code"] == "MissingApiVersionParameter"
    status, _, answer = raw(emu, "GET", vmss_path(), auth=False)
    assert status == 401 and answer["error"]["code"] == "AuthenticationFailed"


def test_conflicts(emu: AzureEmulator, client: Any) -> None:
    ops = client.virtual_machine_scale_sets
    ops.begin_create_or_update(RG, "c", body(1, pools=False)).result()
    with pytest.raises(ResourceExistsError) as caught:
        ops.begin_create_or_update(RG, "c", body(1, pools=False, location="westus"))
    assert caught.value.error.code == "InvalidResourceLocation"
    assert classify(caught.value).code == ErrorCode.CONFLICT  # type: ignore[attr-defined]
    emu.hold("c")
    # A PATCH preempts a running update: the older operation ends Canceled (Compute's
    # OperationPreempted, not Network's AnotherOperationInProgress).
    first = ops.begin_update(RG, "c", {"sku": {"capacity": 2}})
    ops.begin_update(RG, "c", {"sku": {"capacity": 3}})
    with pytest.raises(HttpResponseError) as caught:
        first.result()
    assert caught.value.error.code == "OperationPreempted"
    assert classify(caught.value).code == ErrorCode.CONFLICT  # type: ignore[attr-defined]
    # An action beside a running update is 409 OperationNotAllowed, retried.
    with pytest.raises(ResourceExistsError) as caught:
        ops.begin_update_instances(RG, "c", {"instanceIds": ["0"]})
    assert caught.value.error.code == "OperationNotAllowed"
    assert isinstance(classify(caught.value), RetryableError)
    emu.release("c")
    # ETags: a stale If-Match and an If-None-Match: * on an existing scale set are 412.
    current = ops.get(RG, "c")
    assert current.etag
    with pytest.raises(HttpResponseError) as caught:
        ops.begin_update(
            RG, "c", {"tags": {}}, etag='"0"', match_condition=MatchConditions.IfNotModified
        )
    assert caught.value.status_code == 412
    assert isinstance(classify(caught.value), RetryableError)
    with pytest.raises(HttpResponseError) as caught:
        ops.begin_create_or_update(
            RG, "c", body(1, pools=False), match_condition=MatchConditions.IfMissing
        )
    assert caught.value.status_code == 412
    ops.begin_update(
        RG, "c", {"tags": {}}, etag=current.etag, match_condition=MatchConditions.IfNotModified
    ).result()
    # An instance id that is not active any more: 400 InvalidParameter, retried (the rerun
    # reads the VMs again).
    with pytest.raises(HttpResponseError) as caught:
        ops.begin_delete_instances(RG, "c", {"instanceIds": ["99"]})
    assert (caught.value.status_code, caught.value.error.code) == (400, "InvalidParameter")
    assert isinstance(classify(caught.value), RetryableError)


def test_bad_references_quota_and_sku(emu: AzureEmulator, client: Any) -> None:
    ops = client.virtual_machine_scale_sets
    missing_pool = body()
    ip = missing_pool["properties"]["virtualMachineProfile"]["networkProfile"][
        "networkInterfaceConfigurations"
    ][0]["properties"]["ipConfigurations"][0]["properties"]
    ip["loadBalancerBackendAddressPools"][0]["id"] += "-gone"
    with pytest.raises(HttpResponseError) as caught:
        ops.begin_create_or_update(RG, "r", missing_pool)
    assert (caught.value.status_code, caught.value.error.code) == (400, "InvalidResourceReference")
    assert classify(caught.value).code == ErrorCode.NOT_FOUND  # type: ignore[attr-defined]

    emu.settings.instance_quota = 2
    with pytest.raises(HttpResponseError) as caught:
        ops.begin_create_or_update(RG, "q", body(3))
    assert (caught.value.status_code, caught.value.error.code) == (409, "OperationNotAllowed")
    assert classify(caught.value).code == ErrorCode.QUOTA_EXCEEDED  # type: ignore[attr-defined]

    emu.unavailable_skus.add("standard_b1s")
    try:
        with pytest.raises(HttpResponseError) as caught:
            ops.begin_create_or_update(RG, "s", body(1))
        assert caught.value.error.code == "SkuNotAvailable"
    finally:
        emu.unavailable_skus.clear()

    image = body(1)
    image["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]["offer"] = "x"
    with pytest.raises(HttpResponseError) as caught:
        ops.begin_create_or_update(RG, "i", image)
    assert caught.value.error.code == "InvalidParameter"
    assert classify(caught.value).code == ErrorCode.NOT_FOUND  # type: ignore[attr-defined]
    assert emu.scale_sets(RG) == []


def test_connection_errors_are_retryable(emu: AzureEmulator) -> None:
    with AzureEmulator() as gone:
        url = gone.url
    client = emulator_compute_client(url, SUB, connection_timeout=2)
    with pytest.raises(Exception) as caught:
        client.virtual_machine_scale_sets.get(RG, "x")
    assert isinstance(classify(caught.value), RetryableError)


def test_backend_pool_members_are_readable_over_http(emu: AzureEmulator, client: Any) -> None:
    client.virtual_machine_scale_sets.begin_create_or_update(RG, "m", body(2)).result()
    path = (
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/loadBalancers/lb"
        "/backendAddressPools/web"
    )
    status, _, pool = raw(emu, "GET", path, api="2024-05-01")
    assert status == 200
    members = [c["id"] for c in pool["properties"]["backendIPConfigurations"]]
    assert len(members) == 2 and all("/virtualMachines/" in m for m in members)
