"""The network kit: turn a small per-cloud adapter into the load-balancer and firewall operations.

Why: every cloud's upsert is the same converge loop (read the parts, change only those that
differ, register the undo of each change before making it), every delete the same refusal while
in use followed by the parts' deletion in reverse, every describe and list one read. Those
skeletons live here once. A cloud writes a :class:`NetworkCloud`: its validation (what its API
would refuse) and its *plan*, the parts a load balancer or security group is made of with their
desired states; its activities do the I/O (:mod:`cloudops.network.parts`).

The adapter's methods run inside the workflow: deterministic, no I/O, activities called by
name (``f"{provider}.ensure_network_part"``), so the sandbox never imports a cloud SDK.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

from cloudops.adapter import CloudAdapter
from cloudops.errors import BusinessError, ErrorCode
from cloudops.models import Input, Output
from cloudops.network.contract import (
    NETWORK_VERBS,
    TAG_LOAD_BALANCER,
    TAG_SECURITY_GROUP,
    LoadBalancerLookup,
    NetworkCall,
    NetworkListCall,
    Part,
    PartChange,
    PartDelete,
    PartResult,
    PartsCall,
    PartsState,
    Reference,
    SecurityGroupLookup,
    differences,
)
from cloudops.network.models import (
    DeleteLoadBalancerInput,
    DeleteSecurityGroupInput,
    LoadBalancerDescription,
    LoadBalancerList,
    LoadBalancerRef,
    NetworkFilter,
    NetworkOutput,
    SecurityGroupDescription,
    SecurityGroupList,
    SecurityGroupRef,
    UpsertLoadBalancerInput,
    UpsertSecurityGroupInput,
)
from cloudops.operation import CloudOperation, OperationContext
from cloudops.servergroups.contract import TAG_APPLICATION, TAG_REQUEST_ID

__all__ = ["NetworkCloud", "NetworkModels", "Plan", "invalid", "network_operations"]


def invalid(field: str, reason: str, message: str | None = None) -> BusinessError:
    """INVALID_INPUT naming ``field`` (``listeners.0.port``), as the runner's validation does."""
    return BusinessError(
        ErrorCode.INVALID_INPUT,
        message or f"{field}: {reason}",
        {"errors": [{"field": field, "reason": reason}]},
    )


@dataclass(frozen=True)
class NetworkModels:
    """The input and output models of each verb on one cloud (defaults: the common models)."""

    load_balancer: type[UpsertLoadBalancerInput] = UpsertLoadBalancerInput
    delete_load_balancer: type[DeleteLoadBalancerInput] = DeleteLoadBalancerInput
    load_balancer_ref: type[LoadBalancerRef] = LoadBalancerRef
    security_group: type[UpsertSecurityGroupInput] = UpsertSecurityGroupInput
    delete_security_group: type[DeleteSecurityGroupInput] = DeleteSecurityGroupInput
    security_group_ref: type[SecurityGroupRef] = SecurityGroupRef
    filter: type[NetworkFilter] = NetworkFilter


@dataclass
class Plan:
    """What a load balancer or security group is made of.

    ``parts`` in creation order; ``references``: parts the input names that must already exist.
    """

    parts: list[Part] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)


