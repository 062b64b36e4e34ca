"""The server-group contract: the verbs every server-group cloud offers, and its wire models.

Why one module: the verb list, the tag keys cloudops writes on what it creates and the models
the kit's activities exchange with a provider are facts a deploy strategy, a provider, the
conformance suite and the chaos audits must agree on. They are defined here once and imported.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import Field

from cloudops.models import Input, Output
from cloudops.servergroups.models import (
    RESERVED_TAG_PREFIX,
    Capacity,
    ScalingSettings,
    ServerGroupDescription,
    ServerGroupName,
)

__all__ = [
    "CLUSTER_VERBS",
    "MUTATING_VERBS",
    "OPTIONAL_VERBS",
    "READ_VERBS",
    "TAG_APPLICATION",
    "TAG_CLUSTER",
    "TAG_REQUEST_ID",
    "TAG_SERVER_GROUP",
    "VERBS",
    "CloudCall",
    "ClusterCall",
    "GroupCall",
    "NewGroup",
    "NextNameInput",
    "NextNameOutput",
    "ScalingCopyInput",
    "ScalingCopyOutput",
    "ServerGroupLookup",
    "WaitCall",
    "WaitedGroup",
    "ownership_tags",
]

#: The operations every server-group cloud implements, in the order a plugin registers them.
#: A deploy strategy may rely on each of them; the conformance suite checks each of them.
VERBS: tuple[str, ...] = (
    "createServerGroup",
    "cloneServerGroup",
    "resizeServerGroup",
    "enableServerGroup",
    "disableServerGroup",
    "destroyServerGroup",
    "terminateInstances",
    "describeServerGroup",
    "listServerGroups",
)
#: Clouddriver's other server-group operations: each cloud offers those it has (its adapter's
#: ``offers``) and says why it lacks the others (``absent``); see
#: :mod:`cloudops.servergroups.optional` for their models and skeletons.
OPTIONAL_VERBS: tuple[str, ...] = (
    "upsertScalingPolicy",
    "deleteScalingPolicy",
    "updateLaunchTemplate",
    "upsertServerGroupTags",
    "deleteServerGroupTags",
    "rebootInstances",
    "detachInstances",
    "suspendProcesses",
    "resumeProcesses",
    "allowLaunch",
)
#: The verbs that only read.
READ_VERBS: tuple[str, ...] = ("describeServerGroup", "listServerGroups")
#: The verbs that change the cloud.
MUTATING_VERBS: tuple[str, ...] = tuple(v for v in VERBS if v not in READ_VERBS)
#: What a deploy strategy runs on a cluster (everything but clone and terminate).
CLUSTER_VERBS: tuple[str, ...] = (
    "createServerGroup",
    "listServerGroups",
    "describeServerGroup",
    "enableServerGroup",
    "disableServerGroup",
    "resizeServerGroup",
    "destroyServerGroup",
)

#: Tags (labels on GCP, where ``:`` is not allowed, see the provider) cloudops writes on every
#: resource it creates: which request made it (so a retried create recognises its own resource
#: and a rollback deletes only that), and which server group, cluster and application it is.
TAG_REQUEST_ID = f"{RESERVED_TAG_PREFIX}request-id"
TAG_SERVER_GROUP = f"{RESERVED_TAG_PREFIX}server-group"
TAG_CLUSTER = f"{RESERVED_TAG_PREFIX}cluster"
TAG_APPLICATION = f"{RESERVED_TAG_PREFIX}application"


def ownership_tags(
    request_id: str, server_group: str, cluster: str, application: str
) -> dict[str, str]:
    """The reserved tags of a resource made for ``server_group`` by request ``request_id``."""
    return {
        TAG_REQUEST_ID: request_id,
        TAG_SERVER_GROUP: server_group,
        TAG_CLUSTER: cluster,
        TAG_APPLICATION: application,
    }


class CloudCall(Input):
    """Where an activity acts: a worker account name (never a credential) and a region."""

    account: str
    region: str


class GroupCall(CloudCall):
    """An activity on one server group."""

    name: str


class NewGroup(Input):
    """What every cloud's create-group activity takes from the create input.

    Whose request it is, the capacity, where the group runs, its load balancers and its tags.
    """

    request_id: str
    capacity: Capacity
    zones: list[str] = Field(default_factory=list)
    subnets: list[str] = Field(default_factory=list)
    load_balancers: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)


class NextNameInput(CloudCall):
    """Choose the next free ``app-stack-detail-vNNN`` name of a cluster."""

    application: str
    stack: str = ""
    detail: str = ""


class ClusterCall(NextNameInput):
    """List the server groups of one cluster (``app-stack-detail``)."""


class NextNameOutput(Output):
    """The chosen name; recorded in history, so a replay uses the same one."""

    name: str
    sequence: int

    @classmethod
    def of(cls, chosen: ServerGroupName) -> NextNameOutput:
        """The output for a name chosen by ``next_server_group_name``."""
        return cls(name=chosen.format(), sequence=chosen.sequence or 0)


class WaitCall(GroupCall):
    """Poll a group until it runs ``desired`` (default: its own) instances that serve.

    Instances listed in ``exclude_instances`` (just terminated) must have left the group.
    """

    desired: int | None = None
    exclude_instances: list[str] = Field(default_factory=list)


class WaitedGroup(Output):
    """How far a group is from its capacity; the result of a finished wait."""

    name: str
    capacity: Capacity
    instances: int
    disabled: bool


DescriptionT = TypeVar("DescriptionT", bound=ServerGroupDescription)


class ServerGroupLookup(Output, Generic[DescriptionT]):
    """A described server group, or none when it does not exist."""

    description: DescriptionT | None = None


class ScalingCopyInput(GroupCall):
    """Copy a source's autoscaling ``settings`` to the group ``name`` (or delete the copies).

    ``scope`` holds the cloud's fields that locate the group beyond its name (Azure: the
    resource group). The copies' names derive from ``name`` (``copied_name``), so a repeated
    copy overwrites its own copies and the delete knows what to delete without a lookup.
    """

    request_id: str
    settings: ScalingSettings
    scope: dict[str, Any] = Field(default_factory=dict)


class ScalingCopyOutput(Output):
    """The names of the copies made (or deleted), by kind."""

    names: dict[str, list[str]] = Field(default_factory=dict)

    def add(self, kind: str, name: str) -> None:
        """Record one copy."""
        self.names.setdefault(kind, []).append(name)
