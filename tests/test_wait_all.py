"""CloudOpsClient.wait_all: many results, in order, with a bounded number of waits open."""

from __future__ import annotations

import asyncio
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


class _SlowHandle:
    """Stands in for an OperationHandle: counts how many waits are open at once."""

    open_now = 0
    most_open = 0

    def __init__(self, n: int, fail: bool = False) -> None:
        self.id = f"op-{n}"
        self.n = n
        self.fail = fail
        self.cancelled = False

    async def result(self) -> WorkflowResult[Any]:
        cls = type(self)
        cls.open_now += 1
        cls.most_open = max(cls.most_open, cls.open_now)
        try:
            await asyncio.sleep(0.01 if not self.fail else 0.001)
            if self.fail:
                raise ConnectionError("server went away")
            return WorkflowResult[Any](ok=True, value={"n": self.n})
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            cls.open_now -= 1


async def test_never_more_waits_open_than_at_once(ops: CloudOpsClient) -> None:
    _SlowHandle.open_now = _SlowHandle.most_open = 0
    handles = [_SlowHandle(n) for n in range(40)]
    results = await ops.wait_all(handles, at_once=7)  # type: ignore[arg-type]
    assert [r.value["n"] for r in results] == list(range(40))
    assert _SlowHandle.most_open == 7


async def test_a_failed_wait_raises_and_cancels_the_other_waits(ops: CloudOpsClient) -> None:
    handles = [_SlowHandle(n, fail=(n == 2)) for n in range(6)]
    with pytest.raises(ConnectionError, match="server went away"):
        await ops.wait_all(handles, at_once=6)  # type: ignore[arg-type]
    assert [h.n for h in handles if h.cancelled] == [0, 1, 3, 4, 5]


async def test_at_once_must_be_positive(ops: CloudOpsClient) -> None:
    with pytest.raises(ValueError, match="at_once must be at least 1"):
        await ops.wait_all([], at_once=0)
