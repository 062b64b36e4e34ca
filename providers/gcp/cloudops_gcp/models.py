"""GCP-specific models: account settings, the optional GCP fields of inputs, activity arguments.

Why a module of its own: the plugin module, the workflow code and the activities all use these
models, and none of them may pull google-cloud-compute in (``cloudops --help`` and the workflow
sandbox must stay light), so this module imports pydantic and cloudops only.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

import cloudops
from cloudops.servergroups.contract import CloudCall as GcpCall
from cloudops.servergroups.contract import ClusterCall, GroupCall, NextNameInput, NextNameOutput
from cloudops.servergroups.contract import ServerGroupLookup as Lookup
from cloudops.servergroups.models import (
    Capacity,
    CloneServerGroupInput,
    CreateServerGroupInput,
    ServerGroupChangeInput,
    ServerGroupDescription,
    ServerGroupList,
    TerminateInstancesInput,
    TerminateInstancesOutput,
    cluster_name,
)
from cloudops.servergroups.optional import TagsInput, TemplateCall

__all__ = [
    "AUTOSCALER_MODES",
    "GCE_NAME",
    "META_BACKEND_SERVICES",
    "META_REQUEST_ID",
    "META_SERVER_GROUP",
    "META_STARTUP_SCRIPT",
    "META_TARGET_POOLS",
    "AutoscalerChange",
    "AutoscalerSpec",
    "ClusterCall",
    "DeleteAutoscalerInput",
    "DeleteGroupInput",
    "DeleteTemplateInput",
    "GcpAccountSettings",
    "GcpAutoscalingPolicy",
    "GcpCall",
    "GcpCloneServerGroupInput",
    "GcpCreateServerGroupInput",
    "GcpDestroyServerGroupInput",
    "GcpServerGroupDescription",
    "GcpServerGroupList",
    "GcpTagsInput",
    "GcpTerminateInstancesInput",
    "GroupRef",
    "GroupSpec",
    "GroupStatus",
    "InstancesStarted",
    "NextNameInput",
    "NextNameOutput",
    "OperationFailure",
    "OperationOutcome",
    "OperationRef",
    "ResizeInput",
    "ServerGroupLookup",
    "Started",
    "TemplateCopy",
    "TemplateSpec",
    "TemplateStarted",
    "TerminateInput",
    "TerminateStarted",
    "TrafficInput",
    "WaitGroupInput",
    "WaitOperationsInput",
]

#: Compute Engine resource names: lowercase letters, digits and hyphens, starting with a letter.
GCE_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
#: Longest server group name: the instance template is named ``<group>-<8 hex>`` (63 max).
MAX_GROUP_NAME = 54
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")

#: Instance template metadata keys cloudops writes. The load balancer keys are Spinnaker's own,
#: so a group made by either tool is enabled and disabled the same way.
META_REQUEST_ID = "cloudops-request-id"
META_SERVER_GROUP = "cloudops-server-group"
META_TARGET_POOLS = "load-balancer-names"
META_BACKEND_SERVICES = "backend-service-names"
META_STARTUP_SCRIPT = "startup-script"


class GcpAccountSettings(BaseModel):
    """The GCP keys of an ``[accounts.NAME]`` table in ``cloudops.toml``.

    Why these: a worker needs a project and a credential source, never a secret in the file.
    ``credentials = "adc"`` (the default) uses Application Default Credentials (a workload
    identity, ``gcloud auth application-default login``, ``GOOGLE_APPLICATION_CREDENTIALS``);
    ``service_account_key_file`` names a key file instead; ``"anonymous"`` sends no credentials
    and is only accepted together with the common ``endpoint`` override (an emulator).
    ``request_timeout_seconds`` bounds each HTTP call; reads (get, list, operation polls) are
    retried in the call for up to ``read_retry_seconds`` on 429/5xx and dropped connections,
    while mutations are never retried by the client: Temporal retries them, with the same
    ``requestId``.
    """

    model_config = ConfigDict(extra="forbid")

    project: str = Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$", description="project id")
    credentials: Literal["adc", "anonymous"] = "adc"
    service_account_key_file: str | None = Field(default=None, min_length=1)
    request_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    read_retry_seconds: float = Field(default=20.0, ge=0, le=600)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.service_account_key_file and self.credentials == "anonymous":
            raise ValueError("give service_account_key_file or credentials = 'anonymous', not both")
        return self


# --------------------------------------------------------------------------------------------
# Operation inputs: the common ones plus optional GCP settings
# --------------------------------------------------------------------------------------------

#: The autoscaler modes cloudops accepts (Compute's ``AutoscalingPolicy.mode``).
AUTOSCALER_MODES = ("ON", "OFF", "ONLY_SCALE_OUT")


class GcpAutoHealing(BaseModel):
    """The group's auto-healing policy: instances failing ``health_check`` are recreated.

    ``health_check`` is a health check's name (global) or its URL / relative path;
    ``initial_delay_seconds`` is how long a new instance may fail it first (0-3600).
    """

    model_config = ConfigDict(extra="forbid")

    health_check: str = Field(min_length=1, max_length=1000)
    initial_delay_seconds: int = Field(default=300, ge=0, le=3600)


class GcpAutoscalingPolicy(BaseModel):
    """An autoscaler for the group (Compute ``autoscalers`` / ``regionAutoscalers``).

    Why optional bounds: the group's ``capacity.min`` and ``capacity.max`` are the natural
    bounds, and a clone that changes its capacity should move its autoscaler's bounds with it;
    ``min_replicas`` / ``max_replicas`` override them. The autoscaler scales on CPU utilization
    (``cpu_utilization_target``, a fraction in (0, 1]); ``cool_down_period_seconds`` is how long
    a new instance needs before its load counts. ``mode``: ``ON`` scales both ways,
    ``ONLY_SCALE_OUT`` never removes instances, ``OFF`` keeps the autoscaler but lets the
    group's target size be set by hand.
    """

    model_config = ConfigDict(extra="forbid")

    min_replicas: int | None = Field(default=None, ge=0, le=100_000)
    max_replicas: int | None = Field(default=None, ge=0, le=100_000)
    cpu_utilization_target: float = Field(default=0.6, gt=0, le=1)
    cool_down_period_seconds: int = Field(default=60, ge=0, le=3600)
    mode: Literal["ON", "OFF", "ONLY_SCALE_OUT"] = "ON"

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if (
            self.min_replicas is not None
            and self.max_replicas is not None
            and self.min_replicas > self.max_replicas
        ):
            raise ValueError(
                f"autoscaling needs min_replicas <= max_replicas, got {self.min_replicas} > "
                f"{self.max_replicas}"
            )
        return self

    def bounds(self, capacity: Capacity) -> tuple[int, int]:
        """(min, max) of the autoscaler: the policy's own, else the capacity's."""
        low = self.min_replicas if self.min_replicas is not None else capacity.min
        high = self.max_replicas if self.max_replicas is not None else capacity.max
        return low, high

    @property
    def scales(self) -> bool:
        """Whether the autoscaler sets the group's size (mode ``ON`` or ``ONLY_SCALE_OUT``)."""
        return self.mode != "OFF"


