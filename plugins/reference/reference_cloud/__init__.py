"""The reference cloud and its SDK: server groups as JSON documents in a SQLite file.

It is what a real provider gets from its cloud (boto3 for AWS), so it knows nothing of cloudops
and ``cloudops_reference`` imports it as a provider imports its SDK. Living in a file, not in
worker memory, it outlives a SIGKILLed worker and other processes can read it. Every read of a
group is one step of its control loop: instances launch (``starting``) up to ``desired`` or the
newest go, one ``boot_polls`` steps old runs, and running ones are in the load balancer unless
disabled.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PREFIX = "sqlite:///"
Group = dict[str, Any]


class CloudError(Exception):
    """An error answer: ``NotFound``, ``AlreadyExists``, ``InvalidEndpoint`` or ``Busy``.

    ``Busy``: another caller holds the file (a real cloud's throttling); a retry may pass.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def database_path(endpoint: str | None) -> Path:
    """The file an endpoint names: ``sqlite:///cloud.db`` (relative), ``sqlite:////tmp/c.db``."""
    if not endpoint or not endpoint.startswith(PREFIX) or endpoint == PREFIX:
        raise CloudError("InvalidEndpoint", f"endpoint must be {PREFIX}PATH, not {endpoint!r}")
    return Path(endpoint.removeprefix(PREFIX))


def now() -> str:
    """The cloud's clock, ISO 8601 in UTC."""
    return datetime.now(UTC).isoformat()


class Cloud:
    """One region of the cloud inside one transaction: the calls of its API."""

    def __init__(self, db: sqlite3.Connection, region: str, boot_polls: int) -> None:
        self.db, self.region, self.boot_polls = db, region, boot_polls

    @classmethod
    @contextmanager
    def open(cls, path: Path, region: str, boot_polls: int = 1) -> Iterator[Cloud]:
        """The cloud in ``path`` (created if need be), committed when the block succeeds."""
        db = sqlite3.connect(path, timeout=5, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS groups (region, name, doc, UNIQUE (region, name))"
            )
            db.execute("BEGIN IMMEDIATE")
            yield cls(db, region, boot_polls)
            db.execute("COMMIT")
        except sqlite3.OperationalError as err:
            if "locked" not in str(err):
                raise
            raise CloudError("Busy", f"the cloud file {path} is busy: {err}") from err
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")
            db.close()

    def peek(self, name: str) -> Group | None:
        """The group as it is (no control-loop step), or None."""
        query = "SELECT doc FROM groups WHERE region = ? AND name = ?"
        found = self.db.execute(query, (self.region, name)).fetchone()
        return json.loads(found[0]) if found else None

    def names(self) -> list[str]:
        """The name of every group of the region."""
        query = "SELECT name FROM groups WHERE region = ?"
        return [name for (name,) in self.db.execute(query, (self.region,))]

    def _require(self, name: str) -> Group:
        group = self.peek(name)
        if group is None:
            raise CloudError("NotFound", f"server group {name} does not exist in {self.region}")
        return group

    def _step(self, group: Group) -> Group:
        """One step of the control loop, saved."""
        alive, desired = group["instances"], group["capacity"]["desired"]
        zones = group["template"]["zones"] or [f"{self.region}a"]
        for i in range(len(alive), desired):
            alive.append({"id": f"i-{uuid.uuid4().hex[:12]}", "zone": zones[i % len(zones)],
                          "state": "starting", "age": -1, "launched_at": now()})  # fmt: skip
        del alive[desired:]  # the newest go first
        for instance in alive:
            instance["age"] += 1
            if instance["age"] >= self.boot_polls:
                instance["state"] = "running"
            instance["registered"] = instance["state"] == "running" and not group["disabled"]
        row = (self.region, group["name"], json.dumps(group))
        self.db.execute("INSERT OR REPLACE INTO groups VALUES (?, ?, ?)", row)
        return group

    def get(self, name: str) -> Group:
        """The group after one step of the control loop (``NotFound`` if there is none)."""
        return self._step(self._require(name))

    def create(self, name: str, template: Group, tags: dict[str, str], capacity: Group) -> Group:
        """Create a group (``AlreadyExists`` if the name is taken) and launch its instances."""
        if self.peek(name) is not None:
            raise CloudError("AlreadyExists", f"server group {name} already exists")
        return self._step({"name": name, "template": template, "tags": tags, "capacity": capacity,
                           "disabled": False, "created_at": now(), "instances": []})  # fmt: skip

    def update(self, name: str, capacity: Group | None, disabled: bool | None) -> Group:
        """Set the capacity; disable (deregister every instance) or enable the group."""
        group = self._require(name)
        if capacity is not None:
            group["capacity"] = capacity
        if disabled is not None:
            group["disabled"] = disabled
        return self._step(group)

    def delete(self, name: str) -> Group:
        """Delete a group with its instances (``NotFound`` if there is none)."""
        group = self._require(name)
        self.db.execute("DELETE FROM groups WHERE region = ? AND name = ?", (self.region, name))
        return group

    def terminate(self, name: str, ids: list[str], decrement: bool) -> list[str]:
        """Terminate the group's instances among ``ids``; return the ones it had."""
        group = self._require(name)
        gone = [i["id"] for i in group["instances"] if i["id"] in ids]
        group["instances"] = [i for i in group["instances"] if i["id"] not in ids]
        if decrement:
            capacity = group["capacity"]
            capacity["desired"] -= len(gone)
            capacity["min"] = min(capacity["min"], capacity["desired"])
        self._step(group)
        return gone
