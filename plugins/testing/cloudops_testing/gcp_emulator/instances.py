"""VM instances of the emulator and the paging and filtering rules every list shares."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from cloudops_testing.gcp_emulator.errors import invalid
from cloudops_testing.gcp_emulator.links import link, timestamp

__all__ = ["Instance", "apply_filter", "page"]

MAX_RESULTS = 500


@dataclass
class Instance:
    """One VM. ``group`` is the path of the managed instance group that owns it, if any.

    ``action`` is the group's ``currentAction`` for it (CREATING, NONE, DELETING, RECREATING);
    ``status`` the VM's own (PROVISIONING, STAGING, RUNNING, STOPPING).
    """

    project: str
    zone: str
    name: str
    id: str
    template: dict[str, Any]
    template_path: str
    group: str | None
    action: str = "CREATING"
    status: str = "PROVISIONING"
    since: float = field(default_factory=time.monotonic)
    created: str = field(default_factory=timestamp)
    address: str = "10.128.0.2"
    #: Why the last creation attempt failed (code, message): the VM does not exist yet.
    last_error: tuple[str, str] | None = None
    fresh: bool = True
    #: How many ``instances.reset`` were applied to it.
    resets: int = 0

    @property
    def path(self) -> str:
        """``projects/p/zones/z/instances/NAME``."""
        return f"projects/{self.project}/zones/{self.zone}/instances/{self.name}"

    def advance(self, boot_seconds: float) -> bool:
        """Move the VM along its lifecycle; False once it is gone (deleted)."""
        age = time.monotonic() - self.since
        stop_seconds = boot_seconds / 2
        if self.action == "CREATING" and self.last_error is not None:
            return True  # not created: the group retries (see capacity.py)
        if self.action == "CREATING":
            if age >= boot_seconds:
                self.status, self.action = "RUNNING", "NONE"
            elif age >= boot_seconds / 3:
                self.status = "STAGING"
        elif self.action == "DELETING":
            self.status = "STOPPING"
            if age >= stop_seconds:
                return False
        elif self.action == "RECREATING":
            self.status = "STOPPING"
            if age >= stop_seconds:
                self.action, self.status, self.since = "CREATING", "PROVISIONING", time.monotonic()
        return True

    def resource(self) -> dict[str, Any]:
        """The ``compute#instance`` resource."""
        properties = self.template.get("properties", {})
        metadata = list(properties.get("metadata", {}).get("items", []))
        metadata.append({"key": "instance-template", "value": link(self.template_path)})
        if self.group:
            metadata.append({"key": "created-by", "value": link(self.group)})
        zone_path = f"projects/{self.project}/zones/{self.zone}"
        machine_type = str(properties.get("machineType", "e2-small")).rsplit("/", 1)[-1]
        return {
            "kind": "compute#instance",
            "id": self.id,
            "name": self.name,
            "creationTimestamp": self.created,
            "zone": link(zone_path),
            "machineType": link(f"{zone_path}/machineTypes/{machine_type}"),
            "status": self.status,
            "labels": dict(properties.get("labels", {})),
            "tags": dict(properties.get("tags", {})),
            "metadata": {"items": metadata, "fingerprint": "emulated="},
            "networkInterfaces": [{"name": "nic0", "networkIP": self.address}],
            "selfLink": link(self.path),
        }

    def managed(self) -> dict[str, Any]:
        """The ``ManagedInstance`` entry of ``listManagedInstances``."""
        body: dict[str, Any] = {
            "instance": link(self.path),
            "id": self.id,
            "name": self.name,
            "instanceStatus": self.status,
            "currentAction": self.action,
            "version": {"instanceTemplate": link(self.template_path)},
        }
        if self.last_error is not None:
            code, message = self.last_error
            del body["instanceStatus"], body["id"]  # no VM exists yet
            body["lastAttempt"] = {"errors": {"errors": [{"code": code, "message": message}]}}
        return body


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def page(
    items: list[Any], query: dict[str, str], *, default_size: int = MAX_RESULTS
) -> tuple[list[Any], str | None]:
    """One page of ``items`` by ``maxResults`` and ``pageToken``; and the next page's token."""
    raw = query.get("maxResults")
    size = default_size
    if raw is not None:
        if not raw.isdigit():
            raise invalid(f"Invalid value for field 'maxResults': '{raw}'.")
        size = int(raw)
        if size > MAX_RESULTS:
            raise invalid(
                f"Invalid value for field 'maxResults': '{raw}'. "
                f"Must be less than or equal to {MAX_RESULTS}"
            )
        size = size or default_size
    offset = 0
    token = query.get("pageToken")
    if token:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError):
            raise invalid(f"Invalid value for field 'pageToken': '{token}'.") from None
    chunk = items[offset : offset + size]
    more = offset + size < len(items)
    return chunk, _token(offset + size) if more else None


_FILTER = re.compile(
    r"""^\s*\(?\s*name\s*(=|!=|eq|ne)\s*(?:"([^"]*)"|'([^']*)'|([^\s()]+))\s*\)?\s*$"""
)


def apply_filter(items: list[dict[str, Any]], expression: str | None) -> list[dict[str, Any]]:
    """Keep the resources ``filter`` selects; only ``name`` comparisons are emulated.

    ``=`` and ``!=`` compare literally; ``eq`` and ``ne`` match an RE2 expression against the
    whole name, as the real API does. Anything else is refused rather than ignored.
    """
    if not expression:
        return items
    found = _FILTER.match(expression)
    if not found:
        raise invalid(f"Invalid list filter expression '{expression}'.")
    operator = found.group(1)
    value = next(v for v in found.groups()[1:] if v is not None)
    if operator in ("=", "!="):
        keep = [item for item in items if item.get("name") == value]
    else:
        pattern = re.compile(value)
        keep = [item for item in items if pattern.fullmatch(str(item.get("name", "")))]
    if operator in ("!=", "ne"):
        names = {id(item) for item in keep}
        return [item for item in items if id(item) not in names]
    return keep