class GcpServerGroupSettings(BaseModel):
    """Optional GCP settings of a server group, beyond the provider-agnostic ones.

    ``regional`` makes a regional managed instance group spread over ``zones`` (default: regional
    unless exactly one zone is given). ``target_pools`` are regional target pools (network load
    balancers); the common ``load_balancers`` are global backend services. The common
    ``security_groups`` become network tags (firewall rules select instances by tag), ``subnets``
    the subnetwork (one at most), ``user_data`` the ``startup-script`` metadata, ``tags`` labels.
    """

    model_config = ConfigDict(extra="forbid")

    regional: bool | None = None
    target_pools: list[str] | None = None
    network: str | None = Field(default=None, min_length=1, max_length=1000)
    disk_size_gb: int | None = Field(default=None, ge=10, le=65_536)
    disk_type: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,63}$")
    service_account_email: str | None = Field(default=None, max_length=320)
    autoscaling: GcpAutoscalingPolicy | None = None
    named_ports: dict[str, Annotated[int, Field(ge=1, le=65535)]] | None = Field(
        default=None,
        description="named ports of the instance group, e.g. {'http': 8080}; each backend "
        "service's port name is added on port 80 when not given",
    )
    auto_healing: GcpAutoHealing | None = None


def _check_gcp(model: CreateServerGroupInput | CloneServerGroupInput) -> None:
    """Refuse what GCP cannot name or place, before anything is created."""
    for key, value in (model.tags or {}).items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise ValueError(
                f"tag {key!r}={value!r} cannot be a GCP label: keys start with a lowercase "
                "letter, keys and values use lowercase letters, digits, '_' and '-' (63 max)"
            )
    if model.target_groups:
        raise ValueError("target_groups are AWS target groups; on GCP use load_balancers")
    if model.key_name:
        raise ValueError("key_name is not supported on GCP (use OS Login or ssh-keys metadata)")
    if model.subnets and len(model.subnets) > 1:
        raise ValueError("a GCP instance template takes one subnetwork: give one subnet at most")
    regional = getattr(model, "regional", None)
    if regional is False and model.zones is not None and len(model.zones) != 1:
        raise ValueError("a zonal server group (regional = false) needs exactly one zone")


