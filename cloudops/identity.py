"""Who is asking: a verified caller identity on every request, carried in a Temporal header.

The caller's signed token (an OIDC / JWT access token from the organisation's identity provider,
or a JWT a machine signs with its own key pair) travels in the workflow header
``cloudops-identity``, never in the workflow input. A workflow header is stored in the workflow's
history, so the token is *sealed* first: the header's value is a compact JWE (``RSA-OAEP-256`` /
``A256GCM``, made with jwcrypto) encrypted to the workers' public *seal key*, whose plaintext is
``{"token": ..., "workflow_id": ...}``. Only a worker can open it, so the history holds no usable
bearer token, and a sealed header copied into another request fails (it names its workflow id).

The worker opens the seal and verifies the token with PyJWT: signature (the issuer's JWKS fetched
over HTTP, or the machine's configured public keys), issuer, audience, expiry and subject.
Verification runs in a local activity whose verdict (subject, groups, no token) is recorded in
history, so a replay never verifies again and a token that expires during a long deploy does not
change the verdict taken at its start.

.. code-block:: toml

    authorization = "on"
    [identity]
    audience = "cloudops"
    seal_key = "/etc/cloudops/seal-private.pem"      # workers only; clients get the public half
    [[identity.issuers]]
    issuer = "https://login.example.com/"
    jwks_url = "https://login.example.com/.well-known/jwks.json"
    [[identity.issuers]]                             # a machine with its own key pair
    issuer = "ci-deployer"
    public_keys = ["/etc/cloudops/ci-deployer.pub.pem"]
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import client as temporal_client
from temporalio.api.common.v1 import Payload
from temporalio.converter import default as default_converter

from cloudops.errors import BusinessError, ErrorCode, RetryableError
from cloudops.models import Input, Output

if TYPE_CHECKING:
    from jwcrypto.jwk import JWK

__all__ = [
    "HEADER",
    "IdentityCheck",
    "IdentityConfig",
    "IdentityInterceptor",
    "IssuerConfig",
    "TokenVerifier",
    "Verdict",
    "generate_seal_key",
    "identity_interceptor_from_env",
    "seal",
]

#: The Temporal workflow header that carries the sealed token (the ``temporal`` CLI's
#: ``--headers cloudops-identity='"<JWE>"'``).
HEADER = "cloudops-identity"
SEAL_ALG = "RSA-OAEP-256"
SEAL_ENC = "A256GCM"
#: A sealed header larger than this is refused unread.
MAX_SEALED = 32_768
TOKEN_ENV = "CLOUDOPS_TOKEN"
TOKEN_FILE_ENV = "CLOUDOPS_TOKEN_FILE"
SEAL_KEY_ENV = "CLOUDOPS_SEAL_KEY"


class IssuerConfig(BaseModel):
    """One ``[[identity.issuers]]`` table: an identity provider, or a machine's key pair."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(min_length=1, description="the tokens' `iss` claim, exactly")
    jwks_url: str | None = Field(default=None, description="the issuer's JWKS (OIDC `jwks_uri`)")
    public_keys: list[str] = Field(
        default_factory=list, description="PEM public key files of a machine's key pair"
    )
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "PS256", "EdDSA"])
    groups_claim: str = Field(default="groups", description="claim listing groups or roles")


class IdentityConfig(BaseModel):
    """The ``[identity]`` table: which issuers are trusted and how the tokens are sealed."""

    model_config = ConfigDict(extra="forbid")

    audience: str = Field(default="cloudops", min_length=1)
    seal_key: str = Field(min_length=1, description="private key (PEM or JWK file) of the seal")
    issuers: list[IssuerConfig] = Field(min_length=1)
    leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    jwks_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    #: How long a verification may keep retrying an unreachable JWKS before the request fails.
    verify_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)


class IdentityCheck(Input):
    """Argument of the ``cloudops.verify_identity`` local activity (never in history)."""

    sealed: str
    workflow_id: str
    #: The update (e.g. an approval) the seal must name; None for the workflow's start.
    update_id: str | None = None


