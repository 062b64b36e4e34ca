"""Who may change what (issue 21): verified identity, permissions, audit, on a real Temporal.

An identity provider is played by an RSA key whose JWKS is served over HTTP on a free loopback
port; a machine by a key pair whose public half is in the worker's config. Tokens are signed
with PyJWT and sealed to the workers' seal key as the client interceptor does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio import client as temporal_client
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

import cloudops
import fake_plugin
from cloudops.accounts import ConfigError, FileConfig
from cloudops.client import CloudOpsClient, InputRejected
from cloudops.identity import HEADER, IdentityInterceptor, seal
from cloudops.registry import CloudOps
from cloudops.runner import RUNNER_WORKFLOW
from cloudops.worker import CloudOpsPlugin, account_book
from cloudops_testing.identity import AUDIENCE, ISSUER, MACHINE, LocalIdentityProvider

HISTORIES = Path(__file__).parent / "histories"


# --- the operations under test: a read, a write, and a composite that sleeps ----------------


class AppInput(cloudops.Input):
    application: str
    name: str = "thing"


class RolloutInput(cloudops.Input):
    application: str
    wait_seconds: float = 0


class Look(cloudops.CloudOperation[AppInput, fake_plugin.StepOut]):
    """Read only: needs READ."""

    provider = "fakecloud"
    name = "look"
    read_only = True

    async def run(self, ctx: cloudops.OperationContext, input: AppInput) -> fake_plugin.StepOut:
        out: fake_plugin.StepOut = await ctx.execute_activity(
            "fakecloud.touch", fake_plugin.Resource(name=f"look-{input.name}")
        )
        return out


class Change(cloudops.CloudOperation[AppInput, fake_plugin.StepOut]):
    """Mutating: needs WRITE; registers its undo."""

    provider = "fakecloud"
    name = "change"

    async def run(self, ctx: cloudops.OperationContext, input: AppInput) -> fake_plugin.StepOut:
        out: fake_plugin.StepOut = await ctx.execute_activity(
            "fake.make", fake_plugin.Step(name=f"{input.application}-{input.name}")
        )
        ctx.on_rollback("fake.undo", fake_plugin.Resource(name=out.name), label="undo change")
        return out


class Retire(Change):
    """Another mutating operation (the one a rule may leave out)."""

    name = "retire"


class Rollout(cloudops.CloudOperation[RolloutInput, fake_plugin.StepOut]):
    """A deploy in miniature: change, wait, look, retire; each composed operation is checked."""

    provider = "fakecloud"
    name = "rollout"

    async def run(self, ctx: cloudops.OperationContext, input: RolloutInput) -> fake_plugin.StepOut:
        app = input.application
        await ctx.run(Change, {"application": app, "name": "new"})
        if input.wait_seconds:
            await ctx.sleep(input.wait_seconds)
        await ctx.run(Look, {"application": app, "name": "new"})
        return await ctx.run(Retire, {"application": app, "name": "old"})


class GateOut(cloudops.Output):
    judged_by: str | None = None


class Gate(cloudops.CloudOperation[AppInput, GateOut]):
    """A change waiting for a manual judgement (``send_input``), as a deploy does."""

    provider = "fakecloud"
    name = "gate"

    async def run(self, ctx: cloudops.OperationContext, input: AppInput) -> GateOut:
        await ctx.run(Change, {"application": input.application, "name": input.name})
        decision = await ctx.wait_for_input("judgement", timeout=60)
        if decision is None or not decision.value.get("approved"):
            raise cloudops.BusinessError(
                cloudops.ErrorCode.REJECTED, f"rejected by {decision and decision.sender}"
            )
        return GateOut(judged_by=decision.sender)


class _Plugin:
    @cloudops.hookimpl
    def register_operations(self, register: Callable[[type[Any]], None]) -> None:
        for op in (Look, Change, Retire, Rollout, Gate):
            register(op)


PLUGINS = [fake_plugin, _Plugin()]
ACCOUNTS = {
    "prod": {"provider": "fakecloud"},
    "staging": {"provider": "fakecloud"},
    "sandbox": {"provider": "fakecloud"},
}
RULES = [
    # shop deployers: everything on shop in staging; prod: rollout of shop, but not retire
    {
        "groups": ["shop-deployers"],
        "access": "WRITE",
        "accounts": ["staging"],
        "applications": ["shop"],
    },
    {
        "groups": ["shop-deployers"],
        "access": "WRITE",
        "accounts": ["prod"],
        "applications": ["shop"],
        "operations": ["fakecloud.rollout", "fakecloud.change", "fakecloud.look"],
    },
    {"groups": ["auditors"], "access": "READ", "accounts": ["prod*"]},
    {
        "subjects": ["ci-bot"],
        "access": "WRITE",
        "accounts": ["*"],
        "applications": ["shop", "cart"],
    },
    {
        "subjects": ["alice"],
        "access": "WRITE",
        "accounts": ["*"],
        "operations": ["fake.*", "example.*"],
    },
]


# --- an identity provider: keys, a JWKS over HTTP, tokens -----------------------------------


class IdentityProvider(LocalIdentityProvider):
    """The local identity provider, with this module's accounts and rules by default."""

    def config(  # type: ignore[override]
        self,
        accounts: dict[str, Any] = ACCOUNTS,
        permissions: list[dict[str, Any]] = RULES,
        **identity: Any,
    ) -> dict[str, Any]:
        return super().config(accounts, permissions, **identity)


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    provider = IdentityProvider(tmp_path_factory.mktemp("idp"))
    yield provider
    provider.stop()


