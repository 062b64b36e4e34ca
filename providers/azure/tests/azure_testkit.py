"""Helpers of the cloudops-azure tests (inputs, reading the emulator's state)."""

from __future__ import annotations

from typing import Any

from cloudops.client import CloudOpsClient
from cloudops_testing.azure_emulator import AzureEmulator
from cloudops_testing.checks import sample_create_input
from cloudops_testing.fixtures_azure import (
    AZURE_ACCOUNT,
    AZURE_IMAGE,
    AZURE_LOAD_BALANCER,
    AZURE_REGION,
    AZURE_RESOURCE_GROUP,
    AZURE_SUBSCRIPTION,
)

WHERE = {"account": AZURE_ACCOUNT, "region": AZURE_REGION}
FAST = {"poll_interval_seconds": 0.2, "wait_timeout_seconds": 60}
RG = AZURE_RESOURCE_GROUP


def pool_id(pool: str, balancer: str = AZURE_LOAD_BALANCER) -> str:
    """The id of a backend pool of the fixtures' load balancer."""
    return (
        f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{RG}/providers/"
        f"Microsoft.Network/loadBalancers/{balancer}/backendAddressPools/{pool}"
    )


def create_input(application: str, **overrides: Any) -> dict[str, Any]:
    """A small, fast createServerGroup input: 2 VMs in zones 1 and 2, in the ``web`` pool."""
    placement = {"zones": ["1", "2"], "load_balancers": [f"{AZURE_LOAD_BALANCER}/web"]}
    return sample_create_input(
        application, AZURE_IMAGE, "Standard_B1s", **{**placement, **overrides}
    )


async def create_group(ops: CloudOpsClient, app: str, **overrides: Any) -> str:
    """Create a server group of ``create_input(app, **overrides)``; its name."""
    made = await ops.execute("azure.createServerGroup", create_input(app, **overrides), **WHERE)
    assert made.ok, made.error
    return str(made.value["name"])


def scale_set(emulator: AzureEmulator, name: str) -> dict[str, Any] | None:
    """The scale set as the emulator holds it (userData included), or None."""
    return emulator.scale_set(RG, name)


def tagged(emulator: AzureEmulator, key: str, value: str) -> list[str]:
    """Names of the scale sets tagged ``key=value``: how tests prove nothing was made twice."""
    return sorted(s["name"] for s in emulator.scale_sets(RG) if s["tags"].get(key) == value)


def vm_states(emulator: AzureEmulator, name: str) -> list[tuple[str, str]]:
    """(provisioning state, power state) of every VM of a scale set."""
    states = []
    for vm in emulator.instances(RG, name):
        codes = [s["code"] for s in vm["properties"]["instanceView"]["statuses"]]
        power = next(c.split("/", 1)[1] for c in codes if c.startswith("PowerState/"))
        states.append((vm["properties"]["provisioningState"], power))
    return states


def in_pool(emulator: AzureEmulator, pool: str, name: str) -> set[str]:
    """VMs of scale set ``name`` in a backend pool of the fixtures' load balancer."""
    return {m for m in emulator.pool_members(pool_id(pool)) if m.startswith(f"{name}_")}
