"""The provider conformance suite on moto: the contract's verbs, read back with boto3."""

from __future__ import annotations

from typing import Any

import pytest
from aws_testkit import asg_of, create_input, registered, target_group

import cloudops_aws.plugin
from cloudops.servergroups.contract import TAG_APPLICATION, TAG_SERVER_GROUP
from cloudops_testing.conformance import (
    ConformanceSuite,
    ConformanceTarget,
    GroupState,
    IngressTuple,
)
from cloudops_testing.fixtures_aws import MotoNetwork, count_tagged
from cloudops_testing.network_inputs import load_balancer_input, security_group_input


@pytest.fixture
def conformance_target(
    moto_client: Any, moto_network: MotoNetwork, aws_accounts: dict[str, Any], aws_fault_proxy: Any
) -> ConformanceTarget:
    target_groups: dict[str, str] = {}

    def sample(application: str) -> dict[str, Any]:
        if application not in target_groups:
            target_groups[application] = target_group(
                moto_client, moto_network, f"{application}-tg"
            )
        return create_input(moto_network, application, target_groups=[target_groups[application]])

    def read_group(name: str) -> GroupState | None:
        group = asg_of(moto_client, name)
        if group is None:
            return None
        members = {i["InstanceId"] for i in group["Instances"]}
        in_service = set().union(*(registered(moto_client, a) for a in group["TargetGroupARNs"]))
        return GroupState(
            desired=group["DesiredCapacity"],
            # Instances tagged with the group, not only those it lists: a replaced duplicate
            # group leaves its instances behind, and moto would hide it.
            instances=len(count_tagged(moto_client, TAG_SERVER_GROUP, name).instances),
            in_traffic=bool(members) and members <= in_service,
        )

    def resources(application: str) -> list[str]:
        found = count_tagged(moto_client, TAG_APPLICATION, application)
        return [*found.auto_scaling_groups, *found.launch_templates, *found.instances]

    def read_load_balancer(name: str) -> frozenset[int] | None:
        elbv2 = moto_client("elbv2")
        found = [
            b
            for b in elbv2.describe_load_balancers()["LoadBalancers"]
            if b["LoadBalancerName"] == name
        ]
        if not found:
            return None
        listeners = elbv2.describe_listeners(LoadBalancerArn=found[0]["LoadBalancerArn"])
        return frozenset(item["Port"] for item in listeners["Listeners"])

    def read_security_group(name: str) -> frozenset[IngressTuple] | None:
        groups = moto_client("ec2").describe_security_groups()["SecurityGroups"]
        names = {g["GroupId"]: g["GroupName"] for g in groups}
        found = [g for g in groups if g["GroupName"] == name]
        if not found:
            return None
        rules: set[IngressTuple] = set()
        for rule in found[0]["IpPermissions"]:
            protocol = "all" if rule["IpProtocol"] == "-1" else rule["IpProtocol"]
            ports = (rule.get("FromPort"), rule.get("ToPort"))
            if protocol in ("icmp", "all"):
                ports = (None, None)
            sources = [r["CidrIp"] for r in rule.get("IpRanges") or []]
            sources += [r["CidrIpv6"] for r in rule.get("Ipv6Ranges") or []]
            sources += [names[p["GroupId"]] for p in rule.get("UserIdGroupPairs") or []]
            rules.update((protocol, *ports, source) for source in sources)
        return frozenset(rules)

    return ConformanceTarget(
        provider="aws",
        plugin=cloudops_aws.plugin,
        accounts=aws_accounts,
        create_input=sample,
        read_group=read_group,
        resources=resources,
        failing_create=lambda app: {"target_groups": [f"{app}-missing-tg"]},
        fault_proxy=aws_fault_proxy,
        load_balancer_input=load_balancer_input,
        read_load_balancer=read_load_balancer,
        security_group_input=security_group_input,
        read_security_group=read_security_group,
    )


class TestAwsConformance(ConformanceSuite):
    """Every test of the suite, on moto."""
