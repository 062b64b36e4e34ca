"""The reference cloud as a local cloud: its account config, and reads of the file for tests.

The reads take no control-loop step, so a test (or the conformance suite) sees the cloud as it
is, from any process, while workers act on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudops.servergroups.models import ServerGroupDescription
from cloudops_reference import translate
from cloudops_reference.cloud import Cloud

REGION = "local-1"


def account_config(path: Path, name: str = "reference", **settings: Any) -> dict[str, Any]:
    """A ``cloudops.toml``-shaped dict with one account whose cloud is the file ``path``."""
    account = {"provider": "reference", "endpoint": f"sqlite:///{path}", "regions": [REGION]}
    return {"accounts": {name: {**account, **settings}}}


def read_groups(path: Path, region: str = REGION) -> list[ServerGroupDescription]:
    """Every group of ``region`` as stored, described as ``describeServerGroup`` would."""
    with Cloud.open(path, region) as cloud:
        groups = [cloud.peek(name) for name, _ in cloud.names()]
    return [translate.description(group, region) for group in groups if group]


def read_group(path: Path, name: str, region: str = REGION) -> ServerGroupDescription | None:
    """One group as stored, or None."""
    return next((g for g in read_groups(path, region) if g.name == name), None)
