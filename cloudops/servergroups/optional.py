"""The optional server-group verbs: their common models and skeletons, once for every cloud.

Why optional: Clouddriver's other atomic operations (``upsertScalingPolicy``,
``updateLaunchTemplate``, ``upsertServerGroupTags``, ``rebootInstances``...) do not exist on
every cloud (Azure has no suspended processes, GCP no image sharing between accounts). The verb
list is :data:`~cloudops.servergroups.contract.OPTIONAL_VERBS`; a cloud's adapter names the ones
it offers in ``offers`` and says why it lacks each other one in ``absent``, so the catalogue and
the docs show both. The kit builds an operation for each offered verb from the skeleton here.

The skeletons are workflow code. Each calls the adapter's method of the same purpose, whose
default calls the cloud's activity by its conventional name (``aws.put_scaling_policy``), and
registers the undo of what changed: the previous policy, template version, tags or processes
come back on a failure of a later step (or of a composing deploy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import BaseModel, Field, field_validator, model_validator

from cloudops.adapter import CloudAdapter
from cloudops.errors import BusinessError, ErrorCode
from cloudops.models import Input, Output
from cloudops.servergroups.contract import OPTIONAL_VERBS, CloudCall, GroupCall
from cloudops.servergroups.models import (
    ScalingSettings,
    ServerGroupOutput,
    ServerGroupRef,
    WaitSettings,
    _check_tags,
)

__all__ = [
    "OPTIONAL",
    "AllowLaunchCall",
    "AllowLaunchInput",
    "AllowLaunchOutput",
    "DetachInstancesInput",
    "InstancesCall",
    "InstancesChange",
    "InstancesInput",
    "MetricAlarm",
    "OptionalVerbs",
    "PolicyCall",
    "PolicyRestore",
    "ProcessesCall",
    "ProcessesInput",
    "ScalingPolicyInput",
    "ScalingPolicyRef",
    "StepAdjustment",
    "StepScaling",
    "TagKeysInput",
    "TagsCall",
    "TagsChange",
    "TagsInput",
    "TargetTracking",
    "TemplateCall",
    "TemplateChange",
    "UpdateLaunchTemplateInput",
    "not_members",
    "optional_verbs",
]

ModelT = TypeVar("ModelT", bound=BaseModel)


# --------------------------------------------------------------------------------------------
# Inputs of the operations
# --------------------------------------------------------------------------------------------


class ScalingPolicyRef(ServerGroupRef):
    """Names one scaling policy of a server group (``deleteScalingPolicy``)."""

    policy_name: str = Field(
        min_length=1, max_length=200, pattern=r"^[a-zA-Z0-9._-]+$", description="the policy"
    )


class TargetTracking(Input):
    """Keep a metric of the group near ``target`` (AWS target tracking, GCP autoscaler)."""

    metric: Literal["cpu", "network_in", "network_out"] = Field(
        default="cpu", description="cpu: average CPU utilisation in percent; network: bytes"
    )
    target: float = Field(gt=0, description="the value to keep (percent for cpu)")
    disable_scale_in: bool = Field(default=False, description="only ever add instances")
    warmup_seconds: int | None = Field(default=None, ge=0, le=86_400)


class MetricAlarm(Input):
    """The alarm (Azure: the metric trigger) that drives a step policy."""

    metric: str = Field(default="CPUUtilization", min_length=1, max_length=255)
    namespace: str = Field(default="AWS/EC2", min_length=1, max_length=255)
    statistic: Literal["Average", "Sum", "Minimum", "Maximum", "SampleCount"] = "Average"
    comparison: Literal[
        "GreaterThanOrEqualToThreshold",
        "GreaterThanThreshold",
        "LessThanThreshold",
        "LessThanOrEqualToThreshold",
    ]
    threshold: float
    period_seconds: int = Field(default=60, ge=10, le=86_400)
    evaluation_periods: int = Field(default=1, ge=1, le=100)


class StepAdjustment(Input):
    """Add (or remove, when negative) ``adjustment`` while the metric is in [lower, upper)."""

    lower: float | None = Field(default=None, description="bound above the threshold, or none")
    upper: float | None = Field(default=None, description="bound above the threshold, or none")
    adjustment: int


class StepScaling(Input):
    """Change the capacity by steps while an alarm is on (AWS step policy, Azure rules)."""

    adjustment_type: Literal["ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"] = (
        "ChangeInCapacity"
    )
    steps: list[StepAdjustment] = Field(min_length=1, max_length=20)
    alarm: MetricAlarm
    cooldown_seconds: int | None = Field(default=None, ge=0, le=86_400)


class ScalingPolicyInput(ScalingPolicyRef):
    """Create or replace one scaling policy: target tracking or step scaling (one of them)."""

    target_tracking: TargetTracking | None = None
    step: StepScaling | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.target_tracking is None) == (self.step is None):
            raise ValueError("give exactly one of target_tracking and step")
        return self


class UpdateLaunchTemplateInput(ServerGroupRef, WaitSettings):
    """Change what a server group's new instances boot; optionally replace the running ones.

    AWS: a new launch template version, made the default and set on the group; GCP: a new
    instance template set on the group; Azure: the scale set's model. With
    ``roll_instances`` the instances are replaced ``roll_batch_size`` at a time (terminated
    and replaced by the group, waiting for the replacements); if anything fails, the group
    goes back to the previous template.
    """

    image: str | None = Field(default=None, min_length=1, max_length=1000)
    instance_type: str | None = Field(default=None, min_length=1, max_length=100)
    user_data: str | None = Field(default=None, max_length=65_536)
    key_name: str | None = Field(default=None, max_length=255)
    roll_instances: bool = Field(default=False, description="replace the running instances")
    roll_batch_size: int = Field(default=1, ge=1, le=100)

    def changes(self) -> dict[str, str]:
        """The settings to change (those given)."""
        fields = ("image", "instance_type", "user_data", "key_name")
        return {f: getattr(self, f) for f in fields if getattr(self, f) is not None}

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.changes():
            raise ValueError("give at least one of image, instance_type, user_data, key_name")
        return self


class TagsInput(ServerGroupRef):
    """Add or change tags of a server group (GCP: labels of its instance template)."""

    tags: dict[str, str] = Field(min_length=1, max_length=50)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        _check_tags(value)
        return value


class TagKeysInput(ServerGroupRef):
    """Remove tags of a server group by key."""

    keys: list[str] = Field(min_length=1, max_length=50)

    @field_validator("keys")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        _check_tags(dict.fromkeys(value, ""))
        return value


class InstancesInput(ServerGroupRef):
    """Some instances of a server group (``rebootInstances``)."""

    instance_ids: list[str] = Field(min_length=1, max_length=100)

    @field_validator("instance_ids")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value) or any(not i.strip() for i in value):
            raise ValueError("instance ids must be unique and not empty")
        return value


class DetachInstancesInput(InstancesInput):
    """Take instances out of a server group; they keep running on their own."""

    decrement_desired: bool = Field(
        default=True, description="shrink the group (else it launches replacements)"
    )


class ProcessesInput(ServerGroupRef):
    """Scaling processes to suspend or resume (AWS: Launch, Terminate, AlarmNotification...)."""

    processes: list[str] = Field(min_length=1, max_length=20)


class AllowLaunchInput(Input):
    """Share an image (and its snapshots) of the request's account with another account.

    ``target_account`` is an account of the worker's ``cloudops.toml`` (its cloud account id is
    looked up with its own credentials) or a cloud account id. Clouddriver's ``allowLaunch``.
    """

    image: str = Field(min_length=1, max_length=1000, description="image id or name")
    target_account: str = Field(min_length=1, max_length=200)


class AllowLaunchOutput(Output):
    """The image shared, with whom, its snapshots, and whether anything changed."""

    image_id: str
    account_id: str
    snapshots: list[str] = Field(default_factory=list)
    changed: bool = True


# --------------------------------------------------------------------------------------------
# Arguments and answers of the activities
# --------------------------------------------------------------------------------------------


class _Scoped(GroupCall):
    scope: dict[str, Any] = Field(default_factory=dict)


class PolicyCall(_Scoped):
    """Read or write the policy ``policy`` names (``policy_name`` and its settings)."""

    request_id: str = ""
    policy: ScalingPolicyInput | ScalingPolicyRef


class PolicyRestore(PolicyCall):
    """Make the policy what ``snapshot`` read (no resources: delete it)."""

    snapshot: ScalingSettings


class TemplateCall(_Scoped):
    """Change (``changes``) or restore (``version``) what the group's new instances boot."""

    request_id: str = ""
    changes: dict[str, str] = Field(default_factory=dict)
    version: str | None = None
    default_version: str | None = None


