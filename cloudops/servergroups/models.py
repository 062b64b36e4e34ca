"""Server groups, the models every cloud provider shares.

A *server group* is Spinnaker's word for a set of identical instances run from one template: an
AWS Auto Scaling group with its launch template, a GCP managed instance group with its instance
template, an Azure VM scale set. Every provider implements the same operations
(``createServerGroup``, ``cloneServerGroup``, ``resizeServerGroup``, ``enableServerGroup``,
``disableServerGroup``, ``destroyServerGroup``, ``terminateInstances``, ``describeServerGroup``)
with the inputs and outputs below, so that a deploy strategy written once runs on any cloud.
A provider may subclass an input to add optional settings of its own; it never removes one.

Server groups are named the way Spinnaker (and Netflix's Frigga library) names them:
``application-stack-detail-vNNN``. The *cluster* is the name without the ``-vNNN`` push sequence;
every new server group of a cluster takes the next free sequence, which wraps from 999 to 000.
This module parses, formats and chooses those names without any I/O, so provider activities and
workflow code use the same rules.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cloudops.errors import BusinessError, ErrorCode
from cloudops.models import Input, Output

if TYPE_CHECKING:
    from cloudops.operation import OperationContext

__all__ = [
    "RESERVED_TAG_PREFIX",
    "SEQUENCE_LIMIT",
    "Capacity",
    "CloneServerGroupInput",
    "ClusterRef",
    "CreateServerGroupInput",
    "HealthState",
    "ResizeServerGroupInput",
    "ScalingResource",
    "ScalingSettings",
    "SequenceSlot",
    "ServerGroupChangeInput",
    "ServerGroupDescription",
    "ServerGroupInstance",
    "ServerGroupList",
    "ServerGroupName",
    "ServerGroupOutput",
    "ServerGroupRef",
    "TerminateInstancesInput",
    "TerminateInstancesOutput",
    "WaitSettings",
    "cluster_name",
    "copied_name",
    "next_sequence",
    "next_server_group_name",
]

#: Sequences run 000..999 and then wrap around, as Spinnaker's name resolver does.
SEQUENCE_LIMIT = 1000
#: Tag keys starting with this are written by cloudops itself (request id, cluster...); inputs may
#: not set them, so a caller cannot make a resource look like another request's.
RESERVED_TAG_PREFIX = "cloudops:"

# Frigga's character classes: application and stack take NAME_CHARS, the free-form detail also
# takes "~", "^" and "-" (last in the class, so it is literal). A push sequence has 3 to 6 digits.
_NAME_CHARS = r"a-zA-Z0-9._"
_DETAIL_CHARS = r"a-zA-Z0-9._~^-"
APPLICATION_PATTERN = rf"^[{_NAME_CHARS}]+$"
STACK_PATTERN = rf"^[{_NAME_CHARS}]*$"
DETAIL_PATTERN = rf"^[{_DETAIL_CHARS}]*$"
_CLUSTER_RE = re.compile(
    rf"^([{_NAME_CHARS}]+)(?:-([{_NAME_CHARS}]*)(?:-([{_DETAIL_CHARS}]*?))?)?$"
)
_PUSH_RE = re.compile(rf"^([{_DETAIL_CHARS}]*)-v([0-9]{{3,6}})$")

Application = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=APPLICATION_PATTERN,
        description="Spinnaker application: letters, digits, '.' and '_'",
    ),
]
Stack = Annotated[
    str,
    Field(
        max_length=100,
        pattern=STACK_PATTERN,
        description="environment or variant (e.g. 'prod'); may be empty",
    ),
]
Detail = Annotated[
    str,
    Field(
        max_length=100,
        pattern=DETAIL_PATTERN,
        description="free-form qualifier; letters, digits, '.', '_', '~', '^' and '-'",
    ),
]
#: A server group named by a caller: loose on purpose, since groups made outside cloudops may not
#: follow the naming convention. Providers check their own limits.
ServerGroupNameStr = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9._~^()/-]+$",
        description="name of an existing server group, e.g. 'app-prod-v003'",
    ),
]


def cluster_name(application: str, stack: str = "", detail: str = "") -> str:
    """The cluster name as Spinnaker builds it: ``app``, ``app-stack``, ``app--detail``...

    Why: the cluster groups the successive versions (server groups) of one deployment target, and
    deploy strategies look up "the other server groups of my cluster" by this exact string.
    """
    if detail:
        return f"{application}-{stack}-{detail}"
    if stack:
        return f"{application}-{stack}"
    return application


class ServerGroupName(BaseModel):
    """A parsed ``app-stack-detail-vNNN`` name.

    Why a model and not a string: callers need the parts (cluster, sequence) as often as the whole,
    and parsing in one place keeps Spinnaker's edge cases (empty stack with a detail, hyphens in
    the detail, no sequence at all) consistent across providers.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    application: Application
    stack: Stack = ""
    detail: Detail = ""
    sequence: int | None = Field(default=None, ge=0, le=999_999)

    @property
    def cluster(self) -> str:
        """The name without its sequence."""
        return cluster_name(self.application, self.stack, self.detail)

    def format(self) -> str:
        """The full name: the cluster, plus ``-vNNN`` (three digits or more) with a sequence."""
        if self.sequence is None:
            return self.cluster
        return f"{self.cluster}-v{self.sequence:03d}"

    def __str__(self) -> str:
        return self.format()

    def with_sequence(self, sequence: int | None) -> ServerGroupName:
        """The same cluster with another sequence."""
        return self.model_copy(update={"sequence": sequence})

    @classmethod
    def parse(cls, name: str) -> ServerGroupName:
        """Parse a server group or cluster name as Frigga does; ``ValueError`` if it is not one.

        ``app-stack-some-detail-v012`` gives application ``app``, stack ``stack``, detail
        ``some-detail`` and sequence 12. A name without ``-vNNN`` has no sequence.
        """
        sequence: int | None = None
        cluster = name
        push = _PUSH_RE.match(name)
        if push:
            cluster, sequence = push.group(1), int(push.group(2))
        match = _CLUSTER_RE.match(cluster)
        if not match:
            raise ValueError(
                f"{name!r} is not a server group name of the form app-stack-detail-vNNN"
            )
        return cls(
            application=match.group(1),
            stack=match.group(2) or "",
            detail=match.group(3) or "",
            sequence=sequence,
        )

    @classmethod
    def try_parse(cls, name: str) -> ServerGroupName | None:
        """Like :meth:`parse`, but ``None`` for a name that does not follow the convention."""
        try:
            return cls.parse(name)
        except ValueError:
            return None


