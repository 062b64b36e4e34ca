"""The provider conformance suite on moto: the contract's verbs, read back with boto3."""

from __future__ import annotations

from typing import Any

import pytest
from aws_testkit import asg_of, create_input, registered, target_group

from cloudops.servergroups.contract import TAG_APPLICATION, TAG_SERVER_GROUP
from cloudops_testing import conformance
from cloudops_testing.fixtures_aws import MotoNetwork, count_tagged


@pytest.fixture
def conformance_target(
    request: pytest.FixtureRequest, moto_client: Any, moto_network: MotoNetwork
) -> conformance.ConformanceTarget:
    local = conformance.LocalTarget("aws", request)
    target_groups: dict[str, str] = {}

    def sample(application: str) -> dict[str, Any]:
        if application not in target_groups:
            target_groups[application] = target_group(
                moto_client, moto_network, f"{application}-tg"
            )
        return create_input(moto_network, application, target_groups=[target_groups[application]])

    @local.reads
    def read_group(name: str) -> conformance.GroupState | None:
        group = asg_of(moto_client, name)
        if group is None:
            return None
        members = {i["InstanceId"] for i in group["Instances"]}
        in_service = set().union(*(registered(moto_client, a) for a in group["TargetGroupARNs"]))
        return conformance.GroupState(
            desired=group["DesiredCapacity"],
            # Instances tagged with the group, not only those it lists: a replaced duplicate
            # group leaves its instances behind, and moto would hide it.
            instances=len(count_tagged(moto_client, TAG_SERVER_GROUP, name).instances),
            in_traffic=bool(members) and members <= in_service,
        )

    @local.reads
    def resources(application: str) -> list[str]:
        found = count_tagged(moto_client, TAG_APPLICATION, application)
        return [*found.auto_scaling_groups, *found.launch_templates, *found.instances]

    @local.reads
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

    @local.reads
    def read_security_group(name: str) -> frozenset[conformance.IngressTuple] | None:
        groups = moto_client("ec2").describe_security_groups()["SecurityGroups"]
        names = {g["GroupId"]: g["GroupName"] for g in groups}
        found = [g for g in groups if g["GroupName"] == name]
        if not found:
            return None
        rules: set[conformance.IngressTuple] = set()
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

    return local.target(
        create_input=sample, failing_create=lambda app: {"target_groups": [f"{app}-missing-tg"]}
    )


class TestAwsConformance(conformance.ConformanceSuite):
    """Every test of the suite, on moto."""
