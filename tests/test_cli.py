"""The ``cloudops`` command, run as a child process against a real server and worker."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from cli_helpers import cloudops, run_cli
from cloudops.client import CloudOpsClient
from cloudops.server import DevServer

COMMANDS = [
    "approve",
    "codec-server",
    "reject",
    "dev",
    "worker",
    "run",
    "submit",
    "status",
    "watch",
    "cancel",
    "list",
    "operations",
    "plugins",
    "demo",
]
ONLY_EXAMPLE = {"CLOUDOPS_LOAD_PLUGINS": "example"}


@pytest.fixture
def env(temporal_server: DevServer, ops: CloudOpsClient) -> dict[str, str]:
    return {"TEMPORAL_ADDRESS": temporal_server.address, "CLOUDOPS_TASK_QUEUE": ops.task_queue}


def test_help_on_every_command() -> None:
    top = cloudops("--help")
    assert top.returncode == 0
    for command in COMMANDS:
        assert command in top.stdout
        sub = cloudops(command, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "Usage" in sub.stdout
    assert "show" in cloudops("operations", "--help").stdout


def test_operations_lists_the_catalogue_and_shows_schemas() -> None:
    listing = json.loads(cloudops("operations", "--json", env=ONLY_EXAMPLE).stdout)
    assert listing == [
        {
            "operation": "example.echo",
            "plugin": "example",
            "summary": "Echo a message back through an activity: the smallest complete operation.",
        }
    ]
    shown = cloudops("operations", "show", "example.echo", env=ONLY_EXAMPLE)
    doc = json.loads(shown.stdout)
    assert doc["input"]["properties"]["message"]["maxLength"] == 1000
    assert doc["input"]["additionalProperties"] is False
    assert "text" in doc["output"]["properties"]
    missing = cloudops("operations", "show", "example.nope", env=ONLY_EXAMPLE)
    assert missing.returncode == 2 and "installed: example.echo" in missing.stderr


def test_plugins_lists_versions_and_hooks() -> None:
    [plugin] = json.loads(cloudops("plugins", "--json", env=ONLY_EXAMPLE).stdout)
    assert plugin["distribution"] == "cloudops-example"
    assert plugin["version"] == "0.1.0"
    assert plugin["hooks"] == ["register_activities", "register_operations"]


async def test_run_prints_the_result_and_exits_by_outcome(env: dict[str, str]) -> None:
    ok = await run_cli(
        "run", "example.echo", "--input", '{"message": "from the shell"}', "--json", env=env
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["value"]["text"] == "from the shell"

    bad = await run_cli("run", "example.echo", "--input", '{"message": ""}', env=env)
    assert bad.returncode == 1
    assert "INVALID_INPUT" in bad.stdout and "message:" in bad.stdout

    usage = await run_cli("run", "example.echo", "--input", "{not json", env=env)
    assert usage.returncode == 2 and "not valid JSON" in usage.stderr


async def test_run_reads_input_from_a_file_and_stdin(env: dict[str, str], tmp_path) -> None:
    path = tmp_path / "input.json"
    path.write_text('{"message": "file", "repeat": 2}')
    from_file = await run_cli("run", "example.echo", "--input", f"@{path}", "--json", env=env)
    assert json.loads(from_file.stdout)["value"]["text"] == "file file"
    from_stdin = await run_cli(
        "run", "example.echo", "-i", "-", "--json", env=env, input='{"message": "stdin"}'
    )
    assert json.loads(from_stdin.stdout)["value"]["text"] == "stdin"


async def test_submit_status_watch_cancel(env: dict[str, str]) -> None:
    request_id = f"cli-{uuid.uuid4()}"
    started = await run_cli(
        "submit",
        "fake.chain",
        "--request-id",
        request_id,
        "--input",
        '{"steps": [{"name": "a"}], "wait_seconds": 30}',
        env=env,
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == request_id
    running = await run_cli("status", request_id, "--json", env=env)
    assert json.loads(running.stdout)["status"] == "running"
    cancelled = await run_cli("cancel", request_id, "--wait", env=env)
    assert cancelled.returncode == 1
    assert "CANCELLED" in cancelled.stdout and "rollback undo a: undone" in cancelled.stdout
    done = await run_cli("status", request_id, "--json", env=env)
    assert json.loads(done.stdout)["error"]["code"] == "CANCELLED"
    watched = await run_cli("watch", request_id, "--json", env=env)
    assert watched.returncode == 1 and json.loads(watched.stdout)["error"]["code"] == "CANCELLED"
    unknown = await run_cli("status", "no-such-operation", env=env)
    assert unknown.returncode == 2 and "no operation" in unknown.stderr


async def test_list_filters_by_operation_and_outcome(
    env: dict[str, str], ops: CloudOpsClient
) -> None:
    request_id = f"listed-{uuid.uuid4()}"
    result = await ops.execute("example.echo", {"message": ""}, request_id=request_id)
    assert result.error is not None
    for _ in range(50):
        out = await run_cli(
            "list",
            "--operation",
            "example.echo",
            "--outcome",
            "INVALID_INPUT",
            "--json",
            env=env,
        )
        rows = json.loads(out.stdout)
        if any(r["id"] == request_id for r in rows):
            break
        await asyncio.sleep(0.2)
    row = next(r for r in rows if r["id"] == request_id)
    assert row["outcome"] == "INVALID_INPUT" and row["status"] == "COMPLETED"
    assert row["url"].endswith(f"/workflows/{request_id}")
    assert all(r["operation"] == "example.echo" for r in rows)
    by_app = await run_cli("list", "--application", "nobody-uses-this", "--json", env=env)
    assert json.loads(by_app.stdout) == []
    quoted = await run_cli("list", "--account", "x' OR '1'='1", env=env)
    assert quoted.returncode == 2 and "quotes" in quoted.stderr


def test_unreachable_server_says_what_to_do() -> None:
    out = cloudops(
        "run",
        "example.echo",
        "--input",
        '{"message": "x"}',
        env={"TEMPORAL_ADDRESS": "127.0.0.1:1"},
        timeout=60,
    )
    assert out.returncode == 2
    assert "cannot reach Temporal" in out.stderr and "cloudops dev" in out.stderr


async def test_approve_and_reject_from_the_command_line(env: dict[str, str]) -> None:
    approved_id = f"judge-{uuid.uuid4()}"
    await run_cli(
        "submit", "fake.judged", "--request-id", approved_id, "--input", '{"name": "j"}', env=env
    )
    for _ in range(100):
        state = json.loads((await run_cli("status", approved_id, "--json", env=env)).stdout)
        if "judgement" in state.get("awaiting_input", []):
            break
    ok = await run_cli("approve", approved_id, "--user", "carol", "--comment", "ship it", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "judgement delivered" in ok.stdout
    done = await run_cli("watch", approved_id, "--json", env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["ok"] is True
    again = await run_cli("reject", approved_id, env=env)
    assert again.returncode == 2 and "already completed" in again.stderr


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    [line] = [line for line in stderr.splitlines() if line.strip()]
    return line


async def test_run_exits_3_when_the_workflow_itself_fails(env: dict[str, str]) -> None:
    request_id = f"bug-{uuid.uuid4()}"
    args = ("run", "fake.bug", "--input", '{"name": "b"}', "--request-id", request_id)
    shown = await run_cli(*args, env=env)
    assert shown.returncode == 3, (shown.stdout, shown.stderr)
    assert shown.stdout == ""
    assert _one_line(shown.stderr).startswith("error: the workflow failed: ")
    quiet = await run_cli("watch", request_id, "--json", env=env)
    assert quiet.returncode == 3 and "the workflow failed" in _one_line(quiet.stderr)


async def test_status_and_watch_as_text_and_a_terminated_operation(
    env: dict[str, str], ops: CloudOpsClient
) -> None:
    request_id = f"text-{uuid.uuid4()}"
    chain = {"steps": [{"name": "a"}], "wait_seconds": 60}
    await ops.submit("fake.chain", chain, request_id=request_id)
    line = ""
    for _ in range(100):  # until the first step is done and the wait has begun
        running = await run_cli("status", request_id, env=env)
        assert running.returncode == 0, running.stderr
        line = running.stdout.strip()
        if "[1 step(s) done]" in line:
            break
        await asyncio.sleep(0.1)
    assert line == "fake.chain: running - wait after a [1 step(s) done]"

    watching = asyncio.ensure_future(run_cli("watch", request_id, env=env))
    await asyncio.sleep(2)
    assert not watching.done()
    await ops.get_handle(request_id).handle.terminate("operator says stop")
    watched = await asyncio.wait_for(watching, 60)
    assert watched.returncode == 3
    assert _one_line(watched.stderr).startswith("error: the workflow failed: ")

    ended = await run_cli("status", request_id, env=env)
    assert ended.returncode == 3 and ended.stdout == ""
    assert _one_line(ended.stderr) == f"error: operation {request_id} ended as TERMINATED"


async def test_watch_without_json_prints_the_summary_steps_and_result(
    env: dict[str, str], ops: CloudOpsClient
) -> None:
    handle = await ops.submit("example.echo", {"message": "watched", "wait_seconds": 1})
    out = await run_cli("watch", handle.id, env=env)
    assert out.returncode == 0, out.stderr
    summary, steps, *rest = out.stdout.splitlines()
    assert summary == "ok example.echo"
    assert steps.split() == ["step", "took"]
    body = "\n".join(rest)
    assert json.loads(body[body.index("{") :])["value"]["text"] == "watched"


async def test_labels_become_search_attributes_and_a_bad_one_is_refused(
    env: dict[str, str],
) -> None:
    app = f"shop-{uuid.uuid4().hex[:8]}"
    args = ("run", "example.echo", "--input", '{"message": "x"}', "--json")
    ran = await run_cli(*args, "--label", f"application={app}", "--label", "user=ann", env=env)
    assert ran.returncode == 0, ran.stderr
    workflow_id = json.loads(ran.stdout)["metadata"]["workflow_id"]
    rows: list[dict[str, str]] = []
    for _ in range(50):
        rows = json.loads((await run_cli("list", "--application", app, "--json", env=env)).stdout)
        if rows:
            break
        await asyncio.sleep(0.2)
    assert [(r["id"], r["application"]) for r in rows] == [(workflow_id, app)]

    for bad in ("application", "=shop"):
        refused = await run_cli(*args, "--label", bad, env=env)
        assert refused.returncode == 2 and refused.stdout == ""
        assert _one_line(refused.stderr) == f"error: --label {bad!r} is not KEY=VALUE"


def _table(stdout: str) -> list[list[str]]:
    """A rich table's rows (header first), a wrapped cell's next lines dropped."""
    rows = []
    for line in stdout.splitlines():
        sep = "┃" if "┃" in line else "│"
        cells = [cell.strip() for cell in line.split(sep)[1:-1]]
        if cells and cells[0]:
            rows.append(cells)
    return rows


def test_operations_and_plugins_as_tables() -> None:
    operations = cloudops("operations", env=ONLY_EXAMPLE)
    assert operations.returncode == 0, operations.stderr
    assert _table(operations.stdout) == [
        ["operation", "plugin", "summary"],
        [
            "example.echo",
            "example",
            "Echo a message back through an activity: the smallest complete operation.",
        ],
    ]
    plugins = cloudops("plugins", env=ONLY_EXAMPLE)
    assert plugins.returncode == 0, plugins.stderr
    assert _table(plugins.stdout) == [
        ["plugin", "distribution", "version", "hooks"],
        ["example", "cloudops-example", "0.1.0", "register_activities, register_operations"],
    ]


async def test_list_as_a_table(env: dict[str, str], ops: CloudOpsClient) -> None:
    result = await ops.execute("example.echo", {"message": ""}, request_id=f"tab-{uuid.uuid4()}")
    assert result.metadata is not None
    workflow_id = result.metadata.workflow_id
    rows: list[list[str]] = []
    for _ in range(50):
        listed = await run_cli("list", "--operation", "example.echo", "--limit", "100", env=env)
        assert listed.returncode == 0, listed.stderr
        rows = _table(listed.stdout)
        if any(row[0] == workflow_id for row in rows):
            break
        await asyncio.sleep(0.2)
    assert rows[0] == ["id", "operation", "outcome", "account", "region", "started"]
    [row] = [row for row in rows if row[0] == workflow_id]
    assert row[1:5] == ["example.echo", "INVALID_INPUT", "", ""]
    assert row[5] == result.metadata.started_at.isoformat()[:19]
