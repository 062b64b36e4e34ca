"""A provider plugin's hook implementations, made from what it adds.

Why: every provider's ``plugin.py`` was the same three hooks registering its operations, its
activities and its :class:`~cloudops.Provider`. A provider now writes::

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

__all__ = ["import_later", "provider_hooks"]

Hook = Callable[[Callable[[Any], None]], None]


def provider_hooks(
    provider: Any, operations: Iterable[type[Any]], activities: Iterable[Callable[..., Any]]
) -> tuple[Hook, Hook, Hook]:
    """``register_operations``, ``register_activities`` and ``register_providers`` hooks."""
    operations, activities = tuple(operations), tuple(activities)

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