@pytest_asyncio.fixture
async def secured(
    cloudops_worker: Any, temporal_client: Client, idp: IdentityProvider
) -> AsyncIterator[Callable[[str | None], CloudOpsClient]]:
    """A worker requiring identity; ``as_(token)`` gives a client sending ``token`` (or none)."""
    async with cloudops_worker(PLUGINS, allow=["example"], accounts=idp.config()) as ops:

        def as_(token: str | None) -> CloudOpsClient:
            client: CloudOpsClient = idp.client(temporal_client, token, ops.task_queue)
            return client

        yield as_


def _code(result: Any) -> str | None:
    return result.error.code if result.error else None


# --- allowed, denied, unauthenticated ---------------------------------------------------------


async def test_allowed_by_group_and_by_machine_key(secured: Any, idp: IdentityProvider) -> None:
    dana = secured(idp.token("dana", ["shop-deployers"]))
    made = await dana.execute("fakecloud.change", {"application": "shop"}, account="staging")
    assert made.ok, made.error
    assert made.metadata.subject == "dana"
    looked = await dana.execute("fakecloud.look", {"application": "shop"}, account="staging")
    assert looked.ok, looked.error
    # a machine's own key pair, no identity provider involved
    bot = secured(idp.machine_token("ci-bot"))
    done = await bot.execute("fakecloud.change", {"application": "cart"}, account="prod")
    assert done.ok, done.error
    assert done.metadata.subject == "ci-bot"


async def test_read_only_operations_need_read_and_writes_need_write(
    secured: Any, idp: IdentityProvider
) -> None:
    auditor = secured(idp.token("audrey", ["auditors"]))
    looked = await auditor.execute("fakecloud.look", {"application": "shop"}, account="prod")
    assert looked.ok, looked.error
    changed = await auditor.execute("fakecloud.change", {"application": "shop"}, account="prod")
    assert _code(changed) == "PERMISSION_DENIED"
    assert changed.error.details["access"] == "WRITE"


