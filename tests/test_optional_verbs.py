"""The contract's optional verbs: each provider offers some and says why not the others.

No server needed: the operations come from the adapters (the kit builds them), the reasons
from their ``absent`` declarations, and the docs must show both.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudops.servergroups.contract import OPTIONAL_VERBS, VERBS
from cloudops.servergroups.kit import ServerGroupCloud, server_group_operations
from cloudops.servergroups.optional import optional_verbs
from cloudops_aws.operations import AwsServerGroups
from cloudops_azure.operations import AzureServerGroups
from cloudops_gcp.operations import GcpServerGroups

DOCS = Path(__file__).parents[1] / "docs"
CLOUDS = [AwsServerGroups, GcpServerGroups, AzureServerGroups]


@pytest.mark.parametrize("cloud", CLOUDS, ids=lambda c: c.provider)
def test_offered_verbs_are_operations_and_the_others_are_documented_absent(
    cloud: type[ServerGroupCloud],
) -> None:
    names = [op.name for op in server_group_operations(cloud)]
    verbs = optional_verbs(cloud)
    assert names == [*VERBS, *(v for v, why in verbs.items() if why is None)]
    page = (DOCS / "providers" / f"{cloud.provider}.md").read_text()
    for verb, why in verbs.items():
        if why is None:
            assert f"### {cloud.provider}.{verb}\n" in page
        else:
            assert f"`{verb}`" in page.split(f"Not offered on {cloud.label}", 1)[1], verb


def test_every_optional_verb_has_a_row_in_the_spinnaker_table() -> None:
    text = (DOCS / "spinnaker.md").read_text()
    for verb in OPTIONAL_VERBS:
        assert any(verb in line for line in text.splitlines() if line.startswith("| ")), verb


def test_a_cloud_with_scope_fields_gets_them_on_its_optional_inputs() -> None:
    operations = {op.name: op for op in server_group_operations(AzureServerGroups)}
    schema = operations["upsertScalingPolicy"].input_model.model_json_schema()
    assert {"resource_group", "server_group", "policy_name", "step"} <= set(schema["properties"])
    aws = {op.name: op for op in server_group_operations(AwsServerGroups)}
    assert "resource_group" not in aws["upsertScalingPolicy"].input_model.model_fields