class SequenceSlot(NamedTuple):
    """A sequence already taken in a cluster, and when its server group was created (if known)."""

    sequence: int
    created_at: datetime | None = None


def next_sequence(taken: Iterable[SequenceSlot | int]) -> int:
    """The sequence the next server group of a cluster gets, as Spinnaker chooses it.

    Why this rule: Spinnaker starts after the *most recently created* server group (not the
    highest number), modulo 1000, and skips numbers still in use; so after ``v999`` comes ``v000``
    when it is free. Without creation times the highest sequence counts as the latest. When every
    one of the 1000 sequences is taken the cluster is full: a ``CONFLICT`` business error.
    """
    slots = [s if isinstance(s, SequenceSlot) else SequenceSlot(s) for s in taken]
    if not slots:
        return 0
    used = {slot.sequence % SEQUENCE_LIMIT for slot in slots}
    if len(used) >= SEQUENCE_LIMIT:
        raise BusinessError(
            ErrorCode.CONFLICT,
            f"all {SEQUENCE_LIMIT} server group sequences of the cluster are in use; "
            "destroy old server groups first",
        )
    dated = [slot for slot in slots if slot.created_at is not None]
    if dated:
        latest = max(dated, key=lambda slot: (slot.created_at, slot.sequence)).sequence
    else:
        latest = max(slot.sequence for slot in slots)
    candidate = (latest + 1) % SEQUENCE_LIMIT
    while candidate in used:
        candidate = (candidate + 1) % SEQUENCE_LIMIT
    return candidate