@pytest.mark.parametrize(
    ("operation", "application", "account", "missing"),
    [
        ("fakecloud.change", "shop", "sandbox", "account sandbox"),  # by account
        ("fakecloud.change", "billing", "staging", "application billing"),  # by application
        ("fakecloud.retire", "shop", "prod", "operation fakecloud.retire"),  # by operation
    ],
)
async def test_denied_names_subject_operation_account_application_and_the_missing_rule(
    secured: Any,
    idp: IdentityProvider,
    operation: str,
    application: str,
    account: str,
    missing: str,
) -> None:
    dana = secured(idp.token("dana", ["shop-deployers"]))
    handle = await dana.submit(operation, {"application": application}, account=account)
    result = await handle.result()
    assert _code(result) == "PERMISSION_DENIED", result.error
    message = result.error.message
    for part in ("dana", operation, account, application):
        assert part in message, message
    assert missing in result.error.details["missing"]
    assert result.error.details["subject"] == "dana"
    assert fake_plugin.JOURNAL[handle.id] == [], "a denied request reached the cloud"


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda idp: idp.token("dana", ["shop-deployers"], exp=int(time.time()) - 5), "expired"),
        (lambda idp: idp.token("dana", ["shop-deployers"], aud="someone-else"), "audience"),
        (lambda idp: idp.token("dana", ["shop-deployers"], iss="https://evil.test/"), "issuer"),
        (
            lambda idp: jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 60},
                rsa.generate_private_key(public_exponent=65537, key_size=2048),
                "RS256",
                headers={"kid": idp.kid},
            ),
            "signature",
        ),
        (
            lambda idp: jwt.encode(
                {"iss": MACHINE, "aud": AUDIENCE, "sub": "ci-bot", "exp": int(time.time()) + 60},
                ec.generate_private_key(ec.SECP256R1()),
                "ES256",
            ),
            "signature",
        ),
    ],
    ids=["expired", "wrong-audience", "untrusted-issuer", "forged", "forged-machine"],
)
async def test_bad_tokens_are_unauthenticated_before_any_cloud_call(
    secured: Any, idp: IdentityProvider, make_token: Any, reason: str
) -> None:
    ops = secured(make_token(idp))
    handle = await ops.submit("fakecloud.change", {"application": "shop"}, account="staging")
    result = await handle.result()
    assert _code(result) == "UNAUTHENTICATED", result.error
    assert result.error.details["reason"] == reason
    assert fake_plugin.JOURNAL[handle.id] == []


async def test_no_token_is_unauthenticated(secured: Any) -> None:
    result = await secured(None).execute(
        "fakecloud.change", {"application": "shop"}, account="staging"
    )
    assert _code(result) == "UNAUTHENTICATED"
    assert result.error.details["reason"] == "missing"


async def test_a_sealed_header_copied_into_another_request_is_refused(
    secured: Any, temporal_client: Client, idp: IdentityProvider
) -> None:
    token = idp.token("dana", ["shop-deployers"])
    stolen = seal(token, "the-original-request", str(idp.seal_public))
    ops = secured(None)
    result = await _start_with_header(
        temporal_client, ops.task_queue, _json_payload(stolen), account="staging"
    )
    assert result["error"]["code"] == "UNAUTHENTICATED"
    assert result["error"]["details"]["reason"] == "wrong_request"


async def test_an_unreachable_jwks_fails_closed_and_retryably(
    secured: Any, idp: IdentityProvider
) -> None:
    # a key id the JWKS cache has not seen forces a fetch
    token = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "dana", "exp": int(time.time()) + 60},
        idp.key,
        "RS256",
        headers={"kid": f"rotated-{uuid.uuid4().hex[:6]}"},
    )
    idp.up = False
    try:
        handle = await secured(token).submit(
            "fakecloud.change", {"application": "shop"}, account="staging"
        )
        result = await handle.result()
    finally:
        idp.up = True
    assert _code(result) == "RETRIES_EXHAUSTED", result.error
    assert "failing closed" in result.error.message
    assert "JWKS" in result.error.message
    assert fake_plugin.JOURNAL[handle.id] == []


# --- composition: every composed operation is checked; the verdict at the start stands -------


async def test_a_deploy_denied_halfway_rolls_back(secured: Any, idp: IdentityProvider) -> None:
    dana = secured(idp.token("dana", ["shop-deployers"]))
    handle = await dana.submit("fakecloud.rollout", {"application": "shop"}, account="prod")
    result = await handle.result()
    assert _code(result) == "PERMISSION_DENIED", result.error
    assert result.error.details["operation"] == "fakecloud.retire"
    assert [r.step for r in result.error.rollbacks if r.ok] == ["undo change"]
    journal = fake_plugin.JOURNAL[handle.id]
    assert journal[0].startswith("make:shop-new") and journal[-1] == "undo:shop-new", journal
    assert not any("old" in entry for entry in journal), journal


