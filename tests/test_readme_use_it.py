"""README.md's "Use it" section, run as a new user runs it.

A fresh temporary directory (not the repository), nothing prepared: `cloudops dev` in the
background, then each command of the section and its Python snippet, then Ctrl-C. The only
changes to the README's commands are free ports (`--port`, `--ui-port`, TEMPORAL_ADDRESS) instead
of 7233/8233, which other servers on the machine may hold. The commands are read from the README,
so a command added there without a check here fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cli_helpers import CLOUDOPS
from cloudops.server import free_port
from cloudops_testing.processes import WorkerProcess

README = Path(__file__).parent.parent / "README.md"


def _use_it() -> tuple[list[list[str]], str]:
    """The section's shell commands (each a `cloudops` argv, "uv run" dropped) and its snippet."""
    text = README.read_text()
    section = text[text.index("## Use it") :]
    section = section[: section.index("\n## ", 1)]
    [shell] = re.findall(r"```sh\n(.*?)```", section, re.S)
    [snippet] = re.findall(r"```python\n(.*?)```", section, re.S)
    commands = []
    for line in shell.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[:3] == ["uv", "run", "cloudops"], line
            commands.append(words[3:])
    return commands, snippet


def _user_env(address: str) -> dict[str, str]:
    """This machine's environment without any cloudops or Temporal setting, plus the address."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLOUDOPS_", "TEMPORAL_", "OTEL_")) and key != "COLUMNS"
    }
    return {**env, "TEMPORAL_ADDRESS": address}


def _session(sid: int) -> list[str]:
    """Command lines of the processes still in session ``sid`` (dev and all it started)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[3]) == sid:  # state, ppid, pgrp, session
            found.append(f"{stat.parent.name}: {cmdline}")
    return found


def _check_run(out: subprocess.CompletedProcess[str]) -> None:
    assert out.stdout.startswith("ok example.echo\n"), out.stdout
    result = json.loads(out.stdout[out.stdout.index("{") :])
    assert result["ok"] is True and result["value"]["text"] == "hello"


def _check_operations(out: subprocess.CompletedProcess[str]) -> None:
    header = out.stdout.splitlines()[1]
    assert header.split() == ["┃", "operation", "┃", "plugin", "┃", "summary", "┃"], header
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in out.stdout.splitlines()]
    rows = {row[0]: row[1] for row in cells if row and row[0]}  # not a summary's next line
    assert rows["example.echo"] == "example"  # and which plugin provides each
    assert rows["aws.createServerGroup"] == "aws"
    assert rows["deploy.redBlack"] == "deploy"


def _check_show(out: subprocess.CompletedProcess[str]) -> None:
    doc = json.loads(out.stdout)
    assert doc["operation"] == "example.echo" and doc["plugin"] == "example"
    assert doc["input"]["required"] == ["message"]
    assert "text" in doc["output"]["properties"]


def _check_list_cancelled(out: subprocess.CompletedProcess[str]) -> None:
    lines = out.stdout.splitlines()
    assert lines[1].split()[1::2] == ["id", "operation", "outcome", "account", "region", "started"]
    assert "example.echo" not in out.stdout  # the one operation so far ended ok


CHECKS: dict[str, Callable[[subprocess.CompletedProcess[str]], None]] = {
    'run example.echo --input \'{"message": "hello"}\'': _check_run,
    "operations": _check_operations,
    "operations show example.echo": _check_show,
    "list --outcome CANCELLED": _check_list_cancelled,
}


def test_readme_use_it_in_an_empty_directory(tmp_path: Path) -> None:
    commands, snippet = _use_it()
    assert commands[0] == ["dev"], "the section starts the dev stack first"
    port, ui_port = free_port(), free_port()
    env = _user_env(f"127.0.0.1:{port}")
    log = tmp_path / "dev-output.txt"
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    with log.open("wb") as out:
        dev = subprocess.Popen(
            [str(CLOUDOPS), *commands[0], "--port", str(port), "--ui-port", str(ui_port)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session, as in a terminal, to find what it leaves
        )
    try:
        deadline = time.monotonic() + 180
        while "worker ready" not in log.read_text():
            assert dev.poll() is None, f"cloudops dev exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"cloudops dev not ready:\n{log.read_text()}"
            time.sleep(0.2)
        started = log.read_text()
        assert f"Temporal UI:     http://127.0.0.1:{ui_port}" in started
        assert (workdir / ".cloudops" / "temporal.sqlite").is_file()  # the default --db

        for argv in commands[1:]:
            key = shlex.join(argv)
            assert key in CHECKS, f"README command without a check here: cloudops {key}"
            done = subprocess.run(
                [str(CLOUDOPS), *argv],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, f"cloudops {key}\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stderr, done.stderr
            CHECKS[key](done)

        (workdir / "snippet.py").write_text(snippet)
        ran = subprocess.run(
            [sys.executable, "snippet.py"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        # temporalio may abort the interpreter after the script ended (sdk-python#300)
        exit_abort = ran.returncode == -6 and "Python runtime state: finalizing" in ran.stderr
        assert ran.returncode == 0 or exit_abort, ran.stderr
        assert "Traceback" not in ran.stderr, ran.stderr
        assert re.fullmatch(r"True \{'text': 'hello hello', 'worker': '.+'\}\n", ran.stdout)

        os.killpg(dev.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's foreground group
        assert dev.wait(60) == 0, log.read_text()
        output = log.read_text()
        assert output.rstrip().endswith("stopped the worker and the Temporal server"), output
        assert "Traceback" not in output, output
        assert WorkerProcess.wait_port_closed("127.0.0.1", port)
        assert WorkerProcess.wait_port_closed("127.0.0.1", ui_port)
        left: list[str] = []
        for _ in range(50):
            left = _session(dev.pid)
            if not left:
                break
            time.sleep(0.2)
        assert left == [], f"left behind by cloudops dev: {left}"
    finally:
        if dev.poll() is None or _session(dev.pid):
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()
