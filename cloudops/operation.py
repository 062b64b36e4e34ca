"""CloudOperation, the unit plugins add, and OperationContext, its workflow-side toolbox.

``CloudOperation.run`` is *workflow code*: it must be deterministic and do no I/O. It reaches the
cloud only through activities called with ``ctx.execute_activity`` (by name, so the cloud SDK is
never imported into the workflow sandbox), waits with durable timers, and registers a
compensation with ``ctx.on_rollback`` for every change it makes.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar, overload

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import Priority, RetryPolicy

from cloudops import patching
from cloudops.budgets import (
    attempt_weight,
    budget_family,
    budget_queue,
    fairness_key,
    shared_key,
)
from cloudops.errors import BusinessError, ErrorCode
from cloudops.models import Input, OperationSignal, Output, RollbackRecord, StepRecord
from cloudops.validation import validation_details

if typing.TYPE_CHECKING:
    from cloudops.accounts import AccountCheckResult
    from cloudops.registry import Catalogue

__all__ = [
    "ActivityDefaults",
    "CloudOperation",
    "OperationContext",
    "RollbackHandle",
]

InT = TypeVar("InT", bound=Input)
OutT = TypeVar("OutT", bound=Output)
R = TypeVar("R")

DEFAULT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)


@dataclass(frozen=True)
class ActivityDefaults:
    """Timeouts and retry policy an operation's activity calls get unless a call overrides them.

    Temporal owns durable retrying: the cloud SDKs' own retries should stay small, and a
    :class:`~cloudops.errors.RetryableError` is retried here with backoff, honouring Retry-After.

    The worker heartbeats every running activity on its own (:mod:`cloudops.heartbeat`), so with
    the default ``heartbeat_timeout`` an attempt lost with its worker is retried elsewhere
    about 10 s after the worker died, whatever the start-to-close timeout. ``None`` turns that
    off (the attempt then waits for its start-to-close timeout).
    """

    start_to_close_timeout: timedelta = timedelta(minutes=5)
    schedule_to_close_timeout: timedelta | None = timedelta(minutes=30)
    heartbeat_timeout: timedelta | None = timedelta(seconds=10)
    retry_policy: RetryPolicy = field(default_factory=lambda: DEFAULT_RETRY)


#: Joins a composed operation's step names to the step of the operation that runs it.
STEP_SEPARATOR = " > "


@dataclass
class ProgressState:
    """What the runner's ``progress`` query reports; mutated only by workflow code."""

    operation: str
    status: str = "running"
    steps: list[StepRecord] = field(default_factory=list)
    current_activity: str | None = None

    def start_step(self, name: str, now: datetime) -> StepRecord:
        """Open ``name``, closing the open steps that are not its parents.

        A composed operation's steps are named ``"parent step > child step"``; the parent stays
        open while its children run, so progress reads as a path.
        """
        for record in self.steps:
            if record.ended_at is None and not name.startswith(record.name + STEP_SEPARATOR):
                record.ended_at = now
        record = StepRecord(name=name, started_at=now)
        self.steps.append(record)
        return record

    def open_step(self) -> StepRecord | None:
        """The innermost step still running, if any."""
        for record in reversed(self.steps):
            if record.ended_at is None:
                return record
        return None

    def end_step(self, now: datetime) -> None:
        """Close every open step."""
        for record in self.steps:
            if record.ended_at is None:
                record.ended_at = now


@dataclass
class RollbackStep:
    """A compensation registered with ``ctx.on_rollback``."""

    target: str
    arg: Any
    label: str
    account: str | None
    region: str | None
    cloud: str | None = None
    defaults: ActivityDefaults | None = None
    active: bool = True
    #: The rollback scopes (``ctx.run(..., scope=...)``) it was registered in, outermost first.
    scope: tuple[str, ...] = ()


@dataclass
class Mailbox:
    """Inputs sent to a running operation (``cloudops approve``), and the names it awaits."""

    received: dict[str, OperationSignal] = field(default_factory=dict)
    awaiting: set[str] = field(default_factory=set)


ResolveAccount = Callable[
    ["type[CloudOperation[Any, Any]]", str | None, str | None], Awaitable[str | None]
]