async def test_a_token_expiring_during_a_long_deploy_keeps_the_verdict_of_its_start(
    secured: Any, idp: IdentityProvider
) -> None:
    token = idp.machine_token("ci-bot", exp=int(time.time()) + 3)
    bot = secured(token)
    result = await bot.execute(
        "fakecloud.rollout", {"application": "shop", "wait_seconds": 4}, account="staging"
    )
    assert result.ok, result.error
    assert result.metadata.subject == "ci-bot"
    # the token has expired by now: a new request with it is refused
    again = await bot.execute("fakecloud.look", {"application": "shop"}, account="staging")
    assert _code(again) == "UNAUTHENTICATED"


# --- approvals: who sends input to a running operation is verified, authorized and audited ---


async def _waiting_for_judgement(handle: Any) -> None:
    for _ in range(200):
        if "judgement" in (await handle.progress()).awaiting_input:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the operation never waited for a judgement")


async def test_an_approval_needs_a_verified_sender_with_write_and_is_audited(
    secured: Any,
    temporal_client: Client,
    idp: IdentityProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dana = secured(idp.token("dana", ["shop-deployers"]))
    handle = await dana.submit("fakecloud.gate", {"application": "shop"}, account="staging")
    await _waiting_for_judgement(handle)

    # no token: rejected by the update's validator, before anything is recorded
    with pytest.raises(InputRejected, match="needs a signed token"):
        await secured(None).get_handle(handle.id).send_input("judgement", {"approved": True})
    # READ (or nothing) on the account is not enough to approve a change
    audrey = secured(idp.token("audrey", ["auditors"])).get_handle(handle.id)
    with pytest.raises(InputRejected) as denied:
        await audrey.send_input("judgement", {"approved": True})
    assert "audrey may not send 'judgement' to fakecloud.gate (WRITE) on account staging" in str(
        denied.value
    )
    # dana's seal for starting the request is not an approval (it names no update)
    start_seal = seal(idp.token("dana", ["shop-deployers"]), handle.id, str(idp.seal_public))
    copied = _RawHeader(_json_payload(start_seal), update=True)
    copier = Client(**{**temporal_client.config(), "interceptors": [copied]})
    with pytest.raises(InputRejected, match="not sealed for this update"):
        await CloudOpsClient(copier).get_handle(handle.id).send_input("judgement", {"approved": 1})
    assert (await handle.progress()).awaiting_input == ["judgement"], "refusals change nothing"

    # someone with WRITE on staging/shop: recorded as the verified subject, not the claimed one
    carol = secured(idp.token("carol", ["shop-deployers"])).get_handle(handle.id)
    with caplog.at_level(logging.INFO):
        await carol.send_input("judgement", {"approved": True}, sender="mallory")
        result = await handle.result()
    assert result.ok, result.error
    assert result.value["judged_by"] == "carol"
    assert result.metadata.subject == "dana"
    decoder = json.JSONDecoder()
    audits = [
        decoder.raw_decode(r.getMessage().split("cloudops audit ", 1)[1])[0]
        for r in caplog.records
        if "cloudops audit " in r.getMessage()
    ]
    inputs = [a for a in audits if a["workflow_id"] == handle.id and a["event"] == "input"]
    assert len(inputs) == 1, audits
    assert inputs[0]["subject"] == "carol" and inputs[0]["claimed_sender"] == "mallory"
    assert inputs[0]["input"] == "judgement" and inputs[0]["value"] == {"approved": True}
    assert inputs[0]["account"] == "staging" and inputs[0]["application"] == "shop"
    decisions = [
        json.loads(r.getMessage().split("authorization ", 1)[1])
        for r in caplog.records
        if r.name == "cloudops.audit" and r.getMessage().startswith("authorization ")
    ]
    assert any(d["input_name"] == "judgement" and d["subject"] == "carol" for d in decisions)


async def test_a_worker_with_authorization_off_fails_closed_on_an_operation_started_with_it_on(
    cloudops_worker: Any,
    temporal_client: Client,
    idp: IdentityProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = f"test-{uuid.uuid4().hex[:12]}"
    identity = IdentityInterceptor(idp.machine_token("ci-bot"), str(idp.seal_public))
    bot = CloudOpsClient(
        Client(**{**temporal_client.config(), "interceptors": [identity]}), task_queue=queue
    )
    async with cloudops_worker(PLUGINS, allow=["example"], accounts=idp.config(), task_queue=queue):
        handle = await bot.submit(
            "fakecloud.rollout", {"application": "shop", "wait_seconds": 2}, account="staging"
        )
        for _ in range(100):  # the first step (change) ran on the worker with authorization on
            if fake_plugin.JOURNAL[handle.id]:
                break
            await asyncio.sleep(0.1)
    # the rest runs on a worker of the same queue without [identity]
    with caplog.at_level(logging.WARNING):
        async with cloudops_worker(
            PLUGINS, allow=["example"], accounts={"accounts": ACCOUNTS}, task_queue=queue
        ):
            result = await asyncio.wait_for(handle.result(), 60)
    assert _code(result) == "PERMISSION_DENIED", result.error
    assert "this worker has it off" in result.error.message
    assert [r.step for r in result.error.rollbacks if r.ok] == ["undo change"]
    journal = fake_plugin.JOURNAL[handle.id]
    assert journal[0].startswith("make:shop-new") and journal[-1] == "undo:shop-new", journal
    assert [r for r in caplog.records if "no [identity]" in r.getMessage()], "start-up warning"


# --- audit -----------------------------------------------------------------------------------


async def test_the_subject_is_a_search_attribute_and_an_audit_log_line(
    secured: Any, idp: IdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    from cloudops import search_attributes as sa

    subject = f"eve-{uuid.uuid4().hex[:6]}"
    ops = secured(idp.token(subject, ["shop-deployers"]))
    with caplog.at_level(logging.INFO):
        handle = await ops.submit(
            "fakecloud.change",
            {"application": "shop"},
            account="staging",
            labels={"application": "shop"},
        )
        assert (await handle.result()).ok
    description = await handle.handle.describe()
    assert description.typed_search_attributes.get(sa.SUBJECT) == subject
    found = []
    for _ in range(50):  # visibility is eventually consistent
        found = [e async for e in ops.list(f"{sa.SUBJECT.name} = '{subject}'")]
        if found:
            break
        await asyncio.sleep(0.2)
    assert [e.id for e in found] == [handle.id]
    lines = [r.getMessage() for r in caplog.records if "cloudops audit" in r.getMessage()]
    decoder = json.JSONDecoder()  # the workflow logger appends its context after the JSON
    audits = [decoder.raw_decode(line.split("cloudops audit ", 1)[1])[0] for line in lines]
    mine = [a for a in audits if a["workflow_id"] == handle.id]
    assert mine and mine[0]["subject"] == subject
    assert mine[0]["operation"] == "fakecloud.change" and mine[0]["outcome"] == "ok"
    assert mine[0]["account"] == "staging" and mine[0]["application"] == "shop"


# --- hostile headers -------------------------------------------------------------------------


class _RawHeader(temporal_client.Interceptor):
    """Sends ``payload`` as the identity header of starts (or of updates: a copied seal)."""

    def __init__(self, payload: Payload, *, update: bool = False) -> None:
        self.payload = payload
        self.update = update

    def intercept_client(
        self, next: temporal_client.OutboundInterceptor
    ) -> temporal_client.OutboundInterceptor:
        owner = self

        class Outbound(temporal_client.OutboundInterceptor):
            async def start_workflow(self, input: Any) -> Any:
                if not owner.update:
                    input.headers = {**input.headers, HEADER: owner.payload}
                return await super().start_workflow(input)

            async def start_workflow_update(self, input: Any) -> Any:
                if owner.update:
                    input.headers = {**input.headers, HEADER: owner.payload}
                return await super().start_workflow_update(input)

        return Outbound(next)


def _json_payload(value: Any) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


async def _start_with_header(
    client: Client, queue: str, payload: Payload, **request: Any
) -> dict[str, Any]:
    config = client.config()
    config["interceptors"] = [_RawHeader(payload)]
    raw = Client(**config)
    handle = await raw.start_workflow(
        RUNNER_WORKFLOW,
        {"operation": "fakecloud.change", "input": {"application": "shop"}, **request},
        id="the-copy-" + uuid.uuid4().hex[:8],
        task_queue=queue,
    )
    result = await asyncio.wait_for(handle.result(), 30)
    return result if isinstance(result, dict) else result.model_dump(mode="json")


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.one_of(
        st.builds(
            lambda enc, data: Payload(metadata={"encoding": enc}, data=data),
            st.sampled_from([b"json/plain", b"binary/plain", b"binary/null", b"nope", b""]),
            st.binary(max_size=300),
        ),
        st.builds(
            _json_payload,
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=200),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3)
                ),
                max_leaves=6,
            ),
        ),
        st.builds(lambda s: _json_payload("eyJ" + s), st.text(max_size=400)),
    )
)
async def test_garbage_in_the_header_never_crashes_the_worker(
    secured: Any, temporal_client: Client, payload: Payload
) -> None:
    ops = secured(None)
    result = await _start_with_header(temporal_client, ops.task_queue, payload, account="staging")
    assert result["error"]["code"] == "UNAUTHENTICATED", result