class NetworkCloud(CloudAdapter):
    """One cloud's load balancers and security groups, seen from the workflow.

    Subclass it, set the class attributes and implement :meth:`load_balancer_plan` and
    :meth:`security_group_plan` (pure); override :meth:`check_load_balancer` and
    :meth:`check_security_group` to refuse what the cloud's API would refuse. The cloud
    registers the activities the defaults call: the three of :func:`cloudops.network.parts.
    part_activities` and ``describe_load_balancer``, ``list_load_balancers``,
    ``describe_security_group``, ``list_security_groups``.
    """

    models: ClassVar[NetworkModels] = NetworkModels()
    #: What the cloud makes, for the operations' descriptions.
    load_balancer_note: ClassVar[str] = ""
    security_group_note: ClassVar[str] = ""

    # --- helpers ---------------------------------------------------------------------------------
    def scope(self, input: Any) -> dict[str, str]:
        """The scope fields ``input`` sets."""
        return {
            f: str(getattr(input, f))
            for f in self.scope_fields
            if getattr(input, f, None) is not None
        }

    def call(self, name: str, input: Any) -> NetworkCall:
        """The argument of a describe activity."""
        return NetworkCall(
            account=self.account, region=self.region, name=name, scope=self.scope(input)
        )

    # --- what each cloud writes (pure) -----------------------------------------------------------
    def check_load_balancer(self, input: Any) -> None:
        """Raise :func:`invalid` for what the cloud would refuse (beyond the common models)."""

    def check_security_group(self, input: Any) -> None:
        """Raise :func:`invalid` for what the cloud would refuse (beyond the common models)."""

    def load_balancer_plan(self, input: Any) -> Plan:
        """The parts of the load balancer ``input`` declares, in creation order."""
        raise NotImplementedError

    def security_group_plan(self, input: Any) -> Plan:
        """The parts of the security group ``input`` declares, and the groups it names."""
        raise NotImplementedError

    # --- reads (activities by conventional names) ------------------------------------------------
    async def describe(self, kind: str, name: str, input: Any) -> Any:
        """The description of the ``load_balancer`` or ``security_group`` ``name``, or None."""
        lookup = LoadBalancerLookup if kind == "load_balancer" else SecurityGroupLookup
        found: Any = await self.ctx.execute_activity(
            self.activity(f"describe_{kind}"), self.call(name, input), result_type=lookup
        )
        return found.description

    async def list_resources(self, kind: str, input: NetworkFilter) -> Any:
        """``list_load_balancers`` or ``list_security_groups``."""
        model = LoadBalancerList if kind == "load_balancers" else SecurityGroupList
        return await self.ctx.execute_activity(
            self.activity(f"list_{kind}"),
            NetworkListCall(
                account=self.account,
                region=self.region,
                application=input.application,
                scope=self.scope(input),
            ),
            result_type=model,
        )

    # --- the converge loop -----------------------------------------------------------------------
    async def converge(self, input: Any, plan: Plan, owner_tag: str) -> NetworkOutput:
        """Make every part of ``plan`` match its desired state; undo each change on failure."""
        ctx, scope = self.ctx, self.scope(input)
        where = {"account": self.account, "region": self.region, "scope": scope}
        reads = plan.parts + [
            Part(kind=r.kind, name=r.name, settings=r.settings) for r in plan.references
        ]
        with ctx.step("read"):
            state: PartsState = await ctx.execute_activity(
                self.activity("read_network_parts"),
                PartsCall(**where, parts=reads),
                result_type=PartsState,
            )
        missing = [r for r in plan.references if state.states.get(f"{r.kind}/{r.name}") is None]
        if missing:
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                "; ".join(f"{r.field}: no {r.kind.replace('_', ' ')} {r.name!r}" for r in missing),
                {
                    "errors": [
                        {"field": r.field, "reason": f"no {r.kind.replace('_', ' ')} {r.name!r}"}
                        for r in missing
                    ]
                },
            )
        tags = {
            **input.tags,
            TAG_REQUEST_ID: ctx.request_id,
            TAG_APPLICATION: input.application,
            owner_tag: input.name,
        }
        output = NetworkOutput(name=input.name)
        for part in plan.parts:
            current = state.states.get(part.key)
            changed = differences(part.desired, current)
            if not changed:
                if current and current.get("id"):
                    output.resources[part.key] = str(current["id"])
                continue
            verb = "create" if current is None else "update"
            if part.undo and current is None:
                ctx.on_rollback(
                    self.activity("delete_network_part"),
                    PartDelete(**where, part=part, only_if_request_id=ctx.request_id),
                    label=f"delete {part.key}",
                )
            elif part.undo and current is not None:
                before = part.model_copy(
                    update={"desired": {key: current.get(key) for key in part.desired}}
                )
                ctx.on_rollback(
                    self.activity("ensure_network_part"),
                    PartChange(**where, part=before, request_id=ctx.request_id, restore=True),
                    label=f"restore {part.key}",
                )
            with ctx.step(f"{verb} {part.key}"):
                result: PartResult = await ctx.execute_activity(
                    self.activity("ensure_network_part"),
                    PartChange(**where, part=part, request_id=ctx.request_id, tags=tags),
                    result_type=PartResult,
                )
            if result.id:
                output.resources[part.key] = result.id
            if result.changed:
                output.changed = True
                output.created = output.created or (result.created and part is plan.parts[0])
                detail = f" ({', '.join(changed)})" if current is not None else ""
                output.changes.append(f"{verb} {part.key}{detail}")
        return output

    async def delete_parts(self, input: Any, parts: list[str]) -> NetworkOutput:
        """Delete ``parts`` (``kind/name``) in reverse creation order."""
        output = NetworkOutput(name=input.name)
        for key in reversed(parts):
            kind, _, name = key.partition("/")
            with self.ctx.step(f"delete {key}"):
                result: PartResult = await self.ctx.execute_activity(
                    self.activity("delete_network_part"),
                    PartDelete(
                        account=self.account,
                        region=self.region,
                        scope=self.scope(input),
                        part=Part(kind=kind, name=name),
                    ),
                    result_type=PartResult,
                )
            if result.deleted:
                output.changed = True
                output.changes.append(f"delete {key}")
                if result.id:
                    output.resources[key] = result.id
        return output