Authorize = Callable[
    ["type[CloudOperation[Any, Any]]", Any, str | None, str | None], Awaitable[None]
]


@dataclass
class Session:
    """State shared by every operation that runs in one workflow (the top one and composed ones).

    ``resolve_account`` checks an account and region for an operation and returns the account's
    cloud provider (or None when no account is involved).
    """

    catalogue: Catalogue
    request_id: str
    labels: dict[str, str]
    progress: ProgressState
    rollbacks: list[RollbackStep]
    resolve_account: ResolveAccount
    mailbox: Mailbox = field(default_factory=Mailbox)
    #: Checks the caller may run an operation (cls, input, account, region); None: no check.
    authorize: Authorize | None = None
    #: (account, region) -> the recorded account check, for budgets (cloudops.budgets).
    checks: dict[tuple[str | None, str | None], AccountCheckResult] = field(default_factory=dict)

    #: Runs one compensation now (as the runner's unwinding does) and records its outcome.
    undo: Callable[[RollbackStep], Awaitable[RollbackRecord]] | None = None
    #: Workflow-local state the operations of one workflow share (e.g. a barrier between the
    #: targets of a multi-target deploy); never persisted, rebuilt the same way on replay.
    shared: dict[str, Any] = field(default_factory=dict)


def budget_route(
    session: Session, account: str | None, region: str | None, activity: str
) -> dict[str, Any]:
    """Options that schedule ``activity`` under its account's budget, or none.

    Only the account's own provider's activities are budgeted. The budget comes from the
    account check recorded in the history, so a replay routes as the run did.
    """
    check = session.checks.get((account, region))
    if check is None or not check.budget or not check.provider or account is None:
        return {}
    if not activity.startswith(f"{check.provider}."):
        return {}
    entry = session.catalogue.providers.get(check.provider)
    family = budget_family(check.budget, entry.provider.family(activity) if entry else "mutations")
    if family is None:
        return {}
    key, budget = fairness_key(account, check.budget_region, family), check.budget[family]
    shared = entry is not None and activity in entry.provider.shared_read_activities
    calls = entry.provider.activity_calls.get(activity) if entry is not None else None
    if calls is not None and not patching.patched(BUDGET_CALLS_PATCH):
        shared, calls = False, None  # started before: one attempt, one call, as recorded
    if shared:
        key = shared_key(key)
    return {
        "task_queue": budget_queue(workflow.info().task_queue),
        "priority": Priority(
            fairness_key=key, fairness_weight=attempt_weight(budget, calls or 1.0, shared=shared)
        ),
    }


#: ``workflow.patched`` id: workflows started before it scheduled every budgeted activity at
#: one call per attempt (weight = budget) and ``Provider.activity_calls``' activities under
#: their family's own key; they replay that way.
BUDGET_CALLS_PATCH = "cloudops-budget-calls"


@dataclass
class RollbackHandle:
    """Returned by ``ctx.on_rollback``; ``discard()`` drops a compensation no longer needed."""

    _step: RollbackStep

    def discard(self) -> None:
        """Forget this compensation (e.g. the resource it would undo was handed over)."""
        self._step.active = False


def _is_model(value: Any, base: type[Any]) -> bool:
    return isinstance(value, type) and issubclass(value, base)


