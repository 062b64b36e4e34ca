"""Multi-target deploys: one application to several clouds, accounts and regions at once.

Every target runs a deploy strategy inside this workflow (``ctx.run`` with the target's account
and region, side by side with ``asyncio.gather``; no child workflow), in a rollback scope of its
own (``ctx.run(..., scope=target)``), so that one target's compensations can be undone alone.

The cut-over policy decides what a failure undoes:

- ``all_or_nothing``: each target, once its traffic has moved (the strategy's cut-over, where
  a single deploy commits), waits at the :class:`CutOverGate` keeping its compensations, until
  every target is there; then all commit and clean up. A target that fails before its cut-over
  stops the deploy: no further wave starts, the held targets stop, and every compensation of
  every target runs (the runner's rollback, each step named after its target).
- ``per_target``: each target commits on its own; a failed target's compensations run at once
  (``ctx.rollback(target)``) while the others go on.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

import cloudops
from cloudops import BusinessError, ErrorCode, OperationContext
from cloudops.runner import operation_error
from cloudops_deploy.models import (
    DeployOutput,
    DeployTarget,
    MultiTargetInput,
    MultiTargetOutput,
    TargetOutcome,
)

__all__ = ["CutOverGate", "HeldBack", "MultiTarget", "cut_over", "require_strategy"]

#: Where a multi-target deploy leaves its gate in ``ctx.shared``.
GATE = "cloudops_deploy.cut_over_gate"


class HeldBack(BusinessError):
    """A target held at its cut-over when another target failed: it rolls back with the rest."""


@dataclass
class CutOverGate:
    """All-or-nothing: the targets' cut-overs, released together or not at all."""

    #: The rollback scope of each target, and whether it reached its cut-over.
    reached: dict[tuple[str, ...], bool] = field(default_factory=dict)
    released: bool = False
    failed: bool = False

    def target_of(self, scope: tuple[str, ...]) -> tuple[str, ...] | None:
        """The target whose scope ``scope`` is in (a strategy may run nested operations)."""
        for target in self.reached:
            if scope[: len(target)] == target:
                return target
        return None

    async def reach(self, scope: tuple[str, ...]) -> None:
        """Wait here, compensations kept, until every target is here (or one failed)."""
        target = self.target_of(scope)
        if target is None:
            return
        self.reached[target] = True
        await workflow.wait_condition(lambda: self.released or self.failed)
        if self.failed:
            raise HeldBack(
                ErrorCode.CANCELLED,
                "another target failed before its cut-over: every target rolls back",
            )


def require_strategy(ctx: OperationContext, name: str) -> None:
    """UNKNOWN_OPERATION, before any change, if strategy ``name`` is not installed."""
    if not ctx.has_operation(name):
        raise BusinessError(
            ErrorCode.UNKNOWN_OPERATION,
            f"deploy strategy {name!r} is not installed on this worker",
            {"operation": name},
        )


async def cut_over(ctx: OperationContext) -> None:
    """A strategy's point of no return: commit (what follows never rolls back).

    Inside an all-or-nothing multi-target deploy, first wait until every target has cut over.
    A custom strategy calls it where it would call ``ctx.commit()``.
    """
    gate = ctx.shared.get(GATE)
    if isinstance(gate, CutOverGate):
        with ctx.step("wait for every target's cut-over"):
            await gate.reach(ctx.scope)
    ctx.commit()