class GcpCreateServerGroupInput(CreateServerGroupInput, GcpServerGroupSettings):
    """``gcp.createServerGroup``: the common input plus optional GCP settings."""

    @model_validator(mode="after")
    def _gcp_checks(self) -> Self:
        _check_gcp(self)
        cluster = cluster_name(self.application, self.stack, self.detail)
        name = f"{cluster}-v000"
        if not GCE_NAME.match(name) or len(name) > MAX_GROUP_NAME:
            raise ValueError(
                f"cluster {cluster!r} cannot name a GCP managed instance group: use lowercase "
                f"letters, digits and '-', starting with a letter, at most {MAX_GROUP_NAME - 5} "
                "characters"
            )
        if self.autoscaling is not None:
            low, high = self.autoscaling.bounds(self.capacity)
            if not low <= self.capacity.desired <= high:
                raise ValueError(
                    f"autoscaling bounds must satisfy min_replicas <= capacity.desired <= "
                    f"max_replicas, got {low} <= {self.capacity.desired} <= {high}"
                )
        return self


class GcpCloneServerGroupInput(CloneServerGroupInput, GcpServerGroupSettings):
    """``gcp.cloneServerGroup``: the common clone input plus optional GCP overrides."""

    @model_validator(mode="after")
    def _gcp_checks(self) -> Self:
        _check_gcp(self)
        return self


class GcpDestroyServerGroupInput(ServerGroupChangeInput):
    """``gcp.destroyServerGroup``: the common input plus guards used by a create's rollback.

    ``only_if_request_id`` leaves alone a group or template another request created;
    ``instance_template`` names a template to delete even when the group never came to exist.
    """

    only_if_request_id: str | None = Field(default=None, max_length=200)
    instance_template: str | None = Field(default=None, max_length=63)


class GcpTerminateInstancesInput(TerminateInstancesInput):
    """``gcp.terminateInstances``: the common input plus ``abandon``.

    ``abandon`` removes instances from the group without deleting them (the group shrinks by as
    many); otherwise they are recreated, or deleted with ``decrement_desired``.
    """

    abandon: bool = False


