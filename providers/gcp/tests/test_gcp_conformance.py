"""The provider conformance suite on the Compute Engine emulator, read back from its state."""

from __future__ import annotations

from typing import Any

import pytest
from gcp_testkit import create_input

import cloudops_gcp.plugin
from cloudops_testing.conformance import ConformanceSuite, ConformanceTarget, GroupState
from cloudops_testing.fixtures_gcp import GCP_REGION
from cloudops_testing.gcp_emulator import GcpEmulator


@pytest.fixture
def conformance_target(
    gcp_emulator: GcpEmulator, gcp_accounts: dict[str, Any], gcp_fault_proxy: Any
) -> ConformanceTarget:
    def sample(application: str) -> dict[str, Any]:
        service, pool = f"{application}-web", f"{application}-pool"
        if gcp_emulator.backend_service(service) is None:
            gcp_emulator.add_backend_service(service)
            gcp_emulator.add_target_pool(GCP_REGION, pool)
        return create_input(application, load_balancers=[service], target_pools=[pool])

    def live(prefix: str) -> list[str]:
        return [
            i["name"]
            for i in gcp_emulator.instances()
            if i["name"].startswith(prefix) and i["currentAction"] != "DELETING"
        ]

    def read_group(name: str) -> GroupState | None:
        group = gcp_emulator.group(name)
        if group is None:
            return None
        service = gcp_emulator.backend_service(f"{name.split('-', 1)[0]}-web")
        backends = [b["group"].rsplit("/", 1)[-1] for b in (service or {}).get("backends", [])]
        return GroupState(
            desired=group["targetSize"],
            instances=len(live(f"{name}-")),
            in_traffic=name in backends,
        )

    def resources(application: str) -> list[str]:
        prefix = f"{application}-"
        return [
            *(t["name"] for t in gcp_emulator.templates() if t["name"].startswith(prefix)),
            *(g["name"] for g in gcp_emulator.groups() if g["name"].startswith(prefix)),
            *live(prefix),
        ]

    return ConformanceTarget(
        provider="gcp",
        plugin=cloudops_gcp.plugin,
        accounts=gcp_accounts,
        create_input=sample,
        read_group=read_group,
        resources=resources,
        failing_create=lambda app: {"load_balancers": [f"{app}-missing"]},
        fault_proxy=gcp_fault_proxy,
    )


class TestGcpConformance(ConformanceSuite):
    """Every test of the suite, on the emulator."""
