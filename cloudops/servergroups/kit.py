"""The provider kit: turn a small per-cloud adapter into the server-group operations.

Why: every server-group cloud offers the same verbs (:data:`~cloudops.servergroups.contract.VERBS`)
with the same skeletons: a clone reads its source, merges the overrides and creates; enable and
disable describe the group, register the opposite verb as their undo, then move traffic; describe
and list are one read each. Those skeletons live here once. A cloud writes a
:class:`ServerGroupCloud` (workflow code: what differs, as Libcloud's drivers and Cloud Custodian's
resource declarations do) and gets its operation classes from :func:`server_group_operations`.

The adapter's methods run inside the workflow: deterministic, no I/O but activities called by
name (``f"{provider}.describe_server_group"``), so the sandbox never imports the cloud's SDK.
"""

from __future__ import annotations

import builtins
import dataclasses
import inspect
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cloudops import patching
from cloudops.adapter import CLOUD_ACTIVITY_DEFAULTS
from cloudops.errors import BusinessError, ErrorCode
from cloudops.models import Input, Output
from cloudops.operation import CloudOperation, OperationContext
from cloudops.servergroups.contract import (
    READ_VERBS,
    VERBS,
    ClusterCall,
    GroupCall,
    NextNameInput,
    NextNameOutput,
    ScalingCopyInput,
    ScalingCopyOutput,
    ServerGroupLookup,
)
from cloudops.servergroups.models import (
    CloneServerGroupInput,
    ClusterRef,
    CreateServerGroupInput,
    ResizeServerGroupInput,
    ScalingSettings,
    ServerGroupChangeInput,
    ServerGroupDescription,
    ServerGroupList,
    ServerGroupOutput,
    ServerGroupRef,
    TerminateInstancesInput,
    TerminateInstancesOutput,
    WaitSettings,
    cluster_name,
    poll_until_ready,
)
from cloudops.servergroups.optional import OPTIONAL, OptionalVerbs, optional_verbs

__all__ = [
    "CLOUD_ACTIVITY_DEFAULTS",
    "COPY_SOURCE_SCALING",
    "ServerGroupCloud",
    "ServerGroupModels",
    "input_fields",
    "not_found",
    "server_group_operations",
    "share_out",
]


#: ``workflow.patched`` id: creates and clones started before it never copied a source's
#: autoscaling; started after, a create with a ``source`` (and every clone) copies it.
COPY_SOURCE_SCALING = "servergroups-copy-source-scaling"


@dataclass(frozen=True)
class ServerGroupModels:
    """The input and output model of each verb on one cloud (defaults: the common models).

    A cloud subclasses a common input to add optional settings of its own (never to remove one);
    ``group_call`` and ``cluster_call`` are the arguments of its describe/read and list
    activities, which carry the cloud's scope fields (Azure: the resource group).
    """

    create: type[CreateServerGroupInput] = CreateServerGroupInput
    clone: type[CloneServerGroupInput] = CloneServerGroupInput
    resize: type[ResizeServerGroupInput] = ResizeServerGroupInput
    change: type[ServerGroupChangeInput] = ServerGroupChangeInput
    destroy: type[ServerGroupChangeInput] = ServerGroupChangeInput
    terminate: type[TerminateInstancesInput] = TerminateInstancesInput
    ref: type[ServerGroupRef] = ServerGroupRef
    cluster: type[ClusterRef] = ClusterRef
    description: type[ServerGroupDescription] = ServerGroupDescription
    list: type[ServerGroupList] = ServerGroupList
    group_call: type[GroupCall] = GroupCall
    cluster_call: type[ClusterCall] = ClusterCall
    next_name: type[NextNameInput] = NextNameInput
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def named(cls, module: Any, label: str, **models: Any) -> ServerGroupModels:
        """The subclasses of the common models in ``module``, found by name.

        A verb takes ``module``'s ``{label}NAME`` (else ``NAME``) where ``NAME`` is its common
        model's name (``AwsCreateServerGroupInput``); ``models`` names the others.
        """
        for f in dataclasses.fields(cls):
            default = f.default
            if not isinstance(default, type):
                continue
            for name in (f"{label}{default.__name__}", default.__name__):
                found = getattr(module, name, None)
                if isinstance(found, type) and issubclass(found, default):
                    models.setdefault(f.name, found)
                    break
        return cls(**models)