def next_server_group_name(
    application: str,
    stack: str,
    detail: str,
    existing: Iterable[str | tuple[str, datetime | None]],
) -> ServerGroupName:
    """The name of the next server group of a cluster, given the names that exist in the account.

    ``existing`` may hold names of other clusters (they are ignored) and, for better wrapping,
    each name's creation time. Providers call this from an activity, so the choice is made once
    and recorded in the workflow history.
    """
    target = ServerGroupName(application=application, stack=stack, detail=detail)
    slots = []
    for item in existing:
        name, created_at = (item, None) if isinstance(item, str) else item
        parsed = ServerGroupName.try_parse(name)
        if parsed is not None and parsed.cluster == target.cluster and parsed.sequence is not None:
            slots.append(SequenceSlot(parsed.sequence, created_at))
    return target.with_sequence(next_sequence(slots))


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


class Capacity(Input):
    """How many instances a server group may and should run.

    Why validated here: every cloud rejects ``desired`` outside ``[min, max]``, but some
    emulators do not, and a rejected resize after a long deploy is worse than ``INVALID_INPUT``
    before anything changed.
    """

    min: int = Field(ge=0, le=100_000, description="fewest instances the group may run")
    max: int = Field(ge=0, le=100_000, description="most instances the group may run")
    desired: int = Field(ge=0, le=100_000, description="instances the group should run now")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.min <= self.desired <= self.max:
            raise ValueError(
                f"capacity must satisfy min <= desired <= max, got min={self.min}, "
                f"desired={self.desired}, max={self.max}"
            )
        return self

    @classmethod
    def fixed(cls, size: int) -> Capacity:
        """A capacity of exactly ``size`` instances (min = desired = max)."""
        return cls(min=size, max=size, desired=size)


def _check_tags(tags: dict[str, str] | None) -> dict[str, str] | None:
    if tags is None:
        return None
    for key in tags:
        if not key or key.startswith(RESERVED_TAG_PREFIX):
            raise ValueError(
                f"tag key {key!r} is not allowed: keys must be non-empty and must not start with "
                f"{RESERVED_TAG_PREFIX!r} (cloudops writes those)"
            )
    return tags


class WaitSettings(Input):
    """Whether and how long an operation waits for the cloud to reach the state it asked for.

    Why in the input: a deploy wants to wait for healthy instances, a bulk cleanup may not, and
    tests want a poll interval of a second rather than production's ten. Waiting is a durable
    poll (retry-as-poll), so a long wait survives worker restarts.
    """

    wait: bool = Field(default=True, description="wait until the change is complete")
    wait_timeout_seconds: int = Field(
        default=1800, ge=1, le=7 * 86_400, description="give up (TIMED_OUT) after this long"
    )
    poll_interval_seconds: float = Field(
        default=10.0, ge=0.2, le=600, description="time between two checks while waiting"
    )


_COPY_DESCRIPTION = (
    "copy the source's autoscaling to the new group, as Spinnaker does by default (AWS: "
    "scaling policies with their alarms, scheduled actions, lifecycle hooks, suspended "
    "processes, enabled metrics; GCP: the autoscaler; Azure: autoscale settings), under names "
    "derived from the new group"
)


