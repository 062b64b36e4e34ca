"""Hook implementations: the deploy strategies, composed from providers' operations."""

from collections.abc import Callable
from typing import Any

import cloudops
from cloudops_deploy.activities import ACTIVITIES
from cloudops_deploy.operations import (
    Custom,
    Highlander,
    Monitored,
    NoStrategy,
    RedBlack,
    Rollback,
    RollingRedBlack,
)


@cloudops.hookimpl
def register_operations(register: Callable[[type[Any]], None]) -> None:
    """Add the deploy strategies (redBlack, rollingRedBlack, monitored, highlander...)."""
    for operation in (
        RedBlack,
        RollingRedBlack,
        Monitored,
        Highlander,
        NoStrategy,
        Custom,
        Rollback,
    ):
        register(operation)


@cloudops.hookimpl
def register_activities(register: Callable[[Any], None]) -> None:
    """Add ``deploy.traffic_guards`` and ``deploy.http_monitor``."""
    for fn in ACTIVITIES:
        register(fn)