def not_found(name: str) -> BusinessError:
    """The NOT_FOUND business error of a server group that does not exist."""
    return BusinessError(
        ErrorCode.NOT_FOUND, f"server group {name!r} does not exist", {"server_group": name}
    )


class ServerGroupCloud(OptionalVerbs):
    """One cloud's server groups, seen from the workflow: what the kit's skeletons call.

    Subclass it, set the class attributes, and implement :meth:`create`, :meth:`resize`,
    :meth:`set_traffic`, :meth:`destroy` and :meth:`terminate`. The other methods have
    defaults that call the cloud's activities by their conventional names
    (``describe_server_group``, ``list_server_groups``, ``read_server_group_template``,
    ``next_server_group_name``), which the cloud registers. Each method's docstring becomes the
    description of its operation (``cloudops operations show``), so say what the cloud does.
    One instance serves one operation run (``self.ctx``). The optional verbs it offers
    (``offers``) get operations too (:class:`~cloudops.servergroups.optional.OptionalVerbs`).
    """

    #: The models of each verb.
    models: ClassVar[ServerGroupModels] = ServerGroupModels()
    #: Whether :meth:`set_traffic_share` is implemented: enable and disable then take a
    #: ``desired_percentage`` (a share of the instances in or out of the load balancers).
    traffic_shares: ClassVar[bool] = False
    #: Whether the cloud copies a source's autoscaling (``copy_source_scaling``): it then
    #: registers the activities ``read_scaling``, ``copy_scaling`` and ``delete_copied_scaling``
    #: (or overrides the methods below). A cloud without any says so in its docs.
    copies_scaling: ClassVar[bool] = False
    #: Descriptions of the verbs whose skeleton is the kit's own (the others: the docstrings of
    #: :meth:`create`, :meth:`resize`, :meth:`destroy`, :meth:`terminate`...). Say what the
    #: cloud does; the first line is the summary ``cloudops operations`` lists.
    #: What a clone takes from its source, for the clone's description.
    clone_copies: ClassVar[str] = "settings"
    clone_description: ClassVar[str] = """
    Create the next server group of a cluster as a copy of another, with overrides.

    The copy takes the source's {copies}; any field of the input replaces the source's.
    ``stack`` and ``detail`` may move the copy to another cluster. The source is not changed.
    """
    enable_description: ClassVar[str] = "Put a server group back into traffic."
    disable_description: ClassVar[str] = "Take a server group out of traffic without deleting it."
    describe_description: ClassVar[str] = """
    Describe a server group: capacity, instances and their health, traffic state.

    A group that does not exist is a ``NOT_FOUND`` business failure.
    """
    list_description: ClassVar[str] = """
    List a cluster's server groups, oldest first, each described.

    Deploy strategies use it to find the groups to disable and the oldest ones to destroy.
    """

    # --- helpers for adapters --------------------------------------------------------------------
    def scope(self, input: Any) -> dict[str, Any]:
        """The scope fields of ``input`` (those it has), to pass on to activities and undos."""
        return {f: getattr(input, f) for f in self.scope_fields if hasattr(input, f)}

    def where(self, input: Any = None, **fields: Any) -> dict[str, Any]:
        """Account, region and the scope of ``input``: the keywords of an activity argument."""
        return {"account": self.account, "region": self.region, **self.scope(input), **fields}

    def group_call(self, name: str, input: Any = None) -> GroupCall:
        """The argument of an activity on group ``name`` (in ``input``'s scope)."""
        return self.models.group_call(**self.where(input, name=name))

    async def poll(
        self, activity: str, arg: Any, wait: WaitSettings, result_type: type[Any]
    ) -> Any:
        """Poll one of this cloud's activities at the input's interval until it is ready."""
        return await poll_until_ready(self.ctx, self.activity(activity), arg, wait, result_type)

    async def choose_name(self, input: CreateServerGroupInput) -> NextNameOutput:
        """Choose the next name of the input's cluster in an activity (recorded in history)."""
        with self.ctx.step("choose name"):
            chosen: NextNameOutput = await self.ctx.execute_activity(
                self.activity("next_server_group_name"),
                self.models.next_name(
                    **self.where(
                        input,
                        application=input.application,
                        stack=input.stack,
                        detail=input.detail,
                    )
                ),
                result_type=NextNameOutput,
            )
        return chosen

    def output(self, name: str, status: Any = None, **fields: Any) -> ServerGroupOutput:
        """What a mutating verb answers for group ``name`` of this region.

        ``status`` is the answer of the verb's last wait (``instances`` and ``healthy``), if any.
        """
        if status is not None:
            fields.update(instance_count=status.instances, healthy_count=status.healthy)
        return ServerGroupOutput.for_name(name, region=self.region, **fields)

    def named_cluster(
        self, input: Any, pattern: str | re.Pattern[str], resource: str, rule: str
    ) -> str:
        """The input's cluster, ``INVALID_INPUT`` unless its group names can name ``resource``.

        Why: a cloud names its group's resources after the group (``app-stack-detail-vNNN``),
        so a cluster whose names break the cloud's naming ``rule`` must fail before any call.
        """
        cluster = cluster_name(input.application, input.stack, input.detail)
        if not re.match(pattern, f"{cluster}-v000"):
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                f"server group names of cluster {cluster!r} cannot name {resource} ({rule})",
                {"errors": [{"field": "detail", "reason": f"not usable in {resource} name"}]},
            )
        return cluster

    async def require(self, input: Any) -> Any:
        """Describe the input's group as a step, or NOT_FOUND when it does not exist."""
        with self.ctx.step("describe"):
            found = await self.describe(input.server_group, input)
        if found is None:
            raise not_found(input.server_group)
        return found

    # --- defaults ---------------------------------------------------------------------------------
    async def describe(self, name: str, input: Any = None) -> Any:
        """The group's description, or None when it does not exist (one read activity)."""
        lookup: ServerGroupLookup[Any] = await self.ctx.execute_activity(
            self.activity("describe_server_group"),
            self.group_call(name, input),
            result_type=ServerGroupLookup[self.models.description],  # type: ignore[name-defined]
        )
        return lookup.description

    async def list(self, input: ClusterRef) -> ServerGroupList:
        """List a cluster's server groups, oldest first, each described as describe does."""
        found: ServerGroupList = await self.ctx.execute_activity(
            self.activity("list_server_groups"),
            self.models.cluster_call(
                **self.where(
                    input, application=input.application, stack=input.stack, detail=input.detail
                )
            ),
            result_type=self.models.list,
        )
        return found

    async def read_source(self, input: CloneServerGroupInput) -> CreateServerGroupInput:
        """The create input that would make a copy of the clone's source."""
        source: CreateServerGroupInput = await self.ctx.execute_activity(
            self.activity("read_server_group_template"),
            self.group_call(input.source, input),
            result_type=self.models.create,
        )
        return source

    def adjust_clone(self, merged: dict[str, Any], overrides: dict[str, Any]) -> None:
        """Change the source's settings ``merged`` for ``overrides`` before they apply."""

    def merge_clone(
        self, source: CreateServerGroupInput, clone: CloneServerGroupInput
    ) -> CreateServerGroupInput:
        """The create input of a clone: the source's settings with the clone's overrides on top.

        Pure and deterministic (workflow code). Tags merge; the wait settings are the clone's;
        :meth:`adjust_clone` handles what the cloud ties together (AWS user data in two forms).
        """
        merged: dict[str, Any] = source.model_dump(exclude=set(WaitSettings.model_fields))
        overrides = clone.overrides()
        if "tags" in overrides:
            overrides["tags"] = {**source.tags, **overrides["tags"]}
        self.adjust_clone(merged, overrides)
        for key, value in overrides.items():
            merged[key] = value.model_dump() if hasattr(value, "model_dump") else value
        merged.update(clone.model_dump(include=set(WaitSettings.model_fields)))
        try:
            return self.models.create.model_validate(merged)
        except ValueError as err:
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                f"the clone of {clone.source} would be invalid: {err}",
                {"source": clone.source},
            ) from None

    async def read_scaling(self, input: CreateServerGroupInput) -> ScalingSettings:
        """The autoscaling of the input's ``source`` that the new group copies."""
        assert input.source is not None
        settings: ScalingSettings = await self.ctx.execute_activity(
            self.activity("read_scaling"),
            self.group_call(input.source, input),
            result_type=ScalingSettings,
        )
        return settings

    def with_source_scaling(self, input: Any, settings: ScalingSettings) -> Any:
        """The create input with what must exist from the group's creation on (pure).

        AWS: the source's lifecycle hooks, passed in the create call so that no instance
        launches before its hook exists. The default changes nothing.
        """
        return input

    def without_source_scaling(self, input: Any) -> Any:
        """A clone's create input when ``copy_source_scaling`` is off (pure).

        For a cloud whose clone source already carries its autoscaling (GCP's autoscaler is
        part of the group's settings): drop it. The default changes nothing.
        """
        return input

    def _copy_call(self, name: str, settings: ScalingSettings, input: Any) -> ScalingCopyInput:
        return ScalingCopyInput(
            **self.where(),
            name=name,
            request_id=self.ctx.request_id,
            settings=settings,
            scope=self.scope(input),
        )

    async def copy_scaling(self, name: str, settings: ScalingSettings, input: Any) -> None:
        """Copy ``settings`` to the new group ``name``; the rollback deletes the copies."""
        call = self._copy_call(name, settings, input)
        self.ctx.on_rollback(
            self.activity("delete_copied_scaling"),
            call,
            label=f"delete the autoscaling copied to {name}",
        )
        await self.ctx.execute_activity(
            self.activity("copy_scaling"), call, result_type=ScalingCopyOutput
        )

    def traffic_changes(self, current: Any, enabled: bool) -> bool:
        """Whether enabling (or disabling) the described group changes its traffic."""
        return bool(current.disabled == enabled)

    # --- what each cloud writes -------------------------------------------------------------------
    async def create(self, input: Any) -> ServerGroupOutput:
        """Create the next server group of a cluster and, with ``wait``, wait for it."""
        raise NotImplementedError

    async def resize(self, input: Any) -> ServerGroupOutput:
        """Set a server group's capacity and, with ``wait``, wait for it."""
        raise NotImplementedError

    async def set_traffic(self, input: Any, current: Any, enabled: bool) -> ServerGroupOutput:
        """Put the described group into traffic, or take it out; its undo is registered."""
        raise NotImplementedError

    async def set_traffic_share(
        self, input: Any, current: Any, out: builtins.list[str]
    ) -> ServerGroupOutput:
        """Take exactly the instances ``out`` out of the group's load balancers, the rest in.

        Optional (:attr:`traffic_shares`). The instances keep running and the group stays
        enabled; with ``wait``, return once the instances taken out are drained. Idempotent:
        only instances not yet in the wanted state are touched.
        """
        raise NotImplementedError

    async def destroy(self, input: Any) -> ServerGroupOutput:
        """Delete a server group and what was made for it; a missing group is success."""
        raise NotImplementedError

    async def terminate(self, input: Any) -> TerminateInstancesOutput:
        """Terminate instances of a server group, replacing them or shrinking the group."""
        raise NotImplementedError


