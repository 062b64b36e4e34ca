"""The README's main job: ``cloudops demo`` runs end to end on embedded defaults."""

from __future__ import annotations

import re

from cli_helpers import run_cli


async def test_demo_deploys_twice_survives_faults_and_a_killed_worker() -> None:
    done = await run_cli("demo", timeout=600)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "demo ok" in out
    assert out.count("ok deploy.redBlack") == 2
    assert "SIGKILL the worker" in out
    injected = re.search(r"faults injected and survived: \{(.*?)\}", out, re.S)
    assert injected and "throttle" in injected.group(1)
    assert re.search(r"-web-v000: disabled", out) and re.search(r"-web-v001: serving", out)
