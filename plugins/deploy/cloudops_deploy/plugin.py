"""Hook implementations: the deploy strategies, composed from providers' operations."""

from collections.abc import Callable
from typing import Any

import cloudops
from cloudops_deploy.operations import RedBlack, Rollback, RollingRedBlack


@cloudops.hookimpl
def register_operations(register: Callable[[type[Any]], None]) -> None:
    """Add ``deploy.redBlack``, ``deploy.rollingRedBlack`` and ``deploy.rollback``."""
    for operation in (RedBlack, RollingRedBlack, Rollback):
        register(operation)
