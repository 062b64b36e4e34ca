"""A moto server on a free loopback port, for tests that talk to AWS over real HTTP."""

from __future__ import annotations

import urllib.request
from types import TracebackType

from moto.server import ThreadedMotoServer


class MotoServer:
    """Runs moto's HTTP server in a background thread on 127.0.0.1 and a free port.

    Why: boto3 clients (and the fault proxy in front of them) need a real endpoint to exercise
    signing, serialisation, retries and connection handling; ``mock_aws`` patches all of that away.
    The port is chosen by binding port 0, so parallel test runs never collide.

    moto keeps its state in process-wide globals: every ``MotoServer`` in one process sees the
    same resources, and ``reset()`` clears them all.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._server: ThreadedMotoServer | None = None
        self._port: int | None = None

    @property
    def url(self) -> str:
        """Base URL to pass as ``endpoint_url``; only valid while the server runs."""
        if self._port is None:
            raise RuntimeError("MotoServer is not running; call start() first")
        return f"http://{self._host}:{self._port}"

    def start(self) -> None:
        """Start the server; port 0 lets the OS pick a free port without a race."""
        if self._server is not None:
            raise RuntimeError("MotoServer already started")
        server = ThreadedMotoServer(ip_address=self._host, port=0, verbose=False)
        server.start()
        self._server = server
        self._port = server.get_host_and_port()[1]

    def stop(self) -> None:
        """Stop the server and join its thread; safe to call twice."""
        server, self._server, self._port = self._server, None, None
        if server is not None:
            server.stop()
            # moto only shuts the werkzeug server down; close its listening socket too
            wsgi_server = getattr(server, "_server", None)
            if wsgi_server is not None:
                wsgi_server.server_close()

    def reset(self) -> None:
        """Forget every resource (``POST /moto-api/reset``) so each test starts clean."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