class CreateServerGroupInput(WaitSettings):
    """Create the next server group of the cluster ``application-stack-detail``.

    The operation chooses the next free ``-vNNN`` sequence once, records it in the workflow
    history, and tags what it creates with the request id so that a retried step finds its own
    resource instead of making a second one. Cloud-specific meanings: ``image`` is an AMI id or
    name on AWS, an image URL on GCP, an image reference on Azure; ``subnets`` and ``zones`` narrow
    placement; ``target_groups`` are AWS ELBv2 target groups (names or ARNs), ``load_balancers``
    are the provider's other load balancer kinds (AWS classic ELB, GCP backend service, Azure
    backend pool).
    """

    application: Application
    stack: Stack = ""
    detail: Detail = ""
    image: str = Field(min_length=1, max_length=1000, description="machine image to boot")
    instance_type: str = Field(min_length=1, max_length=100, description="machine type / size")
    capacity: Capacity
    zones: list[str] = Field(default_factory=list, description="availability zones")
    subnets: list[str] = Field(default_factory=list, description="subnets (ids or names)")
    load_balancers: list[str] = Field(default_factory=list)
    target_groups: list[str] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    key_name: str | None = Field(default=None, max_length=255, description="SSH key pair name")
    user_data: str | None = Field(
        default=None, max_length=65_536, description="plain-text user data / cloud-init"
    )
    tags: dict[str, str] = Field(default_factory=dict, description="tags for every resource")
    source: ServerGroupNameStr | None = Field(
        default=None,
        description="an existing group whose autoscaling the new group copies (Spinnaker's "
        "deploy source; a deploy sets the cluster's serving group, a clone its source)",
    )
    copy_source_scaling: bool = Field(default=True, description=_COPY_DESCRIPTION)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        _check_tags(value)
        return value

    @property
    def server_group_name(self) -> ServerGroupName:
        """The cluster part of the name (no sequence yet)."""
        return ServerGroupName(application=self.application, stack=self.stack, detail=self.detail)


class CloneServerGroupInput(WaitSettings):
    """Create the next server group of a cluster as a copy of ``source``, with overrides.

    Why overrides are all optional: a clone is "the same, except...". A field left out (or
    ``null``) is taken from the source; ``stack`` or ``detail`` move the copy to another cluster.
    ``tags`` are merged over the source's tags.
    """

    source: ServerGroupNameStr
    stack: Stack | None = None
    detail: Detail | None = None
    image: str | None = Field(default=None, min_length=1, max_length=1000)
    instance_type: str | None = Field(default=None, min_length=1, max_length=100)
    capacity: Capacity | None = None
    zones: list[str] | None = None
    subnets: list[str] | None = None
    load_balancers: list[str] | None = None
    target_groups: list[str] | None = None
    security_groups: list[str] | None = None
    key_name: str | None = Field(default=None, max_length=255)
    user_data: str | None = Field(default=None, max_length=65_536)
    tags: dict[str, str] | None = None
    copy_source_scaling: bool = Field(default=True, description=_COPY_DESCRIPTION)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return _check_tags(value)

    def overrides(self) -> dict[str, Any]:
        """The fields to change in the copy: every field given a non-null value, except waits."""
        skip = {"source", "copy_source_scaling", *WaitSettings.model_fields}
        return {
            name: getattr(self, name)
            for name in type(self).model_fields
            if name not in skip and getattr(self, name) is not None
        }


class ServerGroupRef(Input):
    """Names one existing server group (``describeServerGroup``)."""

    server_group: ServerGroupNameStr


class ServerGroupChangeInput(ServerGroupRef, WaitSettings):
    """Names one existing server group to enable, disable or destroy, and how to wait for it.

    ``desired_percentage`` (Spinnaker's ``desiredPercentage``; enable and disable only) moves a
    share of the group's instances instead of the whole group: a disable with 25 takes a
    quarter of them (rounded up) out of the group's load balancers and puts the others in, an
    enable with 25 keeps a quarter in. The instances keep running and the group stays enabled,
    so putting the traffic back (a disable with 0) starts nothing. 100 (or none) is the plain
    verb. A provider without per-instance traffic refuses it with ``INVALID_INPUT``.
    """

    desired_percentage: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="enable/disable only: the share of the instances to put in / take out",
    )


class ResizeServerGroupInput(ServerGroupRef, WaitSettings):
    """Set a server group's capacity; with ``wait``, until it runs ``desired`` healthy instances."""

    capacity: Capacity


