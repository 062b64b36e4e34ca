"""The plugin module named by the ``cloudops`` entry point: a list of what the plugin adds.

Keep this module light: it is imported by ``cloudops --help``. Import heavy SDKs inside activities.
"""

from collections.abc import Callable
from typing import Any

import cloudops
from cloudops_example.activities import echo
from cloudops_example.operations import Echo


@cloudops.hookimpl
def register_operations(register: Callable[[type[Any]], None]) -> None:
    """Add ``example.echo``."""
    register(Echo)


@cloudops.hookimpl
def register_activities(register: Callable[[Any], None]) -> None:
    """Add the activity ``example.echo`` calls."""
    register(echo)
