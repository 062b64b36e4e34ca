"""AWS-specific models: account settings, the optional AWS fields of inputs, activity arguments.

Why a module of its own: the plugin module, the workflow code and the activities all use these
models, and none of them may pull boto3 in (``cloudops --help`` and the workflow sandbox must stay
light), so this module imports pydantic and cloudops only.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

import cloudops
from cloudops.servergroups.contract import CloudCall as AwsCall
from cloudops.servergroups.contract import (
    GroupCall,
    NewGroup,
    NextNameInput,
    NextNameOutput,
    WaitCall,
    WaitedGroup,
)
from cloudops.servergroups.contract import ServerGroupLookup as Lookup
from cloudops.servergroups.models import (
    Capacity,
    CloneServerGroupInput,
    CreateServerGroupInput,
    ServerGroupDescription,
    ServerGroupList,
)

__all__ = [
    "DISABLE_PROCESSES",
    "AutoScalingGroupRef",
    "AutoScalingGroupSpec",
    "AwsAccountSettings",
    "AwsCall",
    "AwsCloneServerGroupInput",
    "AwsCreateServerGroupInput",
    "AwsServerGroupDescription",
    "BlockDevice",
    "CapacityStatus",
    "DeleteGroupInput",
    "DeleteLaunchTemplateInput",
    "DeleteOutput",
    "GroupCall",
    "LaunchTemplateRef",
    "LaunchTemplateSpec",
    "LifecycleHook",
    "NextNameInput",
    "NextNameOutput",
    "ScalingProcessesInput",
    "ServerGroupLookup",
    "TerminateInput",
    "TrafficInput",
    "TrafficOutput",
    "UpdateCapacityInput",
    "WaitForCapacityInput",
]

#: Processes Spinnaker suspends to disable an Auto Scaling group (and resumes to enable it).
DISABLE_PROCESSES = ("Launch", "Terminate", "AddToLoadBalancer")


# AWS launch template names: 3-128 characters of letters, digits and ( ) . - / _
LAUNCH_TEMPLATE_NAME = r"^[a-zA-Z0-9().\-/_]{3,128}$"


class AwsAccountSettings(BaseModel):
    """The AWS keys of an ``[accounts.NAME]`` table in ``cloudops.toml``.

    Why these: they are the credential sources a worker may use without a secret in the file.
    With none set, boto3's default chain applies (environment, instance or task role, SSO...).
    ``profile`` names a profile of ``~/.aws/config``; ``role_arn`` is assumed (from the profile or
    the default chain) with STS, refreshed before it expires. ``max_attempts`` bounds botocore's
    own tries per call (first try included): Temporal owns durable retrying, so keep it small.
    The endpoint override is the common ``endpoint`` key (for moto and other emulators).
    """

    model_config = ConfigDict(extra="forbid")

    profile: str | None = Field(default=None, min_length=1)
    role_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
    external_id: str | None = Field(default=None, min_length=2, max_length=1224)
    role_session_name: str = Field(default="cloudops", pattern=r"^[\w+=,.@-]{2,64}$")
    role_duration_seconds: int = Field(default=3600, ge=900, le=43_200)
    max_attempts: int = Field(default=2, ge=1, le=10)
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    read_timeout_seconds: float = Field(default=60.0, gt=0, le=900)

    @model_validator(mode="after")
    def _external_id_needs_role(self) -> Self:
        if self.external_id and not self.role_arn:
            raise ValueError("external_id is only used with role_arn")
        return self


# --------------------------------------------------------------------------------------------
# Operation inputs: the common ones plus optional AWS settings
# --------------------------------------------------------------------------------------------


#: Our field names of a lifecycle hook and of an EBS volume -> the API's.
_HOOK_API: dict[str, str] = {
    "name": "LifecycleHookName",
    "transition": "LifecycleTransition",
    "heartbeat_timeout_seconds": "HeartbeatTimeout",
    "default_result": "DefaultResult",
    "notification_target_arn": "NotificationTargetARN",
    "role_arn": "RoleARN",
    "notification_metadata": "NotificationMetadata",
}
_EBS_API: dict[str, str] = {
    "size_gb": "VolumeSize",
    "volume_type": "VolumeType",
    "iops": "Iops",
    "throughput": "Throughput",
    "encrypted": "Encrypted",
    "delete_on_termination": "DeleteOnTermination",
    "snapshot_id": "SnapshotId",
}


class LifecycleHook(BaseModel):
    """A lifecycle hook of a group (PutLifecycleHook's fields), created with the group."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9\-_/]+$")
    transition: Literal[
        "autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:EC2_INSTANCE_TERMINATING"
    ]
    heartbeat_timeout_seconds: int | None = Field(default=None, ge=30, le=7200)
    default_result: Literal["CONTINUE", "ABANDON"] | None = None
    notification_target_arn: str | None = None
    role_arn: str | None = None
    notification_metadata: str | None = Field(default=None, max_length=1023)

    def api(self) -> dict[str, Any]:
        """The hook as a ``LifecycleHookSpecificationList`` entry."""
        return {_HOOK_API[k]: v for k, v in self.model_dump(exclude_none=True).items()}

    @classmethod
    def from_api(cls, hook: dict[str, Any]) -> LifecycleHook:
        """The hook read back by DescribeLifecycleHooks."""
        return cls(**{k: hook[a] for k, a in _HOOK_API.items() if hook.get(a) is not None})


class BlockDevice(BaseModel):
    """A block device mapping of the launch template (an EBS volume or an instance store)."""

    model_config = ConfigDict(extra="forbid")

    device_name: str = Field(min_length=1, max_length=64, description="e.g. /dev/xvda")
    size_gb: int | None = Field(default=None, ge=1, le=65_536)
    volume_type: str | None = Field(default=None, description="gp3, io2... (EBS)")
    iops: int | None = Field(default=None, ge=100)
    throughput: int | None = Field(default=None, ge=125)
    encrypted: bool | None = None
    delete_on_termination: bool | None = None
    snapshot_id: str | None = None
    virtual_name: str | None = Field(default=None, description="ephemeralN: an instance store")

    def api(self) -> dict[str, Any]:
        """The mapping as a launch template's ``BlockDeviceMappings`` entry."""
        entry: dict[str, Any] = {"DeviceName": self.device_name}
        if self.virtual_name:
            entry["VirtualName"] = self.virtual_name
        ebs = {a: getattr(self, k) for k, a in _EBS_API.items() if getattr(self, k) is not None}
        if ebs:
            entry["Ebs"] = ebs
        return entry

    @classmethod
    def from_api(cls, entry: dict[str, Any]) -> BlockDevice:
        """A mapping of launch template data."""
        ebs = entry.get("Ebs") or {}
        return cls(
            device_name=entry["DeviceName"],
            virtual_name=entry.get("VirtualName"),
            **{k: ebs[a] for k, a in _EBS_API.items() if ebs.get(a) is not None},
        )


class AwsServerGroupSettings(BaseModel):
    """Optional AWS settings of a server group, beyond the provider-agnostic ones.

    ``health_check_type`` defaults to ``ELB`` when the group has target groups or load
    balancers (so an instance failing its load balancer check is replaced), else ``EC2``.
    ``user_data_base64`` carries binary (e.g. gzipped) user data; give it or ``user_data``.
    """

    model_config = ConfigDict(extra="forbid")

    iam_instance_profile: str | None = Field(
        default=None, max_length=2048, description="instance profile name or ARN"
    )
    health_check_type: Literal["EC2", "ELB"] | None = None
    health_check_grace_period_seconds: int | None = Field(default=None, ge=0, le=7200)
    cooldown_seconds: int | None = Field(default=None, ge=0, le=86_400)
    termination_policies: list[str] | None = None
    associate_public_ip_address: bool | None = None
    ebs_optimized: bool | None = None
    user_data_base64: str | None = Field(default=None, max_length=87_384)
    block_devices: list[BlockDevice] | None = Field(
        default=None, max_length=32, description="launch template block device mappings"
    )
    lifecycle_hooks: list[LifecycleHook] | None = Field(
        default=None,
        max_length=50,
        description="created with the group, before any instance launches; a source's hooks "
        "are added unless one of that name is given",
    )


class AwsCreateServerGroupInput(CreateServerGroupInput, AwsServerGroupSettings):
    """``aws.createServerGroup``: the common input plus optional AWS settings."""

    @model_validator(mode="after")
    def _aws_checks(self) -> Self:
        if self.user_data is not None and self.user_data_base64 is not None:
            raise ValueError("give user_data or user_data_base64, not both")
        if not self.zones and not self.subnets:
            raise ValueError("give availability zones (zones) or subnet ids (subnets), or both")
        return self


class AwsCloneServerGroupInput(CloneServerGroupInput, AwsServerGroupSettings):
    """``aws.cloneServerGroup``: the common clone input plus optional AWS overrides."""

    @model_validator(mode="after")
    def _aws_checks(self) -> Self:
        if self.user_data is not None and self.user_data_base64 is not None:
            raise ValueError("give user_data or user_data_base64, not both")
        return self


class AwsServerGroupDescription(ServerGroupDescription):
    """``aws.describeServerGroup``: the common description plus what only AWS has."""

    arn: str | None = None
    launch_template_id: str | None = None
    launch_template_name: str | None = None
    launch_template_version: str | None = None
    suspended_processes: list[str] = Field(default_factory=list)
    health_check_type: str | None = None
    key_name: str | None = None
    status: str | None = Field(default=None, description="e.g. 'Delete in progress'")


# --------------------------------------------------------------------------------------------
# Activity arguments and results (one model in, one model out)
# --------------------------------------------------------------------------------------------


class LaunchTemplateSpec(AwsCall):
    """Create (or find, if this request already created it) the launch template ``name``."""

    name: str
    request_id: str
    image: str
    instance_type: str
    key_name: str | None = None
    security_groups: list[str] = Field(default_factory=list)
    user_data: str | None = None
    user_data_base64: str | None = None
    iam_instance_profile: str | None = None
    associate_public_ip_address: bool | None = None
    ebs_optimized: bool | None = None
    subnets: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    block_devices: list[BlockDevice] = Field(default_factory=list)


class LaunchTemplateRef(cloudops.Output):
    """A launch template made or found by ``aws.create_launch_template``."""

    id: str
    name: str
    version: str
    created: bool = Field(description="false when this request had already created it")


class AutoScalingGroupSpec(AwsCall, NewGroup):
    """Create (or find, if this request already created it) the Auto Scaling group ``name``."""

    name: str
    launch_template_id: str
    launch_template_version: str
    target_groups: list[str] = Field(default_factory=list)
    health_check_type: Literal["EC2", "ELB"] | None = None
    health_check_grace_period_seconds: int | None = None
    cooldown_seconds: int | None = None
    termination_policies: list[str] = Field(default_factory=list)
    lifecycle_hooks: list[LifecycleHook] = Field(default_factory=list)


class AutoScalingGroupRef(cloudops.Output):
    """An Auto Scaling group made or found by ``aws.create_auto_scaling_group``."""

    name: str
    arn: str | None = None
    target_group_arns: list[str] = Field(default_factory=list)
    created: bool = Field(description="false when this request had already created it")


class WaitForCapacityInput(WaitCall):
    """Poll until the group runs ``desired`` healthy instances and the excluded ones left.

    Target-group health is required unless the group is disabled.
    """


class CapacityStatus(WaitedGroup):
    """How far a group is from its capacity: healthy instances (in service, in traffic)."""

    healthy: int


class UpdateCapacityInput(GroupCall):
    """Set min, max and desired (resuming Launch/Terminate on a disabled group so it can change)."""

    capacity: Capacity


class ScalingProcessesInput(GroupCall):
    """Suspend or resume scaling processes of a group."""

    processes: list[str]
    suspend: bool


class TrafficInput(GroupCall):
    """Register (enabled) or deregister (disabled) the group's instances in its load balancers.

    With ``wait_drained`` the call answers NotReady until no target is registered or draining,
    so that it can be polled.
    """

    enabled: bool
    wait_drained: bool = False
    out: list[str] | None = None  # a traffic share: these out, the others in


class TrafficOutput(cloudops.Output):
    """Which load balancers and instances were touched."""

    target_groups: list[str] = Field(default_factory=list)
    load_balancers: list[str] = Field(default_factory=list)
    instances: list[str] = Field(default_factory=list)
    changed: bool = False


class DeleteGroupInput(GroupCall):
    """Delete a group (force: its instances too). Not found is success.

    ``only_if_request_id`` guards rollbacks: a group not tagged with that request id is left
    alone (it was someone else's). With ``wait_until_gone`` the call answers NotReady until the
    group no longer exists, so that it can be polled or retried.
    """

    only_if_request_id: str | None = None
    wait_until_gone: bool = False


class DeleteLaunchTemplateInput(AwsCall):
    """Delete a launch template by id or name. Not found is success.

    ``only_if_request_id`` and ``only_if_server_group`` guard against deleting a template this
    request (or this server group) did not create.
    """

    name: str | None = None
    launch_template_id: str | None = None
    only_if_request_id: str | None = None
    only_if_server_group: str | None = None

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        if not self.name and not self.launch_template_id:
            raise ValueError("give name or launch_template_id")
        return self


class DeleteOutput(cloudops.Output):
    """Whether something was deleted now, and why not otherwise."""

    deleted: bool
    reason: str = ""
    id: str | None = None


class TerminateInput(GroupCall):
    """Terminate instances of a group, optionally shrinking it."""

    instance_ids: list[str]
    decrement_desired: bool = False


class AwsServerGroupList(ServerGroupList):
    """``aws.listServerGroups``: the cluster's groups, oldest first."""

    server_groups: list[AwsServerGroupDescription] = Field(  # type: ignore[assignment]
        default_factory=list
    )


#: ``aws.describe_server_group``'s answer: the described group, or none.
ServerGroupLookup = Lookup[AwsServerGroupDescription]
