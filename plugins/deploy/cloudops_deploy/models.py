"""Inputs and outputs of the deploy strategies."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

import cloudops
from cloudops.servergroups.models import ServerGroupNameStr


class WaitOptions(cloudops.Input):
    """How long to wait for the cloud, passed to every server-group operation the deploy runs."""

    health_timeout_seconds: int = Field(
        default=1800, ge=1, le=86_400, description="deadline for the new group to be healthy"
    )
    poll_interval_seconds: float = Field(default=10.0, ge=0.2, le=600)


class JudgementOptions(cloudops.Input):
    """Optional manual judgement before traffic leaves the old server group."""

    manual_judgement: bool = Field(
        default=False, description="pause before disabling the old group until approved"
    )
    judgement_timeout_seconds: float = Field(
        default=3600, gt=0, le=7 * 86_400, description="no decision in time: roll back"
    )


class RedBlackInput(WaitOptions, JudgementOptions):
    """Deploy a new server group and move all traffic to it at once (a.k.a. blue/green).

    ``server_group`` is the input of the account's provider's ``createServerGroup`` (its
    application, stack and detail name the cluster; the next ``vNNN`` is chosen for it).
    """

    server_group: dict[str, Any] = Field(description="the provider's createServerGroup input")
    scale_down_old: bool = Field(default=False, description="resize old groups to 0 afterwards")
    scale_down_delay_seconds: float = Field(default=0, ge=0, le=86_400)
    max_remaining_server_groups: int | None = Field(
        default=None, ge=1, le=100, description="destroy the oldest groups beyond this many"
    )
    pin_capacity: bool = Field(
        default=True,
        description="create the new group with min = desired so that copied scaling policies "
        "cannot shrink it while traffic moves; its min is restored before the deploy ends, "
        "and by the rollback if it fails or is cancelled",
    )
    use_source_capacity: bool = Field(
        default=False,
        description="give the new group the capacity of the cluster's serving group (the "
        "source), not server_group's",
    )


class RollingRedBlackInput(RedBlackInput):
    """Move traffic in percentage steps, waiting for health at each step."""

    percentages: list[int] = Field(default_factory=lambda: [25, 50, 100], min_length=1)

    @field_validator("percentages")
    @classmethod
    def _steps(cls, value: list[int]) -> list[int]:
        if any(p <= 0 or p > 100 for p in value):
            raise ValueError("each percentage must be in 1..100")
        if value != sorted(set(value)):
            raise ValueError("percentages must be strictly increasing")
        if value[-1] != 100:
            raise ValueError("the last percentage must be 100")
        return value


class RollbackInput(WaitOptions):
    """Put a previous server group back in service and take the current one(s) out."""

    restore: ServerGroupNameStr = Field(description="the server group to re-enable")
    current: list[ServerGroupNameStr] | None = Field(
        default=None,
        description="groups to disable; default: every other enabled group of the cluster",
    )
    scope: dict[str, Any] = Field(
        default_factory=dict,
        description="provider fields that locate the groups, sent to each of the provider's "
        'operations (Azure: {"resource_group": "..."}); a red/black takes them from '
        "server_group",
    )


class DeployOutput(cloudops.Output):
    """What a deploy did, step by step (the steps are also in the result's metadata)."""

    cluster: str
    new_server_group: str | None = None
    previous_server_groups: list[str] = Field(default_factory=list)
    enabled: list[str] = Field(default_factory=list)
    disabled: list[str] = Field(default_factory=list)
    scaled_down: list[str] = Field(default_factory=list)
    resized: list[str] = Field(
        default_factory=list, description="groups resized up before taking traffic (rollback)"
    )
    destroyed: list[str] = Field(default_factory=list)
    judged_by: str | None = None
    cleanup_errors: list[str] = Field(default_factory=list)
