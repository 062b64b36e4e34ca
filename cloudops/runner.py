"""UntypedCloudOperationRunner: the one workflow every client starts, in any language.

It takes the raw JSON payload (not a typed argument) because a payload that cannot be converted
to a parameter type fails the *workflow task*, which Temporal retries forever: the caller would
wait on a hung workflow instead of reading ``INVALID_INPUT``. Everything after decoding is
workflow code: deterministic, with all I/O in activities.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue, SearchAttributeUpdate
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
)
from temporalio.exceptions import (
    TimeoutError as TemporalTimeoutError,
)

from cloudops import patching, telemetry
from cloudops import search_attributes as sa
from cloudops.accounts import AccountCheck, AccountCheckResult
from cloudops.errors import NOT_READY_TYPE, RETRYABLE_TYPE, BusinessError, ErrorCode
from cloudops.models import (
    OperationError,
    OperationRequest,
    OperationSignal,
    ProgressReport,
    ResultMetadata,
    RollbackRecord,
    WorkflowResult,
)
from cloudops.operation import (
    ActivityDefaults,
    CloudOperation,
    Mailbox,
    OperationContext,
    ProgressState,
    RollbackStep,
    Session,
    budget_route,
    cast_output,
    validate_input,
)
from cloudops.permissions import AUTHZ_PATCH, INPUT_AUTHZ_PATCH, Guard
from cloudops.registry import Catalogue
from cloudops.runtime import lookup
from cloudops.validation import validation_details

__all__ = ["CHECK_ACCOUNT_ACTIVITY", "RUNNER_WORKFLOW", "UntypedCloudOperationRunner"]

RUNNER_WORKFLOW = "UntypedCloudOperationRunner"
CHECK_ACCOUNT_ACTIVITY = "cloudops.check_account"
_ERROR_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")


def _decode(payload: RawValue) -> OperationRequest:
    """Decode and validate the raw payload; anything malformed is INVALID_INPUT."""
    try:
        data = workflow.payload_converter().from_payload(payload.payload)
    except Exception as err:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"the request is not valid JSON: {err}",
            {"errors": [{"field": "(root)", "reason": "not decodable as JSON"}]},
        ) from None
    if not isinstance(data, dict):
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            "the request must be a JSON object with at least an 'operation' field, "
            f"got {type(data).__name__}",
            {
                "errors": [
                    {"field": "(root)", "reason": f"expected an object, got {type(data).__name__}"}
                ]
            },
        )
    try:
        return OperationRequest.model_validate(data)
    except ValidationError as err:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"the request is invalid: {err.error_count()} problem(s)",
            {"errors": validation_details(err)},
        ) from None


def _error_from_application(cause: ApplicationError, activity: str) -> OperationError:
    """Map an activity's final failure: a business code, or retries that ran out."""
    details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
    kind = cause.type or "Error"
    if cause.non_retryable and kind not in (RETRYABLE_TYPE, NOT_READY_TYPE):
        code = kind if _ERROR_CODE.match(kind) else ErrorCode.CLOUD_REJECTED
        if code != kind:
            details = {**details, "error_type": kind}
        return OperationError(code=code, message=cause.message, details=details)
    return OperationError(
        code=ErrorCode.RETRIES_EXHAUSTED,
        message=f"{activity} kept failing and ran out of retries: {cause.message}",
        details={**details, "activity": activity, "error_type": kind},
    )


def _error_from_activity(err: ActivityError) -> OperationError:
    cause = err.cause
    activity = err.activity_type or "activity"
    if isinstance(cause, ApplicationError):
        return _error_from_application(cause, activity)
    if isinstance(cause, TemporalTimeoutError):
        last = cause.last_heartbeat_details
        return OperationError(
            code=ErrorCode.TIMED_OUT,
            message=f"{activity} did not finish in time ({cause.type.name.lower()})"
            if cause.type
            else f"{activity} timed out",
            details={"activity": activity, **({"last_heartbeat": str(last[0])} if last else {})},
        )
    if isinstance(cause, CancelledError):
        return OperationError(code=ErrorCode.CANCELLED, message="the operation was cancelled")
    return OperationError(
        code=ErrorCode.INTERNAL, message=f"{activity} failed: {cause or err}", details={}
    )