# ------------------------------------------------------------------------------------------------
# The skeletons, one per verb
# ------------------------------------------------------------------------------------------------


def _copies(cloud: ServerGroupCloud, input: Any) -> bool:
    """Whether this create copies its source's autoscaling (recorded as a patch marker)."""
    return bool(
        cloud.copies_scaling
        and getattr(input, "source", None)
        and getattr(input, "copy_source_scaling", False)
        and patching.patched(COPY_SOURCE_SCALING)
    )


async def _create(cloud: ServerGroupCloud, input: Any) -> Any:
    if not _copies(cloud, input):
        return await cloud.create(input)
    with cloud.ctx.step(f"read the autoscaling of {input.source}"):
        settings = await cloud.read_scaling(input)
    output = await cloud.create(cloud.with_source_scaling(input, settings))
    if settings.resources:
        with cloud.ctx.step(f"copy the autoscaling of {input.source}"):
            await cloud.copy_scaling(output.name, settings, input)
    counts = settings.counts()
    output.resources["scaling_copied_from"] = input.source
    output.resources["scaling_copied"] = ",".join(f"{k}={n}" for k, n in sorted(counts.items()))
    return output


async def _clone(cloud: ServerGroupCloud, input: Any) -> Any:
    with cloud.ctx.step("read source"):
        source = await cloud.read_source(input)
    merged = cloud.merge_clone(source, input)
    if input.copy_source_scaling and cloud.copies_scaling:
        merged = merged.model_copy(update={"source": input.source})
    elif not input.copy_source_scaling:
        merged = cloud.without_source_scaling(merged)
    output = await _create(cloud, merged)
    output.resources["source"] = input.source
    return output


