"""The embedding API: start operations from your own program and read their results.

.. code-block:: python

    import cloudops

    async with cloudops.connect() as ops:            # TEMPORAL_ADDRESS etc., or localhost:7233
        result = await ops.execute("example.echo", {"message": "hi"})
        assert result.ok, result.error
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar, overload

from pydantic import BaseModel
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.envconfig import ClientConfig
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from cloudops.codec import PayloadCodecOption, data_converter
from cloudops.identity import IdentityInterceptor, identity_interceptor_from_env
from cloudops.models import OperationSignal, Output, ProgressReport, WorkflowResult
from cloudops.operation import CloudOperation
from cloudops.runner import RUNNER_WORKFLOW

__all__ = [
    "CloudOpsClient",
    "InputRejected",
    "OperationHandle",
    "RequestIdConflict",
    "connect",
    "connect_client",
]

OutT = TypeVar("OutT", bound=Output)
DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_TASK_QUEUE = "cloudops"
#: How many results :meth:`CloudOpsClient.wait_all` waits on at once. Each wait is a long poll
#: that a Temporal frontend holds open, and it refuses more than ``frontend.namespaceCount``
#: (1,200 by default) per namespace at once, workers' polls included.
RESULTS_AT_ONCE = 100


async def connect_client(
    target_host: str | None = None,
    *,
    namespace: str | None = None,
    profile: str | None = None,
    connect_timeout: float = 10.0,
    payload_codec: PayloadCodecOption = "env",
    identity: IdentityInterceptor | str | None = "env",
    **options: Any,
) -> Client:
    """A Temporal client with the pydantic converter, configured by Temporal's envconfig.

    Settings come, in order of precedence, from the arguments, ``TEMPORAL_*`` environment
    variables (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``,
    ``TEMPORAL_TLS*``) and the profile file; the address defaults to ``localhost:7233``.
    A server that is still starting is retried until ``connect_timeout`` seconds have passed.

    Payloads are encrypted when ``CLOUDOPS_PAYLOAD_KEY`` is set (see :mod:`cloudops.codec`);
    ``payload_codec`` overrides that: a ``PayloadCodec`` of yours, or ``None`` for none.

    Every operation started carries the caller's token, sealed, when ``CLOUDOPS_TOKEN`` or
    ``CLOUDOPS_TOKEN_FILE`` is set (with the workers' public seal key in ``CLOUDOPS_SEAL_KEY``;
    see :mod:`cloudops.identity`); ``identity`` overrides that: an
    :class:`~cloudops.identity.IdentityInterceptor`, or ``None`` for unsigned requests.
    """
    converter = data_converter(payload_codec)
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config(profile=profile))
    config.setdefault("target_host", DEFAULT_ADDRESS)
    if target_host:
        config["target_host"] = target_host
    if namespace:
        config["namespace"] = namespace
    config.update(options)
    interceptor = identity_interceptor_from_env() if identity == "env" else identity
    if isinstance(interceptor, IdentityInterceptor):
        config["interceptors"] = [*config.get("interceptors", ()), interceptor]
    deadline = time.monotonic() + connect_timeout
    while True:
        try:
            return await Client.connect(data_converter=converter, **config)
        except RuntimeError as err:
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"cannot reach Temporal at {config['target_host']}: {err}. Start one with "
                    "`cloudops dev`, or set TEMPORAL_ADDRESS to your server"
                ) from err
            await asyncio.sleep(0.2)


class RequestIdConflict(ValueError):
    """A request id was reused for another operation: ids are idempotency keys, one per request."""


class InputRejected(ValueError):
    """The operation is not waiting for that input (already decided, finished, or a typo)."""


@dataclass
class OperationHandle(Generic[OutT]):
    """A started operation: wait for it, ask how far it got, or cancel it."""

    handle: WorkflowHandle[Any, Any]
    output_type: type[OutT] | None = None
    operation: str | None = None

    @property
    def id(self) -> str:
        """The workflow id (the request id)."""
        return self.handle.id

    async def result(self, *, unavailable_timeout: float = 300.0) -> WorkflowResult[OutT]:
        """Wait for the WorkflowResult. Business failures come back with ``ok=False``.

        The operation runs on while the Temporal server restarts, so waiting for it outlives
        the SDK's own retries: an unreachable server is retried for ``unavailable_timeout``
        seconds before the ``RPCError`` is raised.
        """
        deadline = time.monotonic() + unavailable_timeout
        while True:
            try:
                raw = await self.handle.result()
                break
            except RPCError as err:
                if err.status != RPCStatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1.0)
        result = WorkflowResult[Any].model_validate(
            raw.model_dump() if isinstance(raw, BaseModel) else raw
        )
        ran = result.metadata.operation if result.metadata else None
        if self.operation and ran and ran != self.operation:
            raise RequestIdConflict(
                f"request id {self.id!r} was already used for {ran}, not {self.operation}: "
                "its result belongs to that request. Use a new request id for a new request"
            )
        if self.output_type is not None and result.value is not None:
            typed: type[WorkflowResult[OutT]] = WorkflowResult[self.output_type]  # type: ignore[name-defined]
            return typed.model_validate(result.model_dump())
        return result

    async def progress(self) -> ProgressReport:
        """Steps done and current step, with the running activity's attempt and last failure.

        Joins the runner's ``progress`` query with the server's pending-activity list, since
        workflow code cannot see the attempt of an activity that is still running.
        """
        report: ProgressReport = await self.handle.query("progress", result_type=ProgressReport)
        try:
            description = await self.handle.describe()
        except RPCError:
            return report
        for pending in description.raw_description.pending_activities:
            report.current_attempt = pending.attempt
            if pending.HasField("last_failure") and pending.last_failure.message:
                report.last_failure = pending.last_failure.message
            if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED and (
                report.current_step is None
            ):
                report.current_step = pending.activity_type.name
        return report

    async def status(self) -> WorkflowExecutionStatus | None:
        """Temporal's status of the workflow (RUNNING, COMPLETED, FAILED...)."""
        return (await self.handle.describe()).status

    async def send_input(
        self, name: str, value: dict[str, Any] | None = None, *, sender: str | None = None
    ) -> str:
        """Send input the operation waits for (e.g. ``judgement``); rejected if it does not wait.

        Raises :class:`InputRejected`, saying why, when the operation does not wait for it.
        """
        message = OperationSignal(name=name, value=value or {}, sender=sender)
        try:
            answer: str = await self.handle.execute_update("send_input", message, result_type=str)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            raise InputRejected(reason) from err
        return answer

    async def cancel(self) -> None:
        """Ask the operation to stop; it rolls back what it changed and ends with CANCELLED."""
        await self.handle.cancel()


