"""A worker imports the SDKs of the clouds it has accounts of before the first activity needs them.

Why it matters: a worker replacing a killed one gets the lost attempt about a heartbeat timeout
later; without the warm-up it would first spend seconds importing google-cloud-compute.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys
from cloudops.accounts import FileConfig
from cloudops.registry import CloudOps
from cloudops.serve import warm_up_providers
from cloudops.worker import account_book

providers = sys.argv[1].split(",")
SETTINGS = {
    "gcp": {"project": "my-project"},
    "azure": {"subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg"},
    "aws": {},
}
cloudops = CloudOps()
config = FileConfig.model_validate(
    {"accounts": {f"acct-{p}": {"provider": p, **SETTINGS[p]} for p in providers}}
)
book = account_book(cloudops, config)
before = {m: m in sys.modules for m in ("google.cloud.compute_v1", "azure.mgmt.compute", "boto3")}
for thread in warm_up_providers(cloudops, book):
    thread.join(60)
after = {m: m in sys.modules for m in before}
print(json.dumps({"before": before, "after": after}))
"""


def _warm(providers: str) -> dict[str, dict[str, bool]]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, providers],
        capture_output=True,
        text=True,
        timeout=120,
        env={"CLOUDOPS_CONFIG": "/nonexistent", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_only_the_sdks_of_the_workers_clouds_are_imported_ahead() -> None:
    seen = _warm("gcp,azure")
    assert not any(seen["before"].values()), seen  # loading the plugins imports no SDK
    assert seen["after"] == {
        "google.cloud.compute_v1": True,
        "azure.mgmt.compute": True,
        "boto3": False,
    }
