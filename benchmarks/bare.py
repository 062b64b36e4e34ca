"""The baseline: a bare Temporal workflow with one activity, default converter and sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow


@dataclass
class BareInput:
    """What the activity echoes."""

    message: str = "x"


@activity.defn(name="bare.noop")
async def bare_noop(arg: BareInput) -> BareInput:
    """Return at once."""
    return arg


@workflow.defn(name="BareWorkflow")
class BareWorkflow:
    """One activity, nothing else."""

    @workflow.run
    async def run(self, arg: BareInput) -> BareInput:
        """Call ``bare.noop``."""
        return await workflow.execute_activity(
            bare_noop, arg, start_to_close_timeout=timedelta(minutes=5)
        )


@workflow.defn(name="BareEmptyWorkflow")
class BareEmptyWorkflow:
    """No activity at all: what a workflow costs on its own (start, one task, result)."""

    @workflow.run
    async def run(self) -> None:
        """Return at once."""