class GcpServerGroupDescription(ServerGroupDescription):
    """``gcp.describeServerGroup``: the common description plus what only GCP has."""

    zone: str | None = Field(default=None, description="zonal groups only")
    regional: bool = False
    instance_template: str | None = None
    target_pools: list[str] = Field(default_factory=list, description="recorded for the group")
    active_target_pools: list[str] = Field(default_factory=list)
    active_backend_services: list[str] = Field(default_factory=list)
    is_stable: bool = False
    current_actions: dict[str, int] = Field(default_factory=dict)
    network: str | None = None
    named_ports: dict[str, int] = Field(default_factory=dict)
    request_id: str | None = Field(default=None, description="the cloudops request that made it")
    self_link: str | None = None
    autoscaling: GcpAutoscalingPolicy | None = Field(
        default=None,
        description="the group's autoscaler (the one whose target is the group), if any",
    )
    auto_healing: GcpAutoHealing | None = Field(
        default=None, description="the group's auto-healing policy, if any"
    )


class GcpServerGroupList(ServerGroupList):
    """``gcp.listServerGroups``: the cluster's groups in the region, oldest first."""

    server_groups: list[GcpServerGroupDescription] = Field(  # type: ignore[assignment]
        default_factory=list
    )


# --------------------------------------------------------------------------------------------
# Activity arguments and results (one model in, one model out)
# --------------------------------------------------------------------------------------------


class GroupRef(GroupCall):
    """One managed instance group: zonal when ``zone`` is set, else regional."""

    zone: str | None = None


class OperationRef(cloudops.Output):
    """A Compute Operation to wait for: its name and where its endpoint is."""

    name: str
    scope: Literal["global", "region", "zone"]
    location: str | None = None
    target: str = ""


class Started(cloudops.Output):
    """What a mutating activity started: the operations to wait for, none if nothing to do."""

    operations: list[OperationRef] = Field(default_factory=list)
    changed: bool = True
    reason: str = ""


class WaitOperationsInput(GcpCall):
    """Poll operations until all are DONE (NotReady until then).

    ``settle_seconds``: how long the *first* attempt keeps re-reading before it answers
    NotReady, so an operation that finishes within a second costs no Temporal retry (whose
    timer fires a second or more later). Later attempts read once per poll interval.
    """

    operations: list[OperationRef]
    settle_seconds: float = Field(default=1.0, ge=0, le=10)


class OperationFailure(cloudops.Output):
    """A DONE operation's error, classified: retryable ones are retried with a new request id."""

    operation: str
    target: str
    code: str
    message: str
    http_status: int | None = None
    outcome: str = Field(description="'RETRY' or a cloudops error code")


class OperationOutcome(cloudops.Output):
    """Every awaited operation is DONE; these failed."""

    failures: list[OperationFailure] = Field(default_factory=list)


class TemplateSpec(GcpCall):
    """Create (or find, if this request made it) the instance template ``name``."""

    name: str
    server_group: str
    request_id: str
    gcp_request_id: str
    image: str
    machine_type: str
    network: str | None = None
    subnetwork: str | None = None
    network_tags: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    startup_script: str | None = None
    disk_size_gb: int | None = None
    disk_type: str | None = None
    service_account_email: str | None = None
    backend_services: list[str] = Field(default_factory=list)
    target_pools: list[str] = Field(default_factory=list)


class GroupSpec(GroupRef):
    """Create (or find, if this request made it) a managed instance group."""

    request_id: str
    gcp_request_id: str
    instance_template: str
    target_size: int
    zones: list[str] = Field(default_factory=list, description="regional distribution")
    target_pools: list[str] = Field(default_factory=list)
    auto_healing: GcpAutoHealing | None = None


class DeleteTemplateInput(GcpCall):
    """Delete an instance template; not found is success; guarded against others' templates."""

    name: str
    gcp_request_id: str
    only_if_request_id: str | None = None
    only_if_server_group: str | None = None


class AutoscalerSpec(GroupRef):
    """Create (or find, if this request made it) the autoscaler of a group, named as the group."""

    request_id: str
    gcp_request_id: str
    min_replicas: int
    max_replicas: int
    cpu_utilization_target: float
    cool_down_period_seconds: int
    mode: str


