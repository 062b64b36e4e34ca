"""`cloudops codec-server` as an operator runs it: the installed script, spoken to over HTTP.

What the Temporal UI does (a CORS preflight, then POST /decode with its Authorization header)
and what `temporal --codec-endpoint` does (POST /encode and /decode), plus the answers to
mistakes: a missing key, a wrong or missing Authorization, a bad body, a wrong path.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from cli_helpers import CLOUDOPS, cloudops
from cloudops.codec import ENCODING, KEY_ID_METADATA, generate_key
from cloudops.server import free_port

KEY = generate_key()
KEY_ENV = {"CLOUDOPS_PAYLOAD_KEY": KEY, "CLOUDOPS_PAYLOAD_KEY_ID": "ops-1"}
UI = "https://temporal.example.com"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


PLAIN = {"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(b'"the secret"')}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, object]


@dataclass
class CodecServer:
    process: subprocess.Popen[str]
    port: int
    banner: str

    def call(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers=headers or {})
            response = conn.getresponse()
            raw = response.read()
            return Answer(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                json.loads(raw) if raw else {},
            )
        finally:
            conn.close()


def _start(*args: str, env: dict[str, str]) -> CodecServer:
    port = free_port()
    full_env = {**os.environ, "NO_COLOR": "1", **env}
    process = subprocess.Popen(
        [str(CLOUDOPS), "codec-server", "--port", str(port), *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    banner = process.stderr.readline()  # printed once it listens
    assert banner.startswith("codec server on"), banner + process.stderr.read()
    return CodecServer(process, port, banner.strip())


def _stop(server: CodecServer) -> tuple[int, str]:
    server.process.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = server.process.communicate(timeout=30)
    return server.process.returncode, err


@pytest.fixture
def with_auth_option() -> Iterator[CodecServer]:
    server = _start("--origin", UI, "--auth", "Bearer s3cret", env=KEY_ENV)
    yield server
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait()


def test_missing_key_is_one_line_saying_what_to_set() -> None:
    env = {
        "CLOUDOPS_PAYLOAD_KEY": "",
        "CLOUDOPS_PAYLOAD_KEY_ID": "",
        "CLOUDOPS_PAYLOAD_OLD_KEYS": "",
    }
    out = cloudops("codec-server", "--port", str(free_port()), env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        "error: set CLOUDOPS_PAYLOAD_KEY (and CLOUDOPS_PAYLOAD_OLD_KEYS) to the workers' keys"
    )


def test_the_ui_and_the_cli_encode_and_decode_through_it(with_auth_option: CodecServer) -> None:
    server = with_auth_option
    assert server.banner == (
        f"codec server on http://127.0.0.1:{server.port} with key id(s) ops-1; Ctrl-C to stop"
    )
    auth = {"Authorization": "Bearer s3cret", "Content-Type": "application/json"}

    # The UI's CORS preflight: its --origin is allowed, another origin is not.
    preflight = server.call("OPTIONS", "/decode", headers={"Origin": UI})
    assert preflight.status == 200
    assert preflight.headers["access-control-allow-origin"] == UI
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    other = server.call("OPTIONS", "/decode", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    default = server.call("OPTIONS", "/decode", headers={"Origin": "http://localhost:8233"})
    assert "access-control-allow-origin" not in default.headers  # --origin replaced it

    encoded = server.call("POST", "/encode", {"payloads": [PLAIN]}, {**auth, "Origin": UI})
    assert encoded.status == 200 and encoded.headers["access-control-allow-origin"] == UI
    [sealed] = encoded.body["payloads"]  # type: ignore[misc]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
    assert base64.b64decode(sealed["metadata"][KEY_ID_METADATA]) == b"ops-1"
    assert b"the secret" not in base64.b64decode(sealed["data"])
    decoded = server.call("POST", "/decode", {"payloads": [sealed]}, auth)
    assert decoded.status == 200 and decoded.body == {"payloads": [PLAIN]}

    for wrong in ({}, {"Authorization": "Bearer guess"}):
        refused = server.call("POST", "/decode", {"payloads": [sealed]}, wrong)
        assert refused.status == 401
        assert refused.body == {"error": "missing or wrong Authorization header"}
    bad_body = server.call("POST", "/decode", b"{not json", auth)
    assert bad_body.status == 400 and bad_body.body["error"]
    tampered = {**sealed, "data": _b64(b"x" * 40)}
    bad_payload = server.call("POST", "/decode", {"payloads": [tampered]}, auth)
    assert bad_payload.status == 400 and bad_payload.body["error"]
    nowhere = server.call("POST", "/nowhere", {"payloads": [PLAIN]}, auth)
    assert nowhere.status == 404 and nowhere.body == {"error": "POST /encode or /decode"}

    code, rest = _stop(server)
    assert code == 0 and "Traceback" not in rest, rest


def test_auth_from_the_environment_and_the_default_ui_origin() -> None:
    server = _start(env={**KEY_ENV, "CLOUDOPS_CODEC_AUTH": "Bearer from-env"})
    try:
        ui = "http://localhost:8233"
        preflight = server.call("OPTIONS", "/decode", headers={"Origin": ui})
        assert preflight.headers["access-control-allow-origin"] == ui
        body = {"payloads": [PLAIN]}
        assert server.call("POST", "/encode", body).status == 401
        allowed = server.call("POST", "/encode", body, {"Authorization": "Bearer from-env"})
        assert allowed.status == 200
    finally:
        code, rest = _stop(server)
    assert code == 0 and "Traceback" not in rest, rest