async def _resize(cloud: ServerGroupCloud, input: Any) -> Any:
    return await cloud.resize(input)


def input_fields(input: Input, model: type[Input], **fields: Any) -> dict[str, Any]:
    """The fields of ``model`` that ``input`` sets too (None: the model's default), then ``fields``.

    Why: a verb's activity argument takes most of the input's settings under the same names;
    ``fields`` are the ones it computes or renames.
    """
    same = {f: getattr(input, f) for f in model.model_fields if f in type(input).model_fields}
    return {**{f: value for f, value in same.items() if value is not None}, **fields}


def share_out(current: ServerGroupDescription, percent_out: int) -> list[str]:
    """The instances a traffic share takes out: ``percent_out`` of them, rounded up.

    Always the first ones by id, so a growing share only takes more out (Spinnaker's rolling
    red/black steps) and a repeated call picks the same ones.
    """
    ids = sorted(i.id for i in current.instances)
    return ids[: math.ceil(len(ids) * percent_out / 100)]


async def _set_share(cloud: ServerGroupCloud, input: Any, enabled: bool, percent: int) -> Any:
    name = input.server_group
    if not cloud.traffic_shares:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"{cloud.label} server groups cannot move a share of their traffic "
            "(desired_percentage); enable or disable the whole group",
            {"errors": [{"field": "desired_percentage", "reason": "not supported"}]},
        )
    current = await cloud.require(input)
    if current.disabled:
        raise BusinessError(
            ErrorCode.CONFLICT,
            f"{name} is disabled: enable it before moving a share of its traffic",
            {"server_group": name},
        )
    out = share_out(current, 100 - percent if enabled else percent)
    if out:
        # Undo: every instance back in (instant: they kept running).
        cloud.ctx.on_rollback(
            f"{cloud.provider}.disableServerGroup",
            cloud.models.change(
                server_group=name, wait=False, desired_percentage=0, **cloud.scope(input)
            ),
            label=f"put every instance of {name} back in traffic",
        )
    output = await cloud.set_traffic_share(input, current, out)
    output.out_of_traffic = out
    return output