# --- configuration -----------------------------------------------------------------------------


def _book(config: dict[str, Any]) -> Any:
    cloudops_ = CloudOps(PLUGINS, load_entrypoints=False)
    return CloudOpsPlugin(
        cloudops_, accounts=account_book(cloudops_, FileConfig.model_validate(config))
    )


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"permissions": [{"groups": ["g"], "access": "ADMIN"}]}, "permissions.0.access"),
        ({"permissions": [{"access": "READ"}]}, "permissions.0"),
        (
            {"permissions": [{"groups": ["g"], "access": "READ", "accounts": ["prd"]}]},
            "permissions[0].accounts",
        ),
        (
            {
                "permissions": [
                    {"groups": ["g"], "access": "READ", "operations": ["fakecloud.nope"]}
                ]
            },
            "permissions[0].operations",
        ),
        ({"identity": None, "authorization": "on"}, 'authorization = "on"'),
        ({"identity": None}, "permissions"),
        (
            {
                "identity": {
                    "seal_key": "/nonexistent/seal.pem",
                    "issuers": [{"issuer": "x", "jwks_url": "http://127.0.0.1:9/"}],
                }
            },
            "identity.seal_key",
        ),
        ({"identity": {"seal_key": "x", "issuers": [{"issuer": "x"}]}}, "identity"),
    ],
)
def test_invalid_security_config_stops_the_worker_naming_the_key(
    idp: IdentityProvider, change: dict[str, Any], key: str
) -> None:
    config = {**idp.config(), **change}
    with pytest.raises((ConfigError, ValueError)) as raised:
        _book({k: v for k, v in config.items() if v is not None})
    assert key in str(raised.value), raised.value


