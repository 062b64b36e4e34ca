"""Traffic-share rolling red/black, monitored deploys, guards and the other strategies.

Each scenario runs once per cloud (moto, the GCP and Azure emulators; a real Temporal server).
A small HTTP deployment monitor (Spinnaker's monitor API shape) is consulted at every step: it
reads the old group's traffic share straight from the cloud's load balancer while the deploy
waits for its answer, so the shares are checked at each step, not only at the end.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from deploy_clouds import Cloud, GroupState
from test_deploy import FAST, cluster_state, v

import cloudops_deploy.plugin
from cloudops.client import CloudOpsClient

HISTORIES = Path(__file__).parents[3] / "tests" / "histories"


class Monitor:
    """An HTTP deployment monitor: ``answer(body)`` gives each step's directive."""

    def __init__(self, answer: Callable[[dict[str, Any]], str]) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []
        monitor = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                monitor.calls.append(body)
                directive = monitor.answer(body)
                data = json.dumps(
                    {"nextStep": {"directive": directive}, "statusReason": f"said {directive}"}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/evaluateHealth"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def monitor() -> Iterator[Callable[[Callable[[dict[str, Any]], str]], Monitor]]:
    started: list[Monitor] = []

    def start(answer: Callable[[dict[str, Any]], str]) -> Monitor:
        started.append(Monitor(answer))
        return started[-1]

    yield start
    for m in started:
        m.close()


async def _keep_history(ops: CloudOpsClient, cloud: Cloud, case: str, workflow_id: str) -> None:
    """With ``CLOUDOPS_RECORD_HISTORIES=1``, commit the run's history for the replay tests."""
    if not os.environ.get("CLOUDOPS_RECORD_HISTORIES"):
        return
    history = await ops.client.get_workflow_handle(workflow_id).fetch_history()
    (HISTORIES / cloud.name / f"{case}.json").write_text(history.to_json())


async def test_rolling_red_black_moves_traffic_shares_and_rolls_back_instantly(
    deploy_ops: CloudOpsClient, cloud: Cloud, app: str, monitor: Any
) -> None:
    sized = cloud.server_group(app, **cloud.balanced(app))
    first = await deploy_ops.execute(
        "deploy.redBlack", {"server_group": sized, **FAST}, **cloud.where
    )
    assert first.ok, first.error

    shares: dict[int, float] = {}

    def read_share(body: dict[str, Any]) -> str:
        shares[body["currentProgress"]] = cloud.traffic_share(app, v(app, 0))
        return "continue"

    watching = monitor(read_share)
    payload = {
        "server_group": sized,
        "percentages": [50, 100],
        "monitor": {"url": watching.url, "max_analysis_minutes": 1},
        **FAST,
    }
    handle = await deploy_ops.submit("deploy.monitored", payload, **cloud.where)
    result = await handle.result()
    assert result.ok, result.error
    await _keep_history(deploy_ops, cloud, "deploy-monitored-ok", handle.id)
    # At 50% half of v000 (1 of 2 instances) was out of its load balancer, still running.
    assert shares == {50: 0.5, 100: 0.5}, shares
    assert result.value["traffic_steps"] == [f"50%: 1 of 2 of {v(app, 0)} out"]
    assert [c["stageId"] for c in watching.calls] == ["50%", "100%"]
    assert result.value["monitor_reasons"] == ["50%: continue (said continue)"] * 1 + [
        "100%: continue (said continue)"
    ]
    assert await cluster_state(deploy_ops, cloud, app) == {
        v(app, 0): GroupState(desired=2, serving=False),  # disabled, never shrunk
        v(app, 1): GroupState(desired=2, serving=True),
    }

    # A monitor that asks for a rollback at 50%: the traffic is back on v001 at once.
    before = await deploy_ops.execute(
        f"{cloud.name}.describeServerGroup",
        {"server_group": v(app, 1), **cloud.scope},
        **cloud.where,
    )
    rolling_back = monitor(lambda body: "rollback")
    back = await deploy_ops.execute(
        "deploy.rollingRedBlack",
        {**payload, "monitor": {"url": rolling_back.url}},
        **cloud.where,
    )
    assert back.error is not None and back.error.code == "REJECTED", back.error
    assert "rollback at 50%" in back.error.message
    assert all(r.ok for r in back.error.rollbacks), back.error.rollbacks
    assert cloud.traffic_share(app, v(app, 1)) == 1.0
    after = await deploy_ops.execute(
        f"{cloud.name}.describeServerGroup",
        {"server_group": v(app, 1), **cloud.scope},
        **cloud.where,
    )
    ids = sorted(i["id"] for i in after.value["instances"])
    assert ids == sorted(i["id"] for i in before.value["instances"])  # nothing was started
    assert await cluster_state(deploy_ops, cloud, app) == {
        v(app, 0): GroupState(desired=2, serving=False),
        v(app, 1): GroupState(desired=2, serving=True),  # v002 is gone
    }


async def test_options_guards_highlander_and_none(
    cloudops_worker: Any, cloud: Cloud, app: str
) -> None:
    """max_initial_server_groups, a traffic guard, use_source_capacity, highlander, none."""
    accounts = json.loads(json.dumps(cloud.accounts))
    table = accounts["accounts"][cloud.where["account"]]
    table["traffic_guards"] = [{"cluster": f"{app}-prod"}]
    async with cloudops_worker(
        plugins=[cloud.plugin, cloudops_deploy.plugin], load_entrypoints=False, accounts=accounts
    ) as ops:
        group = cloud.server_group(app)
        first = await ops.execute("deploy.none", {"server_group": group, **FAST}, **cloud.where)
        assert first.ok, first.error
        refused = await ops.execute(
            "deploy.redBlack",
            {"server_group": group, "max_initial_server_groups": 0, **FAST},
            **cloud.where,
        )
        assert refused.error is not None and refused.error.code == "CONFLICT", refused.error
        assert refused.error.rollbacks == []  # nothing had changed

        # A new group with no instance would leave the guarded cluster without a healthy one.
        empty = cloud.server_group(app, capacity={"min": 0, "max": 4, "desired": 0})
        guarded = await ops.execute(
            "deploy.redBlack", {"server_group": empty, **FAST}, **cloud.where
        )
        assert guarded.error is not None and guarded.error.code == "CONFLICT", guarded.error
        assert f"traffic guard {app}-prod" in guarded.error.message
        assert all(r.ok for r in guarded.error.rollbacks)

        # use_source_capacity: the new group takes v000's size (2), not the input's (1).
        small = cloud.server_group(app, capacity={"min": 1, "max": 4, "desired": 1})
        result = await ops.execute(
            "deploy.highlander",
            {"server_group": small, "use_source_capacity": True, **FAST},
            **cloud.where,
        )
        assert result.ok, result.error
        assert result.value["destroyed"] == [v(app, 0)]
        assert result.value["previous_launch_settings"]["capacity"]["desired"] == 2
        assert await cluster_state(ops, cloud, app) == {
            v(app, 1): GroupState(desired=2, serving=True)  # the guarded try left no v001
        }

        # Previous-image rollback: v000 is gone; it comes back from its launch settings.
        back = await ops.execute(
            "deploy.rollback",
            {
                "restore": v(app, 0),
                "recreate": result.value["previous_launch_settings"],
                "scope": cloud.scope,
                **FAST,
            },
            **cloud.where,
        )
        assert back.ok, back.error
        assert back.value["enabled"] == [v(app, 2)] and back.value["disabled"] == [v(app, 1)]