class CloudOpsClient:
    """Starts operations on ``UntypedCloudOperationRunner`` through a Temporal client."""

    def __init__(self, client: Client, *, task_queue: str = DEFAULT_TASK_QUEUE) -> None:
        self.client = client
        self.task_queue = task_queue

    @overload
    async def submit(
        self,
        operation: type[CloudOperation[Any, OutT]],
        input: BaseModel | dict[str, Any] | None = None,
        *,
        account: str | None = None,
        region: str | None = None,
        request_id: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> OperationHandle[OutT]: ...

    @overload
    async def submit(
        self,
        operation: str,
        input: BaseModel | dict[str, Any] | None = None,
        *,
        account: str | None = None,
        region: str | None = None,
        request_id: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> OperationHandle[Any]: ...

    async def submit(
        self,
        operation: str | type[CloudOperation[Any, Any]],
        input: BaseModel | dict[str, Any] | None = None,
        *,
        account: str | None = None,
        region: str | None = None,
        request_id: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> OperationHandle[Any]:
        """Start an operation and return its handle without waiting.

        ``request_id`` is the idempotency key and workflow id: submitting the same id again
        returns the handle of the first run (running or finished) instead of starting another.
        """
        output_type = None
        if isinstance(operation, type):
            output_type = operation.output_model
            name = operation.full_name()
        else:
            name = operation
        payload_input: dict[str, Any] = (
            input.model_dump(mode="json", exclude_unset=True)
            if isinstance(input, BaseModel)
            else dict(input or {})
        )
        workflow_id = request_id or f"cloudops-{uuid.uuid4()}"
        request = {
            "operation": name,
            "account": account,
            "region": region,
            "input": payload_input,
            "request_id": workflow_id,
            "labels": labels or {},
        }
        try:
            handle = await self.client.start_workflow(
                RUNNER_WORKFLOW,
                request,
                id=workflow_id,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except WorkflowAlreadyStartedError:
            # The same request already ran to completion: answer with its result.
            handle = self.client.get_workflow_handle(workflow_id)
        return OperationHandle(handle, output_type, name)

    @overload
    async def execute(
        self,
        operation: type[CloudOperation[Any, OutT]],
        input: BaseModel | dict[str, Any] | None = None,
        *,
        account: str | None = None,
        region: str | None = None,
        request_id: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> WorkflowResult[OutT]: ...

    @overload
    async def execute(
        self,
        operation: str,
        input: BaseModel | dict[str, Any] | None = None,
        *,
        account: str | None = None,
        region: str | None = None,
        request_id: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> WorkflowResult[Any]: ...

    async def execute(
        self,
        operation: str | type[CloudOperation[Any, Any]],
        input: BaseModel | dict[str, Any] | None = None,
        *,
        account: str | None = None,
        region: str | None = None,
        request_id: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> WorkflowResult[Any]:
        """Run an operation and wait for its WorkflowResult."""
        handle = await self.submit(
            operation,
            input,
            account=account,
            region=region,
            request_id=request_id,
            labels=labels,
        )
        return await handle.result()

    async def wait_all(
        self,
        handles: Iterable[OperationHandle[Any]],
        *,
        at_once: int = RESULTS_AT_ONCE,
        on_result: Callable[[OperationHandle[Any], WorkflowResult[Any]], None] | None = None,
    ) -> list[WorkflowResult[Any]]:
        """Wait for many operations' results, in the order given, ``at_once`` waits at a time.

        Why not ``asyncio.gather(*(h.result() for h in handles))``: with thousands of operations
        that opens thousands of long polls, and the server answers the ones beyond its limit
        with ResourceExhausted, for this client and for the workers polling the same namespace.
        ``on_result(handle, result)`` is called as each result arrives (to show progress). If a
        wait raises, the other waits are cancelled (not the operations) and the error is raised.
        """
        if at_once < 1:
            raise ValueError(f"at_once must be at least 1, not {at_once}")
        gate = asyncio.Semaphore(at_once)

        async def one(handle: OperationHandle[Any]) -> WorkflowResult[Any]:
            async with gate:
                result = await handle.result()
            if on_result is not None:
                on_result(handle, result)
            return result

        waits = [asyncio.ensure_future(one(handle)) for handle in handles]
        try:
            return list(await asyncio.gather(*waits))
        except BaseException:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
            raise

    def get_handle(self, workflow_id: str) -> OperationHandle[Any]:
        """The handle of an operation started earlier, by its workflow id."""
        return OperationHandle(self.client.get_workflow_handle(workflow_id))

    async def list(
        self, query: str | None = None, *, limit: int = 50
    ) -> AsyncIterator[WorkflowExecution]:
        """Recent operations, newest first, filtered by a Temporal visibility query."""
        base = f"WorkflowType = '{RUNNER_WORKFLOW}'"
        full = f"{base} AND ({query})" if query else base
        count = 0
        async for execution in self.client.list_workflows(full):
            yield execution
            count += 1
            if count >= limit:
                return


class _Connection:
    """``cloudops.connect(...)``: an async context manager that is also awaitable."""

    def __init__(self, target_host: str | None, task_queue: str, options: dict[str, Any]) -> None:
        self._target_host = target_host
        self._task_queue = task_queue
        self._options = options

    async def _open(self) -> CloudOpsClient:
        client = await connect_client(self._target_host, **self._options)
        return CloudOpsClient(client, task_queue=self._task_queue)

    def __await__(self) -> Any:
        return self._open().__await__()

    async def __aenter__(self) -> CloudOpsClient:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


def connect(
    target_host: str | None = None,
    *,
    task_queue: str | None = None,
    namespace: str | None = None,
    payload_codec: PayloadCodecOption = "env",
    **options: Any,
) -> _Connection:
    """Open a cloudops client: ``async with cloudops.connect() as ops`` (or await it).

    Connection settings come from Temporal's envconfig (see :func:`connect_client`); the task
    queue from ``task_queue``, ``$CLOUDOPS_TASK_QUEUE`` or ``cloudops``. Payloads are encrypted
    and decrypted with ``CLOUDOPS_PAYLOAD_KEY`` when it is set, or with ``payload_codec``.
    """
    task_queue = task_queue or os.environ.get("CLOUDOPS_TASK_QUEUE") or DEFAULT_TASK_QUEUE
    if namespace:
        options["namespace"] = namespace
    options["payload_codec"] = payload_codec
    return _Connection(target_host, task_queue, options)
