"""The deploy plugin's activities: traffic guards from the worker's config, the monitors."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from pydantic import Field
from temporalio import activity

import cloudops
from cloudops import BusinessError, ErrorCode, RetryableError
from cloudops.accounts import current_account
from cloudops.registry import DeploymentMonitor
from cloudops.runtime import lookup
from cloudops_deploy.models import MonitorAnswer, MonitorRequest

__all__ = [
    "ACTIVITIES",
    "HTTP_MONITOR",
    "GuardQuery",
    "Guards",
    "consult_monitor",
    "http_monitor",
    "traffic_guards",
]


class GuardQuery(cloudops.Input):
    """Which account and region a deploy acts in."""

    account: str
    region: str


class Guards(cloudops.Output):
    """The guarded clusters of that account and region (``traffic_guards`` in cloudops.toml)."""

    clusters: list[str] = Field(default_factory=list)


@activity.defn(name="deploy.traffic_guards")
async def traffic_guards(arg: GuardQuery) -> Guards:
    """The clusters ``[[accounts.NAME.traffic_guards]]`` protects in the region."""
    account = current_account(arg.account)
    return Guards(
        clusters=[
            g.cluster for g in account.traffic_guards if not g.regions or arg.region in g.regions
        ]
    )


#: Spinnaker's directives, as its deployment monitors answer them, to ours.
_DIRECTIVES = {
    "continue": "continue",
    "complete": "continue",
    "wait": "wait",
    "unset": "wait",
    "rollback": "rollback",
    "abort": "abort",
}


def _post(url: str, body: bytes) -> bytes:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=20) as answer:
        return bytes(answer.read())


@activity.defn(name="deploy.http_monitor")
async def http_monitor(arg: MonitorRequest) -> MonitorAnswer:
    """The HTTP monitor as an activity of its own (what deploys recorded before the hook)."""
    return await evaluate_http(arg)


async def evaluate_http(arg: MonitorRequest) -> MonitorAnswer:
    """POST one step to a deployment monitor in the shape of Spinnaker's monitor API.

    The request is Spinnaker's ``EvaluateHealthRequest`` (``application``, ``deploymentId``,
    ``stageId``, ``currentProgress``, ``newServerGroup``, ``oldServerGroup``...); the answer's
    ``nextStep.directive`` (``continue``/``complete``, ``wait``/``unset``, ``rollback``,
    ``abort``) and ``statusReason`` become the :class:`MonitorAnswer`. An unreachable monitor or
    a 5xx is retried (the deploy bounds it by ``max_analysis_minutes``).
    """
    assert arg.url is not None
    info = activity.info()
    body = {
        "application": arg.application,
        "deploymentId": info.workflow_id,
        "stageId": arg.stage,
        "cluster": arg.cluster,
        "currentProgress": arg.current_progress,
        "newServerGroup": arg.new_server_group,
        "oldServerGroup": arg.old_server_groups[0] if arg.old_server_groups else None,
        "oldServerGroups": arg.old_server_groups,
    }
    try:
        raw = await asyncio.to_thread(_post, arg.url, json.dumps(body).encode())
    except urllib.error.HTTPError as err:
        if err.code >= 500 or err.code == 429:
            raise RetryableError(f"deployment monitor answered {err.code}") from None
        raise BusinessError(
            ErrorCode.CLOUD_REJECTED, f"deployment monitor refused the request: {err.code}"
        ) from None
    except OSError as err:
        raise RetryableError(f"deployment monitor unreachable: {err}") from None
    try:
        data = json.loads(raw)
        directive = _DIRECTIVES[str(data["nextStep"]["directive"]).lower()]
    except (ValueError, KeyError, TypeError):
        raise RetryableError(f"deployment monitor answered {raw[:200]!r}") from None
    reason = str(data.get("statusReason") or data.get("statusExplanation") or "")
    return MonitorAnswer.model_validate({"directive": directive, "reason": reason})


#: The built-in monitor, registered by this plugin's ``register_deployment_monitors``.
HTTP_MONITOR = DeploymentMonitor(
    name="http",
    evaluate=evaluate_http,
    description="POST each step to monitor.url (Spinnaker's deployment monitor API)",
)


@activity.defn(name="deploy.consult_monitor")
async def consult_monitor(arg: MonitorRequest) -> MonitorAnswer:
    """Ask the registered deployment monitor ``arg.monitor`` about one step.

    The monitor comes from this worker's catalogue (``register_deployment_monitors``); its
    answer is this activity's result, so it is recorded in history and never asked again on
    replay. A monitor's exception is retried (bounded by ``max_analysis_minutes``) unless it
    is a business error.
    """
    entry = lookup(activity.info().task_queue).catalogue.monitors.get(arg.monitor)
    if entry is None:
        raise BusinessError(
            ErrorCode.INVALID_INPUT, f"no deployment monitor {arg.monitor!r} is installed"
        )
    answer = await entry.monitor.evaluate(arg)
    return MonitorAnswer.model_validate(
        answer.model_dump() if isinstance(answer, MonitorAnswer) else answer
    )


ACTIVITIES = (traffic_guards, http_monitor, consult_monitor)
