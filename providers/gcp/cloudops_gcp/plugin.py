"""The module the ``cloudops`` entry point names: a list of what cloudops-gcp adds.

Keep it light: ``cloudops --help`` imports it. Nothing here (or in the modules it imports)
imports google-cloud-compute at module level (it takes seconds); the activities import it when
they first run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import cloudops
from cloudops_gcp.activities import ACTIVITIES
from cloudops_gcp.errors import classify
from cloudops_gcp.models import GcpAccountSettings
from cloudops_gcp.operations import OPERATIONS


def warm_up() -> None:
    """Import the SDK modules the activities use (a worker runs this in a background thread)."""
    for module in ("google.cloud.compute_v1", "google.auth", "google.api_core.exceptions"):
        importlib.import_module(module)


#: The GCP provider: accounts of ``provider = "gcp"`` in cloudops.toml are validated by
#: :class:`GcpAccountSettings`; google-api-core errors are classified by :func:`classify`.
GCP = cloudops.Provider(
    name="gcp",
    accounts=GcpAccountSettings,
    description="Google Cloud: managed instance groups, instance templates, load balancing "
    "(google-cloud-compute)",
    classify=classify,
    warm_up=warm_up,
)


@cloudops.hookimpl
def register_operations(register: Callable[[type[Any]], None]) -> None:
    """Add the server-group operations (``gcp.createServerGroup`` ...)."""
    for operation in OPERATIONS:
        register(operation)


@cloudops.hookimpl
def register_activities(register: Callable[[Any], None]) -> None:
    """Add the activities the operations call by name (``gcp.insert_instance_template`` ...)."""
    for activity in ACTIVITIES:
        register(activity)


@cloudops.hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    """Add the ``gcp`` provider and its account settings."""
    register(GCP)


@cloudops.hookimpl
def register_local_clouds(register: Callable[[Any], None]) -> None:
    """Add the local cloud (emulator behind a fault proxy) for dev, the demo, chaos and tests."""
    from cloudops_gcp.local import LOCAL_GCP

    register(LOCAL_GCP)
