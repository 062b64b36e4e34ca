"""Run the ``cloudops`` command as a user would: a child process, its output and exit code."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any


def cloudops(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, **kw: Any
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cloudops", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        **kw,
    )


async def run_cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    """The same, off the event loop, so that a worker in this process keeps working."""
    return await asyncio.to_thread(cloudops, *args, **kw)
