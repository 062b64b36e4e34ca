"""Autoscaling policy arithmetic shared by the autoscalers and the compute state's reconciliation.

Compute's autoscaler keeps a managed instance group's target size within the policy's bounds
(``minNumReplicas``..``maxNumReplicas``); with no load signal in the emulator, only the bounds act.
"""

from __future__ import annotations

from typing import Any

__all__ = ["bounded_size"]

#: Modes in which the autoscaler only adds instances (never shrinks to the maximum).
SCALE_OUT_ONLY = ("ONLY_SCALE_OUT", "ONLY_UP")


def bounded_size(policy: dict[str, Any], size: int) -> int:
    """The size an autoscaler keeps a group of ``size`` at (no load: only the bounds act)."""
    mode = policy.get("mode", "ON")
    if mode == "OFF":
        return size
    size = max(size, int(policy["minNumReplicas"]))
    if mode in SCALE_OUT_ONLY:
        return size
    return min(size, int(policy["maxNumReplicas"]))
