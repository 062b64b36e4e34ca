"""Recorded histories reshaped the way a loaded worker can record them, for replay tests.

Why: a worker may end a workflow task right after a local activity resolves (the runner's
account check), so the commands that followed land in the next task. Replay must give the same
branches either way; a ``workflow.patched`` call straight after a local activity did not (see
``cloudops.patching``). Rather than hoping a loaded machine records that shape, the tests make
it: :func:`split_after_local_activities` adds a task boundary after every local-activity marker
that had commands after it in its task.
"""

from __future__ import annotations

import copy
from typing import Any

from temporalio.client import WorkflowHistory

__all__ = ["split_after_local_activities"]

_SCHEDULED = "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED"


def _is_local_activity(event: dict[str, Any]) -> bool:
    marker = event.get("markerRecordedEventAttributes")
    return marker is not None and marker.get("markerName") == "core_local_activity"


def _boundary(first_id: int, when: str) -> list[dict[str, Any]]:
    """A workflow task scheduled, started and completed at once, from event ``first_id``."""
    scheduled, started, completed = (str(first_id + i) for i in range(3))
    return [
        {
            "eventId": scheduled,
            "eventTime": when,
            "eventType": _SCHEDULED,
            "workflowTaskScheduledEventAttributes": {"startToCloseTimeout": "10s", "attempt": 1},
        },
        {
            "eventId": started,
            "eventTime": when,
            "eventType": "EVENT_TYPE_WORKFLOW_TASK_STARTED",
            "workflowTaskStartedEventAttributes": {"scheduledEventId": scheduled},
        },
        {
            "eventId": completed,
            "eventTime": when,
            "eventType": "EVENT_TYPE_WORKFLOW_TASK_COMPLETED",
            "workflowTaskCompletedEventAttributes": {
                "scheduledEventId": scheduled,
                "startedEventId": started,
            },
        },
    ]


def _renumber(value: Any, ids: dict[str, str]) -> None:
    """Point every ``...EventId`` reference inside ``value`` at the event's new id."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("EventId") and isinstance(item, str) and item in ids:
                value[key] = ids[item]
            else:
                _renumber(item, ids)
    elif isinstance(value, list):
        for item in value:
            _renumber(item, ids)


def split_after_local_activities(history: WorkflowHistory) -> WorkflowHistory:
    """``history`` with a workflow-task boundary after each local activity followed by more."""
    events: list[dict[str, Any]] = history.to_json_dict()["events"]
    reshaped: list[dict[str, Any]] = []
    ids: dict[str, str] = {}
    for index, original in enumerate(events):
        event = copy.deepcopy(original)
        new_id = str(len(reshaped) + 1)
        ids[event["eventId"]] = new_id
        event["eventId"] = new_id
        for key, attributes in event.items():
            if key.endswith("Attributes"):
                _renumber(attributes, ids)
        reshaped.append(event)
        following = events[index + 1]["eventType"] if index + 1 < len(events) else _SCHEDULED
        if _is_local_activity(event) and following != _SCHEDULED:
            reshaped += _boundary(len(reshaped) + 1, event["eventTime"])
    return WorkflowHistory.from_json(history.workflow_id, {"events": reshaped})
