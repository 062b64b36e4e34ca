"""Hook implementations: the deploy strategies, composed from providers' operations."""

from collections.abc import Callable
from typing import Any

import cloudops
from cloudops_deploy.activities import ACTIVITIES, HTTP_MONITOR
from cloudops_deploy.multi import MultiTarget
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
        MultiTarget,
    ):
        register(operation)


@cloudops.hookimpl
def register_activities(register: Callable[[Any], None]) -> None:
    """Add ``deploy.traffic_guards``, ``deploy.consult_monitor`` and ``deploy.http_monitor``."""
    for fn in ACTIVITIES:
        register(fn)


@cloudops.hookimpl
def register_deployment_monitors(register: Callable[[Any], None]) -> None:
    """Add the built-in HTTP monitor (``monitor.name: http``, the default)."""
    register(HTTP_MONITOR)