class TemplateChange(Output):
    """The template (version) before and after, as ``TemplateCall.version`` names it."""

    previous: str
    current: str
    previous_default: str | None = None

    @property
    def changed(self) -> bool:
        """Whether the group boots something else now."""
        return self.previous != self.current


class TagsCall(_Scoped):
    """Set ``upsert`` and remove ``delete`` on the group."""

    upsert: dict[str, str] = Field(default_factory=dict)
    delete: list[str] = Field(default_factory=list)


class TagsChange(Output):
    """The touched keys' values before the change (None: the key was not there)."""

    before: dict[str, str | None] = Field(default_factory=dict)

    def undo(self, call: TagsCall) -> TagsCall | None:
        """The call that puts the touched keys back, or None when nothing changed."""
        restore = {
            k: v for k, v in self.before.items() if v is not None and v != call.upsert.get(k)
        }
        remove = [k for k, v in self.before.items() if v is None and k in call.upsert]
        if not restore and not remove:
            return None
        return call.model_copy(update={"upsert": restore, "delete": remove})


class InstancesCall(_Scoped):
    """Act on instances of the group."""

    instance_ids: list[str]
    decrement_desired: bool = False


class ProcessesCall(_Scoped):
    """Suspend (or resume) processes of the group."""

    processes: list[str]
    suspend: bool


