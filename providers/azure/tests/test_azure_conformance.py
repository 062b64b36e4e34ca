"""The provider conformance suite on the ARM emulator, read back from its state."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from azure_testkit import RG, create_input, in_pool, scale_set

import cloudops_azure.plugin
from cloudops.servergroups.contract import TAG_APPLICATION
from cloudops_testing.azure_emulator import AzureEmulator
from cloudops_testing.conformance import ConformanceSuite, ConformanceTarget, GroupState


@pytest.fixture
def conformance_target(
    azure_emulator: AzureEmulator, azure_accounts: dict[str, Any], azure_fault_proxy: Any
) -> ConformanceTarget:
    def read_group(name: str) -> GroupState | None:
        found = scale_set(azure_emulator, name)
        if found is None:
            return None
        vms = {f"{name}_{vm['instanceId']}" for vm in azure_emulator.instances(RG, name)}
        return GroupState(
            desired=found["sku"]["capacity"],
            instances=len(vms),
            in_traffic=bool(vms) and in_pool(azure_emulator, "web", name) == vms,
        )

    def resources(application: str) -> list[str]:
        return [
            s["name"]
            for s in azure_emulator.scale_sets(RG)
            if s["tags"].get(TAG_APPLICATION) == application or s["name"].startswith(application)
        ]

    def allocation_failure(application: str) -> dict[str, Any]:
        # The scale set is accepted, then its creation fails: the create deletes it again.
        azure_emulator.fail_next(f"{application}-test-v000", "AllocationFailed", "no capacity")
        return {}

    return ConformanceTarget(
        provider="azure",
        plugin=cloudops_azure.plugin,
        accounts=azure_accounts,
        create_input=create_input,
        read_group=read_group,
        resources=resources,
        failing_create=allocation_failure,
        failing_code="CLOUD_REJECTED",
        fault_proxy=lambda rules: azure_fault_proxy(replace(rules, flavor="azure")),
    )


class TestAzureConformance(ConformanceSuite):
    """Every test of the suite, on the emulator."""