class CloudOperation(Generic[InT, OutT]):
    """One cloud operation: a name, an input model, an output model and workflow code.

    Subclass it with the models as type arguments::

        class Echo(CloudOperation[EchoInput, EchoOutput]):
            provider = "example"
            name = "echo"

            async def run(self, ctx: OperationContext, input: EchoInput) -> EchoOutput:
                return await ctx.execute_activity("example.echo", input)

    ``provider`` prefixes the full name (``example.echo``). When ``provider`` is a registered cloud
    provider, requests must name an account of that provider. ``activity_defaults`` sets the
    timeouts and retry policy of the operation's activity calls; ``timeout`` bounds the whole
    operation (rolled back with ``TIMED_OUT`` when it passes).
    """

    provider: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str] = ""
    input_model: ClassVar[type[Input]]
    output_model: ClassVar[type[Output]]
    activity_defaults: ClassVar[ActivityDefaults] = ActivityDefaults()
    timeout: ClassVar[timedelta | None] = None
    #: True when the operation only reads: callers then need READ permission, not WRITE.
    read_only: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The models come from the type arguments of CloudOperation[In, Out], or of a generic
        # base class of a plugin's own (class AwsOperation(CloudOperation[InT, OutT])).
        for base in getattr(cls, "__orig_bases__", ()):
            origin = typing.get_origin(base)
            if not (isinstance(origin, type) and issubclass(origin, CloudOperation)):
                continue
            args = typing.get_args(base)
            if len(args) != 2:
                continue
            model_in, model_out = args
            if "input_model" not in cls.__dict__ and _is_model(model_in, Input):
                cls.input_model = model_in
            if "output_model" not in cls.__dict__ and _is_model(model_out, Output):
                cls.output_model = model_out

    @classmethod
    def full_name(cls) -> str:
        """``provider.name``, the name clients use."""
        return f"{cls.provider}.{cls.name}"

    @classmethod
    def summary(cls) -> str:
        """First line of the description or docstring, for listings."""
        text = cls.description or cls.__doc__ or ""
        return text.strip().splitlines()[0] if text.strip() else ""

    async def run(self, ctx: OperationContext, input: InT) -> OutT:
        """Do the operation. Workflow code: deterministic, all I/O through ``ctx``."""
        raise NotImplementedError


def _activity_name(activity: str | Callable[..., Any]) -> str:
    if isinstance(activity, str):
        return activity
    from temporalio.activity import _Definition

    defn = _Definition.must_from_callable(activity)
    if defn.name is None:
        raise TypeError(f"activity {activity!r} has no name")
    return defn.name


