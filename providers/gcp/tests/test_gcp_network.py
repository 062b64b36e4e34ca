"""Load balancers and firewalls on GCP: every operation over HTTP to the emulator, on Temporal.

What the operations did is read back from the emulator's state; its mutation log shows that an
identical upsert changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gcp_testkit import WHERE, create_input
from temporalio.client import Client

from cloudops.client import CloudOpsClient
from cloudops_testing.checks import check_load_balancer_in_use, upsert_web_allowing_db
from cloudops_testing.gcp_emulator import GcpEmulator
from cloudops_testing.gcp_emulator.errors import ApiError
from cloudops_testing.gcp_emulator.network import network_resources
from cloudops_testing.network_inputs import load_balancer_input, security_group_input
from cloudops_testing.processes import WorkerProcess


def _resources(emulator: GcpEmulator, collection: str, prefix: str) -> dict[str, dict[str, Any]]:
    with emulator.state.lock:
        return {
            r["name"]: r
            for path, r in network_resources(emulator.state).items()
            if f"/{collection}/" in path and r["name"].startswith(prefix)
        }


def _rules(emulator: GcpEmulator, name: str) -> set[tuple[Any, ...]]:
    found = set()
    for rule in _resources(emulator, "firewalls", f"{name}-").values():
        for allowed in rule["allowed"]:
            for source in [*rule.get("sourceRanges", []), *rule.get("sourceTags", [])]:
                found.add((allowed["IPProtocol"], tuple(allowed.get("ports", [])), source))
    return found


async def test_firewalls_converge_and_refuse_delete_while_in_use(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, app: str
) -> None:
    wanted = await upsert_web_allowing_db(gcp_ops, "gcp", app, **WHERE)
    name = f"{app}-web"
    assert _rules(gcp_emulator, name) == {
        ("tcp", ("80",), "10.0.0.0/8"),
        ("tcp", ("7000-7100",), name),
        ("tcp", ("5432",), f"{app}-db"),
    }
    marker = _resources(gcp_emulator, "firewalls", name)[name]
    assert marker["targetTags"] == [name] and marker["denied"] == [{"IPProtocol": "all"}]

    before = len(gcp_emulator.mutations())
    again = await gcp_ops.execute("gcp.upsertSecurityGroup", wanted, **WHERE)
    assert again.ok and again.value["changed"] is False, again
    assert len(gcp_emulator.mutations()) == before

    changed = await gcp_ops.execute(
        "gcp.upsertSecurityGroup",
        security_group_input(
            app, ingress=[{"protocol": "tcp", "from_port": 443, "cidrs": ["0.0.0.0/0"]}]
        ),
        **WHERE,
    )
    assert changed.ok, changed.error
    assert _rules(gcp_emulator, name) == {("tcp", ("443",), "0.0.0.0/0")}
    described = await gcp_ops.execute("gcp.describeSecurityGroup", {"name": name}, **WHERE)
    assert described.ok, described.error
    assert [(p["from_port"], p["source"]) for p in described.value["ingress"]] == [
        (443, "0.0.0.0/0")
    ]
    listed = await gcp_ops.execute("gcp.listSecurityGroups", {"application": app}, **WHERE)
    assert [g["name"] for g in listed.value["security_groups"]] == [f"{app}-db", name]

    # A group whose rules another group names is in use.
    refused = await gcp_ops.execute("gcp.deleteSecurityGroup", {"name": f"{app}-db"}, **WHERE)
    assert refused.ok, refused.error  # the rule naming it was revoked by the converge above

    created = await gcp_ops.execute(
        "gcp.createServerGroup", create_input(app, security_groups=[name], wait=False), **WHERE
    )
    assert created.ok, created.error
    refused = await gcp_ops.execute("gcp.deleteSecurityGroup", {"name": name}, **WHERE)
    assert not refused.ok and refused.error.code == "CONFLICT", refused
    assert f"server group {created.value['name']}" in refused.error.message
    destroyed = await gcp_ops.execute(
        "gcp.destroyServerGroup",
        {"server_group": created.value["name"], "poll_interval_seconds": 0.2},
        **WHERE,
    )
    assert destroyed.ok, destroyed.error
    deleted = await gcp_ops.execute("gcp.deleteSecurityGroup", {"name": name}, **WHERE)
    assert deleted.ok and deleted.value["changed"], deleted
    assert _resources(gcp_emulator, "firewalls", name) == {}


async def test_firewall_invalid_input_names_the_field(gcp_ops: CloudOpsClient, app: str) -> None:
    for rule, field in (
        (
            {"protocol": "tcp", "from_port": 80, "source_groups": [f"{app}-nope"]},
            "ingress.0.source_groups.0",
        ),
        (
            {"protocol": "udp", "from_port": 90, "to_port": 80, "cidrs": ["10.0.0.0/8"]},
            "ingress.0.to_port",
        ),
        ({"protocol": "tcp", "from_port": 80, "cidrs": ["300.0.0.0/8"]}, "ingress.0.cidrs"),
    ):
        result = await gcp_ops.execute(
            "gcp.upsertSecurityGroup", security_group_input(app, ingress=[rule]), **WHERE
        )
        assert not result.ok and result.error.code == "INVALID_INPUT", result
        assert any(e["field"].endswith(field) for e in result.error.details["errors"]), result.error
    upper = await gcp_ops.execute(
        "gcp.upsertSecurityGroup", security_group_input(app, stack="Web"), **WHERE
    )
    assert not upper.ok and upper.error.details["errors"][0]["field"] == "stack"


async def test_http_load_balancer_converges_serves_groups_and_deletes(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, app: str
) -> None:
    name = f"{app}-web"
    result = await gcp_ops.execute("gcp.upsertLoadBalancer", load_balancer_input(app), **WHERE)
    assert result.ok, result.error
    check = _resources(gcp_emulator, "healthChecks", name)[name]
    assert check["httpHealthCheck"] == {"port": 8080, "requestPath": "/health"}
    service = gcp_emulator.backend_service(name)
    assert service is not None and service["portName"] == "http"
    assert service["healthChecks"][0].endswith(f"/global/healthChecks/{name}")
    assert _resources(gcp_emulator, "urlMaps", name)[name]["defaultService"].endswith(name)
    assert _resources(gcp_emulator, "targetHttpProxies", name)[name]["urlMap"].endswith(name)
    rules = _resources(gcp_emulator, "forwardingRules", name)
    assert list(rules) == [f"{name}-80"] and rules[f"{name}-80"]["portRange"] == "80-80"

    before = len(gcp_emulator.mutations())
    again = await gcp_ops.execute("gcp.upsertLoadBalancer", load_balancer_input(app), **WHERE)
    assert again.ok and again.value["changed"] is False, again
    assert len(gcp_emulator.mutations()) == before

    changed = await gcp_ops.execute(
        "gcp.upsertLoadBalancer",
        load_balancer_input(
            app,
            listeners=[{"port": 80, "target_port": 8080}, {"port": 8000, "target_port": 8080}],
            health_check={"path": "/ready"},
        ),
        **WHERE,
    )
    assert changed.ok, changed.error
    assert sorted(_resources(gcp_emulator, "forwardingRules", name)) == [
        f"{name}-80",
        f"{name}-8000",
    ]
    assert (
        _resources(gcp_emulator, "healthChecks", name)[name]["httpHealthCheck"]["requestPath"]
        == "/ready"
    )
    back = await gcp_ops.execute("gcp.upsertLoadBalancer", load_balancer_input(app), **WHERE)
    assert back.ok, back.error
    assert sorted(_resources(gcp_emulator, "forwardingRules", name)) == [f"{name}-80"]

    in_use = create_input(app, load_balancers=[name], wait=False)
    await check_load_balancer_in_use(gcp_ops, "gcp", name, in_use, **WHERE)
    assert gcp_emulator.backend_service(name) is None
    for collection in ("healthChecks", "urlMaps", "targetHttpProxies", "forwardingRules"):
        assert _resources(gcp_emulator, collection, name) == {}, collection


async def test_network_load_balancer_and_rollback(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, app: str
) -> None:
    name = f"{app}-tcp"
    spec = load_balancer_input(
        app, stack="tcp", type="network", listeners=[{"protocol": "TCP", "port": 443}]
    )
    spec.pop("health_check")
    # The forwarding rule fails: the target pool made before it is deleted again.
    gcp_emulator.fail_next(
        "forwardingRules.insert",
        ApiError(403, "quotaExceeded", "FORWARDING_RULES quota", "QUOTA_EXCEEDED"),
    )
    failed = await gcp_ops.execute("gcp.upsertLoadBalancer", spec, **WHERE)
    assert not failed.ok and failed.error.code == "QUOTA_EXCEEDED", failed
    assert [r.step for r in failed.error.rollbacks][-1] == f"delete target_pool/{name}"
    assert gcp_emulator.target_pool(WHERE["region"], name) is None

    result = await gcp_ops.execute("gcp.upsertLoadBalancer", spec, **WHERE)
    assert result.ok, result.error
    rules = _resources(gcp_emulator, "forwardingRules", name)
    assert rules[f"{name}-443"]["target"].endswith(f"/targetPools/{name}")
    created = await gcp_ops.execute(
        "gcp.createServerGroup",
        create_input(app, stack="tcp", target_pools=[name], wait=False),
        **WHERE,
    )
    assert created.ok, created.error
    described = await gcp_ops.execute("gcp.describeLoadBalancer", {"name": name}, **WHERE)
    assert described.value["type"] == "network"
    assert described.value["server_groups"] == [created.value["name"]]
    forced = await gcp_ops.execute("gcp.deleteLoadBalancer", {"name": name, "force": True}, **WHERE)
    assert forced.ok, forced.error
    assert _resources(gcp_emulator, "forwardingRules", name) == {}
    await gcp_ops.execute(
        "gcp.destroyServerGroup", {"server_group": created.value["name"], "wait": False}, **WHERE
    )


async def test_killed_worker_and_repeated_request_make_no_duplicates(
    worker_process: Callable[..., WorkerProcess],
    temporal_client: Client,
    gcp_emulator: GcpEmulator,
    gcp_accounts: dict[str, Any],
    app: str,
) -> None:
    name, kind = f"{app}-web", "urlMaps.insert"
    queue = f"gcp-lb-crash-{app}"

    def sent() -> list[Any]:
        return [m for m in gcp_emulator.mutations(kind) if m.target.endswith(f"/{name}")]

    gcp_emulator.hold(kind)  # the URL map's insert stays RUNNING: kill the worker meanwhile
    try:
        first = await asyncio.to_thread(
            worker_process, queue, accounts=gcp_accounts, plugins=["gcp"]
        )
        ops = CloudOpsClient(temporal_client, task_queue=queue)
        request = {"request_id": f"{app}-lb", **WHERE}
        handle = await ops.submit("gcp.upsertLoadBalancer", load_balancer_input(app), **request)
        for _ in range(300):
            if sent():
                break
            await asyncio.sleep(0.05)
        await asyncio.to_thread(first.kill)
        await asyncio.to_thread(worker_process, queue, accounts=gcp_accounts, plugins=["gcp"])
        for _ in range(600):  # the new worker resends the insert with the same requestId
            if len(sent()) > 1:
                break
            await asyncio.sleep(0.05)
    finally:
        gcp_emulator.release(kind)
    result = await asyncio.wait_for(handle.result(), timeout=90)
    assert result.ok, result.error
    again = await ops.submit("gcp.upsertLoadBalancer", load_balancer_input(app), **request)
    assert (await again.result()).value == result.value  # the same workflow, not a second run
    assert [m.deduplicated for m in sent()] == [False, True]  # resent, answered by requestId
    for collection in ("healthChecks", "backendServices", "urlMaps", "targetHttpProxies"):
        assert gcp_emulator.applied(f"{collection}.insert", name) == 1, collection
    assert gcp_emulator.applied("forwardingRules.insert", f"{name}-80") == 1
