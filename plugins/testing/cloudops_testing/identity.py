"""A local identity provider for tests of workers that require identity (docs/security.md).

:class:`LocalIdentityProvider` plays an organisation's identity provider (an RSA signing key
whose JWKS is served over HTTP on a free loopback port), a machine with its own key pair (an
EC key whose public half the worker's config names) and the workers' seal key pair. Tokens are
signed with PyJWT; clients seal them as :class:`cloudops.identity.IdentityInterceptor` does::

    idp = LocalIdentityProvider(tmp_path)
    config = idp.config(accounts, [{"groups": ["deployers"], "access": "WRITE"}])
    async with cloudops_worker(plugins, accounts=config) as ops:
        dana = idp.client(temporal_client, idp.token("dana", ["deployers"]), ops.task_queue)
        result = await dana.execute(...)
    idp.stop()
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["AUDIENCE", "ISSUER", "MACHINE", "LocalIdentityProvider"]

ISSUER = "https://idp.test/"
MACHINE = "ci-deployer"
AUDIENCE = "cloudops"


class LocalIdentityProvider:
    """An RSA signing key with its JWKS over HTTP, a machine key pair and a seal key pair.

    Set ``up = False`` to make the JWKS answer 503 (an identity provider that is down).
    """

    def __init__(self, folder: Path) -> None:
        import jwt
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        from cloudops.identity import generate_seal_key

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "idp-key-1"
        self.machine_key = ec.generate_private_key(ec.SECP256R1())
        self.machine_pub = folder / "machine.pub.pem"
        self.machine_pub.write_bytes(
            self.machine_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        private, public = generate_seal_key()
        self.seal_private = folder / "seal.pem"
        self.seal_private.write_text(private)
        self.seal_public = folder / "seal.pub.pem"
        self.seal_public.write_text(public)
        self.up = True
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        body = json.dumps({"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]})
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not owner.up:
                    self.send_response(503)
                    self.end_headers()
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"

    def token(self, sub: str = "dana", groups: list[str] | None = None, **claims: Any) -> str:
        """An access token of the identity provider (valid 5 minutes); ``claims`` override."""
        import jwt

        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 300}
        payload["groups"] = groups if groups is not None else []
        payload.update(claims)
        return jwt.encode(payload, self.key, "RS256", headers={"kid": self.kid})

    def machine_token(self, sub: str = "ci-bot", **claims: Any) -> str:
        """A token the machine signs with its own key (valid 5 minutes)."""
        import jwt

        now = int(time.time())
        payload = {"iss": MACHINE, "aud": AUDIENCE, "sub": sub, "exp": now + 300, **claims}
        return jwt.encode(payload, self.machine_key, "ES256")

    def config(
        self, accounts: dict[str, Any], permissions: list[dict[str, Any]], **identity: Any
    ) -> dict[str, Any]:
        """A ``cloudops.toml``-shaped dict with ``accounts``, ``permissions`` and an identity.

        The ``[identity]`` table trusts this provider and the machine; ``identity`` overrides keys.
        """
        return {
            "accounts": accounts,
            "identity": {
                "audience": AUDIENCE,
                "seal_key": str(self.seal_private),
                "leeway_seconds": 0,
                "verify_timeout_seconds": 3,
                "issuers": [
                    {"issuer": ISSUER, "jwks_url": self.jwks_url},
                    {"issuer": MACHINE, "public_keys": [str(self.machine_pub)]},
                ],
                **identity,
            },
            "permissions": permissions,
        }

    def client(self, client: Any, token: str | None, task_queue: str) -> Any:
        """A :class:`~cloudops.client.CloudOpsClient` like ``client`` sending ``token`` sealed.

        ``None`` sends no token at all.
        """
        from temporalio.client import Client

        from cloudops.client import CloudOpsClient
        from cloudops.identity import IdentityInterceptor

        config = client.config()
        if token is not None:
            config["interceptors"] = [IdentityInterceptor(token, str(self.seal_public))]
        return CloudOpsClient(Client(**config), task_queue=task_queue)

    def stop(self) -> None:
        """Stop serving the JWKS."""
        self.server.shutdown()
        self.server.server_close()
