"""Inputs and outputs of the deploy strategies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

import cloudops
from cloudops.models import OperationError, RollbackRecord
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


Directive = Literal["continue", "wait", "rollback", "abort"]


class MonitorOptions(cloudops.Input):
    """A deployment monitor consulted after each step and during the bake time.

    ``name``: a monitor a plugin registered (``register_deployment_monitors``); the default,
    ``http``, is the built-in HTTP monitor at ``url``, in the shape of Spinnaker's deployment
    monitor API (a POST per step answered ``{"nextStep": {"directive":
    "continue|wait|rollback|abort"}, "statusReason": "..."}``). Or ``activity``: any installed
    activity taking a :class:`MonitorRequest` and answering a :class:`MonitorAnswer`.
    """

    name: str = Field(default="http", min_length=1, max_length=200)
    url: str | None = Field(default=None, max_length=2000, description="for the http monitor")
    activity: str | None = Field(default=None, max_length=200)
    max_analysis_minutes: float = Field(default=30, gt=0, le=24 * 60)
    bake_seconds: float = Field(default=0, ge=0, le=86_400, description="consult while baking")
    on_failure: Literal["rollback", "continue"] = Field(
        default="rollback", description="what an unreachable monitor or a timeout does"
    )

    @model_validator(mode="after")
    def _http_needs_url(self) -> MonitorOptions:
        if self.activity is None and self.name == "http" and not self.url:
            raise ValueError("the http monitor needs a url")
        return self


class MonitorRequest(cloudops.Input):
    """What a monitor is told at each step (Spinnaker's EvaluateHealthRequest)."""

    application: str
    cluster: str
    new_server_group: str
    old_server_groups: list[str]
    current_progress: int
    stage: str
    url: str | None = None
    monitor: str = Field(default="http", description="the registered monitor to consult")


class MonitorAnswer(cloudops.Output):
    """A monitor's directive (Spinnaker's EvaluateHealthResponse)."""

    directive: Directive
    reason: str = ""


class DeployOptions(WaitOptions, JudgementOptions):
    """The options every strategy takes (Orca's names in the docs)."""

    server_group: dict[str, Any] = Field(description="the provider's createServerGroup input")
    use_source_capacity: bool = Field(
        default=False, description="the new group takes the current group's capacity"
    )
    pin_capacity: bool = Field(
        default=True,
        description="create the new group with min = desired so that copied scaling policies "
        "cannot shrink it while traffic moves; its min is restored before the deploy ends, "
        "and by the rollback if it fails or is cancelled",
    )
    target_healthy_percentage: int = Field(
        default=100, ge=1, le=100, description="share of instances that must be healthy"
    )
    delay_before_disable_seconds: float = Field(default=0, ge=0, le=86_400)
    delay_before_scale_down_seconds: float = Field(default=0, ge=0, le=86_400)
    max_initial_server_groups: int | None = Field(
        default=None, ge=0, le=100, description="refuse to start if the cluster has more"
    )
    rollback_mode: Literal["destroy", "disable"] = Field(
        default="destroy", description="on failure, destroy the new group or keep it disabled"
    )
    monitor: MonitorOptions | None = None


class RedBlackInput(DeployOptions):
    """Deploy a new server group and move all traffic to it at once (a.k.a. blue/green).

    ``server_group`` is the input of the account's provider's ``createServerGroup`` (its
    application, stack and detail name the cluster; the next ``vNNN`` is chosen for it).
    """

    scale_down_old: bool = Field(default=False, description="resize old groups to 0 afterwards")
    scale_down_delay_seconds: float = Field(default=0, ge=0, le=86_400)
    max_remaining_server_groups: int | None = Field(
        default=None, ge=1, le=100, description="destroy the oldest groups beyond this many"
    )


class RollingRedBlackInput(RedBlackInput):
    """Move traffic in percentage steps, waiting for health at each step.

    At each percentage the new group grows to that share of its capacity and the same share
    of the old groups' instances leaves the load balancers, still running: a rollback puts the
    traffic back at once. ``scale_down`` resizes the old groups to 0 once done.
    """

    percentages: list[int] = Field(default_factory=lambda: [25, 50, 100], min_length=1)
    scale_down: bool = Field(default=False, description="resize the old groups to 0 at the end")

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


class MonitoredInput(RollingRedBlackInput):
    """``deploy.monitored``: a rolling red/black that needs a deployment monitor."""

    monitor: MonitorOptions


class CustomInput(RedBlackInput):
    """``deploy.custom``: run ``strategy``, any installed operation taking the deploy input."""

    strategy: str = Field(min_length=3, max_length=200, description="e.g. mycorp.canary")
    parameters: dict[str, Any] = Field(default_factory=dict, description="strategy's own fields")


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
    recreate: dict[str, Any] | None = Field(
        default=None,
        description="previous-image rollback: the createServerGroup input to re-create the "
        "group with when it no longer exists (a deploy's previous_launch_settings)",
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
    traffic_steps: list[str] = Field(
        default_factory=list, description="rolling: the share of each old group out per step"
    )
    monitor_reasons: list[str] = Field(default_factory=list)
    previous_launch_settings: dict[str, Any] | None = Field(
        default=None, description="the previous group's settings, for a previous-image rollback"
    )


CutOverPolicy = Literal["all_or_nothing", "per_target"]


class DeployTarget(cloudops.Input):
    """One place a multi-target deploy deploys to."""

    name: str | None = Field(
        default=None, min_length=1, max_length=100, description="default: account/region"
    )
    account: str = Field(min_length=1, max_length=200)
    region: str = Field(min_length=1, max_length=100)
    server_group: dict[str, Any] = Field(description="the provider's createServerGroup input")
    options: dict[str, Any] = Field(
        default_factory=dict, description="this target's strategy options (over the shared ones)"
    )

    @property
    def label(self) -> str:
        """The target's name in progress, rollbacks and the output."""
        return self.name or f"{self.account}/{self.region}"


class MultiTargetInput(cloudops.Input):
    """``deploy.multi``: one application to several targets (clouds, accounts, regions).

    Each target runs ``strategy`` with ``options`` (and its own ``options``) in this workflow.
    ``wave_size`` targets at a time (default: all at once), ``bake_seconds`` between waves.
    ``cut_over``: ``all_or_nothing`` (default) holds every target at its cut-over until all
    have cut over, and if any fails before that, every target rolls back; ``per_target``: a
    failed target rolls back alone and the others go on.
    """

    targets: list[DeployTarget] = Field(min_length=1, max_length=50)
    strategy: str = Field(default="deploy.redBlack", min_length=3, max_length=200)
    options: dict[str, Any] = Field(
        default_factory=dict, description="strategy options every target gets"
    )
    wave_size: int | None = Field(default=None, ge=1, le=50, description="targets per wave")
    bake_seconds: float = Field(default=0, ge=0, le=86_400, description="wait between waves")
    cut_over: CutOverPolicy = "all_or_nothing"

    @field_validator("targets")
    @classmethod
    def _unique(cls, value: list[DeployTarget]) -> list[DeployTarget]:
        labels = [t.label for t in value]
        if len(set(labels)) != len(labels):
            raise ValueError("two targets have the same name (give them a name)")
        return value


TargetStatus = Literal["deployed", "failed", "rolled_back", "not_started"]


class TargetOutcome(cloudops.Output):
    """What a multi-target deploy did on one target."""

    target: str
    account: str
    region: str
    wave: int
    status: TargetStatus = "not_started"
    output: DeployOutput | None = None
    error: OperationError | None = None
    rollbacks: list[RollbackRecord] = Field(
        default_factory=list, description="per_target: the failed target's own rollback"
    )


class MultiTargetOutput(cloudops.Output):
    """Each target's outcome, in the order of the input."""

    cut_over: CutOverPolicy
    targets: list[TargetOutcome]