class Verdict(Output):
    """Who the caller is, as verified at the operation's start; recorded in history."""

    subject: str
    issuer: str
    groups: list[str] = Field(default_factory=list)
    expires_at: float | None = None


def _jwk_from_file(path: str) -> JWK:
    from jwcrypto.jwk import JWK

    data = Path(path).expanduser().read_bytes()
    if data.lstrip().startswith(b"{"):
        return JWK.from_json(data.decode())
    return JWK.from_pem(data)


def _public_key(path: str) -> Any:
    """A PEM public key file as a ``cryptography`` key object (what PyJWT verifies with)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    return load_pem_public_key(Path(path).expanduser().read_bytes())


def _load_jwk(value: str) -> JWK:
    """A key given as a file path, PEM text or JWK JSON text."""
    from jwcrypto.jwk import JWK

    text = value.strip()
    if text.startswith("{"):
        return JWK.from_json(text)
    if text.startswith("-----BEGIN"):
        return JWK.from_pem(text.encode())
    return _jwk_from_file(text)


def generate_seal_key() -> tuple[str, str]:
    """A new RSA seal key pair as PEM: (private for workers, public for clients)."""
    from jwcrypto.jwk import JWK

    key = JWK.generate(kty="RSA", size=3072)
    private = key.export_to_pem(private_key=True, password=None).decode()
    public = key.export_to_pem().decode()
    return private, public


def seal(token: str, workflow_id: str, public_key: str | JWK, update_id: str | None = None) -> str:
    """The header value for ``token`` sent with the request ``workflow_id``: a compact JWE.

    ``public_key`` is the workers' public seal key (a file path, PEM text, JWK JSON or a JWK).
    With ``update_id`` the seal is good for that one update of the workflow (an approval sent
    with ``send_input``), and not for its start nor any other update.
    """
    from jwcrypto.jwe import JWE

    key = _load_jwk(public_key) if isinstance(public_key, str) else public_key
    content = {"token": token, "workflow_id": workflow_id}
    if update_id is not None:
        content["update_id"] = update_id
    plaintext = json.dumps(content)
    jwe = JWE(plaintext.encode(), json.dumps({"alg": SEAL_ALG, "enc": SEAL_ENC, "cty": "JWT"}))
    jwe.add_recipient(key)
    return str(jwe.serialize(compact=True))


def _unauthenticated(message: str, reason: str) -> BusinessError:
    return BusinessError(ErrorCode.UNAUTHENTICATED, message, {"reason": reason})


@dataclass
class _Issuer:
    config: IssuerConfig
    keys: list[Any] = field(default_factory=list)
    jwks: Any = None


class TokenVerifier:
    """Opens sealed headers and verifies the tokens in them (on the worker)."""

    def __init__(self, config: IdentityConfig) -> None:
        import jwt

        self.config = config
        self._seal_key = _jwk_from_file(config.seal_key)
        if not self._seal_key.has_private:
            raise ValueError("identity.seal_key must be a private key (the workers' half)")
        self._issuers: dict[str, _Issuer] = {}
        for index, issuer in enumerate(config.issuers):
            where = f"identity.issuers[{index}]"
            if issuer.issuer in self._issuers:
                raise ValueError(f"{where}.issuer: {issuer.issuer!r} is listed twice")
            if not issuer.jwks_url and not issuer.public_keys:
                raise ValueError(f"{where}: set jwks_url (an identity provider) or public_keys")
            entry = _Issuer(issuer)
            if issuer.jwks_url:
                entry.jwks = jwt.PyJWKClient(
                    issuer.jwks_url, cache_keys=True, timeout=int(config.jwks_timeout_seconds) or 1
                )
            for k, path in enumerate(issuer.public_keys):
                try:
                    entry.keys.append(_public_key(path))
                except (OSError, ValueError, TypeError) as err:
                    raise ValueError(
                        f"{where}.public_keys[{k}]: cannot read {path}: {err}"
                    ) from None
            self._issuers[issuer.issuer] = entry

    def open(self, sealed: str, workflow_id: str, update_id: str | None = None) -> str:
        """The token inside a header sealed for ``workflow_id`` (and ``update_id``, or none)."""
        from jwcrypto.common import JWException
        from jwcrypto.jwe import JWE

        if len(sealed) > MAX_SEALED:
            raise _unauthenticated("the identity header is too large", "malformed")
        try:
            jwe = JWE()
            jwe.deserialize(sealed, key=self._seal_key)
            header = jwe.jose_header
            if header.get("alg") != SEAL_ALG or header.get("enc") != SEAL_ENC:
                raise ValueError(f"unexpected algorithms {header.get('alg')}/{header.get('enc')}")
            content = json.loads(jwe.payload)
        except (JWException, ValueError, TypeError, KeyError, AttributeError) as err:
            raise _unauthenticated(
                "the identity header is not a token sealed with this worker's seal key "
                f"({type(err).__name__})",
                "unsealable",
            ) from None
        if not isinstance(content, dict) or not isinstance(content.get("token"), str):
            raise _unauthenticated("the sealed identity holds no token", "malformed")
        if content.get("workflow_id") != workflow_id:
            raise _unauthenticated(
                "the identity was sealed for another request (its workflow id differs)",
                "wrong_request",
            )
        if content.get("update_id") != update_id:
            raise _unauthenticated(
                "the identity was not sealed for this update of the request (update id differs)"
                if update_id is not None
                else "the identity was sealed for an update, not for starting a request",
                "wrong_request",
            )
        token: str = content["token"]
        return token

    def verify(self, token: str) -> Verdict:
        """Check signature, issuer, audience, expiry and subject; UNAUTHENTICATED if not."""
        import jwt

        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError as err:
            raise _unauthenticated(f"the token is not a JWT: {err}", "malformed") from None
        issuer_name = claims.get("iss")
        issuer = self._issuers.get(issuer_name) if isinstance(issuer_name, str) else None
        if issuer is None:
            raise _unauthenticated(f"the token's issuer {issuer_name!r} is not trusted", "issuer")
        keys: list[Any] = list(issuer.keys)
        if issuer.jwks is not None:
            try:
                keys.append(issuer.jwks.get_signing_key_from_jwt(token))
            except jwt.PyJWKClientConnectionError as err:
                # Fail closed, but retryably: an unreachable JWKS is never an allow.
                raise RetryableError(
                    f"cannot fetch the JWKS of {issuer.config.issuer}: {err}",
                    cause="jwks_unreachable",
                ) from None
            except (jwt.PyJWKClientError, jwt.InvalidTokenError) as err:
                raise _unauthenticated(
                    f"no key of {issuer.config.issuer} signed the token: {err}", "signature"
                ) from None
        last: Exception | None = None
        for key in keys:
            try:
                verified = jwt.decode(
                    token,
                    key,
                    algorithms=issuer.config.algorithms,
                    audience=self.config.audience,
                    issuer=issuer.config.issuer,
                    leeway=self.config.leeway_seconds,
                    options={"require": ["exp", "iss", "aud", "sub"]},
                )
            except jwt.InvalidSignatureError as err:
                last = err
                continue
            except jwt.ExpiredSignatureError:
                raise _unauthenticated("the token has expired", "expired") from None
            except jwt.InvalidAudienceError:
                raise _unauthenticated(
                    f"the token is not meant for {self.config.audience!r} (audience)", "audience"
                ) from None
            except jwt.InvalidTokenError as err:
                raise _unauthenticated(f"the token is invalid: {err}", "invalid") from None
            return Verdict(
                subject=str(verified["sub"]),
                issuer=issuer.config.issuer,
                groups=_groups(verified.get(issuer.config.groups_claim)),
                expires_at=float(verified["exp"]),
            )
        raise _unauthenticated(
            f"the token's signature does not verify with the keys of {issuer.config.issuer}"
            + (f": {last}" if last else ""),
            "signature",
        )

    def check(self, request: IdentityCheck) -> Verdict:
        """Open and verify: the body of the ``cloudops.verify_identity`` local activity."""
        return self.verify(self.open(request.sealed, request.workflow_id, request.update_id))


def _groups(value: Any) -> list[str]:
    if isinstance(value, str):
        return sorted(set(value.split()))
    if isinstance(value, list):
        return sorted({str(v) for v in value if isinstance(v, str | int)})
    return []


# --- the client side -------------------------------------------------------------------------

TokenSource = str | Callable[[], str]


class IdentityInterceptor(temporal_client.Interceptor):
    """A Temporal client interceptor adding the sealed token to every workflow it starts.

    Updates (``send_input``: approving or rejecting a manual judgement) carry it too, sealed
    for their update id (one is chosen here when the caller gave none).

    ``token`` is the token or a function returning a fresh one (called per start); ``seal_key``
    the workers' public seal key (file path, PEM or JWK JSON)::

        identity = IdentityInterceptor(token, "seal.pub.pem")
        client = await Client.connect(..., interceptors=[identity])
    """

    def __init__(self, token: TokenSource, seal_key: str) -> None:
        self._token = token
        self._key = _load_jwk(seal_key)

    def header_for(self, workflow_id: str, update_id: str | None = None) -> Payload:
        """The header payload for a start of ``workflow_id`` (or for its update ``update_id``)."""
        token = self._token() if callable(self._token) else self._token
        value = seal(token, workflow_id, self._key, update_id)
        return default_converter().payload_converter.to_payloads([value])[0]

    def intercept_client(
        self, next: temporal_client.OutboundInterceptor
    ) -> temporal_client.OutboundInterceptor:
        """Wrap the client's outbound calls so that starts carry the header."""
        return _IdentityOutbound(next, self)