class InstancesChange(Output):
    """The instances (or processes) that changed now; the others were already so."""

    changed: list[str] = Field(default_factory=list)


class AllowLaunchCall(CloudCall):
    """Share ``image`` with ``target_account``; ``remove`` takes the permission back."""

    image: str
    target_account: str
    remove: bool = False


# --------------------------------------------------------------------------------------------
# What an adapter offers, and the defaults its skeletons call
# --------------------------------------------------------------------------------------------


class OptionalVerbs(CloudAdapter):
    """The part of :class:`~cloudops.servergroups.kit.ServerGroupCloud` for the optional verbs.

    ``offers`` names the verbs the cloud offers: it registers their activities (conventional
    names: ``read_scaling_policy``, ``put_scaling_policy``, ``restore_scaling_policy``,
    ``update_launch_template``, ``set_launch_template``, ``set_server_group_tags``,
    ``reboot_instances``, ``detach_instances``, ``attach_instances``, ``set_processes``,
    ``allow_launch``) or overrides :meth:`call` for them. ``absent`` says, per verb it does not
    offer, why (the cloud has no such thing, or its nearest equivalent); the docs show it.
    """

    offers: ClassVar[tuple[str, ...]] = ()
    absent: ClassVar[dict[str, str]] = {}
    #: Per verb, what it does on this cloud (else the kit's generic description).
    verb_descriptions: ClassVar[dict[str, str]] = {}

    async def call(self, activity: str, arg: BaseModel, result_type: type[ModelT]) -> ModelT:
        """Run one of this cloud's activities (``activity`` without the provider prefix)."""
        result: ModelT = await self.ctx.execute_activity(
            self.activity(activity), arg, result_type=result_type
        )
        return result

    def undo(self, activity: str, arg: BaseModel, label: str) -> None:
        """Register the undo of a change: one of this cloud's activities with ``arg``."""
        self.ctx.on_rollback(self.activity(activity), arg, label=label)

    async def roll(self, input: Any, batch: list[str]) -> None:
        """Bring the running instances ``batch`` onto the new template (``roll_instances``).

        The default terminates them (``terminateInstances`` without shrinking the group), so
        the group launches replacements from the new template and, with ``wait``, waits for
        them. A cloud that can update instances in place overrides it.
        """
        cloud: Any = self
        await cloud.terminate(
            cloud.models.terminate(
                **cloud.scope(input),
                server_group=input.server_group,
                instance_ids=batch,
                **input.model_dump(include=set(WaitSettings.model_fields)),
            )
        )


def not_members(group: str, outside: list[str]) -> BusinessError:
    """The failure of an instance verb given ids that are not instances of ``group``."""
    return BusinessError(
        ErrorCode.NOT_FOUND,
        f"not instances of {group}: {', '.join(sorted(outside))}",
        {"name": group},
    )


def optional_verbs(cloud: type[OptionalVerbs]) -> dict[str, str | None]:
    """Each optional verb: None when ``cloud`` offers it, else why not."""
    unknown = set(cloud.offers) - set(OPTIONAL_VERBS)
    assert not unknown, f"{cloud.__name__} offers unknown verbs {sorted(unknown)}"
    return {
        verb: None
        if verb in cloud.offers
        else cloud.absent.get(verb, "not implemented by this provider")
        for verb in OPTIONAL_VERBS
    }