def test_without_security_config_the_worker_behaves_as_before(idp: IdentityProvider) -> None:
    assert _book({"accounts": ACCOUNTS}).runtime.authorization is False
    assert _book({**idp.config(), "authorization": "off"}).runtime.authorization is False
    assert _book(idp.config()).runtime.authorization is True


def test_a_worker_with_accounts_but_no_identity_warns_once_at_start(
    idp: IdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    def warnings(config: dict[str, Any]) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="cloudops.worker"):
            _book(config)
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    [warning] = warnings({"accounts": ACCOUNTS})
    assert "no [identity]" in warning and "prod, sandbox, staging" in warning, warning
    assert "docs/security.md" in warning
    assert warnings(idp.config()) == []
    assert warnings({"accounts": ACCOUNTS, "authorization": "off"}) == []
    assert 'authorization = "off"' in caplog.text
    assert warnings({}) == []  # no account: nothing to protect


def test_read_only_comes_from_the_server_group_contract() -> None:
    from cloudops.servergroups.contract import READ_VERBS

    catalogue = CloudOps(allow=["aws"]).catalogue
    ops = {n: e.cls for n, e in catalogue.operations.items() if n.startswith("aws.")}
    assert ops, "the AWS provider is installed in the workspace"
    assert {n for n, c in ops.items() if c.read_only} == {f"aws.{v}" for v in READ_VERBS}


# --- replay: the identity path's histories ------------------------------------------------


