"""Blocking activities run on cloudops' own thread pool, with the caller's context."""

from __future__ import annotations

import asyncio
import contextvars
import threading

from cloudops.blocking import DEFAULT_THREADS, blocking_activity

WHO = contextvars.ContextVar("WHO", default="nobody")


def test_blocking_activities_share_a_pool_wider_than_the_loops_default() -> None:
    gate = threading.Barrier(20, timeout=10)  # 20 at once: more than cpu_count + 4 threads

    @blocking_activity("test.wait_for_the_others", classify=lambda err: err)
    def wait_for_the_others(arg: str) -> str:
        gate.wait()
        return f"{arg} {WHO.get()} {threading.current_thread().name.split('_')[0]}"

    async def main() -> list[str]:
        WHO.set("caller")
        return list(await asyncio.gather(*(wait_for_the_others(str(i)) for i in range(20))))

    answers = asyncio.run(main())
    assert answers == [f"{i} caller cloudops-blocking" for i in range(20)]
    assert DEFAULT_THREADS >= 200
