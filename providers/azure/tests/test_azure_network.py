"""Load balancers and network security groups on Azure: each operation over HTTP to the ARM
emulator (azure-mgmt-network), on Temporal, read back from the emulator's state."""

from __future__ import annotations

import json
from typing import Any

from azure_testkit import RG, WHERE, create_input

import cloudops_azure.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing.azure_emulator import AzureEmulator
from cloudops_testing.azure_emulator.network import network_bodies
from cloudops_testing.checks import check_load_balancer_in_use, upsert_web_allowing_db
from cloudops_testing.faults import FaultProxy, FaultRules, ProxyRequest, ProxyResponse
from cloudops_testing.fixtures_azure import azure_account_config
from cloudops_testing.network_inputs import load_balancer_input, security_group_input


def _body(emulator: AzureEmulator, kind: str, name: str) -> dict[str, Any] | None:
    with emulator.state.lock:
        for key, body in network_bodies(emulator.state).items():
            if f"/resourcegroups/{RG.lower()}/" in key and key.endswith(
                f"/{kind.lower()}/{name.lower()}"
            ):
                return body
    return None


def _writes(emulator: AzureEmulator) -> int:
    with emulator.state.lock:
        return sum(n for (method, _), n in emulator.state.requests.items() if method != "GET")


async def test_load_balancer_converges_serves_scale_sets_and_deletes(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    name = f"{app}-web"
    spec = load_balancer_input(
        app, type="network", listeners=[{"protocol": "TCP", "port": 80, "target_port": 8080}]
    )
    result = await azure_ops.execute("azure.upsertLoadBalancer", spec, **WHERE)
    assert result.ok, result.error
    balancer = _body(azure_emulator, "loadBalancers", name)
    assert balancer is not None
    props = balancer["properties"]
    assert props["frontendIPConfigurations"][0]["properties"]["publicIPAddress"]["id"].endswith(
        f"/{name}-ip"
    )
    assert [p["name"] for p in props["backendAddressPools"]] == [name]
    assert props["probes"][0]["properties"]["requestPath"] == "/health"
    assert [
        (r["properties"]["frontendPort"], r["properties"]["backendPort"])
        for r in props["loadBalancingRules"]
    ] == [(80, 8080)]
    assert _body(azure_emulator, "publicIPAddresses", f"{name}-ip") is not None

    writes = _writes(azure_emulator)
    again = await azure_ops.execute("azure.upsertLoadBalancer", spec, **WHERE)
    assert again.ok and again.value["changed"] is False, again
    assert _writes(azure_emulator) == writes

    spec["listeners"].append({"protocol": "UDP", "port": 53})
    changed = await azure_ops.execute("azure.upsertLoadBalancer", spec, **WHERE)
    assert changed.ok and changed.value["changed"], changed
    rules = _body(azure_emulator, "loadBalancers", name)["properties"]["loadBalancingRules"]  # type: ignore[index]
    assert sorted(
        (r["properties"]["protocol"], r["properties"]["frontendPort"]) for r in rules
    ) == [("Tcp", 80), ("Udp", 53)]

    in_use = create_input(app, load_balancers=[name], wait=False)
    await check_load_balancer_in_use(azure_ops, "azure", name, in_use, **WHERE)
    assert _body(azure_emulator, "loadBalancers", name) is None
    assert _body(azure_emulator, "publicIPAddresses", f"{name}-ip") is None


async def test_failed_upsert_rolls_back_and_internal_frontends(
    cloudops_worker: Any, azure_emulator: AzureEmulator, app: str
) -> None:
    name = f"{app}-web"

    def refuse_load_balancer(request: ProxyRequest) -> ProxyResponse | None:
        if request.method == "PUT" and f"/loadBalancers/{name}" in request.path:
            body = {"error": {"code": "InvalidResourceReference", "message": "refused by the test"}}
            return ProxyResponse(
                400, {"Content-Type": "application/json"}, json.dumps(body).encode()
            )
        return None

    proxy = FaultProxy(
        azure_emulator.url, FaultRules(flavor="azure"), fidelity=[refuse_load_balancer]
    )
    proxy.start()
    try:
        async with cloudops_worker(
            plugins=[cloudops_azure.plugin],
            load_entrypoints=False,
            accounts=azure_account_config(proxy.url),
        ) as ops:
            failed = await ops.execute(
                "azure.upsertLoadBalancer", load_balancer_input(app), **WHERE
            )
            assert not failed.ok and failed.error.code == "NOT_FOUND", failed
            assert [(r.step, r.ok) for r in failed.error.rollbacks] == [
                (f"delete load_balancer/{name}", True),
                (f"delete public_ip/{name}-ip", True),
            ]
    finally:
        proxy.stop()
    assert _body(azure_emulator, "publicIPAddresses", f"{name}-ip") is None
    assert _body(azure_emulator, "loadBalancers", name) is None


async def test_internal_load_balancer_and_azure_limits(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    name = f"{app}-web"
    internal = load_balancer_input(app, internal=True, listeners=[{"port": 80}])
    ok = await azure_ops.execute("azure.upsertLoadBalancer", internal, **WHERE)
    assert ok.ok, ok.error
    balancer = _body(azure_emulator, "loadBalancers", name)
    assert balancer is not None
    front = balancer["properties"]["frontendIPConfigurations"][0]
    assert front["properties"]["subnet"]["id"].endswith("/subnets/default")
    assert _body(azure_emulator, "publicIPAddresses", f"{name}-ip") is None
    assert (await azure_ops.execute("azure.deleteLoadBalancer", {"name": name}, **WHERE)).ok
    for spec, field in (
        (
            load_balancer_input(
                app, listeners=[{"protocol": "HTTPS", "port": 443, "certificate": "c"}]
            ),
            "listeners.0.protocol",
        ),
        (
            load_balancer_input(
                app, type="network", listeners=[{"protocol": "TCP", "port": 65535}]
            ),
            "listeners.0.port",
        ),
    ):
        refused = await azure_ops.execute("azure.upsertLoadBalancer", spec, **WHERE)
        assert not refused.ok and refused.error.details["errors"][0]["field"] == field, refused


async def test_security_group_converges_and_refuses_delete_while_used(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    name = f"{app}-web"
    wanted = await upsert_web_allowing_db(azure_ops, "azure", app, **WHERE)
    nsg = _body(azure_emulator, "networkSecurityGroups", name)
    assert nsg is not None
    rules = {
        (
            r["properties"]["destinationPortRange"],
            tuple(r["properties"].get("sourceAddressPrefixes") or []),
            tuple(
                g["id"].rsplit("/", 1)[-1]
                for g in r["properties"].get("sourceApplicationSecurityGroups") or []
            ),
        )
        for r in nsg["properties"]["securityRules"]
    }
    assert rules == {
        ("80", ("10.0.0.0/8",), ()),
        ("7000-7100", (), (name,)),
        ("5432", (), (f"{app}-db",)),
    }
    assert _body(azure_emulator, "applicationSecurityGroups", name) is not None

    writes = _writes(azure_emulator)
    again = await azure_ops.execute("azure.upsertSecurityGroup", wanted, **WHERE)
    assert again.ok and again.value["changed"] is False, again
    assert _writes(azure_emulator) == writes

    # The db group is named by the web group's rules: in use.
    refused = await azure_ops.execute("azure.deleteSecurityGroup", {"name": f"{app}-db"}, **WHERE)
    assert not refused.ok and refused.error.code == "CONFLICT", refused
    changed = await azure_ops.execute(
        "azure.upsertSecurityGroup",
        security_group_input(app, ingress=[{"protocol": "all", "cidrs": ["10.1.0.0/16"]}]),
        **WHERE,
    )
    assert changed.ok, changed.error
    described = await azure_ops.execute("azure.describeSecurityGroup", {"name": name}, **WHERE)
    assert [(p["protocol"], p["source"]) for p in described.value["ingress"]] == [
        ("all", "10.1.0.0/16")
    ]
    assert (await azure_ops.execute("azure.deleteSecurityGroup", {"name": f"{app}-db"}, **WHERE)).ok

    created = await azure_ops.execute(
        "azure.createServerGroup", create_input(app, security_groups=[name], wait=False), **WHERE
    )
    assert created.ok, created.error
    profile = azure_emulator.scale_set(RG, created.value["name"])["properties"][
        "virtualMachineProfile"
    ]  # type: ignore[index]
    ip = profile["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]
    asgs = ip["ipConfigurations"][0]["properties"]["applicationSecurityGroups"]
    assert [a["id"].rsplit("/", 1)[-1] for a in asgs] == [name]  # rules naming the group match
    refused = await azure_ops.execute("azure.deleteSecurityGroup", {"name": name}, **WHERE)
    assert not refused.ok and refused.error.code == "CONFLICT", refused
    destroyed = await azure_ops.execute(
        "azure.destroyServerGroup",
        {"server_group": created.value["name"], "poll_interval_seconds": 0.2},
        **WHERE,
    )
    assert destroyed.ok, destroyed.error
    deleted = await azure_ops.execute("azure.deleteSecurityGroup", {"name": name}, **WHERE)
    assert deleted.ok, deleted.error
    assert _body(azure_emulator, "networkSecurityGroups", name) is None
    assert _body(azure_emulator, "applicationSecurityGroups", name) is None

    invalid = await azure_ops.execute(
        "azure.upsertSecurityGroup",
        security_group_input(
            app, ingress=[{"protocol": "tcp", "from_port": 80, "source_groups": ["nope"]}]
        ),
        **WHERE,
    )
    assert (
        not invalid.ok
        and invalid.error.details["errors"][0]["field"] == "ingress.0.source_groups.0"
    )
