"""The provider conformance suite on the ARM emulator, read back from its state."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from azure_testkit import RG, create_input, in_pool, scale_set

from cloudops.servergroups.contract import TAG_APPLICATION
from cloudops_testing import conformance
from cloudops_testing.azure_emulator import AzureEmulator
from cloudops_testing.azure_emulator.network import network_bodies

_PROTOCOLS = {"Tcp": "tcp", "Udp": "udp", "Icmp": "icmp", "*": "all"}


@pytest.fixture
def conformance_target(
    request: pytest.FixtureRequest, azure_emulator: AzureEmulator, azure_fault_proxy: Any
) -> conformance.ConformanceTarget:
    local = conformance.LocalTarget("azure", request)

    @local.reads
    def read_group(name: str) -> conformance.GroupState | None:
        found = scale_set(azure_emulator, name)
        if found is None:
            return None
        vms = {f"{name}_{vm['instanceId']}" for vm in azure_emulator.instances(RG, name)}
        return conformance.GroupState(
            desired=found["sku"]["capacity"],
            instances=len(vms),
            in_traffic=bool(vms) and in_pool(azure_emulator, "web", name) == vms,
        )

    @local.reads
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

    @local.reads
    def read_load_balancer(name: str) -> frozenset[int] | None:
        found = body("loadBalancers", name)
        if found is None:
            return None
        rules = found["properties"].get("loadBalancingRules") or []
        return frozenset(int(r["properties"]["frontendPort"]) for r in rules)

    @local.reads
    def read_security_group(name: str) -> frozenset[conformance.IngressTuple] | None:
        found = body("networkSecurityGroups", name)
        if found is None:
            return None
        rules: set[conformance.IngressTuple] = set()
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

    return local.target(
        create_input=create_input,
        failing_create=allocation_failure,
        failing_code="CLOUD_REJECTED",
        fault_proxy=lambda rules: azure_fault_proxy(replace(rules, flavor="azure")),
    )


class TestAzureConformance(conformance.ConformanceSuite):
    """Every test of the suite, on the emulator."""
