"""Each provider's page (docs/providers/*.md): every operation is documented with the
permissions it needs, and its Python example runs against the provider's local cloud."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import cloudops_aws.network
import cloudops_aws.operations
import cloudops_azure.network
import cloudops_azure.operations
import cloudops_gcp.network
import cloudops_gcp.operations

ROOT = Path(__file__).parent.parent
BLOCK = re.compile(r"```python\n(.*?)```", re.S)

#: provider -> (its operations, the permissions label of each section, lines the example prints)
PROVIDERS: dict[str, tuple[Any, str, list[str]]] = {
    "aws": (
        (*cloudops_aws.operations.OPERATIONS, *cloudops_aws.network.NETWORK_OPERATIONS),
        "IAM:",
        [
            "created shop-prod-v000 healthy: 2",
            "after destroy: NOT_FOUND",
            "aws.upsertLoadBalancer shop-prod changed: False",
            "aws.deleteSecurityGroup changed: True",
        ],
    ),
    "gcp": (
        (*cloudops_gcp.operations.OPERATIONS, *cloudops_gcp.network.NETWORK_OPERATIONS),
        "IAM:",
        [
            "created shop-prod-v000 healthy: 2",
            "capacity: {'min': 3, 'max': 5, 'desired': 3}",  # the autoscaler's
            "gcp.upsertServerGroupTags changed: True",
            "gcp.rebootInstances changed: True",
            "after destroy: NOT_FOUND",
            "gcp.upsertLoadBalancer shop-web changed: False",
            "gcp.deleteLoadBalancer changed: True",
            "gcp.deleteSecurityGroup changed: True",
        ],
    ),
    "azure": (
        (*cloudops_azure.operations.OPERATIONS, *cloudops_azure.network.NETWORK_OPERATIONS),
        "RBAC:",
        [
            "created shop-prod-v000 running: 2",
            "azure.cloneServerGroup -> shop-prod-v001",
            "azure.updateLaunchTemplate -> changed: True",
            "rebooted: shop-prod-v000_0",
            "after destroy: NOT_FOUND",
            "azure.upsertLoadBalancer shop-prod changed: False",
            "azure.deleteSecurityGroup changed: True",
        ],
    ),
}


def doc(provider: str) -> str:
    return (ROOT / "docs" / "providers" / f"{provider}.md").read_text()


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_every_operation_is_documented_with_its_permissions(provider: str) -> None:
    operations, label, _ = PROVIDERS[provider]
    text = doc(provider)
    for operation in operations:
        heading = f"### {operation.full_name()}"
        assert heading in text, heading
        section = text.split(heading, 1)[1].split("\n### ", 1)[0]
        assert label in section, f"{heading} lists no {label} permissions"


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_the_example_runs(provider: str, temporal_server: Any, tmp_path: Path) -> None:
    blocks = [c for c in BLOCK.findall(doc(provider)) if not c.startswith("# docs: skip")]
    (code,) = blocks
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
    for line in PROVIDERS[provider][2]:
        assert line in done.stdout, (line, done.stdout)


def test_the_conformance_example_is_the_aws_providers_own_run() -> None:
    text = (ROOT / "docs" / "plugins.md").read_text()
    marker = "# docs: skip (providers/aws/tests/test_aws_conformance.py, run by pytest)\n"
    (example,) = [c for c in BLOCK.findall(text) if c.startswith(marker)]
    own = (ROOT / "providers" / "aws" / "tests" / "test_aws_conformance.py").read_text()
    assert example.removeprefix(marker) == own