class OperationContext:
    """The workflow-side helpers an operation uses; one per operation run.

    Names follow Temporal's: ``execute_activity``, ``sleep``, plus ``run`` (compose another
    operation inside the same workflow), ``on_rollback`` (register a compensation), ``step``
    (name the current step for the ``progress`` query) and ``poll`` (wait for a state durably).
    """

    def __init__(
        self,
        session: Session,
        operation: type[CloudOperation[Any, Any]],
        *,
        account: str | None,
        region: str | None,
        cloud: str | None = None,
        scope: tuple[str, ...] = (),
    ) -> None:
        self._session = session
        self._catalogue = session.catalogue
        self._operation = operation
        self._progress = session.progress
        self._rollbacks = session.rollbacks
        self.account = account
        self.region = region
        #: The cloud provider of ``account`` (e.g. ``aws``), from the worker's account config.
        self.cloud = cloud
        self.request_id = session.request_id
        self.labels = session.labels
        self._rollback_mark = len(session.rollbacks)
        self._parent_step: str | None = None
        #: The rollback scopes this operation runs in (``ctx.run(..., scope=...)``).
        self.scope = scope

    # --- information -----------------------------------------------------------------------
    @property
    def logger(self) -> workflow.LoggerAdapter:
        """Temporal's replay-safe workflow logger."""
        return workflow.logger

    @property
    def workflow_id(self) -> str:
        """Id of the workflow running this operation (the request id)."""
        return workflow.info().workflow_id

    @property
    def shared(self) -> dict[str, Any]:
        """State shared by the operations of this workflow (workflow code only, not persisted)."""
        return self._session.shared

    @property
    def catalogue(self) -> Catalogue:
        """What the worker's plugins registered (the same on every worker of the task queue)."""
        return self._catalogue

    def now(self) -> datetime:
        """Deterministic current time."""
        return workflow.now()

    def uuid(self) -> str:
        """A deterministic random UUID (the same on replay)."""
        return str(workflow.uuid4())

    # --- progress ----------------------------------------------------------------------------
    @contextmanager
    def _step_scope(self, record: StepRecord) -> Iterator[StepRecord]:
        try:
            yield record
        finally:
            if record.ended_at is None:
                record.ended_at = workflow.now()

    def step(self, name: str) -> typing.ContextManager[StepRecord]:
        """Start the step ``name`` (ending the previous one), shown by the ``progress`` query.

        Use it as a statement (``ctx.step("wait for capacity")``) or as a ``with`` block, which
        also marks the step's end.
        """
        if self._parent_step:
            name = f"{self._parent_step}{STEP_SEPARATOR}{name}"
        record = self._progress.start_step(name, workflow.now())
        return self._step_scope(record)

    # --- activities --------------------------------------------------------------------------
    @overload
    async def execute_activity(
        self,
        activity: Callable[[Any], Awaitable[R]],
        arg: Any,
        *,
        result_type: None = None,
        start_to_close_timeout: timedelta | None = None,
        schedule_to_close_timeout: timedelta | None = None,
        heartbeat_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> R: ...

    @overload
    async def execute_activity(
        self,
        activity: str | Callable[..., Any],
        arg: Any,
        *,
        result_type: type[R],
        start_to_close_timeout: timedelta | None = None,
        schedule_to_close_timeout: timedelta | None = None,
        heartbeat_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> R: ...

    @overload
    async def execute_activity(
        self,
        activity: str,
        arg: Any,
        *,
        result_type: None = None,
        start_to_close_timeout: timedelta | None = None,
        schedule_to_close_timeout: timedelta | None = None,
        heartbeat_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Any: ...

    async def execute_activity(
        self,
        activity: str | Callable[..., Any],
        arg: Any,
        *,
        result_type: type[Any] | None = None,
        start_to_close_timeout: timedelta | None = None,
        schedule_to_close_timeout: timedelta | None = None,
        heartbeat_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Any:
        """Run a registered activity with one argument object and return its result.

        ``activity`` is the activity's registered name (``"aws.create_launch_template"``) or the
        function itself. The operation's :class:`ActivityDefaults` apply unless overridden here.
        The result is converted to the activity's declared return type.
        """
        name = _activity_name(activity)
        if result_type is None:
            entry = self._catalogue.activity(name)
            if entry is None:
                raise BusinessError(
                    ErrorCode.INTERNAL,
                    f"operation {self._operation.full_name()} called activity {name!r}, "
                    "which no installed plugin registers",
                )
            result_type = entry.result_type
        defaults = self._operation.activity_defaults
        self._progress.current_activity = name
        try:
            return await workflow.execute_activity(
                name,
                arg,
                result_type=result_type,
                start_to_close_timeout=start_to_close_timeout or defaults.start_to_close_timeout,
                schedule_to_close_timeout=schedule_to_close_timeout
                or defaults.schedule_to_close_timeout,
                heartbeat_timeout=heartbeat_timeout or defaults.heartbeat_timeout,
                retry_policy=retry_policy or defaults.retry_policy,
                **budget_route(self._session, self.account, self.region, name),
            )
        finally:
            self._progress.current_activity = None

    async def poll(
        self,
        activity: str | Callable[..., Any],
        arg: Any,
        *,
        interval: timedelta = timedelta(seconds=5),
        timeout: timedelta = timedelta(minutes=30),
        result_type: type[Any] | None = None,
        attempt_timeout: timedelta | None = None,
    ) -> Any:
        """Wait until a polling activity stops raising :class:`~cloudops.errors.NotReady`.

        Each poll is a retry of one activity (retry-as-poll), so a long wait adds two events to
        the history, not two per poll, and survives worker crashes. When ``timeout`` passes the
        operation fails with ``TIMED_OUT``. ``attempt_timeout`` bounds one check, so a check
        lost with a crashed worker is retried by another worker that soon.
        """
        start_to_close = min(
            attempt_timeout or self._operation.activity_defaults.start_to_close_timeout, timeout
        )
        return await self.execute_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=start_to_close,
            schedule_to_close_timeout=timeout,
            retry_policy=RetryPolicy(
                initial_interval=interval,
                backoff_coefficient=1.0,
                maximum_interval=interval,
                maximum_attempts=0,
            ),
        )

    async def wait_for(
        self,
        check: str | Callable[..., Any],
        arg: Any,
        *,
        until: Callable[[Any], bool],
        interval: timedelta = timedelta(seconds=30),
        timeout: timedelta = timedelta(hours=1),
        result_type: type[Any] | None = None,
    ) -> Any:
        """Call ``check`` every ``interval`` (durable timers) until ``until(result)`` holds.

        Use it for slow waits where each observation is worth keeping in the history; for fast
        polls prefer :meth:`poll`.
        """
        deadline = workflow.now() + timeout
        while True:
            result = await self.execute_activity(check, arg, result_type=result_type)
            if until(result):
                return result
            if workflow.now() + interval > deadline:
                raise BusinessError(
                    ErrorCode.TIMED_OUT,
                    f"{_activity_name(check)} did not reach the awaited state within {timeout}",
                )
            await workflow.sleep(interval)

    async def sleep(self, duration: timedelta | float) -> None:
        """Sleep on a durable timer (survives worker and server restarts)."""
        await workflow.sleep(duration)

    # --- composition and compensation ----------------------------------------------------------
    def _lookup(
        self, operation: str | type[CloudOperation[Any, Any]]
    ) -> type[CloudOperation[Any, Any]]:
        name = operation if isinstance(operation, str) else operation.full_name()
        entry = self._catalogue.operation(name)
        if entry is None:
            raise BusinessError(
                ErrorCode.UNKNOWN_OPERATION,
                f"operation {name!r} is not installed on this worker",
                {"operation": name, "known": sorted(self._catalogue.operations)},
            )
        return entry.cls

    def has_operation(self, name: str) -> bool:
        """True when operation ``name`` is installed on this worker."""
        return self._catalogue.operation(name) is not None

    def validate(self, operation: str | type[CloudOperation[Any, Any]], input: Any) -> Input:
        """Validate ``input`` for ``operation`` without running it (INVALID_INPUT if bad).

        Lets a composite operation reject a bad nested input before it changes anything.
        """
        return validate_input(self._lookup(operation), input)

    @overload
    async def run(
        self,
        operation: type[CloudOperation[Any, OutT]],
        input: Any,
        *,
        account: str | None = None,
        region: str | None = None,
        scope: str | None = None,
    ) -> OutT: ...

    @overload
    async def run(
        self,
        operation: str,
        input: Any,
        *,
        account: str | None = None,
        region: str | None = None,
        scope: str | None = None,
    ) -> Output: ...

    async def run(
        self,
        operation: str | type[CloudOperation[Any, Any]],
        input: Any,
        *,
        account: str | None = None,
        region: str | None = None,
        scope: str | None = None,
    ) -> Any:
        """Run another operation inside this workflow (no child workflow) and return its output.

        ``input`` is its input model or a dict validated against it. Its rollback steps join this
        operation's, so a later failure unwinds both. Account and region default to this
        operation's. With ``scope``, its compensations are also tagged with that name, so that
        :meth:`rollback` can undo them alone, and its ``commit()`` forgets only them: what
        operations running side by side (``asyncio.gather``) each need.
        """
        # Read before any await: operations running side by side open steps of their own.
        parent = self._progress.open_step()
        parent_step = parent.name if parent else self._parent_step
        cls = self._lookup(operation)
        model = validate_input(cls, input)
        account = account if account is not None else self.account
        region = region if region is not None else self.region
        cloud = self.cloud
        if (
            account != self.account
            or region != self.region
            or cls.provider != self._operation.provider
        ):
            cloud = await self._session.resolve_account(cls, account, region)
        if self._session.authorize is not None:
            await self._session.authorize(cls, model, account, region)
        child = OperationContext(
            self._session,
            cls,
            account=account,
            region=region,
            cloud=cloud,
            scope=(*self.scope, scope) if scope else self.scope,
        )
        child._parent_step = parent_step
        return await cls().run(child, model)

    async def wait_for_input(
        self, name: str, *, timeout: timedelta | float | None = None
    ) -> OperationSignal | None:
        """Wait until someone sends input ``name`` (``cloudops approve ID``); None on timeout.

        Input arrives through the runner's ``send_input`` update, which is rejected unless the
        operation is waiting for that name, so a late or mistyped approval gets a clear error.
        """
        mailbox = self._session.mailbox
        mailbox.awaiting.add(name)
        try:
            await workflow.wait_condition(lambda: name in mailbox.received, timeout=timeout)
        except TimeoutError:
            return None
        finally:
            mailbox.awaiting.discard(name)
        return mailbox.received.pop(name)

    def commit(self) -> int:
        """Pass the point of no return: forget the compensations registered so far.

        Only those registered since this operation started (its own and those of operations it
        composed) are forgotten; a caller's stay. Returns how many were dropped. A deploy calls
        it once traffic is on the new version, so that a failing clean-up does not roll back.
        """
        dropped = 0
        for step in self._rollbacks[self._rollback_mark :]:
            if step.active and self._in_scope(step, self.scope):
                step.active = False
                dropped += 1
        return dropped

    @staticmethod
    def _in_scope(step: RollbackStep, scope: tuple[str, ...]) -> bool:
        return step.scope[: len(scope)] == scope

    async def rollback(self, scope: str) -> list[RollbackRecord]:
        """Undo now, newest first, the compensations registered under ``scope`` alone.

        ``scope`` is one given to :meth:`run` by this operation. Each runs as a
        ``rollback: ...`` step, as when the runner unwinds, and is then forgotten; the other
        compensations stay. Returns what ran. E.g. a multi-target deploy rolls back the one
        target that failed while the others go on.
        """
        if self._session.undo is None:
            raise RuntimeError("rollback() needs the runner's session")
        path = (*self.scope, scope)
        records = []
        for step in [s for s in reversed(self._rollbacks) if self._in_scope(s, path)]:
            if step.active:
                records.append(await self._session.undo(step))
        return records

    def rollback_mark(self) -> int:
        """A mark of the compensations registered so far, for :meth:`discard_rollbacks`."""
        return len(self._rollbacks)

    def discard_rollbacks(self, since: int) -> int:
        """Forget the compensations registered since ``since`` (a :meth:`rollback_mark`).

        E.g. a deploy that keeps a failed new group for debugging drops the destroy its create
        registered. Returns how many were dropped.
        """
        dropped = 0
        for step in self._rollbacks[max(since, self._rollback_mark) :]:
            if step.active and self._in_scope(step, self.scope):
                step.active = False
                dropped += 1
        return dropped

    def on_rollback(
        self,
        target: str | Callable[..., Any] | type[CloudOperation[Any, Any]],
        arg: Any,
        *,
        label: str | None = None,
        defaults: ActivityDefaults | None = None,
    ) -> RollbackHandle:
        """Register a compensation, run (in reverse order) if the operation fails or is cancelled.

        ``target`` is an activity (name or function) or an operation (class or name); ``arg`` is
        its one argument. Compensations must be idempotent: "already gone" is success.
        ``defaults`` overrides the operation's activity defaults for this compensation, e.g. a
        time-bounded rather than attempt-bounded retry for a cleanup that must wait for the cloud.
        """
        if isinstance(target, type) and issubclass(target, CloudOperation):
            name = target.full_name()
        else:
            name = _activity_name(target)
        label = label or name
        if self.scope:  # name the scope: side by side, several may undo the same names
            label = f"{STEP_SEPARATOR.join(self.scope)}: {label}"
        step = RollbackStep(
            target=name,
            arg=arg,
            label=label,
            account=self.account,
            region=self.region,
            cloud=self.cloud,
            defaults=defaults or self._operation.activity_defaults,
            scope=self.scope,
        )
        self._rollbacks.append(step)
        return RollbackHandle(step)


def validate_input(cls: type[CloudOperation[Any, Any]], value: Any) -> Input:
    """Validate ``value`` against the operation's input model, or raise INVALID_INPUT."""
    model = cls.input_model
    if isinstance(value, model):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_unset=True)
    try:
        return model.model_validate(value)
    except ValidationError as err:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"input of {cls.full_name()} is invalid: {err.error_count()} problem(s)",
            {"errors": validation_details(err)},
        ) from None


def replace_defaults(defaults: ActivityDefaults, **changes: Any) -> ActivityDefaults:
    """Return a copy of ``defaults`` with some fields changed (for subclasses' ClassVars)."""
    return dataclasses.replace(defaults, **changes)


def cast_output(cls: type[CloudOperation[Any, Any]], value: Any) -> Output:
    """Check an operation returned its declared output model (a common plugin bug)."""
    if isinstance(value, cls.output_model):
        return value
    if isinstance(value, dict | BaseModel):
        raw = value.model_dump() if isinstance(value, BaseModel) else value
        return cls.output_model.model_validate(raw)
    raise TypeError(f"{cls.full_name()} returned {type(value).__name__}, not {cls.output_model}")
