"""Shared reads: concurrent waits of one account and region read the cloud once, together.

Why: every operation waiting for a server group polls on its own (retry-as-poll, one activity
attempt per interval), so N waits in one account make N reads per interval. The clouds can
answer many groups at once (AWS ``DescribeAutoScalingGroups`` takes up to 100 names; a target
group's health covers all its instances). A :class:`ReadBatcher` lets the attempts that arrive
in one worker within ``window`` seconds share one read per scope (account and region): the
first caller waits the window, reads for everyone, and each gets its own answer.

The durable shape is unchanged: a wait is still an activity retried by the server's timer, and
a batch lives only in one process's memory for a fraction of a second, so a SIGKILLed worker
loses nothing (its attempts are retried elsewhere). ``CLOUDOPS_READ_BATCH_WINDOW=0`` turns
batching off (every attempt reads alone, as before).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["ReadBatcher", "batch_window"]

V = TypeVar("V")

WINDOW_ENV = "CLOUDOPS_READ_BATCH_WINDOW"
DEFAULT_WINDOW = 0.25


def batch_window() -> float:
    """Seconds a batch stays open (``CLOUDOPS_READ_BATCH_WINDOW``, default 0.25; 0: off)."""
    try:
        return max(0.0, float(os.environ.get(WINDOW_ENV, DEFAULT_WINDOW)))
    except ValueError:
        return DEFAULT_WINDOW


@dataclass
class _Batch(Generic[V]):
    names: set[str] = field(default_factory=set)
    closed: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, V] = field(default_factory=dict)
    error: BaseException | None = None


class ReadBatcher(Generic[V]):
    """Coalesce reads of names in one scope made by concurrent threads into one ``fetch``.

    A scope is a tuple (account and region, or the cloud's like): ``fetch(*scope, names)``
    returns name -> value for the names it found (at most ``max_batch`` names per call).
    Blocking: call :meth:`get` from an activity's thread.
    ``reads`` counts the fetches made, ``asked`` the names asked for.
    """

    def __init__(
        self,
        fetch: Callable[..., dict[str, V]],
        *,
        max_batch: int = 100,
        window: Callable[[], float] = batch_window,
    ) -> None:
        self._fetch = fetch
        self._max_batch = max_batch
        self._window = window
        self._lock = threading.Lock()
        self._open: dict[Hashable, _Batch[V]] = {}
        #: One fetch at a time per scope: while one runs, the next batch stays open and grows.
        self._fetching: dict[Hashable, threading.Lock] = {}
        self.reads = 0
        self.asked = 0

    def get(self, scope: tuple[Hashable, ...], name: str) -> V | None:
        """The value of ``name`` in ``scope`` (None when the cloud has none), read in a batch."""
        window = self._window()
        with self._lock:
            self.asked += 1
            batch = self._open.get(scope)
            leader = (
                window <= 0 or batch is None or batch.closed or len(batch.names) >= self._max_batch
            )
            if leader:
                batch = _Batch()
                if window > 0:
                    self._open[scope] = batch
            assert batch is not None
            batch.names.add(name)
        if not leader:
            batch.done.wait()
        elif window <= 0:
            self._read(scope, batch)
        else:
            time.sleep(window)
            with self._lock:
                fetching = self._fetching.setdefault(scope, threading.Lock())
            # Why one fetch at a time: a fetch may be several paced calls (pages, under a
            # budget); leaders fetching side by side would share the pacing and all finish
            # late, past their attempts' timeouts, instead of one after the other with the
            # later batches grown meanwhile.
            with fetching:
                self._read(scope, batch)
        if batch.error is not None:
            raise batch.error
        return batch.result.get(name)

    def _read(self, scope: tuple[Hashable, ...], batch: _Batch[V]) -> None:
        """Close ``batch`` and fetch its names for everyone waiting on it."""
        with self._lock:
            batch.closed = True
            if self._open.get(scope) is batch:
                del self._open[scope]
            self.reads += 1
        try:
            batch.result = self._fetch(*scope, sorted(batch.names))
        except BaseException as err:
            batch.error = err
        finally:
            batch.done.set()
