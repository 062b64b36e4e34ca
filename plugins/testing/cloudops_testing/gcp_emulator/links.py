"""Resource links: stored relative to the emulator, rendered against the caller's base URL.

Why: every link the API returns (``selfLink``, ``instanceTemplate``, ``zone``, ``targetLink``)
is absolute, and it must point back at whatever address the client used, the emulator itself
or a fault proxy in front of it (which passes ``Host`` through). So links are stored with a
placeholder base and rendered per answer.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from cloudops_testing.gcp_emulator.errors import invalid

__all__ = ["BASE", "NAME_RE", "check_name", "link", "relative", "render", "timestamp"]

#: Placeholder for ``scheme://host:port`` in stored links.
BASE = "@@cloudops-emulator-base@@"
_PREFIX = f"{BASE}/compute/v1/"
_LINK = re.compile(r"^(?:[a-z]+://[^/]+)?/?(?:compute/(?:v1|beta|alpha)/)?(projects/.+)$")
NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_NAME_HINT = "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"


def check_name(name: Any, field: str = "resource.name") -> str:
    """``name`` if it is a valid resource name, else the 400 Compute answers."""
    if not isinstance(name, str) or not name:
        raise invalid(f"Required field '{field}' not specified", reason="required")
    if not NAME_RE.match(name):
        raise invalid(f"Invalid value for field '{field}': '{name}'. {_NAME_HINT}")
    return name


def link(path: str) -> str:
    """A stored link for the relative path ``projects/p/...``."""
    return _PREFIX + path


def relative(value: str, project: str) -> str | None:
    """``projects/p/...`` for a full URL, a stored link or a partial path; None otherwise.

    Partial paths (``global/instanceTemplates/x``, ``zones/z/...``) are taken in ``project``.
    """
    if value.startswith(_PREFIX):
        return value[len(_PREFIX) :]
    found = _LINK.match(value)
    if found:
        return found.group(1)
    if value.startswith(("global/", "zones/", "regions/")):
        return f"projects/{project}/{value}"
    return None


def render(payload: Any, base: str) -> bytes:
    """JSON bytes of ``payload`` with stored links made absolute against ``base``."""
    return json.dumps(payload).replace(BASE, base).encode()


def timestamp(at: datetime | None = None) -> str:
    """RFC 3339 with milliseconds, as ``creationTimestamp`` and operation times are written."""
    return (at or datetime.now(UTC)).isoformat(timespec="milliseconds")
