"""Autoscaling copied from a source group (``copy_source_scaling``), read back from moto.

moto stands in for AWS with two fidelity rules of the test kit's proxy: a second
CreateAutoScalingGroup of one name is refused, and the hooks of a create's
LifecycleHookSpecificationList are created with the group (moto ignores the list).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aws_testkit import FAST, WHERE, asg_of, book_for, create_input

import cloudops_aws.plugin
from cloudops.accounts import using_accounts
from cloudops.client import CloudOpsClient
from cloudops.servergroups.contract import GroupCall, ScalingCopyInput
from cloudops_aws.activities import copy_scaling, read_scaling
from cloudops_testing.aws_scaling import autoscale, copies_of, scaling_of
from cloudops_testing.faults import (
    AWS_FIDELITY,
    FaultProxy,
    ProxyRequest,
    ProxyResponse,
    aws_query_error,
)
from cloudops_testing.fixtures_aws import MotoNetwork, aws_account_config


@pytest.fixture
def proxy(aws_fault_proxy: Any) -> FaultProxy:
    """A fault-free proxy in front of moto with AWS's fidelity rules."""
    started: FaultProxy = aws_fault_proxy()
    return started


@pytest.fixture
async def faithful_ops(cloudops_worker: Any, proxy: FaultProxy) -> AsyncIterator[CloudOpsClient]:
    """A worker running the AWS plugin, its account behind the proxy."""
    async with cloudops_worker(
        plugins=[cloudops_aws.plugin],
        load_entrypoints=False,
        accounts=aws_account_config(proxy.url),
    ) as ops:
        yield ops


@pytest.fixture
async def source(
    faithful_ops: CloudOpsClient, moto_client: Any, moto_network: MotoNetwork, app: str
) -> str:
    """An autoscaled group of one instance, with a block device."""
    payload = create_input(
        moto_network,
        app,
        capacity={"min": 1, "max": 3, "desired": 1},
        block_devices=[{"device_name": "/dev/xvda", "size_gb": 20, "volume_type": "gp3"}],
        termination_policies=["OldestInstance"],
    )
    made = await faithful_ops.execute("aws.createServerGroup", payload, **WHERE)
    assert made.ok, made.error
    name: str = made.value["name"]
    autoscale(moto_client, name)
    return name


async def test_a_clone_copies_the_source_autoscaling_under_its_own_names(
    faithful_ops: CloudOpsClient, moto_client: Any, proxy: FaultProxy, source: str
) -> None:
    before = scaling_of(moto_client, source)
    result = await faithful_ops.execute(
        "aws.cloneServerGroup", {"source": source, **FAST}, request_id=f"{source}-c", **WHERE
    )
    assert result.ok, result.error
    clone = result.value["name"]
    assert result.value["resources"]["scaling_copied_from"] == source
    assert scaling_of(moto_client, clone) == before
    assert len(before["policies"]) == 4 and len(before["alarms"]) == 2
    assert scaling_of(moto_client, source) == before  # the source is untouched
    # Hooks were created with the group, in the CreateAutoScalingGroup call.
    assert ("POST", "CreateAutoScalingGroup", "fidelity:aws_create_lifecycle_hooks") in proxy.log
    assert not [entry for entry in proxy.log if entry.target == "PutLifecycleHook"]
    group = asg_of(moto_client, clone)
    assert group is not None and group["TerminationPolicies"] == ["OldestInstance"]
    data = moto_client("ec2").describe_launch_template_versions(
        LaunchTemplateName=clone, Versions=["$Default"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["BlockDeviceMappings"] == [
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3"}}
    ]

    # The same request again, and the copy activity run again (a retry after a lost answer):
    # no second copy of anything.
    again = await faithful_ops.execute(
        "aws.cloneServerGroup", {"source": source, **FAST}, request_id=f"{source}-c", **WHERE
    )
    assert again.ok and again.value["name"] == clone
    copied = copies_of(moto_client, clone)
    with using_accounts(book_for(proxy.url)):
        settings = await read_scaling(GroupCall(**WHERE, name=source))
        await copy_scaling(
            ScalingCopyInput(**WHERE, name=clone, request_id=f"{source}-c", settings=settings)
        )
    assert copies_of(moto_client, clone) == copied
    assert len(copied["policies"]) == 4 and len(copied["alarms"]) == 2


async def test_copy_source_scaling_false_copies_nothing(
    faithful_ops: CloudOpsClient, moto_client: Any, source: str
) -> None:
    result = await faithful_ops.execute(
        "aws.cloneServerGroup",
        {"source": source, "copy_source_scaling": False, **FAST},
        **WHERE,
    )
    assert result.ok, result.error
    assert "scaling_copied_from" not in result.value["resources"]
    assert copies_of(moto_client, result.value["name"]) == {
        "policies": [],
        "alarms": [],
        "scheduled": [],
        "hooks": [],
    }


async def test_a_failed_copy_rolls_back_every_copy(
    aws_fault_proxy: Any, cloudops_worker: Any, moto_client: Any, source: str
) -> None:
    """AWS refuses the scheduled action: the policies and alarms copied before it are deleted."""

    def refuse(request: ProxyRequest) -> ProxyResponse | None:
        if request.action == "PutScheduledUpdateGroupAction":
            return aws_query_error(400, "ValidationError", "Given start time is in the past")
        return None

    failing = aws_fault_proxy(fidelity=[*AWS_FIDELITY, refuse])
    async with cloudops_worker(
        plugins=[cloudops_aws.plugin],
        load_entrypoints=False,
        accounts=aws_account_config(failing.url),
    ) as ops:
        result = await ops.execute("aws.cloneServerGroup", {"source": source, **FAST}, **WHERE)
    assert not result.ok
    clone = source[:-3] + f"{int(source[-3:]) + 1:03d}"
    assert asg_of(moto_client, clone) is None
    assert copies_of(moto_client, clone) == {
        "policies": [],
        "alarms": [],
        "scheduled": [],
        "hooks": [],
    }
    labels = [r.step for r in result.error.rollbacks if r.ok]
    assert f"delete the autoscaling copied to {clone}" in labels
