"""The README's main job: ``cloudops demo`` runs end to end on embedded defaults."""

from __future__ import annotations

import importlib.util
import re

from cli_helpers import cloudops, run_cli

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


async def test_demo_deploys_twice_on_every_cloud_survives_faults_and_a_killed_worker() -> None:
    done = await run_cli("demo", timeout=600)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "demo ok" in out
    assert "SIGKILL the worker" in out
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
