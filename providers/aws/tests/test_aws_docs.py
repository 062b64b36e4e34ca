"""The Python example of docs/providers/aws.md runs, and the doc covers every operation."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from cloudops_aws.network import NETWORK_OPERATIONS
from cloudops_aws.operations import OPERATIONS

DOC = Path(__file__).parents[3] / "docs" / "providers" / "aws.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def test_every_operation_is_documented_with_its_iam_actions() -> None:
    text = DOC.read_text()
    for operation in (*OPERATIONS, *NETWORK_OPERATIONS):
        heading = f"### {operation.full_name()}"
        assert heading in text, heading
        section = text.split(heading, 1)[1].split("\n### ", 1)[0]
        assert "IAM:" in section, f"{heading} lists no IAM actions"


async def test_the_example_runs(temporal_server: Any, tmp_path: Path) -> None:
    (code,) = BLOCK.findall(DOC.read_text())
    script = tmp_path / "example.py"
    script.write_text(code)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "TEMPORAL_ADDRESS": temporal_server.address},
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "created shop-prod-v000 healthy: 2" in done.stdout
    assert "after destroy: NOT_FOUND" in done.stdout
    assert "aws.upsertLoadBalancer shop-prod changed: False" in done.stdout
    assert "aws.deleteSecurityGroup changed: True" in done.stdout