# --------------------------------------------------------------------------------------------
# The skeletons
# --------------------------------------------------------------------------------------------


def _common(model: type[ModelT], input: BaseModel) -> ModelT:
    """``input`` as the common ``model`` (a cloud's input may add scope fields)."""
    return model.model_validate(input.model_dump(include=set(model.model_fields)))


def _scoped(cloud: Any, input: Any, **fields: Any) -> dict[str, Any]:
    return {**cloud.where(), "name": input.server_group, "scope": cloud.scope(input), **fields}


async def _put_policy(cloud: Any, input: Any, delete: bool) -> ServerGroupOutput:
    group, ctx = input.server_group, cloud.ctx
    await cloud.require(input)
    policy = _common(ScalingPolicyRef if delete else ScalingPolicyInput, input)
    call = PolicyCall(**_scoped(cloud, input, request_id=ctx.request_id, policy=policy))
    with ctx.step(f"read policy {policy.policy_name}"):
        before = await cloud.call("read_scaling_policy", call, ScalingSettings)
    if delete and not before.resources:
        return cloud.output(group, changed=False)  # type: ignore[no-any-return]
    restore = PolicyRestore(**call.model_dump(), snapshot=before)
    cloud.undo("restore_scaling_policy", restore, f"restore policy {policy.policy_name}")
    with ctx.step(f"{'delete' if delete else 'put'} policy {policy.policy_name}"):
        if delete:
            empty = ScalingSettings(source=group)
            after = await cloud.call(
                "restore_scaling_policy",
                restore.model_copy(update={"snapshot": empty}),
                ScalingSettings,
            )
        else:
            after = await cloud.call("put_scaling_policy", call, ScalingSettings)
    names = {f"{r.kind}:{r.name}": r.name for r in (before.resources + after.resources)}
    return cloud.output(  # type: ignore[no-any-return]
        group, changed=before.resources != after.resources, resources=names
    )


async def _upsert_policy(cloud: Any, input: Any) -> ServerGroupOutput:
    return await _put_policy(cloud, input, delete=False)


async def _delete_policy(cloud: Any, input: Any) -> ServerGroupOutput:
    return await _put_policy(cloud, input, delete=True)


async def _update_template(cloud: Any, input: Any) -> ServerGroupOutput:
    group, ctx = input.server_group, cloud.ctx
    current = await cloud.require(input)
    call = TemplateCall(**_scoped(cloud, input, request_id=ctx.request_id, changes=input.changes()))
    with ctx.step("update launch template"):
        change = await cloud.call("update_launch_template", call, TemplateChange)
    if change.changed:
        back = {
            "changes": {},
            "version": change.previous,
            "default_version": change.previous_default,
        }
        cloud.undo(
            "set_launch_template", call.model_copy(update=back), f"back to {change.previous}"
        )
    replaced: list[str] = []
    ids = sorted(i.id for i in current.instances)
    size = input.roll_batch_size
    for batch in (
        [ids[at : at + size] for at in range(0, len(ids), size)] if input.roll_instances else []
    ):
        with ctx.step(f"replace {', '.join(batch)}"):
            await cloud.roll(input, batch)
        replaced += batch
    resources = {"previous": change.previous, "current": change.current}
    if replaced:
        resources["replaced"] = ",".join(replaced)
    return cloud.output(  # type: ignore[no-any-return]
        group, capacity=current.capacity, changed=change.changed, resources=resources
    )


async def _tags(cloud: Any, input: Any) -> ServerGroupOutput:
    upsert, delete = getattr(input, "tags", {}), getattr(input, "keys", [])
    call = TagsCall(**_scoped(cloud, input, upsert=upsert, delete=delete))
    current = await cloud.require(input)
    undo = TagsChange(before={k: current.tags.get(k) for k in [*upsert, *delete]}).undo(call)
    if undo is not None:
        cloud.undo("set_server_group_tags", undo, f"restore tags of {input.server_group}")
        with cloud.ctx.step("set tags"):
            await cloud.call("set_server_group_tags", call, TagsChange)
    return cloud.output(input.server_group, changed=undo is not None)  # type: ignore[no-any-return]


async def _instances(cloud: Any, input: Any, activity: str, undo: str | None) -> ServerGroupOutput:
    decrement = getattr(input, "decrement_desired", False)
    call = InstancesCall(
        **_scoped(cloud, input, instance_ids=input.instance_ids, decrement_desired=decrement)
    )
    with cloud.ctx.step(activity.replace("_", " ")):
        done = await cloud.call(activity, call, InstancesChange)
    if undo and done.changed:
        back = call.model_copy(update={"instance_ids": done.changed})
        cloud.undo(undo, back, f"{undo.replace('_', ' ')} {', '.join(done.changed)}")
    return cloud.output(  # type: ignore[no-any-return]
        input.server_group,
        changed=bool(done.changed),
        resources={"instances": ",".join(done.changed)},
    )


