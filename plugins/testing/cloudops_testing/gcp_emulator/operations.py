"""Operation resources: how every mutation of the emulated Compute API is answered.

Why a lifecycle: the real API answers a mutation at once with an Operation that is PENDING, then
RUNNING, then DONE (with ``error`` when it failed), and the change takes effect when it is DONE.
Code that returns before DONE, polls the wrong endpoint, or re-sends the mutation instead of
polling is caught only if the emulator makes it wait. A repeated ``requestId`` answers the
Operation it first made, without applying anything again, as the real API does.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cloudops_testing.gcp_emulator.errors import ApiError, invalid
from cloudops_testing.gcp_emulator.links import link, timestamp

__all__ = ["MutationRecord", "Operation", "OperationBook", "Scope", "Timing"]


class Scope(NamedTuple):
    """Where an operation lives: ``("global", None)``, ``("zones", z)`` or ``("regions", r)``."""

    kind: str
    location: str | None

    def path(self, project: str) -> str:
        """``projects/p/global`` or ``projects/p/zones/z``."""
        if self.location is None:
            return f"projects/{project}/global"
        return f"projects/{project}/{self.kind}/{self.location}"


@dataclass
class Timing:
    """How long operations and instances take; the knobs tests turn.

    An operation is DONE once it is ``operation_seconds`` old *and* has been read (get or wait)
    ``operation_polls`` times. Instances boot (PROVISIONING -> STAGING -> RUNNING) in
    ``instance_seconds`` and stop in half that. ``wait_seconds`` bounds ``operations.wait``
    (the real API waits up to about two minutes and may answer while RUNNING).
    """

    operation_seconds: float = 0.1
    operation_polls: int = 0
    instance_seconds: float = 0.3
    wait_seconds: float = 2.0
    by_kind: dict[str, float] = field(default_factory=dict)
    #: The autoscaler's next evaluation, and its extra scale-in stabilisation (real: ~10 min).
    autoscaler_seconds: float = 0.3
    scale_in_seconds: float = 0.6


@dataclass
class Operation:
    """One Operation resource and the change it applies when DONE."""

    id: str
    name: str
    project: str
    scope: Scope
    kind: str
    operation_type: str
    target: str
    target_id: str
    request_id: str | None
    apply: Callable[[], None] | None
    delay: float
    polls: int
    created: float = field(default_factory=time.monotonic)
    insert_time: str = field(default_factory=timestamp)
    status: str = "PENDING"
    reads: int = 0
    start_time: str | None = None
    end_time: str | None = None
    error: ApiError | None = None
    fail_with: ApiError | None = None
    release: Callable[[], None] | None = None
    #: When set, the Operation stays RUNNING until it answers True (e.g. a group's instances
    #: are gone before the group's delete is DONE).
    ready: Callable[[], bool] | None = None

    @property
    def path(self) -> str:
        """``projects/p/zones/z/operations/NAME``."""
        return f"{self.scope.path(self.project)}/operations/{self.name}"

    def resource(self) -> dict[str, Any]:
        """The Operation as the API shows it (links still relative to the emulator)."""
        body: dict[str, Any] = {
            "kind": "compute#operation",
            "id": self.id,
            "name": self.name,
            "operationType": self.operation_type,
            "targetLink": link(self.target),
            "targetId": self.target_id,
            "status": self.status,
            "user": "cloudops-emulator@example.com",
            "progress": 100 if self.status == "DONE" else 0,
            "insertTime": self.insert_time,
            "creationTimestamp": self.insert_time,
            "selfLink": link(self.path),
        }
        if self.scope.kind == "zones":
            body["zone"] = link(f"projects/{self.project}/zones/{self.scope.location}")
        elif self.scope.kind == "regions":
            body["region"] = link(f"projects/{self.project}/regions/{self.scope.location}")
        if self.request_id:
            body["clientOperationId"] = self.request_id
        if self.start_time:
            body["startTime"] = self.start_time
        if self.end_time:
            body["endTime"] = self.end_time
        if self.error is not None:
            body.update(self.error.operation_fields())
        return body


class MutationRecord(NamedTuple):
    """One mutation request the emulator received: what, on which resource, with which id.

    ``deduplicated`` is true when the ``requestId`` had been seen and the first Operation was
    answered again without applying anything.
    """

    kind: str
    target: str
    request_id: str | None
    operation: str
    deduplicated: bool


class OperationBook:
    """Every Operation of the emulator, with ``requestId`` deduplication; not thread-safe.

    The emulator's state lock guards it.
    """

    def __init__(self, timing: Timing, rng: random.Random) -> None:
        self.timing = timing
        self._rng = rng
        self.operations: dict[str, Operation] = {}
        self.by_request: dict[tuple[str, str], str] = {}
        self.log: list[MutationRecord] = []
        self.held: set[str] = set()
        self.failures: dict[str, list[ApiError]] = {}

    def new_id(self) -> str:
        """A decimal id, as Compute writes them (the client parses ids as uint64)."""
        return str(self._rng.getrandbits(63) | (1 << 60))

    def dedupe(self, project: str, request_id: str | None, kind: str) -> Operation | None:
        """The Operation a repeated ``requestId`` already made, or None for a new one.

        Why first: the real API answers a repeat before validating anything, so a retried
        insert of a resource it already made answers the old Operation, not 409.
        """
        if request_id is None:
            return None
        try:
            parsed = uuid.UUID(request_id)
        except ValueError:
            raise invalid(
                f"Invalid value for field 'requestId': '{request_id}'. "
                "The request id must be a valid UUID."
            ) from None
        if parsed.int == 0:
            raise invalid("Invalid value for field 'requestId': the zero UUID is not supported.")
        name = self.by_request.get((project, request_id))
        if name is None:
            return None
        op = self.operations[name]
        self.log.append(MutationRecord(kind, op.target, request_id, op.name, True))
        return op

    def start(
        self,
        *,
        project: str,
        scope: Scope,
        kind: str,
        operation_type: str,
        target: str,
        target_id: str,
        request_id: str | None,
        apply: Callable[[], None] | None,
        release: Callable[[], None] | None = None,
    ) -> Operation:
        """Record a new PENDING Operation whose ``apply`` runs when it becomes DONE.

        ``release`` runs instead when the operation fails (e.g. to free a reserved name).
        """
        stamp = f"{int(time.time() * 1000)}-{uuid.UUID(int=self._rng.getrandbits(128)).hex}"
        name = f"operation-{stamp[:13]}-{stamp[14:26]}-{stamp[26:34]}-{stamp[34:42]}"
        op = Operation(
            id=self.new_id(),
            name=name,
            project=project,
            scope=scope,
            kind=kind,
            operation_type=operation_type,
            target=target,
            target_id=target_id,
            request_id=request_id,
            apply=apply,
            release=release,
            delay=self.timing.by_kind.get(kind, self.timing.operation_seconds),
            polls=self.timing.operation_polls,
        )
        queued = self.failures.get(kind)
        if queued:
            op.fail_with = queued.pop(0)
        self.operations[name] = op
        if request_id is not None:
            self.by_request[(project, request_id)] = name
        self.log.append(MutationRecord(kind, target, request_id, name, False))
        return op

    def get(self, project: str, scope: Scope, name: str) -> Operation | None:
        """The operation ``name`` in ``scope``, or None."""
        op = self.operations.get(name)
        if op is None or op.project != project or op.scope != scope:
            return None
        return op

    def tick(self) -> None:
        """Move operations forward: PENDING -> RUNNING -> DONE (applying their change)."""
        now = time.monotonic()
        for op in list(self.operations.values()):
            if op.status == "DONE":
                continue
            age = now - op.created
            if op.status == "PENDING" and (age >= min(op.delay, 0.05) or op.reads > 0):
                op.status = "RUNNING"
                op.start_time = timestamp()
            if (
                op.status == "RUNNING"
                and age >= op.delay
                and op.reads >= op.polls
                and op.kind not in self.held
                and (op.ready is None or op.fail_with is not None or op.ready())
            ):
                self._finish(op)

    def _finish(self, op: Operation) -> None:
        if op.fail_with is not None:
            op.error = op.fail_with
        elif op.apply is not None:
            try:
                op.apply()
            except ApiError as err:
                op.error = err
        if op.error is not None and op.release is not None:
            op.release()
        op.status = "DONE"
        op.end_time = timestamp()
