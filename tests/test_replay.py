"""Determinism: recorded histories of every runner path replay against today's code.

Set CLOUDOPS_RECORD_HISTORIES=1 to (re)write ``tests/histories/`` from a fresh run; commit the
files so that a later change that breaks in-flight workflows fails this test.
"""

from __future__ import annotations

import asyncio
import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

import cloudops
import fake_plugin
from cloudops.accounts import AccountBook
from cloudops.client import CloudOpsClient
from cloudops.registry import CloudOps
from cloudops.worker import CloudOpsPlugin

HISTORIES = Path(__file__).parent / "histories"

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "echo-ok": ("example.echo", {"message": "hi", "repeat": 2}),
    "echo-invalid-input": ("example.echo", {"message": "", "extra": 1}),
    "unknown-operation": ("nope.nothing", {}),
    "chain-rollback": (
        "fake.chain",
        {"steps": [{"name": "a"}, {"name": "b", "fail_with": "CONFLICT"}]},
    ),
    "chain-retried": (
        "fake.chain",
        {"steps": [{"name": "r", "fail_with": "retryable", "fail_times": 1}]},
    ),
    "poll": ("fake.poll", {"name": "p", "not_ready_times": 1}),
    "compose": ("fake.compose", {"message": "hey"}),
    "timeout": ("fake.slow", {"name": "s"}),
}


def _replayer(plugins: list[object]) -> Replayer:
    plugin = CloudOpsPlugin(CloudOps(plugins, allow=["example"]), accounts=AccountBook())
    return Replayer(workflows=[], plugins=[plugin])


async def _record(ops: CloudOpsClient) -> dict[str, WorkflowHistory]:
    histories = {}
    for name, (operation, payload) in CASES.items():
        handle = await ops.submit(
            operation, payload, request_id=f"replay-{name}-{os.urandom(4).hex()}"
        )
        await handle.result()
        histories[name] = await handle.handle.fetch_history()
    # a cancelled operation, rolled back
    handle = await ops.submit("fake.chain", {"steps": [{"name": "c"}], "wait_seconds": 30})
    await asyncio.sleep(0.5)
    await handle.cancel()
    await handle.result()
    histories["chain-cancelled"] = await handle.handle.fetch_history()
    return histories


async def test_fresh_histories_of_every_path_replay(ops: CloudOpsClient) -> None:
    histories = await _record(ops)
    if os.environ.get("CLOUDOPS_RECORD_HISTORIES"):
        HISTORIES.mkdir(exist_ok=True)
        for name, history in histories.items():
            (HISTORIES / f"{name}.json").write_text(history.to_json())
    replayer = _replayer([fake_plugin])
    for name, history in histories.items():
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{name}: {result.replay_failure}"


def _committed() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def test_histories_are_committed() -> None:
    names = {p.stem for p in _committed()}
    assert set(CASES) | {"chain-cancelled"} <= names


@pytest.mark.parametrize("path", _committed(), ids=lambda p: p.stem)
async def test_committed_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await _replayer([fake_plugin]).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_replay_catches_a_change_that_breaks_determinism() -> None:
    """The same history against a Chain that calls another activity first must fail."""

    class ChangedChain(fake_plugin.Chain):
        async def run(self, ctx: cloudops.OperationContext, input: Any) -> Any:
            await ctx.execute_activity("fake.undo", fake_plugin.Resource(name="new first step"))
            return await super().run(ctx, input)

    @cloudops.hookimpl
    def register_operations(register: Callable[[type[Any]], None]) -> None:
        for op in (ChangedChain, fake_plugin.Poll, fake_plugin.Compose):
            register(op)

    @cloudops.hookimpl
    def register_activities(register: Callable[[Any], None]) -> None:
        for fn in (fake_plugin.make, fake_plugin.undo, fake_plugin.ready):
            register(fn)

    changed = types.SimpleNamespace(
        __name__="changed",
        register_operations=register_operations,
        register_activities=register_activities,
    )
    path = HISTORIES / "chain-rollback.json"
    history = WorkflowHistory.from_json("chain-rollback", path.read_text())
    result = await _replayer([changed]).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()
