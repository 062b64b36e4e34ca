"""Account settings and credentials, ARM helpers, and error classification of real answers."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

import cloudops_azure.plugin
from cloudops import BusinessError, ErrorCode, RetryableError
from cloudops.accounts import ConfigError, FileConfig, using_accounts
from cloudops.registry import CloudOps
from cloudops.servergroups.models import Capacity, HealthState
from cloudops.worker import account_book
from cloudops_azure import arm, clients
from cloudops_azure.autoscale import TAG_UNPINNED, follow_min
from cloudops_azure.errors import classify, lookup
from cloudops_testing.azure_emulator import AzureEmulator
from cloudops_testing.faults import FaultRules
from cloudops_testing.fixtures_azure import (
    AZURE_RESOURCE_GROUP,
    AZURE_SUBSCRIPTION,
    emulator_compute_client,
)

SUB, RG = AZURE_SUBSCRIPTION, AZURE_RESOURCE_GROUP


def book(**settings: Any) -> Any:
    account = {
        "provider": "azure",
        "subscription_id": SUB,
        "resource_group": RG,
        **settings,
    }
    plugins = CloudOps([cloudops_azure.plugin], load_entrypoints=False)
    return account_book(plugins, FileConfig.model_validate({"accounts": {"az": account}}))


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"credential": "service_principal", "tenant_id": "t", "client_id": "c"}, "exactly one"),
        ({"credential": "service_principal", "client_secret_env": "S"}, "tenant_id"),
        ({"client_secret_env": "S"}, "service_principal"),
        ({"client_secret": "hunter2"}, "client_secret"),
        ({"subscription_id": "not-a-guid"}, "subscription_id"),
        ({"credential": "password"}, "credential"),
    ],
)
def test_account_settings_are_validated_and_hold_no_secret(
    settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        book(**settings)


def test_service_principal_secret_comes_from_env_or_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal = {"credential": "service_principal", "tenant_id": "t", "client_id": "c"}
    monkeypatch.delenv("CLOUDOPS_TEST_AZURE_SECRET", raising=False)
    with using_accounts(book(**principal, client_secret_env="CLOUDOPS_TEST_AZURE_SECRET")):
        clients.clear_cache()
        with pytest.raises(BusinessError) as missing:
            clients.compute_client("az")
        assert missing.value.code == ErrorCode.CLOUD_REJECTED
        assert "CLOUDOPS_TEST_AZURE_SECRET" in missing.value.message
        monkeypatch.setenv("CLOUDOPS_TEST_AZURE_SECRET", "s3cret")
        client = clients.compute_client("az")
        assert type(client._config.credential).__name__ == "ClientSecretCredential"
        assert clients.compute_client("az") is client  # cached
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    with using_accounts(book(**principal, client_secret_file=str(secret))):
        assert type(clients.compute_client("az")._config.credential).__name__ == (
            "ClientSecretCredential"
        )
    clients.clear_cache()


def test_emulator_credential_needs_a_plain_http_endpoint() -> None:
    with using_accounts(book(credential="emulator", endpoint="https://management.azure.com")):
        with pytest.raises(BusinessError) as refused:
            clients.compute_client("az")
        assert refused.value.code == ErrorCode.CLOUD_REJECTED
    clients.clear_cache()


def test_a_token_for_an_http_endpoint_is_a_configuration_error_not_a_retry() -> None:
    """azure-core refuses to send a bearer token over http://; retrying cannot help."""
    from azure.core.credentials import AccessToken
    from azure.core.exceptions import ServiceRequestError
    from azure.mgmt.compute import ComputeManagementClient

    class RealLookingCredential:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("token", 4_102_444_800)

    compute = ComputeManagementClient(
        RealLookingCredential(),  # type: ignore[arg-type]
        SUB,
        base_url="http://127.0.0.1:9",
        credential_scopes=["https://management.azure.com/.default"],
    )
    with pytest.raises(ServiceRequestError) as sent:
        compute.virtual_machine_scale_sets.get(RG, "web-v000")
    mapped = classify(sent.value)
    assert isinstance(mapped, BusinessError)
    assert mapped.code == ErrorCode.CLOUD_REJECTED
    assert "https://" in str(mapped) and "emulator" in str(mapped)


