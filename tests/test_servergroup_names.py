"""Spinnaker naming and the common models (cloudops.servergroups.models, core)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

import cloudops
from cloudops.servergroups.models import (
    Capacity,
    CloneServerGroupInput,
    SequenceSlot,
    ServerGroupName,
    ServerGroupOutput,
    TerminateInstancesInput,
    cluster_name,
    next_sequence,
    next_server_group_name,
)


@pytest.mark.parametrize(
    ("name", "application", "stack", "detail", "sequence"),
    [
        ("app", "app", "", "", None),
        ("app-v001", "app", "", "", 1),
        ("app-prod", "app", "prod", "", None),
        ("app-prod-v012", "app", "prod", "", 12),
        ("app--canary-v003", "app", "", "canary", 3),
        ("app-prod-us-east-blue-v999", "app", "prod", "us-east-blue", 999),
        ("app-prod-v1000", "app", "prod", "", 1000),
        ("app-prod-v01", "app", "prod", "v01", None),  # two digits: not a sequence
        ("my.app_x-st", "my.app_x", "st", "", None),
    ],
)
def test_parse_and_format(
    name: str, application: str, stack: str, detail: str, sequence: int | None
) -> None:
    parsed = ServerGroupName.parse(name)
    assert (parsed.application, parsed.stack, parsed.detail, parsed.sequence) == (
        application,
        stack,
        detail,
        sequence,
    )
    assert parsed.format() == name
    assert str(parsed) == name


@pytest.mark.parametrize("name", ["", "bad name", "-app", "app-st ack-v001", "app/x"])
def test_parse_rejects(name: str) -> None:
    with pytest.raises(ValueError):
        ServerGroupName.parse(name)
    assert ServerGroupName.try_parse(name) is None


def test_cluster_names() -> None:
    assert cluster_name("app") == "app"
    assert cluster_name("app", "prod") == "app-prod"
    assert cluster_name("app", "", "canary") == "app--canary"
    assert cluster_name("app", "prod", "canary") == "app-prod-canary"
    assert ServerGroupName(application="app", sequence=7).format() == "app-v007"


def test_next_sequence() -> None:
    assert next_sequence([]) == 0
    assert next_sequence([0, 1, 2]) == 3
    assert next_sequence([0, 5]) == 6
    assert next_sequence([999]) == 0  # wraps
    assert next_sequence([999, 0, 1]) == 2  # skips taken ones
    start = datetime(2024, 1, 1)
    # The latest *created* group decides, not the highest number.
    assert next_sequence([SequenceSlot(999, start), SequenceSlot(3, start + timedelta(1))]) == 4
    assert next_sequence([SequenceSlot(3, start), SequenceSlot(999, start + timedelta(1))]) == 0
    with pytest.raises(cloudops.BusinessError) as full:
        next_sequence(range(1000))
    assert full.value.code == "CONFLICT"


def test_next_name_ignores_other_clusters() -> None:
    existing = ["app-v005", "app-prod-v009", "other-v100", "app-prod-x-v002", "not a name"]
    assert next_server_group_name("app", "", "", existing).format() == "app-v006"
    assert next_server_group_name("app", "prod", "", existing).format() == "app-prod-v010"
    assert next_server_group_name("new", "", "", existing).format() == "new-v000"


def test_capacity() -> None:
    assert Capacity.fixed(2) == Capacity(min=2, max=2, desired=2)
    for bad in ({"min": 2, "max": 1, "desired": 1}, {"min": 0, "max": 1, "desired": 2}):
        with pytest.raises(ValidationError):
            Capacity.model_validate(bad)
    with pytest.raises(ValidationError):
        Capacity(min=-1, max=1, desired=0)


def test_inputs() -> None:
    clone = CloneServerGroupInput(source="app-v001", instance_type="m5.large", wait=False)
    assert clone.overrides() == {"instance_type": "m5.large"}
    with pytest.raises(ValidationError):
        CloneServerGroupInput(source="app-v001", tags={"cloudops:request-id": "x"})
    with pytest.raises(ValidationError):
        TerminateInstancesInput(server_group="app-v001", instance_ids=["i-1", "i-1"])
    with pytest.raises(ValidationError):
        TerminateInstancesInput(server_group="app-v001", instance_ids=[])


def test_output_for_name() -> None:
    out = ServerGroupOutput.for_name("app-prod-v004", region="us-east-1")
    assert (out.cluster, out.sequence) == ("app-prod", 4)
    odd = ServerGroupOutput.for_name("handmade group")
    assert (odd.cluster, odd.sequence) == ("handmade group", None)