async def _set_enabled(cloud: ServerGroupCloud, input: Any, enabled: bool) -> Any:
    percent = getattr(input, "desired_percentage", None)
    if percent is not None and percent < 100:
        return await _set_share(cloud, input, enabled, percent)
    current = await cloud.require(input)
    if cloud.traffic_changes(current, enabled):
        # Undo by the opposite verb if a later step (or a composing deploy) fails.
        name = input.server_group
        opposite = "disableServerGroup" if enabled else "enableServerGroup"
        cloud.ctx.on_rollback(
            f"{cloud.provider}.{opposite}",
            cloud.models.change(server_group=name, wait=False, **cloud.scope(input)),
            label=f"{'disable' if enabled else 'enable'} {name}",
        )
    return await cloud.set_traffic(input, current, enabled)


async def _enable(cloud: ServerGroupCloud, input: Any) -> Any:
    return await _set_enabled(cloud, input, True)


async def _disable(cloud: ServerGroupCloud, input: Any) -> Any:
    return await _set_enabled(cloud, input, False)


async def _destroy(cloud: ServerGroupCloud, input: Any) -> Any:
    if getattr(input, "desired_percentage", None) is not None:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            "desired_percentage is for enable and disable, not destroy",
            {"errors": [{"field": "desired_percentage", "reason": "not allowed here"}]},
        )
    return await cloud.destroy(input)


async def _terminate(cloud: ServerGroupCloud, input: Any) -> Any:
    return await cloud.terminate(input)


async def _describe(cloud: ServerGroupCloud, input: Any) -> Any:
    return await cloud.require(input)


async def _list(cloud: ServerGroupCloud, input: Any) -> Any:
    with cloud.ctx.step(f"list {input.cluster}"):
        return await cloud.list(input)