def test_references_and_tags() -> None:
    subnet = arm.subnet_id("vnet/default", SUB, RG)
    assert subnet == (
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/"
        "virtualNetworks/vnet/subnets/default"
    )
    assert arm.subnet_id(subnet, SUB, RG) == subnet
    pools = [arm.pool_id("lb/web", SUB, RG), "/subscriptions/x/resourceGroups/y/providers/z/p"]
    compact = arm.compact_pools(pools, SUB, RG)
    assert compact == "lb/web,/subscriptions/x/resourceGroups/y/providers/z/p"
    scale_set = {"tags": {"cloudops:backend-pools": compact}}
    assert arm.configured_pools(scale_set, SUB, RG) == pools
    # A bare name is a load balancer made by upsertLoadBalancer: its pool is named after it.
    assert arm.pool_id("app-web", SUB, RG).endswith(
        "/loadBalancers/app-web/backendAddressPools/app-web"
    )
    with pytest.raises(BusinessError) as bad:
        arm.pool_id("lb/pool/extra", SUB, RG)
    assert bad.value.code == ErrorCode.INVALID_INPUT


def test_capacity_widens_to_include_a_size_set_outside_cloudops() -> None:
    tags = {"cloudops:capacity-min": "2", "cloudops:capacity-max": "3"}
    assert arm.capacity_of({"sku": {"capacity": 5}, "tags": tags}) == Capacity(
        min=2, max=5, desired=5
    )
    assert arm.capacity_of({"sku": {"capacity": 1}, "tags": tags}) == Capacity(
        min=1, max=3, desired=1
    )
    assert arm.capacity_of({"sku": {"capacity": 2}}) == Capacity.fixed(2)


def test_pools_added_and_removed_keep_unmanaged_ones() -> None:
    outbound = {"id": "/pools/outbound"}
    scale_set = {
        "properties": {
            "virtualMachineProfile": {
                "networkProfile": {
                    "networkInterfaceConfigurations": [
                        {
                            "name": "nic",
                            "properties": {
                                "primary": True,
                                "ipConfigurations": [
                                    {
                                        "name": "ip",
                                        "properties": {
                                            "loadBalancerBackendAddressPools": [
                                                outbound,
                                                {"id": "/pools/web"},
                                            ]
                                        },
                                    }
                                ],
                            },
                        }
                    ]
                }
            }
        }
    }
    removed = arm.network_with_pools(scale_set, ["/pools/web"], enabled=False)
    assert arm.backend_pools(removed) == ["/pools/outbound"]
    added = arm.network_with_pools(scale_set, ["/pools/web"], enabled=True)
    assert arm.backend_pools(added) == ["/pools/outbound", "/pools/web"]


def test_instance_health() -> None:
    def vm(state: str, power: str | None, pools: list[str]) -> dict[str, Any]:
        statuses = [{"code": f"PowerState/{power}"}] if power else []
        nic = {
            "properties": {
                "ipConfigurations": [
                    {"properties": {"loadBalancerBackendAddressPools": [{"id": p} for p in pools]}}
                ]
            }
        }
        return {
            "name": "x_0",
            "properties": {
                "provisioningState": state,
                "instanceView": {"statuses": statuses},
                "networkProfileConfiguration": {"networkInterfaceConfigurations": [nic]},
            },
        }

    scale_set = {"name": "app-v000", "sku": {"capacity": 1}, "tags": {}}
    cases = [
        (vm("Succeeded", "running", ["/p/web"]), HealthState.UP),
        (vm("Succeeded", "running", []), HealthState.OUT_OF_SERVICE),
        (vm("Creating", "starting", ["/p/web"]), HealthState.STARTING),
        (vm("Deleting", "stopping", ["/p/web"]), HealthState.DOWN),
    ]
    scale_set["tags"] = {"cloudops:backend-pools": "/p/web"}
    for case, health in cases:
        described = arm.describe(
            scale_set, [case], region="eastus", subscription=SUB, resource_group=RG
        )
        assert described.instances[0].health == health, case


