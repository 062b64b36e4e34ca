"""The local AWS: moto behind a fault proxy, for ``cloudops dev``, the demo, chaos and tests.

Light at import (the plugin registers it): moto, boto3 and cloudops-testing are imported when
the local cloud starts or is read.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from functools import cached_property
from typing import Any

from cloudops.localcloud import (
    Audit,
    Expected,
    GroupState,
    LocalCloud,
    RunningCloud,
    check_scaling,
    in_cluster,
)
from cloudops.localcloud import reported_groups as _reported_groups
from cloudops.servergroups.contract import TAG_APPLICATION, TAG_REQUEST_ID, TAG_SERVER_GROUP

__all__ = ["LOCAL_AWS", "LocalAws", "RunningAws"]


class LocalAws(LocalCloud):
    """moto in server mode, behind a fault proxy that also refuses duplicate group names."""

    name = "aws"
    label = "moto"
    account = "local-aws"
    region = "us-east-1"
    flavor = "aws"
    app_prefix = "chaos"

    def start(self, faults: Any = None) -> RunningAws:
        """Start moto and its proxy; set dummy AWS credentials in this process's environment."""
        from cloudops_testing.faults import AWS_FIDELITY
        from cloudops_testing.moto_server import DUMMY_AWS_ENV, MotoServer
        from cloudops_testing.stack import behind_proxy

        os.environ.update(DUMMY_AWS_ENV)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
        moto = MotoServer()
        fidelity = list(AWS_FIDELITY)
        proxy = behind_proxy(moto, faults, self.flavor, fidelity)
        return RunningAws(self, moto, proxy, env=DUMMY_AWS_ENV, fidelity=fidelity)


