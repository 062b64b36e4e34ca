"""The part every cloud adapter of the kits shares: where it acts and how its activities are named.

Why one base: a server-group adapter (:class:`cloudops.servergroups.kit.ServerGroupCloud`) and a
network adapter (:class:`cloudops.network.kit.NetworkCloud`) of one cloud both need the request's
account and region (or ``INVALID_INPUT``), their cloud's activity names and the activity options
that suit a cloud API; those are written here once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from temporalio.common import RetryPolicy

from cloudops.operation import ActivityDefaults, OperationContext
from cloudops.servergroups.models import require_location

__all__ = ["CLOUD_ACTIVITY_DEFAULTS", "CloudAdapter"]

#: Activity options that suit a cloud API: calls are short; throttling and 5xx are retried by
#: Temporal with backoff (the SDKs' own retries are kept small), ten attempts over about two
#: minutes ride out a throttling storm, a business error stops at once. Activities heartbeat
#: (:mod:`cloudops.blocking`), so an attempt lost with a crashed worker is retried after the
#: heartbeat timeout, not after the start-to-close timeout.
CLOUD_ACTIVITY_DEFAULTS = ActivityDefaults(
    start_to_close_timeout=timedelta(minutes=2),
    heartbeat_timeout=timedelta(seconds=10),
    schedule_to_close_timeout=timedelta(minutes=15),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=20),
        maximum_attempts=10,
    ),
)


class CloudAdapter:
    """One cloud seen from the workflow, for one operation run (``self.ctx``)."""

    #: The provider name, prefix of every operation and activity name (``aws``).
    provider: ClassVar[str]
    #: How the cloud is named in messages (``AWS``).
    label: ClassVar[str]
    #: Timeouts and retry policy of the operations' activity calls.
    activity_defaults: ClassVar[ActivityDefaults] = CLOUD_ACTIVITY_DEFAULTS
    #: Fields of an input that locate a resource beyond its name (Azure: ``resource_group``).
    scope_fields: ClassVar[tuple[str, ...]] = ()
    #: The location's name in messages (Azure calls a region a location).
    region_note: ClassVar[str] = ""

    def __init__(self, ctx: OperationContext) -> None:
        self.ctx = ctx
        self.account, self.region = require_location(
            ctx, f"{self.label} operations need an account and a region{self.region_note}"
        )

    def activity(self, name: str) -> str:
        """The full name of one of this cloud's activities (``aws.describe_server_group``)."""
        return f"{self.provider}.{name}"
