"""The provider conformance suite on the ARM emulator, read back from its state."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from azure_testkit import RG, create_input, in_pool, scale_set

import cloudops_azure.plugin
from cloudops.servergroups.contract import TAG_APPLICATION
from cloudops_testing.azure_emulator import AzureEmulator
from cloudops_testing.azure_emulator.network import network_bodies
from cloudops_testing.conformance import (
    ConformanceSuite,
    ConformanceTarget,
    GroupState,
    IngressTuple,
)
from cloudops_testing.network_inputs import load_balancer_input, security_group_input

_PROTOCOLS = {"Tcp": "tcp", "Udp": "udp", "Icmp": "icmp", "*": "all"}


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

    def body(kind: str, name: str) -> dict[str, Any] | None:
        suffix = f"/resourcegroups/{RG.lower()}/providers/microsoft.network/{kind.lower()}/"
        with azure_emulator.state.lock:
            for key, found in network_bodies(azure_emulator.state).items():
                if key.endswith(f"{suffix}{name.lower()}"):
                    return found
        return None

    def read_load_balancer(name: str) -> frozenset[int] | None:
        found = body("loadBalancers", name)
        if found is None:
            return None
        rules = found["properties"].get("loadBalancingRules") or []
        return frozenset(int(r["properties"]["frontendPort"]) for r in rules)

    def read_security_group(name: str) -> frozenset[IngressTuple] | None:
        found = body("networkSecurityGroups", name)
        if found is None:
            return None
        rules: set[IngressTuple] = set()
        for rule in found["properties"].get("securityRules") or []:
            p = rule["properties"]
            if p["direction"] != "Inbound" or p["access"] != "Allow":
                continue
            protocol = _PROTOCOLS[p["protocol"]]
            start = end = None
            if p["destinationPortRange"] != "*":
                low, _, high = p["destinationPortRange"].partition("-")
                start, end = int(low), int(high or low)
            sources = list(p.get("sourceAddressPrefixes") or [])
            if p.get("sourceAddressPrefix"):
                sources.append(p["sourceAddressPrefix"])
            groups = p.get("sourceApplicationSecurityGroups") or []
            sources += [g["id"].rsplit("/", 1)[-1] for g in groups]
            rules.update((protocol, start, end, source) for source in sources)
        return frozenset(rules)

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
        load_balancer_input=load_balancer_input,
        read_load_balancer=read_load_balancer,
        security_group_input=security_group_input,
        read_security_group=read_security_group,
    )


class TestAzureConformance(ConformanceSuite):
    """Every test of the suite, on the emulator."""
