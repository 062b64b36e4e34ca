"""ReadBatcher: concurrent reads of one scope share a fetch, one fetch at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from cloudops.batching import ReadBatcher


def test_one_fetch_at_a_time_per_scope_and_the_next_batch_grows_meanwhile() -> None:
    running: list[int] = [0, 0]  # now, most at once
    batches: list[int] = []
    lock = threading.Lock()

    def fetch(account: str, region: str, names: Sequence[str]) -> dict[str, str]:
        with lock:
            running[0] += 1
            running[1] = max(running)
        time.sleep(0.5)  # a slow read: several paced pages
        with lock:
            running[0] -= 1
            batches.append(len(names))
        return {name: name.upper() for name in names}

    batcher: ReadBatcher[str] = ReadBatcher(fetch, max_batch=100, window=lambda: 0.05)

    def ask(i: int) -> str | None:
        time.sleep(i * 0.02)  # arrivals spread over 1.2 s
        return batcher.get(("account", "region"), f"n{i}")

    with ThreadPoolExecutor(60) as pool:
        answers = list(pool.map(ask, range(60)))
    assert answers == [f"N{i}" for i in range(60)]
    assert running[1] == 1  # never two fetches of one scope side by side
    assert len(batches) <= 4, batches  # the waiting batch took every arrival meanwhile
