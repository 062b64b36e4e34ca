"""The GCP server-group operations: workflow code, deterministic, no google import.

Each operation is a short script of activity calls made *by name*
(``"gcp.insert_instance_template"``) so that the workflow sandbox never imports
google-cloud-compute. Every change to Compute is a
long-running Operation, awaited durably in two steps (:func:`mutate`): an activity starts the
change and returns the Operation's name, then ``gcp.wait_operations`` is polled (retry-as-poll)
until it is DONE. A worker that dies in between leaves the Operation's name in the history, so
the next worker polls it and never sends the mutation again. Each mutation's ``requestId`` is
derived from the cloudops request, the step and the workflow's deterministic random source
(:func:`gcp_request_id`): the same on every retry and replay of that call, so the API
deduplicates a retried call, and different for every call, so two resizes of one deploy are
never mistaken for one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from cloudops import BusinessError, ErrorCode, OperationContext, patching
from cloudops.models import Input
from cloudops.servergroups.contract import OPTIONAL_VERBS, GroupCall
from cloudops.servergroups.kit import (
    CLOUD_ACTIVITY_DEFAULTS,
    ServerGroupCloud,
    ServerGroupModels,
    not_found,
    server_group_operations,
)
from cloudops.servergroups.models import (
    Capacity,
    ResizeServerGroupInput,
    ScalingResource,
    ScalingSettings,
    ServerGroupChangeInput,
    ServerGroupOutput,
    TerminateInstancesOutput,
    WaitSettings,
    poll_until_ready,
    require_location,
)
from cloudops.servergroups.optional import PolicyCall, TemplateCall
from cloudops_gcp import models as gcp_models
from cloudops_gcp.errors import RETRY
from cloudops_gcp.models import (
    AutoscalerChange,
    AutoscalerSpec,
    DeleteAutoscalerInput,
    DeleteGroupInput,
    DeleteTemplateInput,
    GcpAutoHealing,
    GcpAutoscalingPolicy,
    GcpCreateServerGroupInput,
    GcpDestroyServerGroupInput,
    GcpServerGroupDescription,
    GcpTagsInput,
    GcpTerminateInstancesInput,
    GroupRef,
    GroupSpec,
    GroupStatus,
    InstancesStarted,
    OperationOutcome,
    ResizeInput,
    Started,
    TemplateCopy,
    TemplateSpec,
    TemplateStarted,
    TerminateInput,
    TerminateStarted,
    TrafficInput,
    WaitGroupInput,
    WaitOperationsInput,
)
from cloudops_gcp.resources import last, template_name, zone_region

__all__ = ["OPERATIONS", "GcpServerGroups", "gcp_request_id", "mutate"]

#: The kit's defaults for cloud APIs (ten attempts over about two minutes, 10 s heartbeat).
GCP_ACTIVITY_DEFAULTS = CLOUD_ACTIVITY_DEFAULTS
#: How many times a change whose Operation failed transiently is started again (new requestId).
OPERATION_TRIES = 3
#: ``workflow.patched`` id: creates started before it set named ports only with load balancing
#: (the ports their backend services use); started after, every named port of the input.
NAMED_PORTS = "gcp-create-named-ports"
#: Namespace of the uuid5 request ids cloudops-gcp sends (see :func:`gcp_request_id`).
REQUEST_ID_NAMESPACE = uuid.UUID("5f1d3a52-6c1e-4c35-9a4e-2b8f0c7d9e61")

StartedT = TypeVar("StartedT", bound=Started)
#: How the optional verbs wait for their Operations.
_OPTIONAL_WAIT = WaitSettings(poll_interval_seconds=1, wait_timeout_seconds=600)


_NEEDS_LOCATION = "GCP operations need an account and a region"

#: The optional verbs GCP does not offer, and why (docs/providers/gcp.md).
GCP_ABSENT = {
    "suspendProcesses": "GCP has no scaling processes; set the autoscaler's mode (OFF, "
    "ONLY_SCALE_OUT) with upsertScalingPolicy or deleteScalingPolicy",
    "resumeProcesses": "GCP has no scaling processes (see suspendProcesses)",
    "allowLaunch": "GCP shares images with IAM (roles/compute.imageUser on the image or its "
    "project), outside cloudops",
}


async def mutate(
    ctx: OperationContext,
    activity: str,
    build: Callable[[str], Input],
    wait: WaitSettings,
    *,
    result_type: type[StartedT] = Started,  # type: ignore[assignment]
    recheck_conflict: bool = False,
) -> StartedT:
    """Start a change with a fresh requestId and wait until its Operations are DONE.

    ``build(request_id)`` makes the activity's argument. A transiently failed Operation
    (rate limits, internal errors) is started again with a new requestId, up to
    :data:`OPERATION_TRIES` times; with ``recheck_conflict`` (creates) an ``alreadyExists``
    failure is started again too, so the activity can find the resource and check whose it is.
    Any other failure ends the operation with its classified code.
    """
    account, region = require_location(ctx, _NEEDS_LOCATION)
    for attempt in range(1, OPERATION_TRIES + 1):
        started: StartedT = await ctx.execute_activity(
            activity, build(gcp_request_id(ctx, activity)), result_type=result_type
        )
        if not started.operations:
            return started
        outcome: OperationOutcome = await poll_until_ready(
            ctx,
            "gcp.wait_operations",
            WaitOperationsInput(account=account, region=region, operations=started.operations),
            wait,
            OperationOutcome,
        )
        if not outcome.failures:
            return started
        again = {RETRY, ErrorCode.CONFLICT} if recheck_conflict else {RETRY}
        if attempt < OPERATION_TRIES and all(f.outcome in again for f in outcome.failures):
            await ctx.sleep(timedelta(seconds=wait.poll_interval_seconds * attempt))
            continue
        failure = outcome.failures[0]
        code = ErrorCode.RETRIES_EXHAUSTED if failure.outcome == RETRY else failure.outcome
        raise BusinessError(
            code,
            f"GCP operation {failure.operation} on {last(failure.target)} failed: "
            f"{failure.code}: {failure.message}",
            {
                "gcp_code": failure.code,
                "http_status": failure.http_status,
                "operation": failure.operation,
                "target": failure.target,
            },
        )
    raise AssertionError("unreachable")  # pragma: no cover


def gcp_request_id(ctx: OperationContext, step: str) -> str:
    """The ``requestId`` of one mutation, derived from the cloudops request and the step.

    It is uuid5 of the cloudops request id, the step (the activity) and a nonce from the
    workflow's deterministic random source. Why the nonce: it is the same on every retry and
    replay of this call (so the API deduplicates a retried call) but differs between two calls
    of the same step, so two resizes of one deploy are never taken for one.
    """
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, f"{ctx.request_id}|{step}|{ctx.uuid()}"))


def _placement(input: GcpCreateServerGroupInput, region: str) -> tuple[str | None, list[str]]:
    """(zone of a zonal group or None, zones of a regional group); zones must be in region."""
    outside = [z for z in input.zones if zone_region(z) != region]
    if outside:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"zones {', '.join(outside)} are not in region {region}",
            {"errors": [{"field": "zones", "reason": f"not in region {region}"}]},
        )
    regional = input.regional if input.regional is not None else len(input.zones) != 1
    if regional:
        return None, list(input.zones)
    return input.zones[0], []


class GcpServerGroups(ServerGroupCloud):
    """GCP server groups: an instance template and a managed instance group (+ autoscaler)."""

    provider = "gcp"
    label = "GCP"
    activity_defaults = GCP_ACTIVITY_DEFAULTS
    copies_scaling = True
    models = ServerGroupModels.named(
        gcp_models,
        "Gcp",
        destroy=GcpDestroyServerGroupInput,
        group_call=GroupRef,
        extra={"upsertServerGroupTags": GcpTagsInput},
    )
    clone_copies = (
        "template settings (image, machine type, network, tags, labels, startup script), size, "
        "placement and load balancing"
    )
    enable_description = """
    Put a server group back into traffic, as Spinnaker's GCE provider does.

    Adds the group's instance group back to the backend services and sets the target pools
    recorded in its instance template (``backend-service-names``, ``load-balancer-names``)
    and, with ``wait``, waits until its instances are healthy there. Enabling an enabled group
    changes nothing; a group without load balancing is never disabled.
    """
    disable_description = """
    Take a server group out of traffic without deleting it, as Spinnaker's GCE provider does.

    Removes the group's instance group from its backend services and its instances from its
    target pools (``setTargetPools`` to none); the instances keep running. Disabling a disabled
    group changes nothing.
    """
    list_description = """
    List a cluster's server groups in the region, oldest first, each described.

    Zonal and regional managed instance groups of the cluster count; each is described as
    ``describeServerGroup`` does, and groups being deleted are left out. Deploy strategies use
    it to find the groups to disable and the oldest ones to destroy.
    """

    async def change(
        self,
        activity: str,
        model: Callable[..., Input],
        wait: WaitSettings,
        *,
        result_type: type[StartedT] = Started,  # type: ignore[assignment]
        recheck_conflict: bool = False,
        **fields: Any,
    ) -> StartedT:
        """:func:`mutate` one of our activities; its argument is ``model`` here with ``fields``."""
        return await mutate(
            self.ctx,
            self.activity(activity),
            lambda request_id: model(**self.where(), gcp_request_id=request_id, **fields),
            wait,
            result_type=result_type,
            recheck_conflict=recheck_conflict,
        )

    async def read_scaling(self, input: GcpCreateServerGroupInput) -> ScalingSettings:
        """The source's autoscaler policy, auto-healing policy and named ports (by describe)."""
        assert input.source is not None
        found = await self.describe(input.source, input)
        if found is None:
            raise not_found(input.source)
        resources = []
        for kind, setting in (
            ("autoscaler", found.autoscaling),
            ("auto_healing", found.auto_healing),
        ):
            if setting is not None:
                resources.append(ScalingResource(kind=kind, spec=setting.model_dump()))
        if found.named_ports:
            resources.append(ScalingResource(kind="named_ports", spec=found.named_ports))
        return ScalingSettings(source=input.source, resources=resources)

    def with_source_scaling(
        self, input: GcpCreateServerGroupInput, settings: ScalingSettings
    ) -> GcpCreateServerGroupInput:
        """The source's autoscaler (bounded by the new capacity), auto-healing and named ports.

        Each only when the input gives none of its own.
        """
        update: dict[str, Any] = {}
        copied = settings.of_kind("autoscaler")
        if input.autoscaling is None and copied:
            update["autoscaling"] = GcpAutoscalingPolicy.model_validate(
                {**copied[0].spec, "min_replicas": None, "max_replicas": None}
            )
        healing = settings.of_kind("auto_healing")
        if input.auto_healing is None and healing:
            update["auto_healing"] = GcpAutoHealing.model_validate(healing[0].spec)
        ports = settings.of_kind("named_ports")
        if input.named_ports is None and ports:
            update["named_ports"] = dict(ports[0].spec)
        return input.model_copy(update=update) if update else input

    def without_source_scaling(self, input: GcpCreateServerGroupInput) -> Any:
        """A clone told not to copy the source's autoscaling gets no autoscaler."""
        return input.model_copy(update={"autoscaling": None})

    async def copy_scaling(self, name: str, settings: ScalingSettings, input: Any) -> None:
        """Nothing to do after the create: the autoscaler is made (and undone) with the group."""

    offers = tuple(verb for verb in OPTIONAL_VERBS if verb not in GCP_ABSENT)
    absent = GCP_ABSENT
    verb_descriptions = {
        "upsertScalingPolicy": """Set the CPU target of a server group's autoscaler.

        GCP scales a group with one autoscaler, so a group has one policy whatever
        ``policy_name`` says: ``target_tracking`` on ``cpu`` (percent) becomes its CPU
        utilisation target, ``disable_scale_in`` its mode ``ONLY_SCALE_OUT``,
        ``warmup_seconds`` its cool-down period. A group without one gets an autoscaler named
        as the group, bounded by its size (change the bounds with ``resizeServerGroup``). Step
        policies and other metrics are ``INVALID_INPUT``. On a later failure the previous
        policy comes back (or the autoscaler is deleted again).
        """,
        "detachInstances": """Abandon instances: they leave the group and keep running.

        ``instanceGroupManagers.abandonInstances`` (as ``terminateInstances`` with ``abandon``):
        the group's target size always drops by as many, so ``decrement_desired: false`` is
        ``INVALID_INPUT``. GCP cannot add an instance back to a managed group, so a later
        failure does not undo it.
        """,
        "updateLaunchTemplate": """Change what a server group's new instances boot: a new template.

        Instance templates cannot change, so, as Clouddriver's Google provider does, the
        group's template is copied with the changes (``image``, ``instance_type`` as the
        machine type, ``user_data`` as the ``startup-script`` metadata) and the copy is set on
        the group (``instanceGroupManagers.setInstanceTemplate``). The copy is named after the
        group, the request and the change, so a retry makes none twice, and a change that
        changes nothing makes none. ``key_name`` is ``INVALID_INPUT`` (GCP has no key pairs:
        put ssh keys in metadata). With ``roll_instances`` the instances are recreated
        (``recreateInstances``) ``roll_batch_size`` at a time, waiting for each batch. On a
        later failure the group goes back to the previous template and the copy is deleted.
        """,
        "upsertServerGroupTags": """Add or change labels of a server group's instance template.

        The labels of a group are its instance template's (its instances carry them): a copy of
        the template with the labels is set on the group, as ``updateLaunchTemplate`` does.
        Keys and values follow GCP's label rules (lowercase letters, digits, ``_`` and ``-``,
        at most 63 characters, keys starting with a letter), else ``INVALID_INPUT`` naming
        ``tags``. Labels already set change nothing; on a later failure the previous template
        comes back.
        """,
        "deleteServerGroupTags": """Remove labels of a server group's instance template by key.

        A copy of the template without them is set on the group; missing keys change nothing.
        On a later failure the previous template comes back.
        """,
        "rebootInstances": """Reset instances of a server group (``instances.reset``).

        A hard reset of each instance named (no graceful shutdown); an instance that is not in
        the group is ``NOT_FOUND`` and nothing is reset. Repeating a reset is harmless; there
        is nothing to undo.
        """,
        "deleteScalingPolicy": """Delete a server group's autoscaler; the group keeps its size.

        A group without one is success (``changed: false``); on a later failure the autoscaler
        comes back.
        """,
    }

    def undo(self, activity: str, arg: Any, label: str) -> None:
        """Abandoned instances cannot return to a managed group: no undo for a detach.

        A label change is a new template: its undo sets back the template it was copied from.
        """
        if activity == "attach_instances":
            return
        if activity == "set_server_group_tags":
            where = arg.model_dump(include={*GroupCall.model_fields, "scope"})
            activity, arg = (
                "set_launch_template",
                TemplateCall(**where, request_id=self.ctx.request_id),
            )
        super().undo(activity, arg, label)

    async def _scoped_mutate(
        self,
        activity: str,
        arg: Any,
        result_type: type[StartedT] = Started,  # type: ignore[assignment]
    ) -> StartedT:
        """:func:`mutate` an optional verb's activity; the requestId travels in ``scope``."""
        return await mutate(
            self.ctx,
            self.activity(activity),
            lambda request_id: arg.model_copy(
                update={"scope": {**arg.scope, "gcp_request_id": request_id}}
            ),
            _OPTIONAL_WAIT,
            result_type=result_type,
        )

    async def _retemplate(self, copy: TemplateCopy) -> TemplateStarted:
        """Copy the group's template with the changes, then set the copy on the group."""
        made = await mutate(
            self.ctx,
            self.activity("copy_instance_template"),
            lambda request_id: copy.model_copy(update={"gcp_request_id": request_id}),
            _OPTIONAL_WAIT,
            result_type=TemplateStarted,
            recheck_conflict=True,
        )
        if made.current != made.previous:
            await mutate(
                self.ctx,
                self.activity("set_instance_template"),
                lambda request_id: copy.model_copy(
                    update={"gcp_request_id": request_id, "version": made.current}
                ),
                _OPTIONAL_WAIT,
            )
        return made

    async def call(self, activity: str, arg: Any, result_type: type[Any]) -> Any:
        """The policy changes are Compute Operations: start, wait, then read the policy back.

        A detach is ``terminateInstances`` with ``abandon``.
        """
        if activity == "detach_instances":
            if not arg.decrement_desired:
                raise BusinessError(
                    ErrorCode.INVALID_INPUT,
                    "GCP abandons instances and always shrinks the group: decrement_desired "
                    "must be true",
                    {"errors": [{"field": "decrement_desired", "reason": "must be true"}]},
                )
            current = await self.describe(arg.name)
            members = {i.id for i in current.instances} if current is not None else set()
            ids = [i for i in arg.instance_ids if i in members]  # the others: detached already
            if not ids:
                return result_type()
            done = await self.terminate(
                GcpTerminateInstancesInput(
                    server_group=arg.name,
                    instance_ids=ids,
                    decrement_desired=True,
                    abandon=True,
                    poll_interval_seconds=1,
                )
            )
            return result_type(changed=done.terminated)
        if activity == "update_launch_template":
            if "key_name" in arg.changes:
                raise BusinessError(
                    ErrorCode.INVALID_INPUT,
                    "GCP has no key pairs: put ssh keys in the instances' metadata",
                    {"errors": [{"field": "key_name", "reason": "not supported on GCP"}]},
                )
            made = await self._retemplate(TemplateCopy(**arg.model_dump()))
            return result_type(previous=made.previous, current=made.current)
        if activity == "set_server_group_tags":
            where = arg.model_dump(include={*GroupCall.model_fields, "scope"})
            copy = TemplateCopy(
                **where, request_id=self.ctx.request_id, labels=arg.upsert, drop_labels=arg.delete
            )
            await self._retemplate(copy)
            return result_type()
        if activity == "reboot_instances":
            started = await self._scoped_mutate(activity, arg, InstancesStarted)
            return result_type(changed=started.instances)
        if activity not in ("put_scaling_policy", "restore_scaling_policy"):
            return await super().call(activity, arg, result_type)
        await self._scoped_mutate(activity, arg)
        read = PolicyCall.model_validate(arg.model_dump(include=set(PolicyCall.model_fields)))
        return await super().call("read_scaling_policy", read, result_type)

    def adjust_clone(self, merged: dict[str, Any], overrides: dict[str, Any]) -> None:
        """New zones without ``regional``: the placement follows the new zones."""
        if "zones" in overrides and "regional" not in overrides:
            merged["regional"] = None

    traffic_shares = True

    def traffic_changes(self, current: GcpServerGroupDescription, enabled: bool) -> bool:
        """A group without load balancing is never disabled, so it never changes."""
        has_traffic = bool(current.load_balancers or current.target_pools)
        return has_traffic and current.disabled == enabled

    async def _wait(self, wait: WaitSettings, **check: Any) -> GroupStatus:
        status: GroupStatus = await self.poll(
            "wait_for_group", WaitGroupInput(**self.where(), **check), wait, GroupStatus
        )
        return status

    async def create(self, input: GcpCreateServerGroupInput) -> ServerGroupOutput:
        """Create the next server group of a cluster: instance template + managed instance group.

        The ``app-stack-detail-vNNN`` name takes the next free sequence among the region's groups,
        chosen once. The group is zonal with one zone, regional otherwise (or as ``regional``
        says). With ``wait`` (the default) the operation ends when ``desired`` instances are
        RUNNING (and healthy in the backend services given as ``load_balancers``). If any step
        fails, what was created is deleted again. Without ``autoscaling`` the group keeps one size
        (min = max = desired); with it an autoscaler named as the group scales it between its
        bounds.
        """
        ctx, region = self.ctx, self.region
        zone, zones = _placement(input, region)
        name = (await self.choose_name(input)).name
        template = template_name(name, ctx.request_id)
        ctx.on_rollback(
            "gcp.destroyServerGroup",
            GcpDestroyServerGroupInput(
                server_group=name,
                only_if_request_id=ctx.request_id,
                instance_template=template,
                wait=False,
                poll_interval_seconds=input.poll_interval_seconds,
                wait_timeout_seconds=input.wait_timeout_seconds,
            ),
            label=f"destroy {name}",
        )
        with ctx.step("create instance template"):
            await self.change(
                "insert_instance_template",
                TemplateSpec,
                input,
                name=template,
                server_group=name,
                request_id=ctx.request_id,
                image=input.image,
                machine_type=input.instance_type,
                network=input.network,
                subnetwork=input.subnets[0] if input.subnets else None,
                network_tags=input.security_groups,
                labels=input.tags,
                startup_script=input.user_data,
                disk_size_gb=input.disk_size_gb,
                disk_type=input.disk_type,
                service_account_email=input.service_account_email,
                backend_services=input.load_balancers,
                target_pools=input.target_pools or [],
                recheck_conflict=True,
            )
        with ctx.step("create managed instance group"):
            await self.change(
                "insert_instance_group_manager",
                GroupSpec,
                input,
                name=name,
                zone=zone,
                zones=zones,
                request_id=ctx.request_id,
                instance_template=template,
                target_size=input.capacity.desired,
                target_pools=input.target_pools or [],
                auto_healing=input.auto_healing,
                recheck_conflict=True,
            )
        if input.named_ports and patching.patched(NAMED_PORTS):
            with ctx.step("set named ports"):
                await self.change(
                    "set_named_ports",
                    TrafficInput,
                    input,
                    name=name,
                    zone=zone,
                    enabled=True,
                    named_ports=input.named_ports,
                )
        bounds = (input.capacity.min, input.capacity.max)
        policy = input.autoscaling
        if policy is not None:
            bounds = policy.bounds(input.capacity)
            with ctx.step("create autoscaler"):
                await self.change(
                    "insert_autoscaler",
                    AutoscalerSpec,
                    input,
                    name=name,
                    zone=zone,
                    request_id=ctx.request_id,
                    min_replicas=bounds[0],
                    max_replicas=bounds[1],
                    cpu_utilization_target=policy.cpu_utilization_target,
                    cool_down_period_seconds=policy.cool_down_period_seconds,
                    mode=policy.mode,
                    recheck_conflict=True,
                )
        if input.load_balancers:
            with ctx.step("add to backend services"):
                await self.change(
                    "set_traffic",
                    TrafficInput,
                    input,
                    name=name,
                    zone=zone,
                    enabled=True,
                    backend_services=input.load_balancers,
                    target_pools=input.target_pools or [],
                    named_ports=input.named_ports or {},
                )
        desired = input.capacity.desired
        status: GroupStatus | None = None
        if input.wait:
            with ctx.step("wait for instances"):
                status = await self._wait(
                    input,
                    name=name,
                    zone=zone,
                    # An autoscaler that scales owns the size: wait for whatever it sets.
                    desired=None if policy is not None and policy.scales else desired,
                    require_health=bool(input.load_balancers),
                )
        resources = {"instance_template": template}
        resources.update({"zone": zone} if zone else {"region": region})
        capacity = Capacity.fixed(desired)
        if policy is not None:
            capacity = Capacity(min=bounds[0], max=bounds[1], desired=desired)
            resources["autoscaler"] = name
        return self.output(
            name,
            status,
            capacity=capacity,
            disabled=False,
            resources=resources,
        )

    async def resize(self, input: ResizeServerGroupInput) -> ServerGroupOutput:
        """Set a server group's size and wait for it.

        Without an autoscaler the group's target size becomes ``capacity.desired`` (GCP keeps one
        size, so ``min`` and ``max`` are not kept). With one, as Spinnaker's GCE provider does, the
        autoscaler's bounds become ``capacity.min`` / ``capacity.max`` (a patch of the autoscaler);
        then, if the autoscaler is ``OFF``, the target size becomes ``desired``; if it scales
        (``ON``, ``ONLY_SCALE_OUT``), it owns the size: ``desired`` is not sent, and the wait is
        for the size the autoscaler sets within the new bounds. A disabled group stays disabled.
        If the operation fails later (e.g. the wait times out) the previous capacity is restored.
        """
        ctx, name = self.ctx, input.server_group
        current: GcpServerGroupDescription = await self.require(input)
        policy = current.autoscaling
        before, wanted = current.capacity, input.capacity
        new_bounds = policy is not None and (before.min, before.max) != (wanted.min, wanted.max)
        resize = before.desired != wanted.desired and (policy is None or not policy.scales)
        if new_bounds or resize:
            ctx.on_rollback(
                "gcp.resizeServerGroup",
                ResizeServerGroupInput(
                    server_group=name,
                    capacity=before if policy is not None else Capacity.fixed(before.desired),
                    wait=False,
                    poll_interval_seconds=input.poll_interval_seconds,
                    wait_timeout_seconds=input.wait_timeout_seconds,
                ),
                label=(
                    f"restore size of {name} to {before.desired}"
                    if policy is None
                    else f"restore capacity of {name}"
                ),
            )
        if new_bounds:
            with ctx.step("update autoscaler"):
                await self.change(
                    "update_autoscaler",
                    AutoscalerChange,
                    input,
                    name=name,
                    zone=current.zone,
                    min_replicas=wanted.min,
                    max_replicas=wanted.max,
                )
        if resize:
            with ctx.step("resize"):
                await self.change(
                    "resize_instance_group_manager",
                    ResizeInput,
                    input,
                    name=name,
                    zone=current.zone,
                    size=wanted.desired,
                )
        # What the group will run: an autoscaler that scales keeps the size within its bounds.
        desired = wanted.desired
        if policy is not None and policy.scales:
            desired = min(max(before.desired, wanted.min), wanted.max)
        status: GroupStatus | None = None
        if input.wait:
            with ctx.step("wait for instances"):
                status = await self._wait(
                    input,
                    name=name,
                    zone=current.zone,
                    desired=None if policy is not None and policy.scales else desired,
                    require_health=bool(current.active_backend_services),
                    bounds=(wanted.min, wanted.max) if policy is not None else None,
                )
            if policy is not None and policy.scales:
                desired = min(max(status.target_size, wanted.min), wanted.max)
        capacity = Capacity.fixed(desired)
        if policy is not None:
            capacity = Capacity(min=wanted.min, max=wanted.max, desired=desired)
        return self.output(
            name,
            status,
            capacity=capacity,
            disabled=current.disabled,
            changed=new_bounds or resize,
        )

    async def set_traffic(
        self, input: ServerGroupChangeInput, current: GcpServerGroupDescription, enabled: bool
    ) -> ServerGroupOutput:
        """Add the instance group to its backend services and target pools, or remove it."""
        ctx, name = self.ctx, input.server_group
        step = "add to load balancers" if enabled else "remove from load balancers"
        with ctx.step(step):
            started: Started = await self.change(
                "set_traffic",
                TrafficInput,
                input,
                name=name,
                zone=current.zone,
                enabled=enabled,
                backend_services=current.load_balancers,
                target_pools=current.target_pools,
                named_ports=current.named_ports,
            )
        healthy: int | None = 0
        if enabled:
            healthy = None
            if input.wait:
                with ctx.step("wait for healthy instances"):
                    status = await self._wait(
                        input,
                        name=name,
                        zone=current.zone,
                        require_health=bool(current.load_balancers),
                    )
                healthy = status.healthy
        return self.output(
            name,
            capacity=current.capacity,
            disabled=bool(current.load_balancers or current.target_pools) and not enabled,
            instance_count=len(current.instances),
            healthy_count=healthy,
            changed=started.changed,
        )

    async def set_traffic_share(
        self, input: ServerGroupChangeInput, current: GcpServerGroupDescription, out: list[str]
    ) -> ServerGroupOutput:
        """Set the group's backends' capacity scaler to the share of instances left in.

        A managed instance group is a backend as a whole (its instances cannot leave it one
        by one), so the nearest equivalent of per-instance deregistration is the backend's
        ``capacityScaler``: 0.75 sends the group three quarters of its capacity's traffic.
        Target pools take the group as a whole too: they keep it until the group is disabled.
        """
        total = len(current.instances) or 1
        left = (total - len(out)) / total
        scaler = 0.0 if left == 0 else max(0.1, round(left, 2))  # Compute: 0 or 0.1..1
        with self.ctx.step(f"backend capacity scaler to {scaler:g}"):
            await self.change(
                "set_traffic",
                TrafficInput,
                input,
                name=input.server_group,
                zone=current.zone,
                enabled=True,
                backend_services=current.load_balancers,
                target_pools=current.target_pools,
                capacity_scaler=scaler,
            )
        return self.output(input.server_group, capacity=current.capacity, disabled=False)

    async def destroy(self, input: GcpDestroyServerGroupInput) -> ServerGroupOutput:
        """Delete a server group: load balancer membership, autoscaler, group, template.

        In that order: out of its backend services, then its autoscaler (if any; not found is
        success), then the group (with its instances), then its instance template. A group that
        does not exist is success (``changed: false``), so a destroy can be repeated. The template
        is deleted only if cloudops made it for this group or it is named after the group. A
        create's rollback runs this operation, guarded by the create's request id.
        """
        ctx, name = self.ctx, input.server_group
        with ctx.step("describe"):
            current: GcpServerGroupDescription | None = await self.describe(name)
        guard = input.only_if_request_id
        if current is None or (guard is not None and current.request_id != guard):
            if input.instance_template:
                # Perhaps an interrupted create made the template but not the group.
                with ctx.step("delete instance template"):
                    await self._delete_template(input, input.instance_template)
            return self.output(name, changed=False)
        if current.active_backend_services:
            with ctx.step("remove from backend services"):
                await self.change(
                    "set_traffic",
                    TrafficInput,
                    input,
                    name=name,
                    zone=current.zone,
                    enabled=False,
                    backend_services=current.active_backend_services,
                )
        if current.autoscaling is not None or guard is not None:
            # First, or it would scale the group while it goes. A rollback always looks: the
            # create may have started the autoscaler's insert before it failed.
            with ctx.step("delete autoscaler"):
                await self.change(
                    "delete_autoscaler",
                    DeleteAutoscalerInput,
                    input,
                    name=name,
                    zone=current.zone,
                    only_if_request_id=guard,
                )
        with ctx.step("delete managed instance group"):
            await self.change(
                "delete_instance_group_manager",
                DeleteGroupInput,
                input,
                name=name,
                zone=current.zone,
                only_if_request_id=guard,
            )
        resources: dict[str, str] = {}
        template = current.instance_template or input.instance_template
        if template:
            with ctx.step("delete instance template"):
                deleted = await self._delete_template(input, template)
            if deleted.changed:
                resources["instance_template"] = template
        return self.output(name, capacity=current.capacity, resources=resources)

    async def _delete_template(self, input: GcpDestroyServerGroupInput, template: str) -> Started:
        return await self.change(
            "delete_instance_template",
            DeleteTemplateInput,
            input,
            name=template,
            only_if_request_id=input.only_if_request_id,
            only_if_server_group=input.server_group,
        )

    async def terminate(self, input: GcpTerminateInstancesInput) -> TerminateInstancesOutput:
        """Terminate instances of a server group, replacing them or shrinking the group.

        Without ``decrement_desired`` the group recreates them (same names, new VMs); with it they
        are deleted and the target size drops by as many; with ``abandon`` they leave the group
        but keep running. With ``wait``, the operation waits for the group to be stable.
        """
        ctx, name = self.ctx, input.server_group
        current: GcpServerGroupDescription = await self.require(input)
        with ctx.step("terminate instances"):
            started: TerminateStarted = await self.change(
                "terminate_instances",
                TerminateInput,
                input,
                name=name,
                zone=current.zone,
                instance_ids=input.instance_ids,
                decrement_desired=input.decrement_desired,
                abandon=input.abandon,
                result_type=TerminateStarted,
            )
        if input.wait:
            with ctx.step("wait for instances"):
                await self._wait(input, name=name, zone=current.zone)
        return started.result


#: Every operation of the plugin, one per verb of the server-group contract.
OPERATIONS = server_group_operations(GcpServerGroups)
