"""The Python example of docs/providers/gcp.md runs, and the doc covers every operation."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from cloudops_gcp.network import NETWORK_OPERATIONS
from cloudops_gcp.operations import OPERATIONS

DOC = Path(__file__).parents[3] / "docs" / "providers" / "gcp.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def test_every_operation_is_documented_with_its_permissions() -> None:
    text = DOC.read_text()
    for operation in (*OPERATIONS, *NETWORK_OPERATIONS):
        heading = f"### {operation.full_name()}"
        assert heading in text, heading
        section = text.split(heading, 1)[1].split("\n### ", 1)[0]
        assert "IAM:" in section, f"{heading} lists no IAM permissions"


async def test_the_example_runs(temporal_server: Any, tmp_path: Path) -> None:
    (code,) = [c for c in BLOCK.findall(DOC.read_text()) if not c.startswith("# docs: skip")]
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
    assert "capacity: {'min': 3, 'max': 5, 'desired': 3}" in done.stdout  # the autoscaler's
    assert "after destroy: NOT_FOUND" in done.stdout
    assert "gcp.upsertLoadBalancer shop-web changed: False" in done.stdout
    assert "gcp.deleteLoadBalancer changed: True" in done.stdout
    assert "gcp.deleteSecurityGroup changed: True" in done.stdout
