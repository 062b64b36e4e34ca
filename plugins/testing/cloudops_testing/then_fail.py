"""A plugin for tests of rollbacks: ``testkit.thenFail`` runs operations, then fails.

Why: an operation of one step (set tags, suspend processes, detach instances) registers its
undo for a later failure, of its own or of a deploy composing it. Running it inside this
operation and failing afterwards shows that the undo runs and restores the cloud. Load it
with the provider: ``cloudops_worker(plugins=[cloudops_aws.plugin, then_fail])``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cloudops
from cloudops import BusinessError, CloudOperation, ErrorCode, OperationContext

__all__ = ["ThenFail", "register_operations"]


class Step(cloudops.Input):
    """One operation to run, by full name, with its input."""

    operation: str
    input: dict[str, Any]


class ThenFailInput(cloudops.Input):
    """The operations to run, in order, before failing."""

    steps: list[Step]


class ThenFailOutput(cloudops.Output):
    """Never returned: the operation always fails."""


class ThenFail(CloudOperation[ThenFailInput, ThenFailOutput]):
    """Run the steps, then fail with ``CLOUD_REJECTED`` so that their undos run."""

    provider = "testkit"
    name = "thenFail"
    input_model = ThenFailInput
    output_model = ThenFailOutput

    async def run(self, ctx: OperationContext, input: ThenFailInput) -> ThenFailOutput:
        """Run each step; then fail."""
        for step in input.steps:
            with ctx.step(step.operation):
                await ctx.run(step.operation, step.input)
        raise BusinessError(ErrorCode.CLOUD_REJECTED, "failing on purpose after the steps")


@cloudops.hookimpl
def register_operations(register: Callable[[Any], None]) -> None:
    """Add ``testkit.thenFail``."""
    register(ThenFail)
