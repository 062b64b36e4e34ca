"""Payload encryption at rest: the AES-256-GCM codec, its keys from the environment, and the
history a Temporal server keeps when a worker and a client both use it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import threading
import urllib.error
import urllib.request
import uuid

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter

import fake_plugin
from cli_helpers import run_cli
from cloudops.accounts import AccountBook
from cloudops.client import CloudOpsClient, connect_client
from cloudops.codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    EncryptionKeyError,
    codec_server,
    data_converter,
    generate_key,
)
from cloudops.models import WorkflowResult
from cloudops.registry import CloudOps
from cloudops.server import DevServer, find_temporal
from cloudops.worker import CloudOpsPlugin, build_worker
from cloudops_testing.pytest_plugin import accounts_from
from fake_plugin import ACCOUNTS

SECRET = "db-password-Zq7-do-not-store"


def _plain(text: str = SECRET) -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([{"message": text}])[0]


async def test_round_trip_encrypts_and_restores_the_payload() -> None:
    codec = EncryptionCodec(os.urandom(32), key_id="prod-1")
    original = _plain()
    [sealed] = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"prod-1"
    assert SECRET.encode() not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()  # the inner metadata is hidden too
    [again] = await codec.encode([original])
    assert again.data != sealed.data  # a fresh nonce each time
    assert await codec.decode([sealed, again]) == [original, original]


async def test_the_data_converter_round_trips_a_workflow_result() -> None:
    converter = data_converter(EncryptionCodec(generate_key()))
    result = WorkflowResult[dict](ok=True, value={"text": SECRET})
    [payload] = await converter.encode([result])
    assert SECRET.encode() not in payload.data
    [back] = await converter.decode([payload], [WorkflowResult[dict]])
    assert back == result


async def test_rotation_decrypts_old_keys_and_encrypts_with_the_current_one() -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    before = EncryptionCodec(old_key, key_id="2025")
    [old_sealed] = await before.encode([_plain("old")])

    rotated = EncryptionCodec(new_key, key_id="2026", old_keys={"2025": old_key})
    assert rotated.key_ids == ["2025", "2026"]
    assert await rotated.decode([old_sealed]) == [_plain("old")]
    [new_sealed] = await rotated.encode([_plain("new")])
    assert new_sealed.metadata[KEY_ID_METADATA] == b"2026"

    # A process that only knows the old key names the id it lacks and what to set.
    with pytest.raises(EncryptionKeyError, match="key id '2026'") as err:
        await before.decode([new_sealed])
    assert "CLOUDOPS_PAYLOAD_KEY" in str(err.value) and "2025" in str(err.value)


async def test_tampered_payload_or_wrong_key_under_the_same_id_is_refused() -> None:
    key = os.urandom(32)
    codec = EncryptionCodec(key, key_id="k1")
    [sealed] = await codec.encode([_plain()])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(EncryptionKeyError, match="does not decrypt"):
        await codec.decode([tampered])
    impostor = EncryptionCodec(os.urandom(32), key_id="k1")
    with pytest.raises(EncryptionKeyError, match="does not decrypt"):
        await impostor.decode([sealed])


async def test_unencrypted_payloads_pass_through_and_a_keyless_reader_says_what_to_set() -> None:
    codec = EncryptionCodec(os.urandom(32))
    plain = _plain()
    assert await codec.decode([plain]) == [plain]  # e.g. written before the rollout

    keyless = EncryptionCodec.from_env({})
    assert not keyless.encrypts
    assert await keyless.encode([plain]) == [plain]
    assert await keyless.decode([plain]) == [plain]
    [sealed] = await codec.encode([plain])
    with pytest.raises(EncryptionKeyError, match="CLOUDOPS_PAYLOAD_KEY is not set"):
        await keyless.decode([sealed])


async def test_keys_come_from_the_environment_as_base64_or_hex() -> None:
    key, old = os.urandom(32), os.urandom(32)
    from_b64 = EncryptionCodec.from_env(
        {
            "CLOUDOPS_PAYLOAD_KEY": base64.b64encode(key).decode(),
            "CLOUDOPS_PAYLOAD_KEY_ID": "v2",
            "CLOUDOPS_PAYLOAD_OLD_KEYS": f"v1:{old.hex()}",
        }
    )
    from_hex = EncryptionCodec.from_env({"CLOUDOPS_PAYLOAD_KEY": key.hex()})
    assert from_b64.key_id == "v2" and from_b64.key_ids == ["v1", "v2"]
    # Without an id, the id is a fingerprint of the key: the same in every process.
    assert from_hex.key_id == EncryptionCodec(key).key_id != "v2"
    [sealed] = await from_hex.encode([_plain()])
    as_old = EncryptionCodec.from_env(
        {"CLOUDOPS_PAYLOAD_KEY": generate_key(), "CLOUDOPS_PAYLOAD_OLD_KEYS": key.hex()}
    )
    assert await as_old.decode([sealed]) == [_plain()]

    with pytest.raises(EncryptionKeyError, match=r"base64 or as 64 hex digits.*os\.urandom"):
        EncryptionCodec.from_env({"CLOUDOPS_PAYLOAD_KEY": "too-short"})


def test_an_explicit_codec_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPS_PAYLOAD_KEY", generate_key())
    from_env = data_converter()
    assert isinstance(from_env.payload_codec, EncryptionCodec) and from_env.payload_codec.encrypts
    assert from_env.payload_converter_class is PydanticPayloadConverter
    assert data_converter(None) is pydantic_data_converter
    mine = EncryptionCodec(os.urandom(32), key_id="mine")
    registry = CloudOps([], load_entrypoints=False)
    assert data_converter(mine).payload_codec is mine
    assert (
        CloudOpsPlugin(registry, accounts=AccountBook(), payload_codec=mine)
        .data_converter_for(None)
        .payload_codec
        is mine
    )

    monkeypatch.delenv("CLOUDOPS_PAYLOAD_KEY")
    # No key in the environment: a codec the client already has (yours) is kept.
    converter = data_converter(mine)
    assert data_converter(existing=converter) is converter


async def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, args, capture_output=True, text=True, timeout=60)


def _history_payloads(event: HistoryEvent) -> list[Payload]:
    found: list[Payload] = []
    for attrs in (
        event.workflow_execution_started_event_attributes.input,
        event.activity_task_scheduled_event_attributes.input,
        event.activity_task_completed_event_attributes.result,
        event.workflow_execution_completed_event_attributes.result,
    ):
        found.extend(attrs.payloads)
    return found


async def test_history_on_the_server_holds_only_ciphertext(temporal_server: DevServer) -> None:
    key = generate_key()
    codec = EncryptionCodec(key, key_id="test-1")
    registry = CloudOps([fake_plugin], allow=["example"])
    queue = f"codec-{uuid.uuid4().hex[:8]}"
    plain_client = await connect_client(temporal_server.address, payload_codec=None)
    worker = build_worker(
        plain_client,
        registry,
        task_queue=queue,
        accounts=accounts_from(ACCOUNTS, registry),
        payload_codec=codec,
    )
    async with worker:
        ops = CloudOpsClient(
            await connect_client(temporal_server.address, payload_codec=codec), task_queue=queue
        )
        result = await ops.execute("example.echo", {"message": SECRET}, labels={"app": "vault"})
        assert result.ok, result.error
        assert result.value["text"] == SECRET

        # What the Temporal server (and its UI, and `temporal workflow show`) holds.
        assert result.metadata is not None
        history = await plain_client.get_workflow_handle(
            result.metadata.workflow_id
        ).fetch_history()
        payloads = [p for event in history.events for p in _history_payloads(event)]
        assert len(payloads) >= 4  # input, activity input and result, workflow result
        assert {p.metadata["encoding"] for p in payloads} == {ENCODING}
        assert {p.metadata[KEY_ID_METADATA] for p in payloads} == {b"test-1"}
        assert SECRET.encode() not in history.to_json().encode()
        assert SECRET.encode() not in b"".join(e.SerializeToString() for e in history.events)

        # A reader without the key is told what to set, not handed a decoding error.
        keyless = CloudOpsClient(
            await connect_client(temporal_server.address, payload_codec=EncryptionCodec(None))
        )
        with pytest.raises(EncryptionKeyError, match=r"'test-1'.*CLOUDOPS_PAYLOAD_KEY"):
            await keyless.get_handle(result.metadata.workflow_id).result()

        # `cloudops status` reads through connect(): with the key in its environment it
        # decrypts, and without it, it says what to set. `temporal workflow show` shows
        # ciphertext, and cleartext only through the codec server. (All at once: the cloudops
        # CLI takes seconds to start.)
        env = {"TEMPORAL_ADDRESS": temporal_server.address}
        with_key = {**env, "CLOUDOPS_PAYLOAD_KEY": key, "CLOUDOPS_PAYLOAD_KEY_ID": "test-1"}
        without = {**env, "CLOUDOPS_PAYLOAD_KEY": "", "CLOUDOPS_PAYLOAD_KEY_ID": ""}
        server = codec_server(codec, authorization="Bearer let-me-read")
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        show = [
            find_temporal(),
            "workflow",
            "show",
            "--address",
            temporal_server.address,
            "-w",
            result.metadata.workflow_id,
        ]
        try:
            shown, refused, opaque, clear = await asyncio.gather(
                run_cli("status", result.metadata.workflow_id, "--json", env=with_key),
                run_cli("status", result.metadata.workflow_id, "--json", env=without),
                _run(*show),
                _run(*show, "--codec-endpoint", endpoint, "--codec-auth", "Bearer let-me-read"),
            )
            guess = urllib.request.Request(
                f"{endpoint}/decode",
                data=json.dumps({"payloads": [json_format.MessageToDict(payloads[0])]}).encode(),
                headers={"Authorization": "Bearer guess", "Content-Type": "application/json"},
            )
            with pytest.raises(urllib.error.HTTPError, match="401"):
                await asyncio.to_thread(urllib.request.urlopen, guess, timeout=10)
        finally:
            server.shutdown()
            server.server_close()
        assert opaque.returncode == 0, opaque.stderr
        assert "ResultEncoding  binary/encrypted" in opaque.stdout and SECRET not in opaque.stdout
        assert clear.returncode == 0, clear.stderr
        assert SECRET in clear.stdout and "ResultEncoding  json/plain" in clear.stdout
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["value"]["text"] == SECRET
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "CLOUDOPS_PAYLOAD_KEY is not set" in refused.stderr
        assert "Traceback" not in refused.stderr


async def test_a_worker_without_the_key_says_which_key_it_lacks(
    temporal_client: Client,
) -> None:
    registry = CloudOps([], allow=["example"])
    queue = f"codec-keyless-{uuid.uuid4().hex[:8]}"
    worker = build_worker(
        temporal_client,
        registry,
        task_queue=queue,
        accounts=accounts_from({}, registry),
        payload_codec=EncryptionCodec(None),
    )
    async with worker:
        ops = CloudOpsClient(
            await connect_client(
                temporal_client.service_client.config.target_host,
                payload_codec=EncryptionCodec(generate_key(), key_id="new-1"),
            ),
            task_queue=queue,
        )
        handle = await ops.submit("example.echo", {"message": SECRET})
        try:
            message = ""
            for _ in range(100):
                history = await handle.handle.fetch_history()
                failed = [
                    e.workflow_task_failed_event_attributes.failure.message
                    for e in history.events
                    if e.HasField("workflow_task_failed_event_attributes")
                ]
                if failed:
                    message = failed[0]
                    break
                await asyncio.sleep(0.1)
            assert "key id 'new-1'" in message and "CLOUDOPS_PAYLOAD_KEY is not set" in message
        finally:
            await handle.handle.terminate()
