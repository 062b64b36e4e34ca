"""The module the ``cloudops`` entry point names: a list of what cloudops-azure adds.

Keep it light: ``cloudops --help`` imports it. Nothing here (or in the modules it imports)
imports the Azure SDK at module level; the activities import it when they first run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import cloudops
from cloudops_azure.activities import ACTIVITIES
from cloudops_azure.errors import classify
from cloudops_azure.models import AzureAccountSettings
from cloudops_azure.operations import OPERATIONS


def warm_up() -> None:
    """Import the SDK modules the activities use (a worker runs this in a background thread)."""
    for module in ("azure.mgmt.compute", "azure.identity", "azure.core.exceptions"):
        importlib.import_module(module)


#: The Azure provider: accounts of ``provider = "azure"`` in cloudops.toml are validated by
#: :class:`AzureAccountSettings`; azure-core errors are classified by :func:`classify`.
AZURE = cloudops.Provider(
    name="azure",
    accounts=AzureAccountSettings,
    description="Microsoft Azure: VM scale sets and load balancer backend pools "
    "(azure-mgmt-compute)",
    classify=classify,
    warm_up=warm_up,
)


@cloudops.hookimpl
def register_operations(register: Callable[[type[Any]], None]) -> None:
    """Add the server-group operations (``azure.createServerGroup`` ...)."""
    for operation in OPERATIONS:
        register(operation)


@cloudops.hookimpl
def register_activities(register: Callable[[Any], None]) -> None:
    """Add the activities the operations call by name (``azure.begin_create_scale_set`` ...)."""
    for activity in ACTIVITIES:
        register(activity)


@cloudops.hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    """Add the ``azure`` provider and its account settings."""
    register(AZURE)


@cloudops.hookimpl
def register_local_clouds(register: Callable[[Any], None]) -> None:
    """Add the local cloud (emulator behind a fault proxy) for dev, the demo, chaos and tests."""
    from cloudops_azure.local import LOCAL_AZURE

    register(LOCAL_AZURE)
