"""The Rolling upgrade policy: a health signal is required, and model changes roll in batches.

Why: under ``upgradePolicy.mode: Rolling`` Azure refuses a scale set that has neither a load
balancer health probe (``networkProfile.healthProbe``) nor the Application Health extension
(Microsoft Learn, "Configure rolling upgrades on Virtual Machine Scale Sets": "a health probe or
the Application Health extension is required"; azure-rest-api-specs ``UpgradePolicy``,
``RollingUpgradePolicy``), and a model change reaches the VMs in batches of at most
``rollingUpgradePolicy.maxBatchInstancePercent`` (default 20) of them, one batch after another,
*after* the PUT or PATCH itself has Succeeded. A client that waits only for the operation sees
VMs on the old model (still in the old backend pools) for a while.

Modelled: the check on PUT and PATCH (400 ``InvalidParameter``, or ``InvalidResourceReference``
for a probe that does not exist), and the batches: one every ``lro_seconds`` after the change.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

from cloudops_testing.azure_emulator.errors import ArmError

if TYPE_CHECKING:
    from cloudops_testing.azure_emulator.resources import LoadBalancer, ScaleSet

__all__ = ["check_rolling", "is_rolling", "roll"]

_HEALTH_EXTENSIONS = ("applicationhealthlinux", "applicationhealthwindows")


def is_rolling(properties: dict[str, Any]) -> bool:
    """Whether ``properties`` set the Rolling upgrade policy."""
    return str((properties.get("upgradePolicy") or {}).get("mode", "")).lower() == "rolling"


def check_rolling(
    properties: dict[str, Any], probes: dict[str, LoadBalancer], scale_set_id: str
) -> None:
    """Refuse a Rolling scale set without a health probe or Application Health extension.

    ``probes`` maps lower-cased probe ids to their load balancer.
    """
    if not is_rolling(properties):
        return
    profile = properties.get("virtualMachineProfile") or {}
    probe = ((profile.get("networkProfile") or {}).get("healthProbe") or {}).get("id")
    extensions = (profile.get("extensionProfile") or {}).get("extensions") or []
    has_extension = any(
        str((e.get("properties") or {}).get("type", "")).lower() in _HEALTH_EXTENSIONS
        for e in extensions
        if isinstance(e, dict)
    )
    if probe:
        if str(probe).lower() not in probes:
            raise ArmError(
                400,
                "InvalidResourceReference",
                f"Resource {probe} referenced by resource {scale_set_id} was not found.",
            )
    elif not has_extension:
        raise ArmError(
            400,
            "InvalidParameter",
            "Rolling Upgrade mode is not supported for this Virtual Machine Scale Set because a "
            "health probe or health extension was not provided.",
            "upgradePolicy.mode",
        )


def roll(scale_set: ScaleSet, now: float, batch_seconds: float) -> None:
    """Bring the next batch of VMs to the latest model, if a batch is due."""
    if scale_set.rolling_at is None or now - scale_set.rolling_at < batch_seconds:
        return
    stale = [i for i in scale_set.alive() if i.model_version != scale_set.model_version]
    policy = (scale_set.properties.get("upgradePolicy") or {}).get("rollingUpgradePolicy") or {}
    percent = int(policy.get("maxBatchInstancePercent", 20))
    batch = max(1, math.ceil(len(scale_set.alive()) * percent / 100))
    for instance in stale[:batch]:
        instance.network = copy.deepcopy(scale_set.network)
        instance.model_version = scale_set.model_version
    scale_set.rolling_at = now if len(stale) > batch else None
