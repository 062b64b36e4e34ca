"""The README's main job: ``cloudops demo`` runs end to end on embedded defaults."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import subprocess
import sys

from cli_helpers import cloudops

#: Every cloud whose provider is installed takes part in the demo (AWS always, with moto).
CLOUDS = [c for c in ("aws", "gcp", "azure") if importlib.util.find_spec(f"cloudops_{c}")]


def _what_happened(out: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Per cloud: the faults its proxy injected, and its groups as the cloud itself holds them."""
    section = out.rsplit("what happened", 1)[1]
    found: dict[str, tuple[str, dict[str, str]]] = {}
    for block in re.split(r"\n(?=(?:aws|gcp|azure): cloud API calls)", section):
        head = re.match(r"(aws|gcp|azure): cloud API calls forwarded: \d+; .*?\{(.*?)\}", block)
        if head:
            groups = dict(re.findall(r"^  (\S+-web-v\d{3}): (.+)$", block, re.M))
            found[head.group(1)] = (head.group(2), groups)
    return found


#: A line of ``python -X importtime`` output naming pytest or one of its modules.
PYTEST_IMPORT = re.compile(r"\|\s+_?pytest(\.|_asyncio|$)", re.M)


def _importtime(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -X importtime -m cloudops ARGS``: stderr lists every module imported."""
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cloudops", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        timeout=timeout,
    )


async def test_demo_deploys_twice_on_every_cloud_survives_faults_and_a_killed_worker() -> None:
    done = await asyncio.to_thread(_importtime, "demo", timeout=600)
    out = done.stdout
    imports = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    errors = "\n".join(line for line in done.stderr.splitlines() if line not in imports)
    assert done.returncode == 0, out[-3000:] + errors[-3000:]
    # the demo and the local clouds are not test code: pytest is never imported
    assert imports and not PYTEST_IMPORT.search(done.stderr), PYTEST_IMPORT.findall(done.stderr)
    assert "demo ok" in out
    assert "SIGKILL the worker" in out
    assert "authorization: off (a local demo" in out
    assert out.count("SIGKILL the worker") == 1
    happened = _what_happened(out)
    assert sorted(happened) == sorted(CLOUDS), happened
    for cloud in CLOUDS:
        # Both deploys of each cloud succeeded, the second one after the worker was killed.
        assert len(re.findall(rf"^{cloud}: ok deploy\.redBlack", out, re.M)) == 2, cloud
        injected, groups = happened[cloud]
        assert re.search(r"'(throttle|unavailable|server_error|reset)': \d+", injected), cloud
        # The clouds' own state: v001 serves, v000 is out of traffic but kept (at most 2 groups).
        assert {name[-4:]: state.split(",")[0] for name, state in groups.items()} == {
            "v000": "disabled",
            "v001": "serving",
        }, (cloud, groups)
        assert all(state.endswith(", 2 instance(s)") for state in groups.values()), groups


def test_demo_refuses_a_cloud_it_cannot_use_before_starting_anything() -> None:
    refused = cloudops("demo", "--clouds", "aws,mars")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "cannot deploy to mars" in refused.stderr
    assert "aws" in refused.stderr  # says what it can use instead
    assert "Temporal UI" not in refused.stdout  # nothing was started


def test_the_demo_and_every_local_cloud_load_without_pytest() -> None:
    """What ``cloudops demo`` imports, up to starting the clouds, leaves pytest out."""
    code = """
import sys
from cloudops.localcloud import local_clouds
from cloudops.registry import CloudOps
import cloudops_testing.demo, cloudops_testing.stack, cloudops_testing.plugin
import cloudops_testing.faults, cloudops_testing.processes, cloudops_testing.moto_server
import cloudops_testing.gcp_stack, cloudops_testing.azure_stack
import cloudops_testing.gcp_emulator, cloudops_testing.azure_emulator
for profile in local_clouds(CloudOps()).values():
    __import__(type(profile).__module__)
    print(profile.name)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("pytest", "_pytest")))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    *clouds, loaded = done.stdout.splitlines()
    assert loaded == "[]", done.stdout
    assert {"aws", "gcp", "azure"} <= set(clouds), done.stdout
    helped = _importtime("demo", "--help", timeout=60)
    assert helped.returncode == 0 and "--fault-rate" in helped.stdout, helped.stderr[-2000:]
    assert not PYTEST_IMPORT.search(helped.stderr), PYTEST_IMPORT.findall(helped.stderr)
