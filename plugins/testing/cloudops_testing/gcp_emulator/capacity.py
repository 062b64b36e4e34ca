"""Instances a managed instance group cannot create: quota and stockouts, as GCE reports them.

Why: on Compute Engine an instance that cannot be created does not fail the group's ``insert`` or
``resize`` Operation. The Operation is DONE once the group (or its new target size) exists; the
instance stays ``currentAction: CREATING`` without an ``instanceStatus``, the group keeps
retrying, and the error appears in ``ManagedInstance.lastAttempt.errors`` (compute v1 discovery
document: "lastAttempt: [Output Only] Information about the last attempt to create or delete the
instance") and in ``instanceGroupManagers.listErrors`` (Google Cloud docs, "Viewing errors of
managed instance groups"). A provider that only reads Operations waits until its timeout.

Modelled: a per-region ``INSTANCES`` quota (``GcpEmulator.instance_quota``) and zones out of
resources (``GcpEmulator.stockout_zones``, ``ZONE_RESOURCE_POOL_EXHAUSTED``). An instance
blocked by either is retried on every tick and boots once the quota or zone frees up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudops_testing.gcp_emulator.links import link, timestamp

if TYPE_CHECKING:
    from cloudops_testing.gcp_emulator.compute import ComputeState
    from cloudops_testing.gcp_emulator.instances import Instance

__all__ = ["creation_error", "list_errors", "retry_creations"]


def creation_error(state: ComputeState, instance: Instance) -> tuple[str, str] | None:
    """(code, message) of why ``instance`` cannot be created now, or None."""
    region = state.region_of(instance.zone)
    if instance.zone in state.stockout_zones:
        return (
            "ZONE_RESOURCE_POOL_EXHAUSTED",
            f"The zone 'projects/{state.project}/zones/{instance.zone}' does not have enough "
            "resources available to fulfill the request. Try a different zone, or try again "
            "later.",
        )
    quota = state.instance_quota
    if quota is None:
        return None
    used = sum(
        1
        for other in state.instances.values()
        if other is not instance
        and other.last_error is None
        and other.action != "DELETING"
        and state.region_of(other.zone) == region
    )
    if used < quota:
        return None
    return (
        "QUOTA_EXCEEDED",
        f"Quota 'INSTANCES' exceeded.  Limit: {float(quota)} in region {region}.",
    )


def retry_creations(state: ComputeState, now: float) -> None:
    """One creation attempt for each instance still waiting to be created (every tick)."""
    for instance in state.instances.values():
        if instance.action != "CREATING" or (
            instance.last_error is None and instance.status != "PROVISIONING"
        ):
            continue
        was = instance.last_error
        instance.last_error = creation_error(state, instance) if was or instance.fresh else None
        instance.fresh = False
        if instance.last_error is not None and was is None and instance.group:
            group = state.groups.get(instance.group)
            if group is not None:
                code, message = instance.last_error
                group.setdefault("_errors", []).append(
                    {
                        "instanceActionDetails": {
                            "instance": link(instance.path),
                            "action": "CREATING",
                        },
                        "error": {"code": code, "message": message},
                        "timestamp": timestamp(),
                    }
                )
        if was is not None and instance.last_error is None:
            instance.since = now  # created at last: the boot starts now


def list_errors(state: ComputeState, group: dict[str, Any]) -> list[dict[str, Any]]:
    """``listErrors`` items of a group, newest first."""
    return list(reversed(group.get("_errors") or []))
