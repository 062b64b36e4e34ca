"""Pure helpers on Compute resource names and links, shared by workflow code and activities.

Why pure: the template name is chosen in workflow code (it must be the same on every replay and
retry), and link handling must agree between what operations pass and what activities compare,
so this module imports nothing but the standard library and cloudops.
"""

from __future__ import annotations

import hashlib
import json
import re

from cloudops.servergroups.models import HealthState

__all__ = [
    "copied_from",
    "group_description",
    "instance_health",
    "last",
    "owner_of",
    "pool_link",
    "relative",
    "same_resource",
    "template_link",
    "template_name",
    "zone_region",
]

_RELATIVE = re.compile(r"(projects/[^?#]+)")


def template_name(server_group: str, request_id: str) -> str:
    """The instance template of a new server group: ``<group>-<8 hex of the request id>``.

    Why a suffix: template names are global to the project while server group names are only
    unique per region, and a template is never reused by another request (Spinnaker also
    suffixes its templates). Deterministic, so a retried or replayed create finds its own.
    """
    digest = hashlib.sha256(f"{request_id}|{server_group}".encode()).hexdigest()[:8]
    return f"{server_group}-{digest}"


def last(url: str) -> str:
    """The last path segment of a link (a resource's name)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def relative(url: str) -> str:
    """``projects/p/...`` of a full or partial link, so links from any host compare equal."""
    found = _RELATIVE.search(url)
    return found.group(1) if found else url


def same_resource(a: str, b: str) -> bool:
    """Whether two links name the same resource (ignoring scheme, host and API version)."""
    return relative(a) == relative(b)


def zone_region(zone: str) -> str:
    """The region of a zone (``us-central1-a`` -> ``us-central1``)."""
    return zone.rsplit("-", 1)[0]


def template_link(project: str, name: str) -> str:
    """The partial URL of a global instance template."""
    return f"projects/{project}/global/instanceTemplates/{name}"


def pool_link(project: str, region: str, pool: str) -> str:
    """The partial URL of a target pool given by name (links are kept as they are)."""
    if "/" in pool:
        return pool
    return f"projects/{project}/regions/{region}/targetPools/{pool}"


def group_description(request_id: str, server_group: str) -> str:
    """The group's ``description``: who made it, so a retried create recognises its own group."""
    return json.dumps(
        {"cloudops:request-id": request_id, "cloudops:server-group": server_group},
        sort_keys=True,
    )


def owner_of(description: str) -> str | None:
    """The request id recorded by :func:`group_description`, if any."""
    try:
        data = json.loads(description or "{}")
    except ValueError:
        return None
    value = data.get("cloudops:request-id") if isinstance(data, dict) else None
    return str(value) if value else None


#: Keys of the JSON a copied template's ``description`` holds (``updateLaunchTemplate`` and the
#: tag verbs): who made it, from which template, for which change.
COPY_BY, COPY_FROM, COPY_CHANGE = "cloudops:request-id", "cloudops:copied-from", "cloudops:change"


def copy_marks(description: str) -> dict[str, str]:
    """The marks a copied template's description holds (empty for any other template)."""
    try:
        data = json.loads(description or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def copied_from(description: str) -> str | None:
    """The template a copied template was copied from, if its description records one."""
    value = copy_marks(description).get(COPY_FROM)
    return str(value) if value else None


def instance_health(
    status: str, action: str, *, disabled: bool, lb_states: list[str]
) -> HealthState:
    """Spinnaker's health of a managed instance from GCE's status and the load balancers'.

    ``lb_states`` are the instance's states in the backend services it serves
    (``HEALTHY``/``UNHEALTHY``); empty when the group has none or is disabled.
    """
    if action in ("DELETING", "ABANDONING") or status in (
        "STOPPING",
        "STOPPED",
        "SUSPENDING",
        "SUSPENDED",
        "TERMINATED",
    ):
        return HealthState.DOWN
    if status in ("PROVISIONING", "STAGING") or action in ("CREATING", "RECREATING", "VERIFYING"):
        return HealthState.STARTING
    if status != "RUNNING":
        return HealthState.UNKNOWN
    if disabled:
        return HealthState.OUT_OF_SERVICE
    if any(state != "HEALTHY" for state in lb_states):
        return HealthState.DOWN
    return HealthState.UP