@pytest.mark.parametrize(
    ("code", "message", "status", "outcome"),
    [
        ("TooManyRequests", "", 429, "RETRY"),
        ("InternalServerError", "", 500, "RETRY"),
        ("AnotherOperationInProgress", "", 409, "RETRY"),
        (
            "OperationNotAllowed",
            "exceeding approved Total Regional Cores quota",
            409,
            "QUOTA_EXCEEDED",
        ),
        ("OperationNotAllowed", "the VM scale set is being deleted", 409, "CONFLICT"),
        ("OperationNotAllowed", "the VM scale set is being created", 409, "RETRY"),
        ("OperationPreempted", "preempted by a more recent operation", 0, "CONFLICT"),
        ("PreconditionFailed", "", 412, "RETRY"),
        (
            "InvalidParameter",
            "is not an active Virtual Machine Scale Set VM instanceId",
            400,
            "RETRY",
        ),
        ("InvalidResourceLocation", "", 409, "CONFLICT"),
        ("ResourceGroupNotFound", "", 404, "NOT_FOUND"),
        ("InvalidResourceReference", "", 400, "NOT_FOUND"),
        ("InvalidParameter", "images ... are not found", 400, "NOT_FOUND"),
        ("InvalidParameter", "bad value", 400, "INVALID_INPUT"),
        ("AuthorizationFailed", "", 403, "CLOUD_REJECTED"),
        ("SkuNotAvailable", "", 409, "CLOUD_REJECTED"),
    ],
)
def test_error_table(code: str, message: str, status: int, outcome: str) -> None:
    assert lookup(code, message, status) == outcome


def test_throttling_through_the_proxy_is_retryable_with_retry_after(
    azure_emulator: AzureEmulator, azure_fault_proxy: Any
) -> None:
    proxy = azure_fault_proxy(FaultRules(throttle=1.0, retry_after=3, flavor="azure"))
    client = emulator_compute_client(proxy.url, retry_total=0)
    with pytest.raises(HttpResponseError) as caught:
        client.virtual_machine_scale_sets.get(RG, "anything")
    mapped = classify(caught.value)
    assert isinstance(mapped, RetryableError)
    assert mapped.next_retry_delay == timedelta(seconds=3)
    proxy.rules = FaultRules(unavailable=1.0, flavor="azure")
    with pytest.raises(HttpResponseError) as caught:
        client.virtual_machine_scale_sets.get(RG, "anything")
    assert caught.value.status_code == 503
    assert isinstance(classify(caught.value), RetryableError)


def test_autoscale_profiles_follow_a_pinned_min_and_get_their_own_back() -> None:
    def profile(name: str, low: int, high: int, default: int) -> dict[str, Any]:
        capacity = {"minimum": str(low), "maximum": str(high), "default": str(default)}
        return {"name": name, "capacity": capacity, "rules": []}

    source = {"properties": {"profiles": [profile("day", 1, 4, 2), profile("night", 0, 2, 0)]}}
    setting = copy.deepcopy(source)
    assert not follow_min(setting, 0)  # no profile is below: nothing changes
    assert follow_min(setting, 3)
    assert [p["capacity"] for p in setting["properties"]["profiles"]] == [
        {"minimum": "3", "maximum": "4", "default": "3"},
        {"minimum": "3", "maximum": "3", "default": "3"},
    ]
    assert TAG_UNPINNED in setting["tags"]
    assert not follow_min(setting, 3)  # again: the same
    copied = copy.deepcopy(setting)  # a copy of a pinned setting remembers the same bounds
    assert follow_min(setting, 1)
    assert setting["properties"] == {
        "profiles": [profile("day", 1, 4, 2), profile("night", 1, 2, 1)]
    }
    assert TAG_UNPINNED in setting["tags"]  # night is still raised (its own min is 0)
    assert follow_min(copied, 0) and copied == {**source, "tags": {}}
