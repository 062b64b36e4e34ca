"""Autoscaled AWS groups for tests: give a group autoscaling, read it back, count the copies.

Why in the test kit: the AWS provider's tests, the deploy tests and the chaos audit all check
that a copy of a group's autoscaling is complete, untouched at the source and never doubled.
"""

from __future__ import annotations

from typing import Any

__all__ = ["autoscale", "copies_of", "scaling_of"]


def asg_of(moto_client: Any, name: str) -> dict[str, Any] | None:
    """The Auto Scaling group ``name`` as moto describes it, or None."""
    groups = moto_client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    return groups["AutoScalingGroups"][0] if groups["AutoScalingGroups"] else None


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
    """A group's autoscaling as AWS holds it, its own name replaced by ``GROUP``.

    A leading ``GROUP-`` is dropped: a copy prefixes the source's names that lack its name.
    """
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
