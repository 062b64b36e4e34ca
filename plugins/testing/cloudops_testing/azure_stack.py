"""The local Azure stack: the ARM emulator as the fixtures and local clouds start it.

Plain code (no pytest): the ``azure_*`` fixtures and the Azure provider's local cloud profile
both build on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudops_testing.azure_emulator import AzureEmulator

__all__ = [
    "AZURE_ACCOUNT",
    "AZURE_IMAGE",
    "AZURE_LOAD_BALANCER",
    "AZURE_POOLS",
    "AZURE_REGION",
    "AZURE_RESOURCE_GROUP",
    "AZURE_SSH_KEY",
    "AZURE_SUBNET",
    "AZURE_SUBSCRIPTION",
    "azure_account_config",
    "new_azure_emulator",
]

#: Name of the account the fixtures configure, its region (Azure location) and resources.
AZURE_ACCOUNT = "azure-emu"
AZURE_REGION = "eastus"
AZURE_SUBSCRIPTION = "00000000-0000-0000-0000-00000000c10d"
AZURE_RESOURCE_GROUP = "cloudops-rg"
AZURE_SUBNET = "cloudops-vnet/default"
#: The admin SSH key of the local account (Azure refuses a Linux scale set without one).
AZURE_SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEmulatorTestKeyForLocalTests cloudops@test"
AZURE_LOAD_BALANCER = "cloudops-lb"
AZURE_POOLS = ("web", "api")
#: A marketplace image the emulator knows.
AZURE_IMAGE = "Canonical:ubuntu-24_04-lts:server:latest"


def azure_account_config(
    endpoint: str,
    *,
    name: str = AZURE_ACCOUNT,
    regions: tuple[str, ...] = (AZURE_REGION,),
    **settings: Any,
) -> dict[str, Any]:
    """A ``cloudops.toml``-shaped dict with one Azure account whose ARM API is at ``endpoint``.

    The account uses the test-only ``emulator`` credential, the fixtures' subscription, resource
    group and default subnet; ``settings`` override or add Azure account keys.
    """
    account: dict[str, Any] = {
        "provider": "azure",
        "regions": list(regions),
        "endpoint": endpoint,
        "subscription_id": AZURE_SUBSCRIPTION,
        "resource_group": AZURE_RESOURCE_GROUP,
        "credential": "emulator",
        "default_subnet": AZURE_SUBNET,
        "ssh_public_key": AZURE_SSH_KEY,
        "polling_interval_seconds": 0.2,
        **settings,
    }
    return {"accounts": {name: account}}


def new_azure_emulator() -> AzureEmulator:
    """An ARM emulator with a resource group, a subnet and a load balancer (not started)."""
    from cloudops_testing.azure_emulator import AzureEmulator

    emulator = AzureEmulator(subscription=AZURE_SUBSCRIPTION)
    emulator.add_resource_group(AZURE_RESOURCE_GROUP, AZURE_REGION)
    vnet, subnet = AZURE_SUBNET.split("/")
    emulator.add_subnet(AZURE_RESOURCE_GROUP, vnet, subnet)
    emulator.add_load_balancer(AZURE_RESOURCE_GROUP, AZURE_LOAD_BALANCER, AZURE_POOLS)
    return emulator
