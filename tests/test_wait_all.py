"""CloudOpsClient.wait_all: many results, in order, with a bounded number of waits open.

The stand-in handles end their waits on conditions (every wait open, a release), never on
timers, so the tests hold on a loaded machine; each also runs with the event loop stalled for
20 ms at every turn, as a busy 2-core machine sharing the loop with a worker stalls it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cloudops.client import CloudOpsClient
from cloudops.models import WorkflowResult


async def test_results_of_real_operations_come_back_in_the_order_given(
    ops: CloudOpsClient,
) -> None:
    handles = [await ops.submit("example.echo", {"message": f"m{i}"}) for i in range(12)]
    seen: list[str] = []
    results = await ops.wait_all(
        reversed(handles), at_once=3, on_result=lambda handle, _: seen.append(handle.id)
    )
    assert [r.value["text"] for r in results] == [f"m{i}" for i in reversed(range(12))]
    assert all(r.ok for r in results)
    assert sorted(seen) == sorted(h.id for h in handles)


class _Board:
    """What the stand-in handles share: how many waits are open, and when all of them are."""

    def __init__(self, expected_open: int) -> None:
        self.expected_open = expected_open
        self.open_now = 0
        self.most_open = 0
        self.all_open = asyncio.Event()
        self.release = asyncio.Event()  # never set by the tests: those waits end by cancellation


class _Handle:
    """Stands in for an OperationHandle; its wait ends on a condition, never on a timer."""

    def __init__(self, board: _Board, n: int, *, fail: bool = False, hold: bool = False) -> None:
        self.board = board
        self.id = f"op-{n}"
        self.n = n
        self.fail = fail
        self.hold = hold
        self.cancelled = False

    async def result(self) -> WorkflowResult[Any]:
        board = self.board
        board.open_now += 1
        board.most_open = max(board.most_open, board.open_now)
        if board.open_now == board.expected_open:
            board.all_open.set()
        try:
            if self.fail:
                await board.all_open.wait()  # every other wait is open: the error must cancel them
                raise ConnectionError("server went away")
            if self.hold:
                await board.release.wait()
            else:
                for _ in range(3):  # stay open for a few turns of the loop, not for a duration
                    await asyncio.sleep(0)
            return WorkflowResult[Any](ok=True, value={"n": self.n})
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            board.open_now -= 1


@contextlib.asynccontextmanager
async def _stalled_loop(seconds: float) -> AsyncIterator[None]:
    """Block the event loop for ``seconds`` at every turn, as a loaded 2-core machine does."""

    async def stall() -> None:
        while True:
            time.sleep(seconds)
            await asyncio.sleep(0)

    task = asyncio.create_task(stall()) if seconds else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


STALLS = pytest.mark.parametrize("stall", [0.0, 0.02], ids=["idle", "loop-stalled-20ms"])


@STALLS
async def test_never_more_waits_open_than_at_once(ops: CloudOpsClient, stall: float) -> None:
    board = _Board(expected_open=7)
    handles = [_Handle(board, n) for n in range(40)]
    async with _stalled_loop(stall):
        results = await asyncio.wait_for(ops.wait_all(handles, at_once=7), 30)  # type: ignore[arg-type]
    assert [r.value["n"] for r in results] == list(range(40))
    assert board.most_open == 7
    assert board.open_now == 0


@STALLS
async def test_a_failed_wait_raises_and_cancels_the_other_waits(
    ops: CloudOpsClient, stall: float
) -> None:
    board = _Board(expected_open=6)
    handles = [_Handle(board, n, fail=(n == 2), hold=(n != 2)) for n in range(6)]
    try:
        async with _stalled_loop(stall):
            with pytest.raises(ConnectionError, match="server went away"):
                await asyncio.wait_for(ops.wait_all(handles, at_once=6), 30)  # type: ignore[arg-type]
        assert board.most_open == 6  # the failure came while every other wait was open
        assert [h.n for h in handles if h.cancelled] == [0, 1, 3, 4, 5]
        assert board.open_now == 0  # and wait_all returned after they ended
    finally:
        board.release.set()  # a broken wait_all leaves its waits behind: let them end


async def test_at_once_must_be_positive(ops: CloudOpsClient) -> None:
    with pytest.raises(ValueError, match="at_once must be at least 1"):
        await ops.wait_all([], at_once=0)
