"""The single-argument models every client, operation, activity and workflow speaks.

Everything that crosses a Temporal boundary is one pydantic v2 model, so that the payload is JSON
any language can write, the schema can be printed, and a model grows only by optional fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Input",
    "OperationError",
    "OperationRequest",
    "OperationSignal",
    "Output",
    "ProgressReport",
    "ResultMetadata",
    "RollbackRecord",
    "StepRecord",
    "WorkflowResult",
]

OutputT = TypeVar("OutputT")

#: Shape of a request id: it becomes a Temporal workflow id, so it must be printable and bounded.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+=-]{0,199}$"


class Input(BaseModel):
    """Base of every operation and activity input.

    Unknown fields are rejected so that a typo in a payload is an ``INVALID_INPUT`` naming the
    field, not a silently ignored setting. Add fields only as optional ones to stay compatible with
    workflows already in flight.
    """

    model_config = ConfigDict(extra="forbid", frozen=False, defer_build=True)


class Output(BaseModel):
    """Base of every operation and activity output.

    Outputs ignore unknown fields so that an older client can read a newer worker's answer.
    """

    model_config = ConfigDict(extra="ignore", defer_build=True)


class OperationRequest(BaseModel):
    """What any client sends to ``UntypedCloudOperationRunner``, as JSON.

    ``request_id`` is the idempotency key: it becomes the workflow id, so the same request sent
    twice runs once. ``account`` and ``region`` may be left out for operations that touch no cloud.
    """

    model_config = ConfigDict(extra="forbid")

    operation: str = Field(min_length=1, max_length=200, description="e.g. aws.createServerGroup")
    account: str | None = Field(default=None, max_length=200)
    region: str | None = Field(default=None, max_length=100)
    input: dict[str, Any] = Field(default_factory=dict, description="the operation's input")
    request_id: str | None = Field(
        default=None,
        pattern=REQUEST_ID_PATTERN,
        description="idempotency key; becomes the workflow id",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="application, user, pipeline: become search attributes"
    )


class RollbackRecord(BaseModel):
    """What one compensation did when the operation was unwound."""

    step: str
    ok: bool
    error: str | None = None


class OperationError(BaseModel):
    """A business failure: something a human or a caller must act on, not a retry.

    ``code`` is one of :class:`cloudops.errors.ErrorCode` (or a plugin's own upper-case code).
    """

    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    rollbacks: list[RollbackRecord] = Field(default_factory=list)


class StepRecord(BaseModel):
    """One named step of an operation, as reported through ``ctx.step``."""

    name: str
    started_at: datetime
    ended_at: datetime | None = None


class ResultMetadata(BaseModel):
    """Where and when an operation ran; enough to find it again in the Temporal UI."""

    operation: str
    workflow_id: str
    run_id: str
    account: str | None = None
    region: str | None = None
    attempt: int = 1
    started_at: datetime
    ended_at: datetime
    steps: list[StepRecord] = Field(default_factory=list)
    subject: str | None = Field(
        default=None, description="the verified caller (token subject) when authorization is on"
    )


class WorkflowResult(BaseModel, Generic[OutputT]):
    """The answer of every operation: success and business failure apart from workflow failure.

    A business failure (bad input, quota, not found, conflict, cancellation) completes the workflow
    with ``ok=False`` and an :class:`OperationError`; only a bug, a timeout of the whole operation
    or a termination fails the workflow itself.
    """

    ok: bool
    value: OutputT | None = None
    error: OperationError | None = None
    metadata: ResultMetadata | None = None


class OperationSignal(BaseModel):
    """Input sent to a running operation, such as a manual judgement.

    ``{"name": "judgement", "value": {"approved": true}}``; the operation must be waiting for
    ``name`` (``ctx.wait_for_input``), or the update is rejected.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    value: dict[str, Any] = Field(default_factory=dict)
    sender: str | None = Field(default=None, max_length=200)


class ProgressReport(BaseModel):
    """Answer of the runner's ``progress`` query."""

    operation: str
    status: str = Field(description="running, rolling_back or finished")
    steps_done: list[str] = Field(default_factory=list)
    current_step: str | None = None
    current_attempt: int | None = Field(
        default=None, description="attempt of the activity now running, filled in by the client"
    )
    last_failure: str | None = None
    awaiting_input: list[str] = Field(
        default_factory=list, description="inputs the operation waits for (e.g. judgement)"
    )
