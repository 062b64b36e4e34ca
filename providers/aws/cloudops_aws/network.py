"""AWS load balancers (ELBv2: ALB and NLB) and security groups: the plan, workflow-side.

A load balancer ``app-web`` is a target group per target port (``app-web-8080``), the load
balancer, its set of listeners (each forwarding to its port's target group), and a last clean-up
of target groups no listener uses any more. A security group is one part: the group with its
ingress rules. The activities (:mod:`cloudops_aws.network_activities`) read and change them.
Classic load balancers are not managed here (server groups still join existing ones by name).
"""

from __future__ import annotations

import re
from typing import Any

from cloudops.network.contract import Part, Reference
from cloudops.network.kit import NetworkCloud, Plan, invalid, network_operations
from cloudops.network.models import (
    UpsertLoadBalancerInput,
    UpsertSecurityGroupInput,
    permissions,
)

__all__ = ["NETWORK_OPERATIONS", "AwsNetwork", "health_check_state", "target_protocol"]

#: ELBv2 names (load balancers and target groups): 1-32 letters, digits and hyphens, no hyphen
#: at either end; a load balancer's may not start with ``internal-``.
_ELB_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")


def target_protocol(lb_type: str, listener_protocol: str) -> str:
    """The protocol a target group of a listener speaks to the instances."""
    if lb_type == "application":
        return "HTTP"
    return "UDP" if listener_protocol == "UDP" else "TCP"


def health_check_state(input: UpsertLoadBalancerInput) -> dict[str, Any]:
    """The canonical health check of the input's target groups."""
    check = input.health_check
    return {
        "protocol": check.protocol,
        "port": str(check.port) if check.port else "traffic-port",
        "path": check.path,
        "interval": check.interval_seconds,
        "timeout": check.timeout_seconds,
        "healthy": check.healthy_threshold,
        "unhealthy": check.unhealthy_threshold,
    }


def _group_reference(name: str, field: str, network: str | None) -> Reference:
    """A security group the input names, looked up in its network."""
    return Reference(kind="security_group", name=name, field=field, settings={"network": network})


class AwsNetwork(NetworkCloud):
    """ELBv2 load balancers with listeners and target groups; EC2 security groups."""

    provider = "aws"
    label = "AWS"
    load_balancer_note = """
    On AWS: an application (HTTP/HTTPS) or network (TCP/UDP/TLS) load balancer of ELBv2, a
    target group per target port named ``NAME-PORT`` with the health check, and a listener per
    port forwarding to it. Classic load balancers are not managed. Server groups join it by
    naming it in ``load_balancers`` (their instances register in its target groups).
    """
    security_group_note = """
    On AWS: an EC2 security group of the VPC ``network`` (default: the default VPC) whose
    ingress rules are exactly those given; rules may name other groups of the VPC by name.
    """

    def check_load_balancer(self, input: UpsertLoadBalancerInput) -> None:
        """ELBv2's limits: names, target groups per port, subnets, health check protocol."""
        name = input.name
        if not _ELB_NAME.match(name) or name.lower().startswith("internal-"):
            raise invalid(
                "stack" if input.stack else "application",
                f"{name!r} is not an ELBv2 name (1-32 letters, digits and hyphens, no hyphen "
                "at either end, not starting with 'internal-')",
            )
        protocols: dict[int, str] = {}
        for i, listener in enumerate(input.listeners):
            port = listener.target
            tg = f"{name}-{port}"
            if not _ELB_NAME.match(tg):
                raise invalid(
                    f"listeners.{i}.target_port",
                    f"target group name {tg!r} would be longer than 32 characters; "
                    "shorten the application, stack or detail",
                )
            protocol = target_protocol(input.type, listener.protocol)
            if protocols.setdefault(port, protocol) != protocol:
                raise invalid(
                    f"listeners.{i}.target_port",
                    f"port {port} is already the target of a {protocols[port]} listener",
                )
        if input.type == "application" and input.health_check.protocol == "TCP":
            raise invalid(
                "health_check.protocol", "application load balancers check health over HTTP(S)"
            )
        if input.type == "application" and len(input.subnets) == 1:
            raise invalid(
                "subnets",
                "an application load balancer needs subnets in at least two availability zones",
            )

    def load_balancer_plan(self, input: UpsertLoadBalancerInput) -> Plan:
        """Target groups, the load balancer, its listeners, then the clean-up of old groups."""
        name = input.name
        settings = {"network": input.network, "subnets": input.subnets, "load_balancer": name}
        health = health_check_state(input)
        targets = sorted(
            {
                (listener.target, target_protocol(input.type, listener.protocol))
                for listener in input.listeners
            }
        )
        parts = [
            Part(
                kind="target_group",
                name=f"{name}-{port}",
                desired={"protocol": protocol, "port": port, "health_check": health},
                settings=settings,
            )
            for port, protocol in targets
        ]
        balancer: dict[str, Any] = {"type": input.type, "internal": input.internal}
        if input.subnets:
            balancer["subnets"] = sorted(input.subnets)
        if input.security_groups:
            balancer["security_groups"] = sorted(input.security_groups)
        parts.append(Part(kind="load_balancer", name=name, desired=balancer, settings=settings))
        listeners = [
            {
                "protocol": listener.protocol,
                "port": listener.port,
                "target_group": f"{name}-{listener.target}",
                "certificate": listener.certificate,
            }
            for listener in sorted(input.listeners, key=lambda item: item.port)
        ]
        parts.append(Part(kind="listeners", name=name, desired={"listeners": listeners}))
        parts.append(
            Part(
                kind="stale_target_groups",
                name=name,
                desired={"target_groups": sorted(f"{name}-{port}" for port, _ in targets)},
                undo=False,
            )
        )
        references = [
            _group_reference(group, f"security_groups.{i}", input.network)
            for i, group in enumerate(input.security_groups)
        ]
        return Plan(parts=parts, references=references)

    def check_security_group(self, input: UpsertSecurityGroupInput) -> None:
        """EC2's limits: group names (255 characters, not ``sg-``), rules per group."""
        if input.name.lower().startswith("sg-"):
            raise invalid("application", "EC2 security group names may not start with 'sg-'")
        if len(permissions(input.name, input.ingress)) > 60:
            raise invalid("ingress", "an EC2 security group holds at most 60 inbound rules")

    def security_group_plan(self, input: UpsertSecurityGroupInput) -> Plan:
        """The group with exactly the input's permissions; the groups it names must exist."""
        desired = [p.model_dump() for p in permissions(input.name, input.ingress)]
        part = Part(
            kind="security_group",
            name=input.name,
            desired={"ingress": desired},
            settings={"network": input.network, "description": input.description},
        )
        references = [
            _group_reference(group, f"ingress.{i}.source_groups.{j}", input.network)
            for i, rule in enumerate(input.ingress)
            for j, group in enumerate(rule.source_groups)
            if group != input.name
        ]
        return Plan(parts=[part], references=references)


#: The eight load-balancer and security-group operations of AWS.
NETWORK_OPERATIONS = network_operations(AwsNetwork)