class _IdentityOutbound(temporal_client.OutboundInterceptor):
    def __init__(self, next: temporal_client.OutboundInterceptor, owner: IdentityInterceptor):
        super().__init__(next)
        self._owner = owner

    async def start_workflow(
        self, input: temporal_client.StartWorkflowInput
    ) -> temporal_client.WorkflowHandle[Any, Any]:
        input.headers = {**input.headers, HEADER: self._owner.header_for(input.id)}
        return await super().start_workflow(input)

    async def start_workflow_update(
        self, input: temporal_client.StartWorkflowUpdateInput
    ) -> temporal_client.WorkflowUpdateHandle[Any]:
        input.update_id = input.update_id or str(uuid.uuid4())
        header = self._owner.header_for(input.id, input.update_id)
        input.headers = {**input.headers, HEADER: header}
        return await super().start_workflow_update(input)


def identity_interceptor_from_env(
    token: TokenSource | None = None, seal_key: str | None = None
) -> IdentityInterceptor | None:
    """The interceptor for ``token`` (or ``$CLOUDOPS_TOKEN`` / ``$CLOUDOPS_TOKEN_FILE``).

    ``None`` when no token is given anywhere (the request is sent unsigned). A token without a
    seal key (``seal_key`` or ``$CLOUDOPS_SEAL_KEY``) is an error: it would land in clear.
    """
    if token is None:
        if os.environ.get(TOKEN_ENV):
            token = os.environ[TOKEN_ENV].strip()
        elif os.environ.get(TOKEN_FILE_ENV):
            path = Path(os.environ[TOKEN_FILE_ENV])

            def token_from_file() -> str:
                return path.read_text().strip()  # re-read: a sidecar may refresh it

            token = token_from_file
    if token is None:
        return None
    seal_key = seal_key or os.environ.get(SEAL_KEY_ENV)
    if not seal_key:
        raise ValueError(
            f"a token needs the workers' public seal key to travel sealed: set {SEAL_KEY_ENV} "
            "(a PEM file) or pass seal_key"
        )
    return IdentityInterceptor(token, seal_key)


def with_identity(interceptors: Sequence[Any], identity: IdentityInterceptor | None) -> list[Any]:
    """``interceptors`` plus ``identity`` when there is one."""
    return [*interceptors, identity] if identity is not None else list(interceptors)
