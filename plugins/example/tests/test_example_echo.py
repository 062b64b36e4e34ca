"""The example plugin's own tests: a real Temporal server and worker from cloudops-testing."""

from __future__ import annotations

import cloudops_example.plugin as plugin
from cloudops.registry import CloudOps
from cloudops_example.models import EchoInput
from cloudops_example.operations import Echo


def test_plugin_registers_one_operation_and_its_activity() -> None:
    catalogue = CloudOps([plugin], load_entrypoints=False).catalogue
    assert list(catalogue.operations) == ["example.echo"]
    assert list(catalogue.activities) == ["example.echo"]


async def test_echo_repeats_the_message(cloudops_worker) -> None:
    async with cloudops_worker([plugin], load_entrypoints=False) as ops:
        result = await ops.execute(Echo, EchoInput(message="hi", repeat=2))
    assert result.ok and result.value is not None
    assert result.value.text == "hi hi"


async def test_echo_waits_on_a_durable_timer(cloudops_worker) -> None:
    async with cloudops_worker([plugin], load_entrypoints=False) as ops:
        result = await ops.execute("example.echo", {"message": "later", "wait_seconds": 0.2})
    assert result.ok
    assert [step.name for step in result.metadata.steps] == ["wait 0.2s", "echo"]


async def test_bad_input_is_rejected_with_the_field(cloudops_worker) -> None:
    async with cloudops_worker([plugin], load_entrypoints=False) as ops:
        result = await ops.execute("example.echo", {"message": "x", "repeat": 11})
    assert result.error is not None and result.error.code == "INVALID_INPUT"
    assert result.error.details["errors"][0]["field"] == "repeat"
