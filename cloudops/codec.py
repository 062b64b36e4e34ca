"""Encryption of payloads at rest in Temporal: an AES-256-GCM ``PayloadCodec`` keyed from the env.

Every payload a cloudops client or worker writes (operation inputs, results, activity arguments
and results, queries, updates) is encrypted before it reaches the Temporal server when
``CLOUDOPS_PAYLOAD_KEY`` (32 random bytes as base64 or hex, from your secret store; make one
with :func:`generate_key`) is set, and decrypted when read back.

An encrypted payload has the metadata ``encoding: binary/encrypted`` and ``encryption-key-id``;
its data is a 12-byte nonce followed by the AES-256-GCM ciphertext (with its 16-byte tag) of the
serialized original ``temporal.api.common.v1.Payload``. Payloads that are not encrypted pass
through ``decode`` unchanged, so encryption can be rolled out (and back) while operations run.

Keys rotate: the current key (``CLOUDOPS_PAYLOAD_KEY``, id ``CLOUDOPS_PAYLOAD_KEY_ID`` or a
fingerprint of the key) encrypts, and any key in ``CLOUDOPS_PAYLOAD_OLD_KEYS`` (comma-separated,
each ``KEY`` or ``ID:KEY``) still decrypts.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

__all__ = [
    "ENCODING",
    "KEY_ENV",
    "KEY_ID_ENV",
    "KEY_ID_METADATA",
    "OLD_KEYS_ENV",
    "EncryptionCodec",
    "EncryptionKeyError",
    "PayloadCodecOption",
    "codec_server",
    "data_converter",
    "generate_key",
    "resolve_codec",
    "with_codec",
]

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_ENV = "CLOUDOPS_PAYLOAD_KEY"
KEY_ID_ENV = "CLOUDOPS_PAYLOAD_KEY_ID"
OLD_KEYS_ENV = "CLOUDOPS_PAYLOAD_OLD_KEYS"
NONCE_SIZE = 12
KEY_SIZE = 32
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

#: What ``connect_client``, ``build_worker`` and ``CloudOpsPlugin`` accept as ``payload_codec``:
#: ``"env"`` (the default) reads ``CLOUDOPS_PAYLOAD_KEY``; a codec is used as it is; ``None``
#: turns payload encoding off.
PayloadCodecOption: TypeAlias = PayloadCodec | Literal["env"] | None

_HOW_TO_GENERATE = "python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'"


class EncryptionKeyError(ValueError):
    """A payload key is malformed, unknown or wrong; the message says what to set."""


def generate_key() -> str:
    """A new random key, base64-encoded, for ``CLOUDOPS_PAYLOAD_KEY``."""
    return base64.b64encode(os.urandom(KEY_SIZE)).decode()


def _parse_key(key: bytes | str, what: str) -> bytes:
    if isinstance(key, bytes):
        if len(key) != KEY_SIZE:
            raise EncryptionKeyError(f"{what} must be {KEY_SIZE} bytes, got {len(key)}")
        return key
    text = key.strip()
    if _HEX_KEY.fullmatch(text):
        return bytes.fromhex(text)
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_SIZE:
        raise EncryptionKeyError(
            f"{what} must be {KEY_SIZE} random bytes written as base64 or as 64 hex digits; "
            f"make one with: {_HOW_TO_GENERATE}"
        )
    return raw


def _fingerprint(key: bytes) -> str:
    return "k" + hashlib.sha256(b"cloudops-payload-key:" + key).hexdigest()[:12]


def _check_key_id(key_id: str) -> str:
    if not _KEY_ID.fullmatch(key_id):
        raise EncryptionKeyError(
            f"payload key id {key_id!r} must be 1 to 64 letters, digits, '.', '_' or '-'"
        )
    return key_id


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM encryption of every payload, with key ids for rotation.

    ``key`` (32 bytes, or base64 / 64 hex digits) encrypts, under ``key_id`` (default: a
    fingerprint of the key). ``old_keys`` only decrypt: a mapping of id to key, or keys whose
    id is their fingerprint. Without ``key`` the codec encrypts nothing and only decrypts with
    ``old_keys``; without any key, reading an encrypted payload raises an
    :class:`EncryptionKeyError` that says which key id is missing.
    """

    def __init__(
        self,
        key: bytes | str | None,
        *,
        key_id: str | None = None,
        old_keys: Mapping[str, bytes | str] | Iterable[bytes | str] = (),
        source: str = "the key",
    ) -> None:
        self._keys: dict[str, bytes] = {}
        if isinstance(old_keys, Mapping):
            for old_id, old in old_keys.items():
                self._keys[_check_key_id(old_id)] = _parse_key(old, f"old key {old_id!r}")
        else:
            for old in old_keys:
                raw = _parse_key(old, "an old key")
                self._keys[_fingerprint(raw)] = raw
        self.key_id: str | None = None
        self._key: bytes | None = None
        if key is not None:
            self._key = _parse_key(key, source)
            self.key_id = _check_key_id(key_id) if key_id else _fingerprint(self._key)
            known = self._keys.get(self.key_id)
            if known is not None and known != self._key:
                raise EncryptionKeyError(
                    f"key id {self.key_id!r} names two different keys (current and old)"
                )
            self._keys[self.key_id] = self._key
        elif key_id:
            raise EncryptionKeyError(f"a key id ({key_id!r}) was given without its key")
        self._ciphers: dict[str, Any] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EncryptionCodec:
        """The codec described by ``CLOUDOPS_PAYLOAD_KEY``, ``_KEY_ID`` and ``_OLD_KEYS``.

        With none of them set it encrypts nothing, and reading an encrypted payload fails
        with a message naming the variable to set.
        """
        env = os.environ if environ is None else environ
        key = env.get(KEY_ENV) or None
        key_id = env.get(KEY_ID_ENV) or None
        if key_id and not key:
            raise EncryptionKeyError(f"{KEY_ID_ENV} is set but {KEY_ENV}, its key, is not")
        old_keys: dict[str, bytes | str] = {}
        for entry in (env.get(OLD_KEYS_ENV) or "").replace(",", " ").split():
            old_id, _, old = entry.rpartition(":")
            parsed = _parse_key(old, f"a key in {OLD_KEYS_ENV}")
            old_keys[old_id or _fingerprint(parsed)] = parsed
        return cls(key, key_id=key_id, old_keys=old_keys, source=KEY_ENV)

    @property
    def encrypts(self) -> bool:
        """Whether payloads written through this codec are encrypted."""
        return self._key is not None

    @property
    def key_ids(self) -> list[str]:
        """Ids of every key that decrypts (the current one included)."""
        return sorted(self._keys)

    def _cipher(self, key_id: str) -> Any:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            try:
                from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            except ImportError as err:
                raise EncryptionKeyError(
                    "payload encryption needs the cryptography package: "
                    "pip install 'cloudops[encryption]'"
                ) from err
            cipher = self._ciphers[key_id] = AESGCM(self._keys[key_id])
        return cipher

    def encrypt(self, payload: Payload) -> Payload:
        """One payload, encrypted with the current key (unchanged when there is none)."""
        if self.key_id is None:
            return payload
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._cipher(self.key_id).encrypt(nonce, payload.SerializeToString(), None)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: self.key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """One payload, decrypted; a payload that is not encrypted is returned as it is."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        if key_id not in self._keys:
            have = (
                f"it has the key ids {', '.join(self.key_ids)}"
                if self._keys
                else f"{KEY_ENV} is not set"
            )
            raise EncryptionKeyError(
                f"a Temporal payload is encrypted with key id {key_id!r}, which this process "
                f"does not have ({have}). Set {KEY_ENV} to that key (and {KEY_ID_ENV} to "
                f"{key_id!r} if you named it), or list it in {OLD_KEYS_ENV} as "
                f"'{key_id}:KEY' while it is being rotated out"
            )
        from cryptography.exceptions import InvalidTag

        data = payload.data
        try:
            plain = self._cipher(key_id).decrypt(data[:NONCE_SIZE], data[NONCE_SIZE:], None)
        except InvalidTag:
            raise EncryptionKeyError(
                f"a Temporal payload encrypted with key id {key_id!r} does not decrypt: the "
                f"key this process has under that id is not the one that encrypted it, or "
                "the payload was altered. Check that every worker and client has the same "
                f"{KEY_ENV} for that id"
            ) from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt every payload with the current key (pass-through without one)."""
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads with the key of their id; others pass through."""
        return [self.decrypt(p) for p in payloads]

    def __repr__(self) -> str:
        return f"EncryptionCodec(key_id={self.key_id!r}, key_ids={self.key_ids!r})"


def resolve_codec(option: PayloadCodecOption) -> PayloadCodec | None:
    """The codec an option names: ``"env"`` reads the environment (see the module doc)."""
    if isinstance(option, str):
        if option != "env":
            raise ValueError(f"payload_codec must be a PayloadCodec, 'env' or None, not {option!r}")
        return EncryptionCodec.from_env()
    return option


def data_converter(
    payload_codec: PayloadCodecOption = "env", *, existing: DataConverter | None = None
) -> DataConverter:
    """The pydantic data converter with ``payload_codec`` (``"env"``: from the environment).

    With ``"env"`` and no key in the environment, a codec already on ``existing`` (your own,
    or one from ``connect_client``) is kept.
    """
    return with_codec(
        resolve_codec(payload_codec), existing=existing, keep_codec=payload_codec == "env"
    )


def with_codec(
    codec: PayloadCodec | None, *, existing: DataConverter | None = None, keep_codec: bool = False
) -> DataConverter:
    """The pydantic data converter with ``codec``; ``existing`` itself if it is just that.

    ``keep_codec``: when ``codec`` is an :class:`EncryptionCodec` without any key, keep the
    codec ``existing`` has, if any.
    """
    if (
        keep_codec
        and isinstance(codec, EncryptionCodec)
        and not codec.key_ids
        and existing is not None
        and existing.payload_codec is not None
    ):
        codec = existing.payload_codec
    if (
        existing is not None
        and existing.payload_codec is codec
        and existing.payload_converter_class is PydanticPayloadConverter
    ):
        return existing
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)


def codec_server(
    codec: EncryptionCodec,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    origins: Sequence[str] = ("http://localhost:8233",),
    authorization: str | None = None,
) -> ThreadingHTTPServer:
    """A Temporal codec server: ``POST /decode`` and ``/encode`` of ``{"payloads": [...]}``.

    The Temporal UI (its "codec server" setting) and the ``temporal`` CLI
    (``--codec-endpoint``) send it the payloads they show, and show what it answers. Anyone who
    can reach it can decrypt, so it binds ``127.0.0.1`` by default; with ``authorization``, a
    request must carry exactly that ``Authorization`` header (``temporal --codec-auth``).
    ``origins`` are the UI origins allowed by CORS. Returns a ``ThreadingHTTPServer``: call
    ``serve_forever()`` (its ``server_address`` has the port when ``port`` is 0).
    """
    import hmac
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads

    allowed = set(origins)

    class Handler(BaseHTTPRequestHandler):
        server_version = "cloudops-codec"

        def _cors(self) -> None:
            origin = self.headers.get("Origin")
            if origin and origin in allowed:
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header(
                    "Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization"
                )
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.send_header("Vary", "Origin")

        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self._cors()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_OPTIONS(self) -> None:
            self._answer(200)

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if not path.endswith(("/encode", "/decode")):
                self._answer(404, b'{"error": "POST /encode or /decode"}')
                return
            given = self.headers.get("Authorization") or ""
            if authorization is not None and not hmac.compare_digest(given, authorization):
                self._answer(401, b'{"error": "missing or wrong Authorization header"}')
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                payloads = json_format.Parse(self.rfile.read(length), Payloads())
                convert = codec.encrypt if path.endswith("/encode") else codec.decrypt
                answer = Payloads(payloads=[convert(p) for p in payloads.payloads])
            except (EncryptionKeyError, json_format.ParseError, ValueError) as err:
                self._answer(400, json.dumps({"error": str(err)}).encode())
                return
            self._answer(200, json_format.MessageToJson(answer).encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)