class AutoscalerChange(GroupRef):
    """Set the bounds of a group's autoscaler (a patch of its policy)."""

    min_replicas: int
    max_replicas: int
    gcp_request_id: str


class DeleteGroupInput(GroupRef):
    """Delete a group and its instances; not found is success."""

    gcp_request_id: str
    only_if_request_id: str | None = None


class DeleteAutoscalerInput(DeleteGroupInput):
    """Delete a group's autoscaler; not found is success; guarded against others'."""


class ResizeInput(GroupRef):
    """Set a group's target size."""

    size: int
    gcp_request_id: str


class TrafficInput(GroupRef):
    """Add the group to (enabled) or remove it from (disabled) its load balancing.

    Enabled, the group's target pools become exactly ``target_pools``; disabled, none.
    """

    enabled: bool
    backend_services: list[str] = Field(default_factory=list)
    target_pools: list[str] = Field(default_factory=list)
    named_ports: dict[str, int] = Field(default_factory=dict)
    gcp_request_id: str
    capacity_scaler: float | None = None  # a traffic share of the backends (default 1.0)


class WaitGroupInput(GroupRef):
    """Poll until the group is stable with ``desired`` instances RUNNING.

    ``desired`` defaults to the group's target size; with ``require_health`` the instances must
    also be healthy in the backend services the group is a backend of. ``settle_seconds`` as in
    :class:`WaitOperationsInput`.
    """

    desired: int | None = None
    require_health: bool = False
    settle_seconds: float = Field(default=1.0, ge=0, le=10)
    #: An autoscaler's new (min, max): wait until it has moved the target size within them
    #: (it acts on its next evaluation, not when its bounds change).
    bounds: tuple[int, int] | None = None


class GroupStatus(cloudops.Output):
    """Where a group stands; the result of a finished wait."""

    name: str
    target_size: int
    instances: int
    running: int
    healthy: int
    stable: bool


class TerminateInput(GroupRef):
    """Recreate, delete or abandon some instances of a group."""

    instance_ids: list[str]
    decrement_desired: bool = False
    abandon: bool = False
    gcp_request_id: str


class TerminateStarted(Started):
    """What ``gcp.terminate_instances`` started, and which instances it acted on."""

    result: TerminateInstancesOutput


#: ``gcp.describe_server_group``'s answer: the described group, or none.
ServerGroupLookup = Lookup[GcpServerGroupDescription]


# --------------------------------------------------------------------------------------------
# The optional verbs that make a new instance template (updateLaunchTemplate, tags), reboots
# --------------------------------------------------------------------------------------------

#: GCP label rules (Compute docs, "Labels": "Keys must start with a lowercase letter ... Keys
#: and values can contain only lowercase letters, numeric characters, underscores, and dashes";
#: at most 63 characters each).
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


class GcpTagsInput(TagsInput):
    """Add or change labels of a server group's instance template (GCP label rules)."""

    @field_validator("tags")
    @classmethod
    def _labels(cls, tags: dict[str, str]) -> dict[str, str]:
        for key, value in tags.items():
            if not LABEL_KEY.match(key):
                raise ValueError(
                    f"tags.{key}: a GCP label key is 1-63 lowercase letters, digits, '_' or '-',"
                    " starting with a letter"
                )
            if not LABEL_VALUE.match(value):
                raise ValueError(
                    f"tags.{key}: a GCP label value is 0-63 lowercase letters, digits, '_' or '-'"
                )
        return tags


class TemplateCopy(TemplateCall):
    """Copy the group's instance template with ``changes`` and label changes; or set ``version``."""

    labels: dict[str, str] = Field(default_factory=dict)
    drop_labels: list[str] = Field(default_factory=list)
    gcp_request_id: str = ""


class TemplateStarted(Started):
    """The template the group had and the one it gets (the same: nothing to change)."""

    previous: str = ""
    current: str = ""


class InstancesStarted(Started):
    """The instances a change started on."""

    instances: list[str] = Field(default_factory=list)
