"""No secret reaches Temporal: every AWS operation runs with canary credentials on the worker,
then every workflow history (inputs, results, failures, heartbeats, search attributes, memo)
and the worker's log are scanned for the canaries and for anything that looks like an AWS
credential.

The worker (a child process) gets canary keys three ways: in its environment (boto3's default
chain), in a profile of an AWS config file, and as the source of a role it assumes (moto's STS
hands out temporary keys, whose shape the scan also looks for).

The same scan covers GCP (a service-account key file with a fresh private key, named by the
account and found through Application Default Credentials) and Azure (a service principal's
secret from an environment variable or a file, and ``AZURE_CLIENT_SECRET`` in the worker's
environment), on the emulators.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory

from cloudops.client import CloudOpsClient
from cloudops_testing.faults import FaultRules
from cloudops_testing.fixtures_aws import MOTO_REGION, MotoNetwork

CANARY_KEY_ID = "AKIACANARY0000000042"
CANARY_SECRET = "canarySECRETcanarySECRETcanary+SECRET/42"
CANARY_TOKEN = "canary-session-token-7f3a9c"
PROFILE_KEY_ID = "AKIACANARYPROFILE042"
PROFILE_SECRET = "profileCANARYprofileCANARYprofile+CANARY"
EXTERNAL_ID = "canary-external-id-5150"
CANARIES = [
    CANARY_KEY_ID,
    CANARY_SECRET,
    CANARY_TOKEN,
    PROFILE_KEY_ID,
    PROFILE_SECRET,
    EXTERNAL_ID,
]
#: What AWS credentials look like: access key ids, secrets and session tokens by name.
CREDENTIAL_SHAPES = [
    re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"),
    re.compile(r"(?i)secret_?access_?key"),
    re.compile(r"(?i)session_?token"),
    re.compile(r"(?i)aws_secret"),
]
_DATA = re.compile(r'"data":\s*"([A-Za-z0-9+/=]+)"')


def _texts_of(history: WorkflowHistory) -> str:
    """The history as JSON plus every payload (base64 in the JSON) decoded."""
    raw = history.to_json()
    decoded = []
    for match in _DATA.finditer(raw):
        try:
            decoded.append(base64.b64decode(match.group(1)).decode("utf-8", "replace"))
        except ValueError:
            continue
    return raw + "\n" + "\n".join(decoded)


def _leaks(text: str) -> list[str]:
    found = [c for c in CANARIES if c in text]
    found += [m.group(0) for shape in CREDENTIAL_SHAPES for m in shape.finditer(text)]
    return found


def test_the_scan_finds_what_it_looks_for() -> None:
    assert _leaks(f"error: {CANARY_SECRET}") == [CANARY_SECRET]
    assert _leaks("key ASIAABCDEFGHIJKLMNOP in a message")
    assert _leaks('{"SessionToken": "x"}')
    assert not _leaks("an ordinary message about i-0123456789abcdef0")


def _aws_files(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "aws-config"
    config.write_text(f"[profile canary]\nregion = {MOTO_REGION}\n")
    credentials = tmp_path / "aws-credentials"
    credentials.write_text(
        f"[canary]\naws_access_key_id = {PROFILE_KEY_ID}\n"
        f"aws_secret_access_key = {PROFILE_SECRET}\n"
    )
    return {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}


async def test_no_credential_in_any_history_or_log(
    worker_process: Any,
    temporal_client: Any,
    aws_fault_proxy: Any,
    moto_client: Any,
    moto_network: MotoNetwork,
    tmp_path: Path,
) -> None:
    proxy = aws_fault_proxy(FaultRules())
    endpoint = {"provider": "aws", "regions": [MOTO_REGION], "endpoint": proxy.url}
    accounts = {
        "accounts": {
            "from-env": endpoint,
            "from-profile": {**endpoint, "profile": "canary"},
            "assumed": {
                **endpoint,
                "profile": "canary",
                "role_arn": "arn:aws:iam::123456789012:role/cloudops-canary",
                "external_id": EXTERNAL_ID,
            },
        }
    }
    env = {
        "AWS_ACCESS_KEY_ID": CANARY_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": CANARY_SECRET,
        "AWS_SESSION_TOKEN": CANARY_TOKEN,
        **_aws_files(tmp_path),
    }
    queue = f"secrets-{uuid.uuid4().hex[:8]}"
    worker = await asyncio.to_thread(
        worker_process, queue, accounts=accounts, plugins=["aws", "deploy"], env=env
    )
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    handles = []

    async def run(op: str, data: dict[str, Any], account: str) -> Any:
        handle = await ops.submit(op, data, account=account, region=MOTO_REGION)
        handles.append(handle)
        return await asyncio.wait_for(handle.result(), 120)

    fast = {"poll_interval_seconds": 0.5, "wait_timeout_seconds": 120}
    app = f"sec{uuid.uuid4().hex[:8]}"
    create = {
        "application": app,
        "stack": "web",
        "image": moto_network.image_id,
        "instance_type": "t3.micro",
        "capacity": {"min": 1, "max": 3, "desired": 1},
        "zones": moto_network.zones[:1],
        "security_groups": [moto_network.security_group_id],
        "user_data": "#!/bin/sh\necho hello",
    }
    for account in ("from-env", "from-profile", "assumed"):
        stack = account.replace("-", "")
        made = await run("aws.createServerGroup", {**create, "stack": stack, **fast}, account)
        assert made.ok, (account, made.error)
        name = made.value["name"]
        group = {"server_group": name, **fast}
        results = [
            await run("aws.cloneServerGroup", {"source": name, **fast}, account),
            await run(
                "aws.resizeServerGroup",
                {**group, "capacity": {"min": 1, "max": 3, "desired": 2}},
                account,
            ),
            await run("aws.disableServerGroup", group, account),
            await run("aws.enableServerGroup", group, account),
            await run("aws.describeServerGroup", {"server_group": name}, account),
            await run("aws.listServerGroups", {"application": app, "stack": stack}, account),
        ]
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        victim = results[4].value["instances"][0]["id"]
        done = await run(
            "aws.terminateInstances",
            {**group, "instance_ids": [victim], "decrement_desired": True},
            account,
        )
        assert done.ok, done.error
        assert (await run("aws.destroyServerGroup", group, account)).ok
        # failures carry the cloud's messages: they must not carry credentials either
        missing = await run("aws.describeServerGroup", {"server_group": name}, account)
        assert missing.error is not None and missing.error.code == "NOT_FOUND"
        failed = await run(
            "aws.createServerGroup",
            {**create, "stack": f"{stack}x", "target_groups": ["nope"], **fast},
            account,
        )
        assert failed.error is not None and failed.error.rollbacks
        deployed = await run(
            "deploy.redBlack",
            {"server_group": {**create, "stack": f"{stack}rb"}, "poll_interval_seconds": 0.5},
            account,
        )
        assert deployed.ok, deployed.error

    assert any(entry.target == "AssumeRole" for entry in proxy.log), "no role was assumed"
    leaks: dict[str, list[str]] = {}
    for handle in handles:
        history = await handle.handle.fetch_history()
        found = _leaks(_texts_of(history))
        if found:
            leaks[handle.id] = found
        description = await handle.handle.describe()
        attributes = json.dumps(
            {k: [str(v) for v in vs] for k, vs in description.search_attributes.items()}
        )
        if _leaks(attributes):
            leaks[f"{handle.id} search attributes"] = _leaks(attributes)
    log = "".join(worker.output)
    if _leaks(log):
        leaks["worker log"] = _leaks(log)
    assert leaks == {}, leaks
    assert len(handles) == 3 * 12


# --------------------------------------------------------------------------------------------
# GCP: a service-account key (a private key) in a key file, named by the account or by ADC
# --------------------------------------------------------------------------------------------

GCP_KEY_ID = "canary0key0id0c0ffee0123456789abcdef0123"
GCP_TOKEN = "ya29.canary-gcp-access-token-5f1e"
GCP_SHAPES = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bya29\.[A-Za-z0-9_-]+"),
    re.compile(r'"private_key(_id)?"'),
]


def _gcp_key_file(path: Path, token_uri: str) -> tuple[Path, list[str]]:
    """A service-account key file with a fresh private key; and slices of the key to look for."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "cloudops-emu",
                "private_key_id": GCP_KEY_ID,
                "private_key": pem,
                "client_email": "canary@cloudops-emu.iam.gserviceaccount.com",
                "client_id": "100000000000000000042",
                "token_uri": token_uri,
            }
        )
    )
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return path, [body[1], body[len(body) // 2], body[-2], GCP_KEY_ID]


async def _scan(
    handles: list[Any], log: str, canaries: list[str], shapes: list[Any]
) -> dict[str, Any]:
    """Every leak of ``canaries`` or ``shapes`` (and the AWS ones) in histories, attributes, log."""

    def leaks(text: str) -> list[str]:
        found = _leaks(text) + [c for c in canaries if c in text]
        return found + [m.group(0) for shape in shapes for m in shape.finditer(text)]

    found: dict[str, Any] = {}
    for handle in handles:
        history = await handle.handle.fetch_history()
        if leaks(_texts_of(history)):
            found[handle.id] = leaks(_texts_of(history))
        description = await handle.handle.describe()
        attributes = json.dumps(
            {k: [str(v) for v in vs] for k, vs in description.search_attributes.items()}
        )
        if leaks(attributes):
            found[f"{handle.id} search attributes"] = leaks(attributes)
    if leaks(log):
        found["worker log"] = leaks(log)
    return found


def test_the_gcp_scan_finds_a_key(tmp_path: Path) -> None:
    _, slices = _gcp_key_file(tmp_path / "key.json", "http://127.0.0.1:1/token")
    text = (tmp_path / "key.json").read_text()
    assert all(s in text for s in slices)
    assert any(shape.search(text) for shape in GCP_SHAPES)
    assert GCP_SHAPES[1].search(f"token {GCP_TOKEN}")


class _Authorizations:
    """A fidelity rule of the proxy before the emulator: the Authorization headers it saw."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, request: Any) -> None:
        self.seen.append(request.headers.get("Authorization", ""))


def _jwt_key_id(authorization: str) -> str | None:
    """The ``kid`` of a ``Bearer <JWT>`` header (a self-signed service-account JWT)."""
    token = authorization.removeprefix("Bearer ")
    try:
        header = token.split(".")[0]
        return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])
    except (ValueError, KeyError, IndexError):
        return None


async def test_no_gcp_key_in_any_history_or_log(
    worker_process: Any, temporal_client: Any, gcp_emulator: Any, tmp_path: Path
) -> None:
    from cloudops_testing.faults import FaultProxy
    from cloudops_testing.fixtures_gcp import GCP_REGION, gcp_account_config

    authorizations = _Authorizations()
    proxy = FaultProxy(gcp_emulator.url, FaultRules(flavor="gcp"), fidelity=[authorizations])
    proxy.start()
    try:
        key, slices = _gcp_key_file(tmp_path / "key.json", "http://127.0.0.1:9/token")
        accounts: dict[str, Any] = {"accounts": {}}
        choices: list[tuple[str, dict[str, Any]]] = [
            ("gcp-key-file", {"credentials": "adc", "service_account_key_file": str(key)}),
            ("gcp-adc", {"credentials": "adc"}),  # GOOGLE_APPLICATION_CREDENTIALS, below
        ]
        for name, settings in choices:
            accounts["accounts"].update(
                gcp_account_config(proxy.url, name=name, **settings)["accounts"]
            )
        queue = f"secrets-gcp-{uuid.uuid4().hex[:8]}"
        worker = await asyncio.to_thread(
            worker_process,
            queue,
            accounts=accounts,
            plugins=["gcp", "deploy"],
            env={"GOOGLE_APPLICATION_CREDENTIALS": str(key)},
        )
        ops = CloudOpsClient(temporal_client, task_queue=queue)
        handles: list[Any] = []

        async def run(op: str, data: dict[str, Any], account: str) -> Any:
            handle = await ops.submit(op, data, account=account, region=GCP_REGION)
            handles.append(handle)
            return await asyncio.wait_for(handle.result(), 120)

        fast = {"poll_interval_seconds": 0.2, "wait_timeout_seconds": 60}
        app = f"sec{uuid.uuid4().hex[:8]}"
        for suffix in ("", "rb", "adc"):
            gcp_emulator.add_backend_service(f"{app}{suffix}-web")
        create = {
            "application": app,
            "stack": "web",
            "image": "projects/debian-cloud/global/images/family/debian-12",
            "instance_type": "e2-small",
            "capacity": {"min": 1, "max": 3, "desired": 1},
            "zones": [f"{GCP_REGION}-a"],
            "load_balancers": [f"{app}-web"],
            "user_data": "#!/bin/sh\necho hello",
            **fast,
        }
        account = "gcp-key-file"
        made = await run("gcp.createServerGroup", create, account)
        assert made.ok, made.error
        name = made.value["name"]
        group = {"server_group": name, **fast}
        results = [
            await run(
                "gcp.resizeServerGroup",
                {**group, "capacity": {"min": 1, "max": 3, "desired": 2}},
                account,
            ),
            await run("gcp.disableServerGroup", group, account),
            await run("gcp.enableServerGroup", group, account),
            await run("gcp.describeServerGroup", {"server_group": name}, account),
            await run("gcp.listServerGroups", {"application": app, "stack": "web"}, account),
            await run("gcp.destroyServerGroup", group, account),
        ]
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        missing = await run("gcp.describeServerGroup", {"server_group": name}, account)
        assert missing.error is not None and missing.error.code == "NOT_FOUND"
        failed = await run(
            "gcp.createServerGroup",
            {**create, "stack": "bad", "load_balancers": [f"{app}-nope"]},
            account,
        )
        assert failed.error is not None and failed.error.rollbacks, failed.error
        rb = {**create, "application": f"{app}rb", "load_balancers": [f"{app}rb-web"]}
        deployed = await run(
            "deploy.redBlack", {"server_group": rb, "poll_interval_seconds": 0.2}, account
        )
        assert deployed.ok, deployed.error
        # the same key found by Application Default Credentials
        adc = {**create, "application": f"{app}adc", "load_balancers": [f"{app}adc-web"]}
        made = await run("gcp.createServerGroup", adc, "gcp-adc")
        assert made.ok, made.error
        gone = await run(
            "gcp.destroyServerGroup", {"server_group": made.value["name"], **fast}, "gcp-adc"
        )
        assert gone.ok, gone.error

        # the worker really authenticated with the key: its calls carry JWTs it signed
        assert authorizations.seen and all(
            _jwt_key_id(a) == GCP_KEY_ID for a in authorizations.seen
        ), set(authorizations.seen)
        found = await _scan(handles, "".join(worker.output), slices, GCP_SHAPES)
        assert found == {}, found
        assert len(handles) == 12
    finally:
        proxy.stop()


# --------------------------------------------------------------------------------------------
# Azure: a service principal's secret, from an environment variable or a file
# --------------------------------------------------------------------------------------------

AZ_ENV_SECRET = "Ab18Q~canaryAZUREsecretFROMenv0000000042"
AZ_FILE_SECRET = "Cd28Q~canaryAZUREsecretFROMfile000000042"
AZ_DEFAULT_SECRET = "Ef38Q~canaryAZUREdefaultCLIENTsecret0042"
#: What Azure client secrets look like (three characters, a digit, ``Q~``, 31-34 more).
AZURE_SHAPES = [re.compile(r"[A-Za-z0-9_.-]{3}\dQ~[A-Za-z0-9_.~-]{31,34}")]


def test_the_azure_scan_finds_a_secret() -> None:
    for secret in (AZ_ENV_SECRET, AZ_FILE_SECRET, AZ_DEFAULT_SECRET):
        assert AZURE_SHAPES[0].search(f"failed with {secret}: denied")


async def test_no_azure_secret_in_any_history_or_log(
    worker_process: Any, temporal_client: Any, azure_emulator: Any, tmp_path: Path
) -> None:
    from cloudops_testing.fixtures_azure import (
        AZURE_IMAGE,
        AZURE_LOAD_BALANCER,
        AZURE_REGION,
        azure_account_config,
    )

    secret_file = tmp_path / "client-secret"
    secret_file.write_text(AZ_FILE_SECRET + "\n")
    principal = {
        "credential": "service_principal",
        "tenant_id": "00000000-0000-0000-0000-0000000000aa",
        "client_id": "00000000-0000-0000-0000-0000000000bb",
    }
    accounts: dict[str, Any] = {"accounts": {}}
    choices: list[tuple[str, dict[str, Any]]] = [
        ("az-emu", {}),
        ("az-env", {**principal, "client_secret_env": "CLOUDOPS_CANARY_AZURE_SECRET"}),
        ("az-file", {**principal, "client_secret_file": str(secret_file)}),
    ]
    for name, settings in choices:
        # a real credential only talks TLS: the principals' (unreachable) ARM is https
        endpoint = "https://127.0.0.1:9" if settings else azure_emulator.url
        accounts["accounts"].update(
            azure_account_config(endpoint, name=name, **settings)["accounts"]
        )
    env = {
        "CLOUDOPS_CANARY_AZURE_SECRET": AZ_ENV_SECRET,
        # what DefaultAzureCredential would read: present on the worker, never sent anywhere
        "AZURE_CLIENT_SECRET": AZ_DEFAULT_SECRET,
        "AZURE_CLIENT_ID": principal["client_id"],
        "AZURE_TENANT_ID": principal["tenant_id"],
        # Microsoft Entra ID is out of reach: token requests fail at once, without the internet
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    queue = f"secrets-azure-{uuid.uuid4().hex[:8]}"
    worker = await asyncio.to_thread(
        worker_process, queue, accounts=accounts, plugins=["azure", "deploy"], env=env
    )
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    handles: list[Any] = []

    async def run(op: str, data: dict[str, Any], account: str) -> Any:
        handle = await ops.submit(op, data, account=account, region=AZURE_REGION)
        handles.append(handle)
        return await asyncio.wait_for(handle.result(), 120)

    fast = {"poll_interval_seconds": 0.2, "wait_timeout_seconds": 60}
    app = f"sec{uuid.uuid4().hex[:8]}"
    create = {
        "application": app,
        "stack": "web",
        "image": AZURE_IMAGE,
        "instance_type": "Standard_B1s",
        "capacity": {"min": 1, "max": 3, "desired": 1},
        "zones": ["1"],
        "load_balancers": [f"{AZURE_LOAD_BALANCER}/web"],
        "user_data": "#!/bin/sh\necho hello",
        **fast,
    }
    made = await run("azure.createServerGroup", create, "az-emu")
    assert made.ok, made.error
    name = made.value["name"]
    group = {"server_group": name, **fast}
    results = [
        await run(
            "azure.resizeServerGroup",
            {**group, "capacity": {"min": 1, "max": 3, "desired": 2}},
            "az-emu",
        ),
        await run("azure.disableServerGroup", group, "az-emu"),
        await run("azure.enableServerGroup", group, "az-emu"),
        await run("azure.describeServerGroup", {"server_group": name}, "az-emu"),
        await run("azure.listServerGroups", {"application": app, "stack": "web"}, "az-emu"),
        await run("azure.destroyServerGroup", group, "az-emu"),
    ]
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    missing = await run("azure.describeServerGroup", {"server_group": name}, "az-emu")
    assert missing.error is not None and missing.error.code == "NOT_FOUND"
    azure_emulator.fail_next(f"{app}-bad-v000", "AllocationFailed", "no capacity")
    failed = await run("azure.createServerGroup", {**create, "stack": "bad"}, "az-emu")
    assert failed.error is not None and failed.error.rollbacks, failed.error
    deployed = await run(
        "deploy.redBlack",
        {"server_group": {**create, "stack": "rb"}, "poll_interval_seconds": 0.2},
        "az-emu",
    )
    assert deployed.ok, deployed.error
    # the service principals: the worker reads each secret and asks for a token, which fails
    for account, op, data in (
        ("az-env", "azure.describeServerGroup", {"server_group": name}),
        ("az-file", "azure.createServerGroup", {**create, "stack": "sp"}),
    ):
        refused = await run(op, data, account)
        assert refused.error is not None, (account, op)
        assert refused.error.code == "CLOUD_REJECTED", (account, op, refused.error)
        assert "token" in refused.error.message, refused.error

    found = await _scan(
        handles,
        "".join(worker.output),
        [AZ_ENV_SECRET, AZ_FILE_SECRET, AZ_DEFAULT_SECRET],
        AZURE_SHAPES,
    )
    assert found == {}, found
    assert len(handles) == 12


# --------------------------------------------------------------------------------------------
# Caller identity: the token travels sealed in a header; no history or log holds it in clear
# --------------------------------------------------------------------------------------------


async def test_no_caller_token_in_any_history_or_log(
    cloudops_worker: Any, temporal_client: Any, tmp_path: Path, caplog: Any
) -> None:
    import logging

    from temporalio.client import Client

    from cloudops.identity import IdentityInterceptor
    from test_authorization import PLUGINS, IdentityProvider

    idp = IdentityProvider(tmp_path)
    try:
        token = idp.token("dana", ["shop-deployers"])
        machine = idp.machine_token("ci-bot")
        # the token, and its signature alone (what makes it usable)
        canaries = [token, token.rsplit(".", 1)[1], machine, machine.rsplit(".", 1)[1]]
        handles = []
        with caplog.at_level(logging.DEBUG):
            async with cloudops_worker(PLUGINS, allow=["example"], accounts=idp.config()) as ops:
                for jwt_, op, app in (
                    (token, "fakecloud.rollout", "shop"),  # allowed, composite
                    (token, "fakecloud.change", "billing"),  # denied
                    (machine, "fakecloud.look", "shop"),
                ):
                    config = temporal_client.config()
                    config["interceptors"] = [IdentityInterceptor(jwt_, str(idp.seal_public))]
                    client = CloudOpsClient(Client(**config), task_queue=ops.task_queue)
                    handle = await client.submit(op, {"application": app}, account="staging")
                    await asyncio.wait_for(handle.result(), 60)
                    handles.append(handle)
        log = "\n".join(record.getMessage() for record in caplog.records)
        found = await _scan(handles, log, canaries, [])
        assert found == {}, found
        # the scan sees a token where there is one
        assert any(c in _texts_of_token(token) for c in canaries)
    finally:
        idp.stop()


def _texts_of_token(token: str) -> str:
    return f"Authorization: Bearer {token}"
