"""A plugin used only by the tests: operations that fail, retry, roll back, wait and compose.

Activities record what they did in ``JOURNAL`` (keyed by workflow id), so tests can check what
ran, in which order and how often. The worker runs in the test process, so the journal is shared.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import Field
from temporalio import activity
from temporalio.common import RetryPolicy

import cloudops
from cloudops import ActivityDefaults, BusinessError, CloudOperation, OperationContext
from cloudops.errors import NotReady, RetryableError
from cloudops.telemetry import cloud_call
from cloudops_example.operations import Echo

#: The accounts the fake cloud's tests use (a ``cloudops.toml`` as a dict).
ACCOUNTS = {
    "accounts": {
        "lab": {"provider": "fakecloud", "regions": ["eu-west-1", "us-east-1"]},
        "anywhere": {"provider": "fakecloud"},
    }
}

JOURNAL: dict[str, list[str]] = defaultdict(list)

FAST_RETRY = ActivityDefaults(
    start_to_close_timeout=timedelta(seconds=10),
    schedule_to_close_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(milliseconds=50),
        maximum_interval=timedelta(milliseconds=200),
        maximum_attempts=4,
    ),
)


def _log(entry: str) -> None:
    JOURNAL[activity.info().workflow_id or "?"].append(entry)


class Resource(cloudops.Input):
    name: str


class Step(cloudops.Input):
    name: str
    fail_with: str | None = None
    fail_times: int = 0
    sleep_seconds: float = 0


class StepOut(cloudops.Output):
    name: str
    attempt: int


@activity.defn(name="fake.make")
async def make(step: Step) -> StepOut:
    attempt = activity.info().attempt
    _log(f"make:{step.name}:{attempt}")
    if step.sleep_seconds:
        await asyncio.sleep(step.sleep_seconds)
    if step.fail_with == "retryable" and attempt <= step.fail_times:
        raise RetryableError(f"throttled ({attempt})", retry_after=0.05)
    if step.fail_with == "crash" and attempt <= step.fail_times:
        raise ValueError(f"an unexpected crash ({attempt})")
    if step.fail_with and step.fail_with.isupper():
        raise BusinessError(step.fail_with, f"{step.name} refused", {"resource": step.name})
    return StepOut(name=step.name, attempt=attempt)


@activity.defn(name="fake.undo")
async def undo(resource: Resource) -> None:
    _log(f"undo:{resource.name}")


@activity.defn(name="fake.ready")
async def ready(step: Step) -> StepOut:
    attempt = activity.info().attempt
    _log(f"ready:{step.name}:{attempt}")
    if attempt <= step.fail_times:
        raise NotReady(f"{step.name} not ready yet")
    return StepOut(name=step.name, attempt=attempt)


class ChainInput(cloudops.Input):
    steps: list[Step] = Field(min_length=1)
    wait_seconds: float = 0


class ChainOutput(cloudops.Output):
    made: list[str]
    attempts: list[int]


class Chain(CloudOperation[ChainInput, ChainOutput]):
    """Make resources one after the other, registering an undo for each."""

    provider = "fake"
    name = "chain"
    activity_defaults = FAST_RETRY

    async def run(self, ctx: OperationContext, input: ChainInput) -> ChainOutput:
        made, attempts = [], []
        for step in input.steps:
            ctx.step(f"make {step.name}")
            out: StepOut = await ctx.execute_activity("fake.make", step)
            ctx.on_rollback("fake.undo", Resource(name=step.name), label=f"undo {step.name}")
            made.append(out.name)
            attempts.append(out.attempt)
            if input.wait_seconds:
                with ctx.step(f"wait after {step.name}"):
                    await ctx.sleep(input.wait_seconds)
        return ChainOutput(made=made, attempts=attempts)


class PollInput(cloudops.Input):
    name: str
    not_ready_times: int = 2


class Poll(CloudOperation[PollInput, StepOut]):
    """Wait for a resource with retry-as-poll."""

    provider = "fake"
    name = "poll"

    async def run(self, ctx: OperationContext, input: PollInput) -> StepOut:
        with ctx.step("wait until ready"):
            result: StepOut = await ctx.poll(
                "fake.ready",
                Step(name=input.name, fail_times=input.not_ready_times),
                interval=timedelta(milliseconds=100),
                timeout=timedelta(seconds=5),
            )
        return result


class ComposeInput(cloudops.Input):
    message: str
    then_fail: bool = False


class ComposeOutput(cloudops.Output):
    echoed: str


class Compose(CloudOperation[ComposeInput, ComposeOutput]):
    """Run example.echo and fake.chain inside this workflow, as plain classes."""

    provider = "fake"
    name = "compose"

    async def run(self, ctx: OperationContext, input: ComposeInput) -> ComposeOutput:
        echoed = await ctx.run(Echo, {"message": input.message})
        await ctx.run("fake.chain", {"steps": [{"name": "inner"}]})
        if input.then_fail:
            raise BusinessError("CONFLICT", "the composed operation gave up")
        return ComposeOutput(echoed=echoed.text)


class JudgedInput(cloudops.Input):
    name: str
    timeout_seconds: float = 30


class Judged(CloudOperation[JudgedInput, StepOut]):
    """Make a resource, then wait for a manual judgement; rejection or timeout rolls back."""

    provider = "fake"
    name = "judged"

    async def run(self, ctx: OperationContext, input: JudgedInput) -> StepOut:
        out: StepOut = await ctx.execute_activity("fake.make", Step(name=input.name))
        ctx.on_rollback("fake.undo", Resource(name=input.name), label=f"undo {input.name}")
        with ctx.step("wait for judgement"):
            judgement = await ctx.wait_for_input("judgement", timeout=input.timeout_seconds)
        if judgement is None:
            raise BusinessError("TIMED_OUT", "nobody judged in time")
        if not judgement.value.get("approved"):
            raise BusinessError(
                "REJECTED", f"rejected by {judgement.sender}", {"comment": judgement.value}
            )
        return out


class Bug(CloudOperation[Resource, StepOut]):
    """An operation with a bug in its workflow code."""

    provider = "fake"
    name = "bug"
    activity_defaults = FAST_RETRY

    async def run(self, ctx: OperationContext, input: Resource) -> StepOut:
        await ctx.execute_activity("fake.make", Step(name=input.name))
        ctx.on_rollback("fake.undo", input)
        return {}["missing"]  # type: ignore[no-any-return]


class Slow(CloudOperation[Resource, StepOut]):
    """An operation bounded by its own timeout."""

    provider = "fake"
    name = "slow"
    timeout = timedelta(seconds=1)

    async def run(self, ctx: OperationContext, input: Resource) -> StepOut:
        out: StepOut = await ctx.execute_activity("fake.make", Step(name=input.name))
        ctx.on_rollback("fake.undo", input)
        await ctx.sleep(30)
        return out


class CloudCall(CloudOperation[Resource, StepOut]):
    """An operation of a registered cloud provider: it needs an account."""

    provider = "fakecloud"
    name = "touch"

    async def run(self, ctx: OperationContext, input: Resource) -> StepOut:
        result: StepOut = await ctx.execute_activity("fakecloud.touch", input)
        return result


class FakeCloudSettings(cloudops.Input):
    token_file: str | None = None


@activity.defn(name="fakecloud.touch")
async def touch(resource: Resource) -> StepOut:
    _log(f"touch:{resource.name}")
    with cloud_call("fakecloud", "things", "Touch"):
        logging.getLogger("fakecloud").info("touching %s", resource.name)
    return StepOut(name=resource.name, attempt=activity.info().attempt)


@cloudops.hookimpl
def register_operations(register: Callable[[type[Any]], None]) -> None:
    for op in (Chain, Poll, Compose, Bug, Slow, CloudCall, Judged):
        register(op)


@cloudops.hookimpl
def register_activities(register: Callable[[Any], None]) -> None:
    for fn in (make, undo, ready, touch):
        register(fn)


@cloudops.hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    register(cloudops.Provider(name="fakecloud", accounts=FakeCloudSettings))
