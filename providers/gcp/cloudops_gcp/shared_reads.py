"""The reads of concurrent waits, shared per project and location (:mod:`cloudops.batching`).

``gcp.wait_for_group`` attempts that arrive in one worker within the batch window read their
managed instance groups with one ``instanceGroupManagers.list`` per zone or region (a
``name eq '(a|b|...)'`` filter: the Compute API matches the whole name with RE2), and each
group's ``listManagedInstances`` once (Compute has no call listing the instances of several
groups), whatever the number of operations waiting on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudops.batching import ReadBatcher
from cloudops_gcp.clients import gcp_clients
from cloudops_gcp.models import GroupRef

__all__ = ["GROUPS", "MANAGED", "shared_group", "shared_managed"]

#: Names in one filter: 50 names of at most 63 characters keep the URL under 4 KB.
MAX_NAMES = 50


def _client(account: str, zonal: bool, location: str) -> tuple[Any, Any, dict[str, Any]]:
    clients = gcp_clients(account)
    client = clients.get(
        "InstanceGroupManagersClient" if zonal else "RegionInstanceGroupManagersClient"
    )
    where = {"project": clients.project, "zone" if zonal else "region": location}
    return clients, client, where


def _fetch_groups(account: str, zonal: bool, location: str, names: Sequence[str]) -> dict[str, Any]:
    clients, client, where = _client(account, zonal, location)
    pager = client.list(
        request={**where, "filter": f"name eq '({'|'.join(names)})'"},
        retry=clients.read_retry,
        timeout=clients.timeout,
    )
    wanted = set(names)
    return {group.name: group for group in pager if group.name in wanted}


def _fetch_managed(
    account: str, zonal: bool, location: str, group: str, names: Sequence[str]
) -> dict[str, list[Any]]:
    clients, client, where = _client(account, zonal, location)
    listed = client.list_managed_instances(
        **where, instance_group_manager=group, retry=clients.read_retry, timeout=clients.timeout
    )
    return {group: list(listed)}


#: Managed instance groups, by (account, zonal, zone or region).
GROUPS: ReadBatcher[Any] = ReadBatcher(_fetch_groups, max_batch=MAX_NAMES)
#: Managed instances of one group, by (account, zonal, zone or region, group): one read per
#: group per window, shared by every wait on that group.
MANAGED: ReadBatcher[list[Any]] = ReadBatcher(_fetch_managed)


def _scope(ref: GroupRef) -> tuple[str, bool, str]:
    zonal = ref.zone is not None
    return ref.account, zonal, str(ref.zone if zonal else ref.region)


def shared_group(ref: GroupRef) -> Any:
    """The group from a shared list, or None when it does not exist."""
    return GROUPS.get(_scope(ref), ref.name)


def shared_managed(ref: GroupRef) -> list[Any]:
    """The group's managed instances, read once for every wait on it in the window."""
    return MANAGED.get((*_scope(ref), ref.name), ref.name) or []
