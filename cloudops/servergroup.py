"""Deprecated location of :mod:`cloudops.servergroups.models`, kept for plugins that import it."""

from typing import Any

from cloudops.servergroups import models as _models


def __getattr__(name: str) -> Any:
    return getattr(_models, name)
