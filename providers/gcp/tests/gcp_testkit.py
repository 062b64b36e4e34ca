"""Helpers of the cloudops-gcp tests (inputs, where to act)."""

from __future__ import annotations

from typing import Any

from cloudops_testing.checks import sample_create_input
from cloudops_testing.fixtures_gcp import GCP_ACCOUNT, GCP_REGION

IMAGE = "projects/debian-cloud/global/images/family/debian-12"
WHERE = {"account": GCP_ACCOUNT, "region": GCP_REGION}
FAST = {"poll_interval_seconds": 0.2, "wait_timeout_seconds": 60}


def create_input(application: str, /, **overrides: Any) -> dict[str, Any]:
    """A small, fast createServerGroup input: a zonal group of 2 in us-central1-a."""
    placement = {"zones": ["us-central1-a"], "security_groups": ["web"]}
    return sample_create_input(application, IMAGE, "e2-small", **{**placement, **overrides})