class TerminateInstancesInput(ServerGroupRef, WaitSettings):
    """Terminate some instances of a server group.

    Without ``decrement_desired`` the group replaces them (a restart); with it the group shrinks
    by as many instances, lowering ``min`` too when it would end up above ``desired``.
    """

    instance_ids: list[str] = Field(min_length=1, max_length=100)
    decrement_desired: bool = False

    @field_validator("instance_ids")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("instance ids must be unique")
        if any(not item.strip() for item in value):
            raise ValueError("instance ids must not be empty")
        return value


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


class HealthState(StrEnum):
    """An instance's health as Spinnaker shows it, mapped from each cloud's own states."""

    UP = "Up"
    DOWN = "Down"
    STARTING = "Starting"
    OUT_OF_SERVICE = "OutOfService"
    DRAINING = "Draining"
    UNKNOWN = "Unknown"


class ServerGroupInstance(Output):
    """One instance of a server group.

    ``state`` is the cloud's own lifecycle state (e.g. AWS ``InService``); ``health`` the common
    summary; ``load_balancer_health`` the state in each load balancer or target group by name.
    """

    id: str
    zone: str | None = None
    state: str
    health: HealthState = HealthState.UNKNOWN
    load_balancer_health: dict[str, str] = Field(default_factory=dict)
    launched_at: datetime | None = None


class ServerGroupDescription(Output):
    """What ``describeServerGroup`` answers, the same shape on every cloud.

    ``disabled`` means "taken out of traffic" in Spinnaker's sense (on AWS: the
    ``AddToLoadBalancer`` process is suspended), which deploy strategies rely on.
    """

    name: str
    cluster: str
    application: str | None = None
    stack: str = ""
    detail: str = ""
    sequence: int | None = None
    region: str | None = None
    capacity: Capacity
    instances: list[ServerGroupInstance] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    subnets: list[str] = Field(default_factory=list)
    load_balancers: list[str] = Field(default_factory=list)
    target_groups: list[str] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    image: str | None = None
    instance_type: str | None = None
    disabled: bool = False
    created_at: datetime | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def healthy_count(self) -> int:
        """Instances whose health is ``Up``."""
        return sum(1 for instance in self.instances if instance.health == HealthState.UP)


class ServerGroupOutput(Output):
    """What the mutating server-group operations answer: which group, and its state after.

    Why a summary and not the full description: outputs are stored in the workflow history,
    and a group of thousands of instances must not push a result towards Temporal's payload
    limits. Call ``describeServerGroup`` for the details. ``changed`` is false when there was
    nothing to do (e.g. destroying a group that was already gone). ``resources`` holds the
    provider's ids of what the operation created or touched (e.g. ``launch_template_id``).
    """

    name: str
    cluster: str
    sequence: int | None = None
    region: str | None = None
    capacity: Capacity | None = None
    disabled: bool | None = None
    instance_count: int | None = None
    healthy_count: int | None = None
    changed: bool = True
    resources: dict[str, str] = Field(default_factory=dict)
    out_of_traffic: list[str] | None = Field(
        default=None, description="with desired_percentage: the instances now out of traffic"
    )

    @classmethod
    def for_name(cls, name: str, **fields: Any) -> ServerGroupOutput:
        """An output for ``name``, with cluster and sequence parsed from it when possible."""
        parsed = ServerGroupName.try_parse(name)
        return cls(
            name=name,
            cluster=parsed.cluster if parsed else name,
            sequence=parsed.sequence if parsed else None,
            **fields,
        )


class TerminateInstancesOutput(Output):
    """Which instances were terminated now and which were already gone (a retry, or a race)."""

    server_group: str
    terminated: list[str] = Field(default_factory=list)
    already_gone: list[str] = Field(default_factory=list)
    capacity: Capacity | None = None


