"""The provider conformance suite on the Compute Engine emulator, read back from its state."""

from __future__ import annotations

from typing import Any

import pytest
from gcp_testkit import create_input

from cloudops_testing import conformance
from cloudops_testing.fixtures_gcp import GCP_REGION
from cloudops_testing.gcp_emulator import GcpEmulator
from cloudops_testing.gcp_emulator.network import network_resources


@pytest.fixture
def conformance_target(
    request: pytest.FixtureRequest, gcp_emulator: GcpEmulator
) -> conformance.ConformanceTarget:
    local = conformance.LocalTarget("gcp", request)

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

    @local.reads
    def read_group(name: str) -> conformance.GroupState | None:
        group = gcp_emulator.group(name)
        if group is None:
            return None
        service = gcp_emulator.backend_service(f"{name.split('-', 1)[0]}-web")
        backends = [b["group"].rsplit("/", 1)[-1] for b in (service or {}).get("backends", [])]
        return conformance.GroupState(
            desired=group["targetSize"],
            instances=len(live(f"{name}-")),
            in_traffic=name in backends,
        )

    @local.reads
    def resources(application: str) -> list[str]:
        prefix = f"{application}-"
        return [
            *(t["name"] for t in gcp_emulator.templates() if t["name"].startswith(prefix)),
            *(g["name"] for g in gcp_emulator.groups() if g["name"].startswith(prefix)),
            *live(prefix),
        ]

    def network(collection: str, prefix: str) -> dict[str, dict[str, Any]]:
        with gcp_emulator.state.lock:
            return {
                r["name"]: r
                for path, r in network_resources(gcp_emulator.state).items()
                if f"/{collection}/" in path and r["name"].startswith(prefix)
            }

    @local.reads
    def read_load_balancer(name: str) -> frozenset[int] | None:
        exists = (
            gcp_emulator.backend_service(name) is not None
            or gcp_emulator.target_pool(GCP_REGION, name) is not None
        )
        rules = network("forwardingRules", f"{name}-")
        if not exists and not rules:
            return None
        return frozenset(int(r["portRange"].split("-", 1)[0]) for r in rules.values())

    @local.reads
    def read_security_group(name: str) -> frozenset[conformance.IngressTuple] | None:
        # The group is a deny-all marker rule named after it and one allow rule per source kind
        # and protocol, named ``{name}-...``, all targeting the instances tagged ``name``.
        if name not in network("firewalls", name):
            return None
        rules: set[conformance.IngressTuple] = set()
        for rule in network("firewalls", f"{name}-").values():
            sources = [*rule.get("sourceRanges", []), *rule.get("sourceTags", [])]
            for allowed in rule.get("allowed", []):
                protocol = allowed["IPProtocol"]
                for ports in allowed.get("ports") or [None]:
                    start = end = None
                    if ports is not None:
                        low, _, high = str(ports).partition("-")
                        start, end = int(low), int(high or low)
                    rules.update((protocol, start, end, source) for source in sources)
        return frozenset(rules)

    return local.target(
        create_input=sample, failing_create=lambda app: {"load_balancers": [f"{app}-missing"]}
    )


class TestGcpConformance(conformance.ConformanceSuite):
    """Every test of the suite, on the emulator."""
