"""A provider plugin's hook implementations and :class:`~cloudops.Provider`, made from what it adds.

Why: every provider's ``plugin.py`` was the same three hooks registering its operations, its
activities and its provider, and the same list of the kit's read activities. A provider writes::

    AWS = cloud_provider("aws", sdk=("boto3",), shared_reads=("wait_for_capacity",), ...)
    register_operations, register_activities, register_providers = provider_hooks(
        AWS, OPERATIONS, ACTIVITIES
    )

pluggy finds hook implementations by attribute name, so the three module attributes are the
plugin's hooks exactly as if each had been written out.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from cloudops.hookspecs import hookimpl
from cloudops.network.contract import network_read_activities
from cloudops.operation import CloudOperation
from cloudops.registry import Provider

__all__ = ["KIT_READS", "cloud_provider", "import_later", "provider_hooks"]

Hook = Callable[[Callable[[Any], None]], None]

#: The read activities every cloud registers for the kit's default describe, list, clone and
#: name choice (:class:`~cloudops.servergroups.kit.ServerGroupCloud`).
KIT_READS = (
    "next_server_group_name",
    "describe_server_group",
    "list_server_groups",
    "read_server_group_template",
)


def cloud_provider(
    name: str,
    *,
    sdk: Iterable[str],
    shared_reads: Iterable[str],
    reads: Iterable[str] = (),
    **fields: Any,
) -> Provider:
    """A server-group cloud with the kit's and the network kit's read activities.

    ``sdk``: the modules its activities import (the provider's ``warm_up``); ``shared_reads``:
    its waits whose reads concurrent attempts share; ``reads``: its other read activities.
    """
    shared = frozenset(f"{name}.{activity}" for activity in shared_reads)
    own = frozenset(f"{name}.{activity}" for activity in (*KIT_READS, *reads))
    return Provider(
        name=name,
        warm_up=import_later(*sdk),
        read_activities=own | shared | network_read_activities(name),
        shared_read_activities=shared,
        **fields,
    )


def provider_hooks(provider: Any, *adds: Iterable[Any]) -> tuple[Hook, Hook, Hook]:
    """``register_operations``, ``register_activities`` and ``register_providers`` hooks.

    ``adds``: groups of what the plugin adds; the operation classes among them are registered
    as operations, everything else as activities.
    """
    added = [item for group in adds for item in group]
    operations = tuple(o for o in added if isinstance(o, type) and issubclass(o, CloudOperation))
    activities = tuple(a for a in added if a not in operations)

    @hookimpl
    def register_operations(register: Callable[[Any], None]) -> None:
        """Add the provider's server-group operations (``aws.createServerGroup`` ...)."""
        for operation in operations:
            register(operation)

    @hookimpl
    def register_activities(register: Callable[[Any], None]) -> None:
        """Add the activities the operations call by name (``aws.describe_server_group`` ...)."""
        for activity in activities:
            register(activity)

    @hookimpl
    def register_providers(register: Callable[[Any], None]) -> None:
        """Add the provider and its account settings."""
        register(provider)

    return register_operations, register_activities, register_providers


def import_later(*modules: str) -> Callable[[], None]:
    """A ``Provider.warm_up``: import the SDK modules the activities use, when it is called.

    A worker calls it in a background thread once it polls, so ``cloudops --help`` and the
    plugin's own import stay fast while the first activity does not pay for the SDK import.
    """

    def warm_up() -> None:
        for module in modules:
            importlib.import_module(module)

    return warm_up