# ------------------------------------------------------------------------------------------------
# The skeletons, one per verb
# ------------------------------------------------------------------------------------------------


async def _upsert_load_balancer(cloud: NetworkCloud, input: Any) -> NetworkOutput:
    cloud.check_load_balancer(input)
    return await cloud.converge(input, cloud.load_balancer_plan(input), TAG_LOAD_BALANCER)


async def _upsert_security_group(cloud: NetworkCloud, input: Any) -> NetworkOutput:
    cloud.check_security_group(input)
    return await cloud.converge(input, cloud.security_group_plan(input), TAG_SECURITY_GROUP)


def _in_use(kind: str, name: str, users: list[str], hint: str) -> BusinessError:
    return BusinessError(
        ErrorCode.CONFLICT,
        f"{kind} {name!r} is in use by {', '.join(users)}; {hint}",
        {"name": name, "in_use_by": users},
    )


async def _delete(cloud: NetworkCloud, input: Any, kind: str) -> NetworkOutput:
    with cloud.ctx.step("describe"):
        found = await cloud.describe(kind, input.name, input)
    if found is None:
        return NetworkOutput(name=input.name)
    label = kind.replace("_", " ")
    if kind == "load_balancer" and found.server_groups and not input.force:
        hint = "destroy or detach those server groups first, or delete with force"
        raise _in_use(label, input.name, found.server_groups, hint)
    if kind == "security_group" and found.in_use_by:
        hint = "destroy the server groups and remove the rules that name it first"
        raise _in_use(label, input.name, found.in_use_by, hint)
    return await cloud.delete_parts(input, found.parts)


async def _describe(cloud: NetworkCloud, input: Any, kind: str) -> Any:
    with cloud.ctx.step("describe"):
        found = await cloud.describe(kind, input.name, input)
    if found is None:
        label = kind.replace("_", " ")
        raise BusinessError(
            ErrorCode.NOT_FOUND, f"{label} {input.name!r} does not exist", {"name": input.name}
        )
    return found


async def _list_load_balancers(cloud: NetworkCloud, input: Any) -> Any:
    with cloud.ctx.step("list"):
        return await cloud.list_resources("load_balancers", input)


async def _list_security_groups(cloud: NetworkCloud, input: Any) -> Any:
    with cloud.ctx.step("list"):
        return await cloud.list_resources("security_groups", input)


