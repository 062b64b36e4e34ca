"""Run the ``cloudops`` command as a user would: the installed console script in a child process.

The script is the one ``pip install cloudops`` (or ``uv sync``) puts next to this Python, so what
runs is ``cloudops.cli:main``, as for a user, not a test runner calling the typer app.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CLOUDOPS = Path(sys.executable).parent / "cloudops"
assert CLOUDOPS.is_file(), f"no console script at {CLOUDOPS}: run `uv sync --all-packages`"


def cloudops(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, **kw: Any
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [str(CLOUDOPS), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        **kw,
    )


async def run_cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    """The same, off the event loop, so that a worker in this process keeps working."""
    return await asyncio.to_thread(cloudops, *args, **kw)
