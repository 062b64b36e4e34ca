"""The provider conformance suite on the reference cloud, read back from its SQLite file.

The reference cloud has no HTTP endpoint for a fault proxy, so the suite's fault and SIGKILL
tests are skipped here (the reference provider's own tests kill a worker mid-wait), and it
refuses no create after making something, so the failing-create test is skipped too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reference_testkit import account_config, read_group, read_groups

import cloudops_reference.plugin
from cloudops.servergroups.models import HealthState
from cloudops_testing.conformance import ConformanceSuite, ConformanceTarget, GroupState


@pytest.fixture
def conformance_target(cloud_db: Path) -> ConformanceTarget:
    def sample(application: str) -> dict[str, object]:
        return {
            "application": application,
            "image": "img-1",
            "instance_type": "small",
            "load_balancers": ["lb-1"],
            "zones": ["local-1a"],
        }

    def read(name: str) -> GroupState | None:
        group = read_group(cloud_db, name)
        if group is None:
            return None
        return GroupState(
            desired=group.capacity.desired,
            instances=len(group.instances),
            in_traffic=any(i.health == HealthState.UP for i in group.instances),
        )

    def resources(application: str) -> list[str]:
        groups = [g for g in read_groups(cloud_db) if g.application == application]
        return [*(g.name for g in groups), *(i.id for g in groups for i in g.instances)]

    return ConformanceTarget(
        provider="reference",
        plugin=cloudops_reference.plugin,
        accounts=account_config(cloud_db),
        create_input=sample,
        read_group=read,
        resources=resources,
    )


class TestReferenceConformance(ConformanceSuite):
    """Every test of the suite the reference cloud can take, on its SQLite file."""