@dataclass(frozen=True)
class _Verb:
    skeleton: Any
    input: str
    output: type[Output]
    summary: str
    note: str = ""


_VERBS: dict[str, _Verb] = {
    "upsertLoadBalancer": _Verb(
        _upsert_load_balancer,
        "load_balancer",
        NetworkOutput,
        """Create a load balancer, or converge an existing one to the input.

        Parts that differ are changed, missing ones created, listeners no longer declared
        removed; a second identical upsert changes nothing. If a step fails, what this
        upsert changed is put back.""",
        "load_balancer_note",
    ),
    "deleteLoadBalancer": _Verb(
        partial(_delete, kind="load_balancer"),
        "delete_load_balancer",
        NetworkOutput,
        """Delete a load balancer and its parts; refused while server groups use it.

        ``force`` deletes it anyway. A load balancer that does not exist is success
        (``changed: false``).""",
    ),
    "describeLoadBalancer": _Verb(
        partial(_describe, kind="load_balancer"),
        "load_balancer_ref",
        LoadBalancerDescription,
        """Describe a load balancer: listeners, health check, address, server groups behind it.

        One that does not exist is a ``NOT_FOUND`` business failure.""",
    ),
    "listLoadBalancers": _Verb(
        _list_load_balancers,
        "filter",
        LoadBalancerList,
        "List the load balancers cloudops made (of one application, or all), each described.",
    ),
    "upsertSecurityGroup": _Verb(
        _upsert_security_group,
        "security_group",
        NetworkOutput,
        """Create a security group, or converge its ingress rules to the input.

        Missing rules are added and rules no longer declared revoked; a second identical
        upsert changes nothing. Groups named as sources must exist (``INVALID_INPUT``
        otherwise). If a step fails, what this upsert changed is put back.""",
        "security_group_note",
    ),
    "deleteSecurityGroup": _Verb(
        partial(_delete, kind="security_group"),
        "delete_security_group",
        NetworkOutput,
        """Delete a security group; refused (``CONFLICT``) while anything uses it.

        One that does not exist is success (``changed: false``).""",
    ),
    "describeSecurityGroup": _Verb(
        partial(_describe, kind="security_group"),
        "security_group_ref",
        SecurityGroupDescription,
        """Describe a security group: its rules as permissions, and what uses it.

        One that does not exist is a ``NOT_FOUND`` business failure.""",
    ),
    "listSecurityGroups": _Verb(
        _list_security_groups,
        "filter",
        SecurityGroupList,
        "List the security groups cloudops made (of one application, or all), each described.",
    ),
}
assert tuple(_VERBS) == NETWORK_VERBS, "every network verb has a skeleton"


def network_operations(cloud: type[NetworkCloud]) -> tuple[type[CloudOperation[Any, Any]], ...]:
    """The operation classes of ``cloud``, one per verb, in :data:`NETWORK_VERBS` order."""
    operations: list[type[CloudOperation[Any, Any]]] = []
    for verb, spec in _VERBS.items():
        model_in: type[Input] = getattr(cloud.models, spec.input)

        async def run(
            self: CloudOperation[Any, Any],
            ctx: OperationContext,
            input: Any,
            _skeleton: Any = spec.skeleton,
        ) -> Any:
            return await _skeleton(cloud(ctx), input)

        note = inspect.cleandoc(getattr(cloud, spec.note, "") or "") if spec.note else ""
        doc = inspect.cleandoc(spec.summary) + (f"\n\n{note}" if note else "")
        class_name = verb[0].upper() + verb[1:]
        namespace: dict[str, Any] = {
            "__doc__": doc,
            "__module__": cloud.__module__,
            "__qualname__": class_name,
            "provider": cloud.provider,
            "name": verb,
            "input_model": model_in,
            "output_model": spec.output,
            "activity_defaults": cloud.activity_defaults,
            "run": run,
        }
        operations.append(type(class_name, (CloudOperation,), namespace))
    return tuple(operations)
