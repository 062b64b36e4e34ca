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
from cloudops_testing.faults import (
    AWS_FIDELITY,
    FaultProxy,
    ProxyRequest,
    ProxyResponse,
    aws_query_error,
)
from cloudops_testing.fixtures_aws import MotoNetwork, aws_account_config

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"


def autoscale(moto_client: Any, group: str) -> None:
    """Give ``group`` a policy of every type, two alarms, a schedule, a hook, more settings."""
    asg, cw = moto_client("autoscaling"), moto_client("cloudwatch")
    asg.put_scaling_policy(
        AutoScalingGroupName=group,
        PolicyName=f"{group}-cpu",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": 55.0,
        },
    )
    asg.put_scaling_policy(
        AutoScalingGroupName=group,
        PolicyName=f"{group}-step-up",
        PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity",
        MetricAggregationType="Average",
        StepAdjustments=[{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 2}],
    )
    asg.put_scaling_policy(
        AutoScalingGroupName=group,
        PolicyName="scale-down",  # a name without the group's: the copy is prefixed
        AdjustmentType="ChangeInCapacity",
        ScalingAdjustment=-1,
        Cooldown=120,
    )
    asg.put_scaling_policy(
        AutoScalingGroupName=group,
        PolicyName=f"{group}-forecast",
        PolicyType="PredictiveScaling",
        PredictiveScalingConfiguration={
            "MetricSpecifications": [
                {
                    "TargetValue": 40,
                    "PredefinedMetricPairSpecification": {
                        "PredefinedMetricType": "ASGCPUUtilization"
                    },
                }
            ],
            "Mode": "ForecastOnly",
        },
    )
    arns = {
        p["PolicyName"]: p["PolicyARN"]
        for p in asg.describe_policies(AutoScalingGroupName=group)["ScalingPolicies"]
    }
    for alarm, policy, threshold, operator in (
        (f"{group}-high", f"{group}-step-up", 70, "GreaterThanThreshold"),
        (f"{group}-low", "scale-down", 20, "LessThanThreshold"),
    ):
        cw.put_metric_alarm(
            AlarmName=alarm,
            MetricName="CPUUtilization",
            Namespace="AWS/EC2",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=2,
            Threshold=threshold,
            ComparisonOperator=operator,
            Dimensions=[{"Name": "AutoScalingGroupName", "Value": group}],
            AlarmActions=[arns[policy]],
        )
    asg.put_scheduled_update_group_action(
        AutoScalingGroupName=group,
        ScheduledActionName=f"{group}-night",
        Recurrence="0 22 * * *",
        MinSize=0,
        MaxSize=3,
        DesiredCapacity=1,
    )
    asg.put_lifecycle_hook(
        AutoScalingGroupName=group,
        LifecycleHookName="warm-up",
        LifecycleTransition=LAUNCHING,
        HeartbeatTimeout=120,
        DefaultResult="CONTINUE",
    )
    asg.suspend_processes(AutoScalingGroupName=group, ScalingProcesses=["AZRebalance"])
    asg.enable_metrics_collection(
        AutoScalingGroupName=group, Granularity="1Minute", Metrics=["GroupInServiceInstances"]
    )


def scaling_of(moto_client: Any, group: str) -> dict[str, Any]:
    """A group's autoscaling as AWS holds it, with its own name (as a prefix: dropped) replaced
    by ``GROUP`` (a copy prefixes the names of the source's that lack the source's name)."""
    asg, cw = moto_client("autoscaling"), moto_client("cloudwatch")

    def plain(text: str) -> str:
        return text.replace(group, "GROUP").removeprefix("GROUP-")

    policies = asg.describe_policies(AutoScalingGroupName=group)["ScalingPolicies"]
    by_arn = {p["PolicyARN"]: plain(p["PolicyName"]) for p in policies}
    alarms = [
        a
        for a in cw.describe_alarms()["MetricAlarms"]
        if any(action in by_arn for action in a["AlarmActions"])
    ]
    found = asg_of(moto_client, group)
    assert found is not None
    return {
        "policies": {
            plain(p["PolicyName"]): {
                k: v
                for k, v in p.items()
                if k not in ("PolicyARN", "PolicyName", "AutoScalingGroupName", "Alarms")
            }
            for p in policies
        },
        "alarms": {
            plain(a["AlarmName"]): (
                [by_arn[action] for action in a["AlarmActions"]],
                [(d["Name"], plain(d["Value"])) for d in a["Dimensions"]],
                a["Threshold"],
            )
            for a in alarms
        },
        "scheduled": {
            plain(s["ScheduledActionName"]): (
                s.get("Recurrence"),
                s["MinSize"],
                s["DesiredCapacity"],
            )
            for s in asg.describe_scheduled_actions(AutoScalingGroupName=group)[
                "ScheduledUpdateGroupActions"
            ]
        },
        "hooks": {
            h["LifecycleHookName"]: (h["LifecycleTransition"], h["HeartbeatTimeout"])
            for h in asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
        },
        "suspended": sorted(
            p["ProcessName"]
            for p in found["SuspendedProcesses"]
            if p["ProcessName"] not in ("Launch", "Terminate", "AddToLoadBalancer")
        ),
        "metrics": sorted(m["Metric"] for m in found.get("EnabledMetrics") or []),
    }


def copies_of(moto_client: Any, group: str) -> dict[str, list[str]]:
    """Every policy, alarm, scheduled action and hook named after (or attached to) ``group``."""
    asg, cw = moto_client("autoscaling"), moto_client("cloudwatch")
    return {
        "policies": [
            p["PolicyName"]
            for p in asg.describe_policies()["ScalingPolicies"]
            if group in p["PolicyName"] or p["AutoScalingGroupName"] == group
        ],
        "alarms": [
            a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"] if group in a["AlarmName"]
        ],
        "scheduled": [
            s["ScheduledActionName"]
            for s in asg.describe_scheduled_actions()["ScheduledUpdateGroupActions"]
            if group in s["ScheduledActionName"] or s["AutoScalingGroupName"] == group
        ],
        "hooks": [
            h["LifecycleHookName"]
            for h in asg.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
        ],
    }


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
