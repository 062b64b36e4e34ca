"""The load-balancer and security-group contract: verbs, tag key and the activities' wire models.

Why one module: a provider, the kit, the demo and the conformance suite must agree on the verb
names and on what the generic part activities exchange, so they are defined here once.

A cloud's load balancer or security group is a short list of *parts* (``kind/name``: a target
group, a listener set, a firewall...), each with a desired state in a canonical JSON form the
provider's handlers can read back. The kit reads every part in one activity, compares, and
calls ``ensure`` only for parts that differ (so an identical upsert changes nothing), with the
undo of each change registered before it is made.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cloudops.models import Input, Output
from cloudops.network.models import LoadBalancerDescription, SecurityGroupDescription
from cloudops.servergroups.contract import CloudCall
from cloudops.servergroups.models import RESERVED_TAG_PREFIX

__all__ = [
    "NETWORK_READ_VERBS",
    "NETWORK_VERBS",
    "OWNER",
    "TAG_LOAD_BALANCER",
    "TAG_SECURITY_GROUP",
    "LoadBalancerLookup",
    "NetworkCall",
    "NetworkListCall",
    "Part",
    "PartChange",
    "PartDelete",
    "PartResult",
    "PartsCall",
    "PartsState",
    "Reference",
    "SecurityGroupLookup",
    "differences",
    "network_read_activities",
    "part_key",
]

#: The load-balancer and security-group operations a provider offers, in registration order.
NETWORK_VERBS: tuple[str, ...] = (
    "upsertLoadBalancer",
    "deleteLoadBalancer",
    "describeLoadBalancer",
    "listLoadBalancers",
    "upsertSecurityGroup",
    "deleteSecurityGroup",
    "describeSecurityGroup",
    "listSecurityGroups",
)
#: The verbs that only read.
NETWORK_READ_VERBS: tuple[str, ...] = (
    "describeLoadBalancer",
    "listLoadBalancers",
    "describeSecurityGroup",
    "listSecurityGroups",
)

#: Tags (labels on GCP) on every part of a load balancer or security group cloudops made: which
#: one it belongs to (beside the server-group contract's request id and application tags).
TAG_LOAD_BALANCER = f"{RESERVED_TAG_PREFIX}load-balancer"
TAG_SECURITY_GROUP = f"{RESERVED_TAG_PREFIX}security-group"
#: The key of a part's canonical state that holds the request id that created it (not compared).
OWNER = "_owner"


def part_key(kind: str, name: str) -> str:
    """``kind/name``, how parts are keyed in states and descriptions."""
    return f"{kind}/{name}"


class Part(Input):
    """One part of a load balancer or security group and its desired state.

    ``desired`` is compared with the part's state read back (only its keys); ``settings`` are
    used when the part is made and never compared (the VPC of a target group...). ``undo``:
    whether a change is undone on rollback (false for a final clean-up, such as deleting target
    groups no listener uses any more).
    """

    kind: str
    name: str
    desired: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    undo: bool = True

    @property
    def key(self) -> str:
        """``kind/name``."""
        return part_key(self.kind, self.name)


class Reference(Input):
    """A part that must exist before an upsert starts: else INVALID_INPUT naming ``field``."""

    kind: str
    name: str
    field: str
    settings: dict[str, Any] = Field(default_factory=dict)


class NetworkCall(CloudCall):
    """An activity on one load balancer or security group.

    ``scope`` carries the cloud's extra location (Azure: the resource group).
    """

    name: str
    scope: dict[str, str] = Field(default_factory=dict)


class NetworkListCall(CloudCall):
    """List load balancers or security groups (of one application, or all cloudops made)."""

    application: str | None = None
    scope: dict[str, str] = Field(default_factory=dict)


class PartsCall(CloudCall):
    """Read several parts at once."""

    parts: list[Part]
    scope: dict[str, str] = Field(default_factory=dict)


class PartsState(Output):
    """Each part's canonical state by ``kind/name``; None when it does not exist."""

    states: dict[str, dict[str, Any] | None] = Field(default_factory=dict)


class PartChange(CloudCall):
    """Make a part match ``part.desired``: create it (tagged) or change what differs.

    ``restore``: a rollback putting back an earlier state (tags are left alone).
    """

    part: Part
    request_id: str
    tags: dict[str, str] = Field(default_factory=dict)
    scope: dict[str, str] = Field(default_factory=dict)
    restore: bool = False


class PartDelete(CloudCall):
    """Delete a part; "not found" is success.

    With ``only_if_request_id``, only if that request made it (a rollback never deletes what it
    did not create).
    """

    part: Part
    scope: dict[str, str] = Field(default_factory=dict)
    only_if_request_id: str | None = None


class PartResult(Output):
    """What ``ensure`` or ``delete`` did to one part; ``id`` is the cloud's id of it."""

    key: str
    changed: bool = False
    created: bool = False
    deleted: bool = False
    id: str | None = None


class LoadBalancerLookup(Output):
    """A described load balancer, or none when it does not exist."""

    description: LoadBalancerDescription | None = None


class SecurityGroupLookup(Output):
    """A described security group, or none when it does not exist."""

    description: SecurityGroupDescription | None = None


def differences(desired: dict[str, Any], current: dict[str, Any] | None) -> list[str]:
    """The keys of ``desired`` whose value ``current`` does not have (all when it is absent)."""
    if current is None:
        return sorted(desired) or ["(absent)"]
    return sorted(key for key, value in desired.items() if current.get(key) != value)


def network_read_activities(provider: str) -> frozenset[str]:
    """The network activities of ``provider`` that only read (for its ``read_activities``)."""
    names = (
        "read_network_parts",
        "describe_load_balancer",
        "list_load_balancers",
        "describe_security_group",
        "list_security_groups",
    )
    return frozenset(f"{provider}.{name}" for name in names)