def operation_error(err: BaseException) -> OperationError:
    """The business failure ``err`` stands for, as the runner reports it.

    ``err`` is a :class:`BusinessError` raised in workflow code, an ``ActivityError`` (an
    activity's last failure, a timeout, a cancellation) or an ``ApplicationError`` (a local
    activity's failure, e.g. the account check, which arrives unwrapped); anything else is a
    bug, reported as ``INTERNAL``.
    """
    if isinstance(err, BusinessError):
        return OperationError(code=err.code, message=err.message, details=err.error_details)
    if isinstance(err, ActivityError):
        return _error_from_activity(err)
    if isinstance(err, ApplicationError):
        return _error_from_application(err, CHECK_ACCOUNT_ACTIVITY)
    return OperationError(code=ErrorCode.INTERNAL, message=repr(err))


@workflow.defn(name=RUNNER_WORKFLOW)
class UntypedCloudOperationRunner:
    """Look the operation up, validate, run it, unwind on failure, answer progress queries."""

    def __init__(self) -> None:
        self._progress = ProgressState(operation="")
        self._rollbacks: list[RollbackStep] = []
        self._request: OperationRequest | None = None
        self._mailbox = Mailbox()
        #: The ``cloudops-identity`` workflow header (set by the worker's interceptor).
        self.identity_header: Payload | None = None
        self._guard: Guard | None = None
        self._checks: dict[tuple[str | None, str | None], AccountCheckResult] = {}
        #: The ``cloudops-identity`` header of each update (by update id), for ``send_input``.
        self.update_identity: dict[str, Payload | None] = {}

    @workflow.update(name="send_input")
    async def send_input(self, message: OperationSignal) -> str:
        """Deliver input (e.g. a manual judgement) to the operation waiting for it.

        With authorization on, the sender's sealed token is verified and needs WRITE where the
        operation runs; the verified subject becomes the message's ``sender``.
        """
        if self._guard is not None and workflow.patched(INPUT_AUTHZ_PATCH):
            message = await self._authorize_input(self._guard, message)
        self._mailbox.received[message.name] = message
        return f"{message.name} delivered to {self._progress.operation}"

    @send_input.validator
    def _check_input(self, message: OperationSignal) -> None:
        if message.name not in self._mailbox.awaiting:
            waiting = ", ".join(sorted(self._mailbox.awaiting)) or "nothing"
            raise ValueError(
                f"{self._progress.operation or 'the operation'} is not waiting for "
                f"{message.name!r} (it waits for: {waiting})"
            )
        info = workflow.current_update_info()
        if self._guard is not None and info and self.update_identity.get(info.id) is None:
            raise ValueError(
                f"{self._progress.operation} runs with authorization on: sending "
                f"{message.name!r} needs a signed token (CLOUDOPS_TOKEN, see docs/security.md)"
            )

    async def _authorize_input(self, guard: Guard, message: OperationSignal) -> OperationSignal:
        """Verify and authorize who sends ``message``; audit the decision."""
        info = workflow.current_update_info()
        update_id = info.id if info else ""
        verdict = await guard.authorize_input(
            self.update_identity.pop(update_id, None), update_id, message.name
        )
        if message.name not in self._mailbox.awaiting:
            operation = self._progress.operation
            raise BusinessError(
                ErrorCode.CONFLICT, f"{operation} stopped waiting for {message.name!r}"
            )
        request = self._request
        record = {
            "event": "input",
            "input": message.name,
            "value": message.value,
            "subject": verdict.subject,
            "issuer": verdict.issuer,
            "claimed_sender": message.sender,
            "operation": request.operation if request else None,
            "account": request.account if request else None,
            "region": request.region if request else None,
            "application": guard.application,
            "workflow_id": workflow.info().workflow_id,
            "update_id": update_id,
        }
        workflow.logger.info("cloudops audit %s", json.dumps(record, sort_keys=True, default=str))
        return message.model_copy(update={"sender": verdict.subject})

    def telemetry_context(self) -> dict[str, str]:
        """Operation, account, region and workflow id: labels for logs, metrics and spans."""
        request = self._request
        values = {"workflow_id": workflow.info().workflow_id}
        if request is not None:
            values["operation"] = request.operation
            if request.account:
                values["account"] = request.account
            if request.region:
                values["region"] = request.region
        return values

    @workflow.query(name="progress")
    def progress(self) -> ProgressReport:
        """Steps done, the step running now, and the activity it waits on."""
        steps = self._progress.steps
        current = self._progress.open_step()
        return ProgressReport(
            operation=self._progress.operation,
            status=self._progress.status,
            steps_done=[s.name for s in steps if s.ended_at is not None],
            current_step=current.name if current else self._progress.current_activity,
            awaiting_input=sorted(self._mailbox.awaiting),
        )

    @workflow.run
    async def run(self, payload: RawValue) -> WorkflowResult[Any]:
        """Run the requested operation; return its WorkflowResult (bad input never raises)."""
        patching.begin()  # first: see cloudops.patching
        info = workflow.info()
        started = workflow.now()
        runtime = lookup(info.task_queue)
        catalogue = runtime.catalogue
        request: OperationRequest | None = None
        provider = ""
        value: Any = None
        error: OperationError | None = None
        try:
            request = _decode(payload)
            self._request = request
            self._progress.operation = request.operation
            entry = catalogue.operation(request.operation)
            provider = entry.cls.provider if entry else ""
            telemetry.record_operation_started(request.operation, provider)
            if runtime.search_attributes:
                self._upsert_start(request, entry.cls.provider if entry else None)
            # Who is asking, verified before anything else runs (histories without it replay).
            if (runtime.authorization or workflow.unsafe.is_replaying()) and workflow.patched(
                AUTHZ_PATCH
            ):
                self._guard = Guard(self.identity_header, request.labels, runtime.identity_timeout)
                verdict = await self._guard.authenticate()
                if runtime.search_attributes:
                    workflow.upsert_search_attributes([sa.SUBJECT.value_set(verdict.subject[:200])])
            if entry is None:
                raise BusinessError(
                    ErrorCode.UNKNOWN_OPERATION,
                    f"unknown operation {request.operation!r}; known operations: "
                    + (", ".join(sorted(catalogue.operations)) or "none (no plugin installed)"),
                    {"operation": request.operation, "known": sorted(catalogue.operations)},
                )
            model = validate_input(entry.cls, request.input)
            session = self._session(catalogue, request)
            cloud = await session.resolve_account(entry.cls, request.account, request.region)
            if session.authorize is not None:
                await session.authorize(entry.cls, model, request.account, request.region)
            value = await self._run_operation(session, entry.cls, request, model, cloud)
        except (BusinessError, ActivityError, ApplicationError) as err:
            error = operation_error(err)
        except (asyncio.CancelledError, CancelledError):
            error = OperationError(code=ErrorCode.CANCELLED, message="the operation was cancelled")
        except TimeoutError:
            error = OperationError(
                code=ErrorCode.TIMED_OUT, message="the operation did not finish within its timeout"
            )
        except workflow.NondeterminismError:
            raise
        except Exception as err:
            # A bug in operation code: unwind what it changed, then fail the workflow itself.
            self._progress.status = "rolling_back"
            await self._unwind(catalogue)
            self._progress.status = "finished"
            if runtime.search_attributes:
                self._upsert_outcome(ErrorCode.INTERNAL)
            telemetry.record_operation_finished(
                self._progress.operation, provider, ErrorCode.INTERNAL
            )
            raise ApplicationError(
                f"operation {self._progress.operation} failed with an internal error: {err!r}",
                type="OperationBug",
                non_retryable=True,
            ) from err

        if error is not None:
            self._progress.status = "rolling_back"
            error.rollbacks = await self._unwind(catalogue)
        self._progress.end_step(workflow.now())
        self._progress.status = "finished"
        outcome = "ok" if error is None else error.code
        if runtime.search_attributes:
            self._upsert_outcome(outcome)
        if request is not None:
            telemetry.record_operation_finished(request.operation, provider, outcome)
        subject = self._audit(request, outcome)
        return WorkflowResult[Any](
            ok=error is None,
            value=value,
            error=error,
            metadata=ResultMetadata(
                operation=request.operation if request else "",
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                account=request.account if request else None,
                region=request.region if request else None,
                attempt=info.attempt,
                started_at=started,
                ended_at=workflow.now(),
                steps=self._progress.steps,
                subject=subject,
            ),
        )

    def _session(self, catalogue: Catalogue, request: OperationRequest | None) -> Session:
        async def resolve(
            op: type[CloudOperation[Any, Any]], account: str | None, region: str | None
        ) -> str | None:
            return await self._check_account(catalogue, op, account, region)

        return Session(
            catalogue=catalogue,
            request_id=(request.request_id if request else None) or workflow.info().workflow_id,
            labels=request.labels if request else {},
            progress=self._progress,
            rollbacks=self._rollbacks,
            resolve_account=resolve,
            mailbox=self._mailbox,
            authorize=self._guard.authorize if self._guard is not None else None,
            checks=self._checks,
            undo=lambda step: self._undo(catalogue, step),
        )

    async def _run_operation(
        self,
        session: Session,
        cls: type[CloudOperation[Any, Any]],
        request: OperationRequest,
        model: Any,
        cloud: str | None,
    ) -> Any:
        ctx = OperationContext(
            session, cls, account=request.account, region=request.region, cloud=cloud
        )
        run = cls().run(ctx, model)
        output = await (asyncio.wait_for(run, cls.timeout.total_seconds()) if cls.timeout else run)
        return cast_output(cls, output).model_dump(mode="json")

    async def _check_account(
        self,
        catalogue: Catalogue,
        cls: type[CloudOperation[Any, Any]],
        account: str | None,
        region: str | None,
    ) -> str | None:
        needs_account = cls.provider in catalogue.providers
        if account is None and not needs_account:
            return None
        checked = await workflow.execute_local_activity(
            CHECK_ACCOUNT_ACTIVITY,
            AccountCheck(
                operation=cls.full_name(),
                provider=cls.provider,
                needs_account=needs_account,
                account=account,
                region=region,
            ),
            result_type=AccountCheckResult,
            start_to_close_timeout=timedelta(seconds=10),
        )
        self._checks[(account, region)] = checked
        provider: str | None = checked.provider
        return provider

    async def _unwind(self, catalogue: Catalogue) -> list[RollbackRecord]:
        """Run the registered compensations in reverse; record each outcome, never raise."""
        records = []
        while self._rollbacks:
            step = self._rollbacks.pop()
            if step.active:
                records.append(await self._undo(catalogue, step))
        self._progress.end_step(workflow.now())
        return records

    async def _undo(self, catalogue: Catalogue, step: RollbackStep) -> RollbackRecord:
        """Run one compensation as a ``rollback: ...`` step; record its outcome, never raise."""
        step.active = False
        self._progress.start_step(f"rollback: {step.label}", workflow.now())
        try:
            await self._compensate(catalogue, step)
            return RollbackRecord(step=step.label, ok=True)
        except Exception as err:
            message = (
                _error_from_activity(err).message if isinstance(err, ActivityError) else str(err)
            )
            workflow.logger.error("rollback step %s failed: %s", step.label, message)
            return RollbackRecord(step=step.label, ok=False, error=message)

    async def _compensate(self, catalogue: Catalogue, step: RollbackStep) -> None:
        entry = catalogue.operation(step.target)
        if entry is None:
            # The registering operation's timeouts and retry policy: a compensation that waits
            # (e.g. "delete and wait until gone") polls as that operation's activities do.
            defaults = step.defaults or ActivityDefaults()
            await workflow.execute_activity(
                step.target,
                step.arg,
                start_to_close_timeout=defaults.start_to_close_timeout,
                schedule_to_close_timeout=defaults.schedule_to_close_timeout,
                heartbeat_timeout=defaults.heartbeat_timeout,
                retry_policy=defaults.retry_policy,
                **budget_route(
                    self._session(catalogue, self._request), step.account, step.region, step.target
                ),
            )
            return
        session = dataclasses.replace(
            self._session(catalogue, self._request),
            rollbacks=[],  # a compensation's own compensations are not run
            authorize=None,  # undoing what the caller did is not checked again
        )
        ctx = OperationContext(
            session, entry.cls, account=step.account, region=step.region, cloud=step.cloud
        )
        await entry.cls().run(ctx, validate_input(entry.cls, step.arg))

    def _audit(self, request: OperationRequest | None, outcome: str) -> str | None:
        """Who ran what, with which outcome: one structured log line (not on replay)."""
        verdict = self._guard.verdict if self._guard is not None else None
        if verdict is None or request is None:
            return None
        record = {
            "event": "operation",
            "subject": verdict.subject,
            "issuer": verdict.issuer,
            "operation": request.operation,
            "account": request.account,
            "region": request.region,
            "application": self._guard.application if self._guard else None,
            "outcome": outcome,
            "workflow_id": workflow.info().workflow_id,
        }
        workflow.logger.info("cloudops audit %s", json.dumps(record, sort_keys=True))
        return verdict.subject

    def _upsert_start(self, request: OperationRequest, provider: str | None) -> None:
        pairs: list[SearchAttributeUpdate[str]] = [
            sa.OPERATION.value_set(request.operation[:200]),
            sa.OUTCOME.value_set("running"),
        ]
        if provider:
            pairs.append(sa.PROVIDER.value_set(provider))
        if request.account:
            pairs.append(sa.ACCOUNT.value_set(request.account))
        if request.region:
            pairs.append(sa.REGION.value_set(request.region))
        application = request.labels.get("application")
        if application:
            pairs.append(sa.APPLICATION.value_set(application[:200]))
        workflow.upsert_search_attributes(pairs)

    def _upsert_outcome(self, outcome: str) -> None:
        workflow.upsert_search_attributes([sa.OUTCOME.value_set(outcome)])