async def _reboot(cloud: Any, input: Any) -> ServerGroupOutput:
    return await _instances(cloud, input, "reboot_instances", None)


async def _detach(cloud: Any, input: Any) -> ServerGroupOutput:
    return await _instances(cloud, input, "detach_instances", "attach_instances")


async def _processes(cloud: Any, input: Any, suspend: bool) -> ServerGroupOutput:
    call = ProcessesCall(**_scoped(cloud, input, processes=input.processes, suspend=suspend))
    with cloud.ctx.step(f"{'suspend' if suspend else 'resume'} processes"):
        done = await cloud.call("set_processes", call, InstancesChange)
    if done.changed:
        back = call.model_copy(update={"processes": done.changed, "suspend": not suspend})
        cloud.undo("set_processes", back, f"{'resume' if suspend else 'suspend'} {done.changed}")
    return cloud.output(  # type: ignore[no-any-return]
        input.server_group,
        changed=bool(done.changed),
        resources={"processes": ",".join(done.changed)},
    )


async def _suspend(cloud: Any, input: Any) -> ServerGroupOutput:
    return await _processes(cloud, input, True)


async def _resume(cloud: Any, input: Any) -> ServerGroupOutput:
    return await _processes(cloud, input, False)


async def _allow_launch(cloud: Any, input: AllowLaunchInput) -> AllowLaunchOutput:
    call = AllowLaunchCall(**cloud.where(), image=input.image, target_account=input.target_account)
    with cloud.ctx.step(f"share {input.image} with {input.target_account}"):
        shared: AllowLaunchOutput = await cloud.call("allow_launch", call, AllowLaunchOutput)
    if shared.changed:
        cloud.undo("allow_launch", call.model_copy(update={"remove": True}), "unshare the image")
    return shared


@dataclass(frozen=True)
class Optional:
    """How the kit makes one optional verb's operation."""

    skeleton: Any
    input: type[Input]
    output: type[Output]
    description: str
    scoped: bool = True  # the input names a group, so it takes the cloud's scope fields


OPTIONAL: dict[str, Optional] = {
    "upsertScalingPolicy": Optional(
        _upsert_policy,
        ScalingPolicyInput,
        ServerGroupOutput,
        "Create or replace a scaling policy of a server group (with its alarm).\n\n"
        "Repeating it changes nothing; on a later failure the previous policy comes back.",
    ),
    "deleteScalingPolicy": Optional(
        _delete_policy,
        ScalingPolicyRef,
        ServerGroupOutput,
        "Delete a scaling policy of a server group (with its alarm); a missing one is success.",
    ),
    "updateLaunchTemplate": Optional(
        _update_template,
        UpdateLaunchTemplateInput,
        ServerGroupOutput,
        "Change what a server group's new instances boot, optionally replacing the running ones."
        "\n\nOn a failure (a replacement that never gets healthy) the group goes back to the "
        "previous template.",
    ),
    "upsertServerGroupTags": Optional(
        _tags, TagsInput, ServerGroupOutput, "Add or change tags of a server group."
    ),
    "deleteServerGroupTags": Optional(
        _tags, TagKeysInput, ServerGroupOutput, "Remove tags of a server group by key."
    ),
    "rebootInstances": Optional(
        _reboot, InstancesInput, ServerGroupOutput, "Reboot instances of a server group."
    ),
    "detachInstances": Optional(
        _detach,
        DetachInstancesInput,
        ServerGroupOutput,
        "Take instances out of a server group; they keep running on their own.",
    ),
    "suspendProcesses": Optional(
        _suspend, ProcessesInput, ServerGroupOutput, "Suspend scaling processes of a server group."
    ),
    "resumeProcesses": Optional(
        _resume, ProcessesInput, ServerGroupOutput, "Resume scaling processes of a server group."
    ),
    "allowLaunch": Optional(
        _allow_launch,
        AllowLaunchInput,
        AllowLaunchOutput,
        "Share an image and its snapshots with another account, so it can launch it.",
        scoped=False,
    ),
}
assert tuple(OPTIONAL) == OPTIONAL_VERBS, "every optional verb has a skeleton"
