"""Ending a process that used Temporal: the workaround for sdk-python#300, in one place.

temporalio's native runtime can abort the interpreter (SIGABRT) at exit after a Worker, or even
a client, ran in the process, turning a success into exit status -6. A program that has shut
down cleanly and reported everything ends with :func:`hard_exit` instead of returning: output
is flushed, then ``os._exit`` skips the interpreter's finalisation.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

__all__ = ["hard_exit", "used_temporal"]


def used_temporal() -> bool:
    """Whether temporalio's client (and so its native runtime) was loaded in this process."""
    return "temporalio.client" in sys.modules


def hard_exit(status: int) -> NoReturn:
    """Flush stdout and stderr, then end the process with ``status`` (``os._exit``).

    Only after a clean shutdown: nothing else runs (no ``atexit`` handler, no ``finally``).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
