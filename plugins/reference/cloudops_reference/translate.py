"""Pure translation between the cloud's documents and errors and cloudops' models."""

from __future__ import annotations

from cloudops import BusinessError, ErrorCode, RetryableError
from cloudops.servergroups import models as sg
from cloudops.servergroups.translate import name_parts
from cloudops_reference.models import GroupStatus
from reference_cloud import CloudError, Group

#: The cloud's error codes that no retry fixes, as cloudops' business errors. ``Busy`` is retried
#: with backoff; anything else a bounded number of times, then ``RETRIES_EXHAUSTED``.
ERRORS = {
    "NotFound": ErrorCode.NOT_FOUND,
    "AlreadyExists": ErrorCode.CONFLICT,
    "InvalidEndpoint": ErrorCode.INVALID_INPUT,
}


def classify(err: BaseException) -> BaseException:
    """A cloud error as a business error, a busy cloud as retryable, others unchanged."""
    if isinstance(err, CloudError) and err.code in ERRORS:
        return BusinessError(ERRORS[err.code], str(err), {"reference_code": err.code})
    if isinstance(err, CloudError) and err.code == "Busy":
        return RetryableError(str(err), retry_after=0.2)
    return err


def health(instance: Group) -> sg.HealthState:
    """Starting; Up when running in the load balancer; OutOfService when running outside it."""
    if instance["state"] != "running":
        return sg.HealthState.STARTING
    return sg.HealthState.UP if instance["registered"] else sg.HealthState.OUT_OF_SERVICE


def description(group: Group, region: str) -> sg.ServerGroupDescription:
    """The common description of a group."""
    template = group["template"]
    balancers = [*template["load_balancers"], *template["target_groups"]]
    instances = [
        sg.ServerGroupInstance(
            **{k: i[k] for k in ("id", "zone", "state", "launched_at")},
            health=health(i),
            load_balancer_health={b: health(i).value for b in balancers},
        )
        for i in group["instances"]
    ]
    keep = ("zones", "subnets", "load_balancers", "target_groups", "security_groups", "image")
    return sg.ServerGroupDescription(
        **name_parts(group["name"]),
        **{key: template[key] for key in (*keep, "instance_type")},
        **{key: group[key] for key in ("capacity", "disabled", "created_at", "tags")},
        region=region,
        instances=instances,
    )


def template(group: Group) -> sg.CreateServerGroupInput:
    """The create input that makes a copy of ``group`` (its own tags, not cloudops')."""
    tags = {k: v for k, v in group["tags"].items() if not k.startswith(sg.RESERVED_TAG_PREFIX)}
    return sg.CreateServerGroupInput(**group["template"], capacity=group["capacity"], tags=tags)


def status(group: Group | None) -> GroupStatus:
    """The group's capacity, traffic state and instance counts (healthy: Up)."""
    if group is None:
        return GroupStatus(found=False)
    healthy = sum(health(i) == sg.HealthState.UP for i in group["instances"])
    instances = len(group["instances"])
    return GroupStatus(
        capacity=group["capacity"], disabled=group["disabled"], instances=instances, healthy=healthy
    )
