"""The docs' Python examples run, and every hook is documented (as datasette does)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cloudops import hookspecs
from cloudops.client import CloudOpsClient
from cloudops.server import DevServer

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _examples() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for i, code in enumerate(BLOCK.findall(path.read_text())):
            code = textwrap.dedent(code)  # blocks inside list items are indented
            if not code.startswith("# docs: skip"):
                found.append((f"{path.relative_to(ROOT)}#{i}", code))
    return found


@pytest.mark.parametrize(("where", "code"), _examples(), ids=[w for w, _ in _examples()])
async def test_python_examples_run(
    where: str, code: str, temporal_server: DevServer, ops: CloudOpsClient, tmp_path: Path
) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_server.address,
        "CLOUDOPS_TASK_QUEUE": ops.task_queue,
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    # temporalio can abort the interpreter *after* a script finished (sdk-python#300): SIGABRT
    # while "finalizing". A failing example exits 1 before that (its asserts raise), so only
    # that exact abort is tolerated.
    exit_abort = done.returncode == -6 and "Python runtime state: finalizing" in done.stderr
    assert done.returncode == 0 or exit_abort, f"{where}\n{done.stdout}\n{done.stderr}"
    if exit_abort:
        assert "Traceback" not in done.stderr, f"{where}\n{done.stderr}"


def test_every_hook_is_documented() -> None:
    text = (ROOT / "docs" / "plugins.md").read_text()
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert hooks == [
        "register_activities",
        "register_commands",
        "register_local_clouds",
        "register_operations",
        "register_providers",
    ]
    for hook in hooks:
        assert f"### {hook}" in text, f"{hook} is not documented in docs/plugins.md"