class MultiTarget(cloudops.CloudOperation[MultiTargetInput, MultiTargetOutput]):
    """Deploy one application to several targets, in parallel or in waves, with a cut-over policy.

    Each target (provider, account, region, the provider's create input) runs ``strategy``;
    progress names every step after its target. ``all_or_nothing``: if any target fails before
    its cut-over, every target rolls back; ``per_target``: it rolls back alone.
    """

    provider = "deploy"
    name = "multi"

    async def run(self, ctx: OperationContext, input: MultiTargetInput) -> MultiTargetOutput:
        """Validate every target's input, then run the waves, then commit or roll back."""
        require_strategy(ctx, input.strategy)
        size = input.wave_size or len(input.targets)
        outcomes = [
            TargetOutcome(target=t.label, account=t.account, region=t.region, wave=i // size + 1)
            for i, t in enumerate(input.targets)
        ]
        models = [
            ctx.validate(
                input.strategy, {**input.options, **t.options, "server_group": t.server_group}
            )
            for t in input.targets
        ]
        all_or_nothing = input.cut_over == "all_or_nothing"
        gate = CutOverGate() if all_or_nothing else None
        if gate is not None:
            gate.reached = {(*ctx.scope, t.label): False for t in input.targets}
            ctx.shared[GATE] = gate
        done: set[str] = set()

        async def deploy(target: DeployTarget, model: cloudops.Input, out: TargetOutcome) -> None:
            try:
                with ctx.step(target.label):
                    result = await ctx.run(
                        input.strategy,
                        model,
                        account=target.account,
                        region=target.region,
                        scope=target.label,
                    )
                out.status = "deployed"
                out.output = DeployOutput.model_validate(result.model_dump())
            except (ActivityError, ApplicationError) as err:  # BusinessError is one too
                out.error = operation_error(err)
                out.status = "rolled_back" if isinstance(err, HeldBack) else "failed"
                if gate is not None:
                    gate.failed = True
                else:
                    out.rollbacks = await ctx.rollback(target.label)
            finally:
                done.add(target.label)

        def settled(wave: list[DeployTarget]) -> bool:
            """Each target of the wave finished, failed or holds at its cut-over."""
            return all(
                t.label in done or (gate is not None and gate.reached[(*ctx.scope, t.label)])
                for t in wave
            )

        running: list[asyncio.Task[None]] = []
        for start in range(0, len(input.targets), size):
            wave = input.targets[start : start + size]
            if gate is not None and gate.failed:
                break  # all or nothing: no further wave starts
            if start and input.bake_seconds:
                with ctx.step(f"bake {input.bake_seconds:g}s before wave {start // size + 1}"):
                    await ctx.sleep(timedelta(seconds=input.bake_seconds))
            for target in wave:
                index = input.targets.index(target)
                running.append(asyncio.create_task(deploy(target, models[index], outcomes[index])))
            await workflow.wait_condition(functools.partial(settled, wave))
        if gate is not None:
            await workflow.wait_condition(lambda: gate.failed or settled(input.targets))
            gate.released = not gate.failed
        await asyncio.gather(*running)
        return _finish(ctx, input, outcomes)


def _finish(
    ctx: OperationContext, input: MultiTargetInput, outcomes: list[TargetOutcome]
) -> MultiTargetOutput:
    """The output, or the business failure naming the targets that failed."""
    output = MultiTargetOutput(cut_over=input.cut_over, targets=outcomes)
    failed = [o for o in outcomes if o.status == "failed"]
    if not failed:
        return output
    first = failed[0]
    assert first.error is not None
    names = ", ".join(f"{o.target} ({o.error.code if o.error else '?'})" for o in failed)
    if input.cut_over == "all_or_nothing":
        for outcome in outcomes:
            if outcome.status == "deployed":  # not committed (e.g. strategy none): undone too
                outcome.status = "rolled_back"
        message = (
            f"{names} failed before the cut-over: every target rolls back "
            f"(all or nothing); first failure: {first.error.message}"
        )
    else:
        ctx.commit()  # the others are deployed: only the failed ones were rolled back
        message = (
            f"{names} failed and rolled back alone; "
            f"{len(outcomes) - len(failed)} of {len(outcomes)} target(s) deployed; "
            f"first failure: {first.error.message}"
        )
    raise BusinessError(
        first.error.code,
        message,
        {"targets": [o.model_dump(mode="json") for o in outcomes]},
    )