class ClusterRef(Input):
    """Names a cluster (``application-stack-detail``): ``listServerGroups`` lists its groups.

    Why a common operation: deploy strategies must find "the other server groups of my cluster"
    on any cloud, to disable the previous version and destroy the oldest ones.
    """

    application: Application
    stack: Stack = ""
    detail: Detail = ""

    @property
    def cluster(self) -> str:
        """The cluster name."""
        return cluster_name(self.application, self.stack, self.detail)


class ServerGroupList(Output):
    """The server groups of one cluster, oldest first (by creation time, then sequence)."""

    cluster: str
    server_groups: list[ServerGroupDescription] = Field(default_factory=list)

    @classmethod
    def oldest_first(cls, cluster: str, groups: Iterable[ServerGroupDescription]) -> Self:
        """The list of ``groups``, sorted by creation time (unknown last), then sequence."""
        ordered = sorted(
            groups, key=lambda d: (d.created_at is None, d.created_at, d.sequence or 0)
        )
        return cls(cluster=cluster, server_groups=ordered)


class ScalingResource(Output):
    """One autoscaling setting of a server group, as its cloud reads it back.

    ``kind`` says what it is (AWS ``policy``, ``alarm``, ``scheduled_action``,
    ``lifecycle_hook``, ``suspended_processes``, ``enabled_metrics``; GCP ``autoscaler``; Azure
    ``autoscale_setting``), ``name`` its name on the source group (empty for a setting of the
    group itself), ``spec`` the cloud's own fields, ready to be written again.
    """

    kind: str
    name: str = ""
    spec: dict[str, Any] = Field(default_factory=dict)


class ScalingSettings(Output):
    """The autoscaling of a source group that a new group copies (``copy_source_scaling``).

    Why one shape for every cloud: the kit reads it before the create, hands it to the cloud's
    create (settings that must exist from the first instance on, such as AWS lifecycle hooks)
    and copy, and records what it copied; the audits count it by kind.
    """

    source: str
    resources: list[ScalingResource] = Field(default_factory=list)

    def of_kind(self, kind: str) -> list[ScalingResource]:
        """The resources of one kind, in the order they were read."""
        return [r for r in self.resources if r.kind == kind]

    def counts(self) -> dict[str, int]:
        """How many resources of each kind."""
        counts: dict[str, int] = {}
        for resource in self.resources:
            counts[resource.kind] = counts.get(resource.kind, 0) + 1
        return counts


def copied_name(name: str, source: str, target: str, limit: int = 255) -> str:
    """The deterministic name of the copy, for group ``target``, of ``name`` made for ``source``.

    Why deterministic: a retried or repeated copy must find (and overwrite) its own copy rather
    than add one; Clouddriver's random names duplicate policies on every retry. The source's
    name inside ``name`` becomes the target's (``app-v001-cpu`` -> ``app-v002-cpu``), else
    the target's name is prefixed; a name over ``limit`` keeps a hash of the whole.
    """
    copied = name.replace(source, target) if source and source in name else f"{target}-{name}"
    if len(copied) > limit:
        digest = hashlib.sha256(copied.encode()).hexdigest()[:8]
        copied = f"{copied[: limit - 9]}-{digest}"
    return copied


def require_location(ctx: OperationContext, needed_by: str) -> tuple[str, str]:
    """The account and region a provider's operation needs, or INVALID_INPUT naming each missing.

    ``needed_by`` starts the message (``"AWS operations need an account and a region"``).
    """
    if ctx.account is None or ctx.region is None:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            needed_by,
            {
                "errors": [
                    {"field": field, "reason": "required"}
                    for field, value in (("account", ctx.account), ("region", ctx.region))
                    if value is None
                ]
            },
        )
    return ctx.account, ctx.region


async def poll_until_ready(
    ctx: OperationContext, activity: str, arg: Any, wait: WaitSettings, result_type: type[Any]
) -> Any:
    """Poll ``activity`` at the input's interval until it stops answering NotReady."""
    return await ctx.poll(
        activity,
        arg,
        interval=timedelta(seconds=wait.poll_interval_seconds),
        timeout=timedelta(seconds=wait.wait_timeout_seconds),
        result_type=result_type,
    )
