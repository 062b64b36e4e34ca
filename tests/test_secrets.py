"""No secret reaches Temporal: every AWS operation runs with canary credentials on the worker,
then every workflow history (inputs, results, failures, heartbeats, search attributes, memo)
and the worker's log are scanned for the canaries and for anything that looks like an AWS
credential.

The worker (a child process) gets canary keys three ways: in its environment (boto3's default
chain), in a profile of an AWS config file, and as the source of a role it assumes (moto's STS
hands out temporary keys, whose shape the scan also looks for).
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