@dataclass(frozen=True)
class _Verb:
    """How the kit makes one verb's operation: its skeleton, models and description."""

    skeleton: Any
    input: str
    output: str
    described_by: str


_VERBS: dict[str, _Verb] = {
    "createServerGroup": _Verb(_create, "create", "", "create"),
    "cloneServerGroup": _Verb(_clone, "clone", "", "clone"),
    "resizeServerGroup": _Verb(_resize, "resize", "", "resize"),
    "enableServerGroup": _Verb(_enable, "change", "", "enable"),
    "disableServerGroup": _Verb(_disable, "change", "", "disable"),
    "destroyServerGroup": _Verb(_destroy, "destroy", "", "destroy"),
    "terminateInstances": _Verb(_terminate, "terminate", "terminate", "terminate"),
    "describeServerGroup": _Verb(_describe, "ref", "description", "describe"),
    "listServerGroups": _Verb(_list, "cluster", "list", "list"),
}
assert tuple(_VERBS) == VERBS, "every verb of the contract has a skeleton"

_OUTPUTS: dict[str, type[Output]] = {"": ServerGroupOutput, "terminate": TerminateInstancesOutput}


def _description(cloud: type[ServerGroupCloud], key: str) -> str:
    """The cloud's description of a verb: its ``KEY_description``, else the method's docstring."""
    text = getattr(cloud, f"{key}_description", None)
    if not isinstance(text, str):
        text = inspect.getdoc(getattr(cloud, key, None)) or ""
    if key == "clone":
        text = text.replace("{copies}", cloud.clone_copies)
    return inspect.cleandoc(text)


def _optional_input(cloud: type[ServerGroupCloud], verb: str) -> type[Input]:
    """An optional verb's input on ``cloud``: the common model with the cloud's scope fields."""
    spec, models = OPTIONAL[verb], cloud.models
    if verb in models.extra:
        chosen: type[Input] = models.extra[verb]
        return chosen
    if not spec.scoped or models.ref is ServerGroupRef:
        return spec.input
    name = f"{cloud.label}{spec.input.__name__}"
    return type(
        name,
        (spec.input, models.ref),
        {"__module__": cloud.__module__, "__doc__": spec.input.__doc__},
    )


def server_group_operations(
    cloud: type[ServerGroupCloud],
) -> tuple[type[CloudOperation[Any, Any]], ...]:
    """The operation classes of ``cloud``, one per verb, in :data:`VERBS` order.

    Each is a plain :class:`~cloudops.operation.CloudOperation` named ``provider.verb``; its
    ``run`` builds the adapter for the run's context and calls the verb's skeleton. The
    optional verbs the cloud offers follow, in :data:`OPTIONAL_VERBS` order.
    """
    operations: list[type[CloudOperation[Any, Any]]] = []
    offered = [verb for verb, why in optional_verbs(cloud).items() if why is None]
    for verb in [*_VERBS, *offered]:
        models = cloud.models
        if verb in OPTIONAL:
            optional = OPTIONAL[verb]
            spec = _Verb(optional.skeleton, "", "", verb)
            model_in: type[Input] = _optional_input(cloud, verb)
            model_out: type[Output] = optional.output
        else:
            spec = _VERBS[verb]
            model_in = getattr(models, spec.input)
            model_out = _OUTPUTS.get(spec.output) or getattr(models, spec.output)

        async def run(
            self: CloudOperation[Any, Any],
            ctx: OperationContext,
            input: Any,
            _skeleton: Any = spec.skeleton,
        ) -> Any:
            return await _skeleton(cloud(ctx), input)

        class_name = verb[0].upper() + verb[1:]
        namespace: dict[str, Any] = {
            "__doc__": inspect.cleandoc(cloud.verb_descriptions.get(verb, ""))
            or (OPTIONAL[verb].description if verb in OPTIONAL else "")
            or _description(cloud, spec.described_by),
            "__module__": cloud.__module__,
            "__qualname__": class_name,
            "provider": cloud.provider,
            "name": verb,
            "input_model": model_in,
            "output_model": model_out,
            "activity_defaults": cloud.activity_defaults,
            "read_only": verb in READ_VERBS,
            "run": run,
        }
        operations.append(type(class_name, (CloudOperation,), namespace))
    return tuple(operations)
