"""The local GCP stack: the Compute Engine emulator as the fixtures and local clouds start it.

Plain code (no pytest): the ``gcp_*`` fixtures and the GCP provider's local cloud profile both
build on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudops_testing.gcp_emulator import GcpEmulator

__all__ = ["GCP_ACCOUNT", "GCP_PROJECT", "GCP_REGION", "gcp_account_config", "new_gcp_emulator"]

#: Name of the account the fixtures configure, its project and region.
GCP_ACCOUNT = "gcp-emu"
GCP_PROJECT = "cloudops-emu"
GCP_REGION = "us-central1"


def gcp_account_config(
    endpoint: str,
    *,
    name: str = GCP_ACCOUNT,
    project: str = GCP_PROJECT,
    regions: tuple[str, ...] = (GCP_REGION,),
    **settings: Any,
) -> dict[str, Any]:
    """A ``cloudops.toml``-shaped dict with one GCP account whose API is at ``endpoint``.

    The account uses anonymous credentials (allowed only with an endpoint override) and short
    read retries; ``settings`` are extra GCP account keys.
    """
    account = {
        "provider": "gcp",
        "regions": list(regions),
        "endpoint": endpoint,
        "project": project,
        "credentials": "anonymous",
        "read_retry_seconds": 5.0,
        "request_timeout_seconds": 30.0,
        **settings,
    }
    return {"accounts": {name: account}}


def new_gcp_emulator() -> GcpEmulator:
    """A Compute Engine emulator with fast operations and boots (not started)."""
    from cloudops_testing.gcp_emulator import GcpEmulator, Timing

    return GcpEmulator(
        GCP_PROJECT, timing=Timing(operation_seconds=0.2, instance_seconds=0.4), seed=4
    )
