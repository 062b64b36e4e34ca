"""Determinism of the load-balancer and security-group operations on every cloud.

Each case runs for real (moto, the GCP and Azure emulators) and its history is replayed with
today's code; ``tests/histories/{cloud}/network-*.json`` are the committed ones, replayed by
``test_replay_providers.test_committed_history_replays`` with the others.
``CLOUDOPS_RECORD_HISTORIES=1`` rewrites them from a fresh run.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowHistory

from cloudops_testing.network_inputs import load_balancer_input, security_group_input
from test_replay_providers import AZURE_WHERE, GCP_WHERE, WHERE, _keep_and_replay, _run

NETWORK_CASES = {
    "network-lb-upsert-ok", "network-lb-upsert-unchanged", "network-lb-upsert-converge",
    "network-lb-describe-ok", "network-lb-list-ok", "network-lb-delete-ok",
    "network-lb-describe-not-found", "network-sg-upsert-ok", "network-sg-upsert-converge",
    "network-sg-upsert-invalid", "network-sg-describe-ok", "network-sg-list-ok",
    "network-sg-delete-ok",
}  # fmt: skip
_LISTENERS = {
    "aws": [{"protocol": "HTTP", "port": 80, "target_port": 8080}],
    "gcp": [{"protocol": "HTTP", "port": 80, "target_port": 8080}],
    "azure": [{"protocol": "TCP", "port": 80, "target_port": 8080}],
}


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
async def test_fresh_network_histories_replay(
    cloud: str, cloudops_worker: Any, request: pytest.FixtureRequest
) -> None:
    accounts = request.getfixturevalue(f"{cloud}_accounts")
    where = {"aws": WHERE, "gcp": GCP_WHERE, "azure": AZURE_WHERE}[cloud]
    app = f"rn{uuid.uuid4().hex[:8]}"
    h: dict[str, WorkflowHistory] = {}
    async with cloudops_worker(allow=[cloud], accounts=accounts) as ops:

        async def run(case: str, verb: str, data: dict[str, Any]) -> Any:
            return await _run(ops, h, case, f"{cloud}.{verb}", data, where)

        kind = "network" if cloud == "azure" else "application"
        balancer = load_balancer_input(app, type=kind, listeners=_LISTENERS[cloud])
        name = {"name": f"{app}-web"}
        assert (await run("network-lb-upsert-ok", "upsertLoadBalancer", balancer)).ok
        unchanged = await run("network-lb-upsert-unchanged", "upsertLoadBalancer", balancer)
        assert unchanged.ok and not unchanged.value["changed"], unchanged
        checked = {**balancer, "health_check": {"path": "/ready"}}
        assert (await run("network-lb-upsert-converge", "upsertLoadBalancer", checked)).ok
        assert (await run("network-lb-describe-ok", "describeLoadBalancer", name)).ok
        assert (await run("network-lb-list-ok", "listLoadBalancers", {"application": app})).ok
        assert (await run("network-lb-delete-ok", "deleteLoadBalancer", name)).ok
        missing = await run("network-lb-describe-not-found", "describeLoadBalancer", name)
        assert missing.error is not None and missing.error.code == "NOT_FOUND"

        group = security_group_input(app)
        assert (await run("network-sg-upsert-ok", "upsertSecurityGroup", group)).ok
        fewer = security_group_input(app, ingress=group["ingress"][:1])
        assert (await run("network-sg-upsert-converge", "upsertSecurityGroup", fewer)).ok
        unknown = security_group_input(
            app, ingress=[{"protocol": "tcp", "from_port": 80, "source_groups": [f"{app}-x"]}]
        )
        invalid = await run("network-sg-upsert-invalid", "upsertSecurityGroup", unknown)
        assert invalid.error is not None and invalid.error.code == "INVALID_INPUT"
        assert (await run("network-sg-describe-ok", "describeSecurityGroup", name)).ok
        assert (await run("network-sg-list-ok", "listSecurityGroups", {"application": app})).ok
        assert (await run("network-sg-delete-ok", "deleteSecurityGroup", name)).ok
    assert set(h) == NETWORK_CASES
    await _keep_and_replay(cloud, h)