async def test_identity_histories_replay_and_are_committed(
    cloudops_worker: Any, temporal_client: Client, idp: IdentityProvider
) -> None:
    from test_replay import _replayer

    config = {**idp.config(), "accounts": fake_plugin.ACCOUNTS["accounts"]}
    config["permissions"] = [
        {"subjects": ["alice"], "access": "WRITE", "operations": ["fake.*", "example.*"]}
    ]
    async with cloudops_worker(PLUGINS[:1], allow=["example"], accounts=config) as ops:
        alice = CloudOpsClient(
            Client(
                **{
                    **temporal_client.config(),
                    "interceptors": [IdentityInterceptor(idp.token("alice"), str(idp.seal_public))],
                }
            ),
            task_queue=ops.task_queue,
        )
        cases = {
            "identity-compose": ("fake.compose", {"message": "hi"}),
            "identity-denied": ("fakecloud.touch", {"name": "x"}),
        }
        histories = {}
        for name, (operation, payload) in cases.items():
            handle = await alice.submit(
                operation,
                payload,
                account="lab" if "touch" in operation else None,
                region="eu-west-1" if "touch" in operation else None,
            )
            result = await handle.result()
            assert result.ok is (name == "identity-compose"), result.error
            histories[name] = await handle.handle.fetch_history()
    if os.environ.get("CLOUDOPS_RECORD_HISTORIES"):
        for name, history in histories.items():
            (HISTORIES / f"{name}.json").write_text(history.to_json())
    replayer = _replayer([fake_plugin])
    for name, history in histories.items():
        replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert replayed.replay_failure is None, f"{name}: {replayed.replay_failure}"
    assert {f"{n}.json" for n in cases} <= {p.name for p in HISTORIES.glob("identity-*.json")}


# --- another client: the temporal CLI with a header sealed by `cloudops token seal` ---------


async def test_temporal_cli_sends_a_sealed_token_in_a_header(
    secured: Any, temporal_server: Any, idp: IdentityProvider, tmp_path: Path
) -> None:
    import shutil
    import subprocess
    import sys

    from cloudops.server import find_temporal

    token_file = tmp_path / "token"
    token_file.write_text(idp.token("dana", ["shop-deployers"]))
    workflow_id = f"cli-{uuid.uuid4().hex[:8]}"
    cloudops_cmd = shutil.which("cloudops") or sys.executable
    prefix = (
        [cloudops_cmd] if cloudops_cmd.endswith("cloudops") else [cloudops_cmd, "-m", "cloudops"]
    )
    sealed = subprocess.run(
        [*prefix, "token", "seal", "--workflow-id", workflow_id, "--token-file", str(token_file)],
        env={**os.environ, "CLOUDOPS_SEAL_KEY": str(idp.seal_public)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sealed.returncode == 0, sealed.stderr
    request = {
        "operation": "fakecloud.change",
        "account": "staging",
        "input": {"application": "shop"},
    }
    cmd = [
        find_temporal(), "workflow", "execute", "--address", temporal_server.address,
        "--type", RUNNER_WORKFLOW, "--task-queue", secured(None).task_queue,
        "--workflow-id", workflow_id, "--input", json.dumps(request), "--output", "json",
        "--headers", f"{HEADER}={json.dumps(sealed.stdout.strip())}",
    ]  # fmt: skip
    done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["result"]
    assert result["ok"] is True, result["error"]
    assert result["metadata"]["subject"] == "dana"


async def test_cloudops_approve_sends_the_token_of_its_token_file(
    secured: Any, temporal_client: Client, idp: IdentityProvider, tmp_path: Path
) -> None:
    from cli_helpers import run_cli

    dana = secured(idp.token("dana", ["shop-deployers"]))
    handle = await dana.submit("fakecloud.gate", {"application": "shop"}, account="staging")
    await _waiting_for_judgement(handle)
    env = {
        "TEMPORAL_ADDRESS": temporal_client.service_client.config.target_host,
        "CLOUDOPS_SEAL_KEY": str(idp.seal_public),
        "CLOUDOPS_TOKEN": "",
        "CLOUDOPS_TOKEN_FILE": "",
    }
    auditor = tmp_path / "audrey.jwt"
    auditor.write_text(idp.token("audrey", ["auditors"]))
    refused = await run_cli("approve", handle.id, "--token-file", str(auditor), env=env)
    assert refused.returncode != 0 and "audrey may not send 'judgement'" in refused.stderr
    assert "Traceback" not in refused.stderr
    carol = tmp_path / "carol.jwt"
    carol.write_text(idp.token("carol", ["shop-deployers"]))
    done = await run_cli("approve", handle.id, "--token-file", str(carol), env=env)
    assert done.returncode == 0, done.stderr
    result = await handle.result()
    assert result.ok and result.value["judged_by"] == "carol"
