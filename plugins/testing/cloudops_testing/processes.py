"""Workers in their own processes, for tests that kill them (SIGKILL) mid-operation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

__all__ = ["WorkerProcess"]


class WorkerProcess:
    """``python -m cloudops worker`` in a child process, ready once it says so.

    ``config`` is a ``cloudops.toml`` path; ``plugins`` restricts the entry points loaded
    (``CLOUDOPS_LOAD_PLUGINS``); ``env`` adds variables (e.g. dummy AWS credentials).
    """

    def __init__(
        self,
        address: str,
        task_queue: str,
        *,
        config: str | os.PathLike[str] | None = None,
        plugins: list[str] | None = None,
        env: dict[str, str] | None = None,
        log_file: str | os.PathLike[str] | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.address = address
        self.task_queue = task_queue
        self.config = config
        self.plugins = plugins
        self.env = env or {}
        self.log_file = Path(log_file) if log_file else None
        self.args = list(args or [])
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> WorkerProcess:
        """Start the worker and wait until it polls its task queue."""
        env = {**os.environ, **self.env, "TEMPORAL_ADDRESS": self.address}
        if self.plugins is not None:
            env["CLOUDOPS_LOAD_PLUGINS"] = ",".join(self.plugins)
        cmd = [sys.executable, "-m", "cloudops", "worker", "--task-queue", self.task_queue]
        if self.config:
            cmd += ["--config", str(self.config)]
        cmd += self.args
        self._ready.clear()
        self.process = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout):
            self.kill()
            raise RuntimeError("worker did not start:\n" + "".join(self.output[-40:]))
        return self

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)
            if self.log_file:
                with self.log_file.open("a") as log:
                    log.write(line)
            if "worker ready" in line:
                self._ready.set()

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-activity, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait: a clean shutdown. Returns the exit code; ``output`` is complete."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._reader is not None:  # the output is complete once the pipe is drained
            self._reader.join(timeout)
        return self.process.returncode

    def restart(self) -> WorkerProcess:
        """Start a fresh worker process (after a kill)."""
        self.kill()
        return self.start()

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()

    @staticmethod
    def wait_port_closed(host: str, port: int, timeout: float = 10.0) -> bool:
        """True once nothing listens on ``host:port`` any more."""
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex((host, port)) != 0:
                    return True
            time.sleep(0.05)
        return False