class RunningAws(RunningCloud):
    """A started local AWS; :meth:`client` and :meth:`network` read moto directly."""

    #: What chaos's autoscaled clusters get (``aws.upsertScalingPolicy``).
    scaling_policy = {"target_tracking": {"target": 50}}

    def account_settings(self, endpoint: str) -> dict[str, Any]:
        """An AWS account on ``endpoint``."""
        return {"provider": "aws", "regions": [self.region], "endpoint": endpoint}

    def client(self, service: str) -> Any:
        """A boto3 client straight to moto (no faults), for setting up and checking."""
        import boto3

        return boto3.client(service, region_name=self.region, endpoint_url=self.upstream)

    @cached_property
    def _network(self) -> Any:
        from cloudops_testing.moto_server import discover_moto_network

        return discover_moto_network(self.client("ec2"))

    def network(self) -> Any:
        """Moto's default network (``AwsNetwork``): zones, security group, an image."""
        return self._network

    def placement(self, app: str, *, small: bool = False) -> dict[str, Any]:
        """Behind the load balancer ``{app}-web`` in the security group ``{app}-web``.

        ``small`` (the chaos harness's groups): neither; traffic is the group's
        ``AddToLoadBalancer`` process, in moto's default security group.
        """
        network = self.network()
        if small:
            return {
                "image": network.image_id,
                "instance_type": "t3.micro",
                "zones": network.zones[:1],
                "security_groups": [network.security_group_id],
            }
        return {
            "image": network.image_id,
            "instance_type": "t3.micro",
            "zones": network.zones[:2],
            "load_balancers": [f"{app}-web"],
            "security_groups": [f"{app}-web"],
        }

    def network_inputs(self, app: str) -> dict[str, dict[str, Any]]:
        """An application load balancer (HTTP 80 to 8080) and a security group for it."""
        from cloudops_testing.network_inputs import load_balancer_input, security_group_input

        return {
            "load_balancer": load_balancer_input(app),
            "security_group": security_group_input(app),
        }

    def network_names(self) -> dict[str, list[str]]:
        """The ELBv2 load balancers and security groups moto holds, by name."""
        balancers = [
            b["LoadBalancerName"]
            for page in self.client("elbv2").get_paginator("describe_load_balancers").paginate()
            for b in page["LoadBalancers"]
        ]
        groups = [
            g["GroupName"]
            for page in self.client("ec2").get_paginator("describe_security_groups").paginate()
            for g in page["SecurityGroups"]
        ]
        return {"load_balancer": balancers, "security_group": groups}

    def cluster_state(self, cluster: str) -> list[GroupState]:
        """The cluster's Auto Scaling groups; disabled: ``AddToLoadBalancer`` suspended."""
        states = []
        for group in self.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]:
            if in_cluster(group["AutoScalingGroupName"], cluster):
                suspended = {p["ProcessName"] for p in group.get("SuspendedProcesses", [])}
                states.append(
                    GroupState(
                        group["AutoScalingGroupName"],
                        group["DesiredCapacity"],
                        len(group["Instances"]),
                        "AddToLoadBalancer" in suspended,
                    )
                )
        return sorted(states, key=lambda state: state.name)

    def is_group_creation(self, request: Any) -> bool:
        """CreateAutoScalingGroup."""
        return bool(request.action == "CreateAutoScalingGroup")

    def audit(self, expected: Expected) -> Audit:
        """The groups, launch templates and instances against the reports.

        Also: no other group, launch template or live instance carries an application's tag,
        every group has exactly one launch template, no create request made two groups.
        """
        asg = self.client("autoscaling")
        ec2 = self.client("ec2")
        audit = Audit()
        groups = [
            g
            for page in asg.get_paginator("describe_auto_scaling_groups").paginate()
            for g in page["AutoScalingGroups"]
        ]
        # moto answers one page of launch templates (MaxResults) and no NextToken: ask for the
        # run's applications a few at a time, each holding a handful of templates.
        apps = sorted(expected)
        templates = [
            t
            for start in range(0, len(apps), 40)
            for t in ec2.describe_launch_templates(
                Filters=[{"Name": f"tag:{TAG_APPLICATION}", "Values": apps[start : start + 40]}],
                MaxResults=200,
            )["LaunchTemplates"]
        ]
        instances = [
            i
            for page in ec2.get_paginator("describe_instances").paginate(
                Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
            )
            for r in page["Reservations"]
            for i in r["Instances"]
        ]
        in_groups = {i["InstanceId"] for g in groups for i in g.get("Instances", [])}
        by_app: dict[str, list[dict[str, Any]]] = {}
        per_request: Counter[tuple[str, str]] = Counter()
        for group in groups:
            tags = _tags(group.get("Tags"))
            app = tags.get(TAG_APPLICATION)
            if app in expected:
                by_app.setdefault(app, []).append(group)
                per_request[(tags.get(TAG_REQUEST_ID, "?"), app)] += 1
        for (request, _app), count in per_request.items():
            if count > 1:
                audit.duplicates.append(f"request {request} made {count} Auto Scaling groups")
        template_names: Counter[str] = Counter()
        for template in templates:
            tags = _tags(template.get("Tags"))
            if tags.get(TAG_APPLICATION) not in expected:
                continue
            name = tags.get(TAG_SERVER_GROUP, template["LaunchTemplateName"])
            template_names[name] += 1
            if name not in expected[tags[TAG_APPLICATION]]:
                audit.leaks.append(f"launch template {template['LaunchTemplateName']} of no group")
        for instance in instances:
            tags = _tags(instance.get("Tags"))
            if tags.get(TAG_APPLICATION) in expected and instance["InstanceId"] not in in_groups:
                audit.leaks.append(
                    f"instance {instance['InstanceId']} of {tags.get(TAG_SERVER_GROUP)} "
                    "belongs to no Auto Scaling group"
                )
        for app, state in expected.items():
            found = {g["AutoScalingGroupName"]: g for g in by_app.get(app, [])}
            for name, want, group in _reported_groups(audit, "Auto Scaling group", found, state):
                if template_names[name] > 1:
                    audit.duplicates.append(f"{template_names[name]} launch templates for {name}")
                elif template_names[name] == 0:
                    audit.missing.append(f"launch template of {name}")
                suspended = {p["ProcessName"] for p in group.get("SuspendedProcesses", [])}
                disabled = "AddToLoadBalancer" in suspended
                if disabled != want["disabled"]:
                    audit.mismatches.append(f"{name}: disabled={disabled}, reported {want}")
                if group["DesiredCapacity"] != want["desired"]:
                    audit.mismatches.append(
                        f"{name}: desired {group['DesiredCapacity']}, reported {want['desired']}"
                    )
                check_scaling(audit, name, want, self._scaling(name), "policy")
        return audit

    def _scaling(self, name: str) -> dict[str, int]:
        """The group's policies, their alarms and its lifecycle hooks, by kind."""
        asg = self.client("autoscaling")
        policies = asg.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]
        alarms = {
            alarm["AlarmName"]
            for policy in policies
            for alarm in self.client("cloudwatch").describe_alarms(
                ActionPrefix=policy["PolicyARN"]
            )["MetricAlarms"]
        }
        hooks = asg.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"]
        return {"policy": len(policies), "alarm": len(alarms), "lifecycle_hook": len(hooks)}


def _tags(items: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


#: The profile the plugin registers.
LOCAL_AWS = LocalAws()
