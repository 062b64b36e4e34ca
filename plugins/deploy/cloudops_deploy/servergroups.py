"""The common server-group operations of whatever cloud the deploy's account belongs to.

Why a wrapper: a strategy is written once against ``createServerGroup``, ``enableServerGroup``...
and runs them as ``aws.*``, ``gcp.*`` or ``azure.*`` by composition (``ctx.run``: same workflow,
no child workflow), the way Spinnaker's Orca composes Clouddriver operations.
"""

from __future__ import annotations

from typing import Any

import cloudops
from cloudops import BusinessError, ErrorCode, OperationContext
from cloudops.servergroups.contract import CLUSTER_VERBS
from cloudops.servergroups.models import (
    Capacity,
    ClusterRef,
    CreateServerGroupInput,
    ServerGroupDescription,
    ServerGroupList,
    ServerGroupOutput,
)
from cloudops_deploy.models import WaitOptions

#: The verbs of the server-group contract a deploy strategy runs.
NEEDED = CLUSTER_VERBS


class ServerGroups:
    """Runs one cloud's server-group operations with the deploy's wait settings."""

    def __init__(
        self, ctx: OperationContext, wait: WaitOptions, scope: dict[str, Any] | None = None
    ) -> None:
        if ctx.cloud is None:
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                "a deploy needs an account: its provider decides which cloud to deploy to",
                {"errors": [{"field": "account", "reason": "required"}]},
            )
        self.ctx = ctx
        self.cloud = ctx.cloud
        self.wait = wait
        #: Provider fields that locate the groups (Azure: ``resource_group``), sent to every call.
        self.scope: dict[str, Any] = dict(scope or {})

    def name(self, verb: str) -> str:
        """Full name of the cloud's ``verb`` operation (``aws.createServerGroup``)."""
        return f"{self.cloud}.{verb}"

    def check_installed(self) -> None:
        """Fail before changing anything if the cloud lacks an operation the strategy needs."""
        missing = [v for v in NEEDED if not self.ctx.has_operation(self.name(v))]
        if missing:
            raise BusinessError(
                ErrorCode.UNKNOWN_OPERATION,
                f"the {self.cloud} provider lacks {', '.join(missing)}; "
                "deploys need every common server-group operation",
                {"missing": [self.name(v) for v in missing]},
            )

    def scope_from(self, create: CreateServerGroupInput) -> None:
        """Take the scope from a create input: its provider fields that also locate a cluster.

        Why: a provider may place groups with an optional field of its own (Azure's
        ``resource_group``); the deploy must then list, enable, disable, resize and destroy
        them there too. Those fields are the ones the provider's create and list inputs share,
        beyond the cluster's name. None on AWS and GCP, so their calls are unchanged.
        """
        listing = self.ctx.validate(
            self.name("listServerGroups"), {"application": create.application}
        )
        shared = (set(type(create).model_fields) & set(type(listing).model_fields)) - set(
            ClusterRef.model_fields
        )
        self.scope = {
            **create.model_dump(mode="json", include=shared, exclude_none=True),
            **self.scope,
        }

    def _waits(self) -> dict[str, Any]:
        return {
            "wait": True,
            "wait_timeout_seconds": self.wait.health_timeout_seconds,
            "poll_interval_seconds": self.wait.poll_interval_seconds,
        }

    def _change(self, name: str) -> dict[str, Any]:
        return {"server_group": name, **self.scope, **self._waits()}

    def create_input(self, server_group: dict[str, Any]) -> CreateServerGroupInput:
        """Validate the provider's create input up front, with the deploy's wait settings."""
        model = self.ctx.validate(self.name("createServerGroup"), {**server_group, **self._waits()})
        assert isinstance(model, CreateServerGroupInput)
        return model

    async def create(self, model: CreateServerGroupInput) -> ServerGroupOutput:
        """Create the next server group of the cluster (it rolls itself back on failure)."""
        out = await self.ctx.run(self.name("createServerGroup"), model)
        return ServerGroupOutput.model_validate(out.model_dump())

    async def list(self, cluster: ClusterRef) -> list[ServerGroupDescription]:
        """The cluster's server groups, oldest first."""
        out = await self.ctx.run(
            self.name("listServerGroups"), {**cluster.model_dump(mode="json"), **self.scope}
        )
        return ServerGroupList.model_validate(out.model_dump()).server_groups

    async def describe(self, name: str) -> ServerGroupDescription:
        """One server group's state."""
        out = await self.ctx.run(
            self.name("describeServerGroup"), {"server_group": name, **self.scope}
        )
        return ServerGroupDescription.model_validate(out.model_dump())

    async def enable(self, name: str) -> None:
        """Put a group in service and wait until it is."""
        await self.ctx.run(self.name("enableServerGroup"), self._change(name))

    async def disable(self, name: str, desired_percentage: int | None = None) -> ServerGroupOutput:
        """Take a group out of service, or that share of its instances (still running)."""
        change = self._change(name)
        if desired_percentage is not None:
            change["desired_percentage"] = desired_percentage
        out = await self.ctx.run(self.name("disableServerGroup"), change)
        return ServerGroupOutput.model_validate(out.model_dump())

    async def resize(self, name: str, capacity: Capacity, *, wait: bool = True) -> None:
        """Resize a group and (by default) wait for the capacity."""
        change = {**self._change(name), "capacity": capacity.model_dump()}
        if not wait:
            change["wait"] = False
        await self.ctx.run(self.name("resizeServerGroup"), change)

    async def destroy(self, name: str) -> None:
        """Destroy a group (gone already is fine)."""
        await self.ctx.run(self.name("destroyServerGroup"), self._change(name))

    def from_source(
        self, create: CreateServerGroupInput, serving: list[ServerGroupDescription], whole: bool
    ) -> CreateServerGroupInput:
        """The create input with the cluster's newest serving group as its ``source``.

        As every Spinnaker deploy stage does, so that the provider copies the source's
        autoscaling (unless ``copy_source_scaling`` is off or a source is given); with
        ``whole`` (``use_source_capacity``) the new group also takes the source's capacity.
        """
        if not serving:
            return create
        source = serving[-1]
        update: dict[str, Any] = {"capacity": source.capacity} if whole else {}
        if (
            "source" in type(create).model_fields
            and create.source is None
            and create.copy_source_scaling
        ):
            update["source"] = source.name
        return create.model_copy(update=update)

    async def set_capacity(self, name: str, capacity: Capacity) -> None:
        """Set a group's capacity without waiting (a pinned min restored)."""
        await self.ctx.run(
            self.name("resizeServerGroup"),
            {"server_group": name, **self.scope, "capacity": capacity.model_dump(), "wait": False},
        )

    def on_rollback(
        self, verb: str, arg: dict[str, Any], label: str
    ) -> cloudops.operation.RollbackHandle:
        """Register one of the cloud's operations as a compensation."""
        return self.ctx.on_rollback(
            self.name(verb), {**arg, **self.scope, **self._waits()}, label=label
        )
