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


def _commented_output(code: str) -> list[str]:
    """What the example's comments say its top-level ``print(...)  # output`` lines print."""
    said = re.findall(r"^print\(.*\)  # (.+)$", code, re.M)
    assert said, "the example shows its output in a comment"
    return [re.escape(line) for line in said]


#: How the embedding example of docs/plugins.md names its worker's task queue.
_EMBEDDED = 'f"embedded-{os.getpid()}"'


def _expected_output(where: str, code: str, task_queue: str) -> list[str] | None:
    """The lines (regular expressions) an example must print, or None if not checked."""
    worker = r"'worker': '[^']+:{}'"  # the activity says which worker's task queue ran it
    if where == "README.md#0":
        return [r"True \{'text': 'hello hello', " + worker.format(re.escape(task_queue)) + r"\}"]
    if where == "docs/plugins.md#0":
        return _commented_output(code)
    if where.startswith("docs/plugins.md") and _EMBEDDED in code:  # its own worker's queue
        return [r"\{'text': 'embedded', " + worker.format(r"embedded-\d+") + r"\}"]
    return None


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
    expected = _expected_output(where, code, ops.task_queue)
    if expected is not None:
        printed = done.stdout.splitlines()
        assert len(printed) == len(expected), f"{where} printed:\n{done.stdout}"
        for line, pattern in zip(printed, expected, strict=True):
            assert re.fullmatch(pattern, line), f"{where} printed {line!r}, not /{pattern}/"


def test_the_checked_examples_exist() -> None:
    found = [where for where, _ in _examples()]
    for where in ("README.md#0", "docs/plugins.md#0"):
        assert where in found, f"{where} moved: update _expected_output"
    embedded = [
        w for w, code in _examples() if w.startswith("docs/plugins.md") and _EMBEDDED in code
    ]
    assert len(embedded) == 1, f"the embedded-worker example of docs/plugins.md: {embedded}"


def test_every_hook_is_documented() -> None:
    text = (ROOT / "docs" / "plugins.md").read_text()
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert hooks == [
        "register_activities",
        "register_commands",
        "register_deployment_monitors",
        "register_local_clouds",
        "register_operations",
        "register_providers",
    ]
    for hook in hooks:
        assert f"### {hook}" in text, f"{hook} is not documented in docs/plugins.md"
