"""Azure load balancers and network security groups: models and plan, workflow-side.

A load balancer ``app-web`` is a Standard public IP ``app-web-ip`` (unless ``internal``: a
frontend in a subnet) and the load balancer with its frontend, one backend pool named after it
(server groups join it by naming the load balancer in ``load_balancers``), a probe and a rule
per listener. Azure Load Balancer works at layer 4: HTTP listeners become TCP rules (checked by
an HTTP probe); TLS termination needs Application Gateway, which is not managed here. A security
group ``app-web`` is an application security group (what rules naming the group match) and a
network security group whose inbound rules are exactly those given.
"""

from __future__ import annotations

import re
from typing import Any

from cloudops.network.contract import Part, Reference
from cloudops.network.kit import NetworkCloud, NetworkModels, Plan, invalid, network_operations
from cloudops.network.models import (
    DeleteLoadBalancerInput,
    DeleteSecurityGroupInput,
    LoadBalancerRef,
    NetworkFilter,
    SecurityGroupRef,
    UpsertLoadBalancerInput,
    UpsertSecurityGroupInput,
    permissions,
)
from cloudops_azure.models import InResourceGroup

__all__ = ["NETWORK_OPERATIONS", "AzureNetwork"]

#: Microsoft.Network resource names: 1-80 characters, letters, digits, '.', '_' and '-',
#: starting with a letter or digit, ending with a letter, digit or '_'.
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,76}[A-Za-z0-9_])?$")


class AzureUpsertLoadBalancerInput(UpsertLoadBalancerInput, InResourceGroup):
    """upsertLoadBalancer on Azure: in the account's resource group or ``resource_group``."""


class AzureUpsertSecurityGroupInput(UpsertSecurityGroupInput, InResourceGroup):
    """upsertSecurityGroup on Azure: in the account's resource group or ``resource_group``."""


class AzureDeleteLoadBalancerInput(DeleteLoadBalancerInput, InResourceGroup):
    """deleteLoadBalancer on Azure."""


class AzureDeleteSecurityGroupInput(DeleteSecurityGroupInput, InResourceGroup):
    """deleteSecurityGroup on Azure."""


class AzureLoadBalancerRef(LoadBalancerRef, InResourceGroup):
    """describeLoadBalancer on Azure."""


class AzureSecurityGroupRef(SecurityGroupRef, InResourceGroup):
    """describeSecurityGroup on Azure."""


class AzureNetworkFilter(NetworkFilter, InResourceGroup):
    """listLoadBalancers and listSecurityGroups on Azure (one resource group)."""


def _protocol(listener_protocol: str) -> str:
    return "Udp" if listener_protocol == "UDP" else "Tcp"


class AzureNetwork(NetworkCloud):
    """Azure Load Balancer (public or internal) and network security groups."""

    provider = "azure"
    label = "Azure"
    scope_fields = ("resource_group",)
    models = NetworkModels(
        load_balancer=AzureUpsertLoadBalancerInput,
        delete_load_balancer=AzureDeleteLoadBalancerInput,
        load_balancer_ref=AzureLoadBalancerRef,
        security_group=AzureUpsertSecurityGroupInput,
        delete_security_group=AzureDeleteSecurityGroupInput,
        security_group_ref=AzureSecurityGroupRef,
        filter=AzureNetworkFilter,
    )
    load_balancer_note = """
    On Azure: a Standard load balancer with a public IP ``NAME-ip`` (or, ``internal``, a
    frontend in the first of ``subnets``, default the account's subnet), a backend pool named
    after it, a probe and a rule per listener. It works at layer 4: HTTP listeners become TCP
    rules with an HTTP probe. Server groups join its pool by naming it in ``load_balancers``.
    """
    security_group_note = """
    On Azure: a network security group whose inbound rules are exactly those given, and an
    application security group of the same name that rules naming the group match.
    """

    def check_load_balancer(self, input: AzureUpsertLoadBalancerInput) -> None:
        """Resource names; layer 4 only (no TLS termination)."""
        if not _NAME.match(f"{input.name}-ip"):
            raise invalid("application", f"{input.name!r} is not an Azure resource name")
        for i, listener in enumerate(input.listeners):
            if listener.port > 65534:
                raise invalid(f"listeners.{i}.port", "Azure load-balancing rules take 1-65534")
            if listener.protocol in ("HTTPS", "TLS"):
                raise invalid(
                    f"listeners.{i}.protocol",
                    "Azure Load Balancer does not terminate TLS (Application Gateway does)",
                )
        if input.security_groups:
            raise invalid(
                "security_groups",
                "an Azure load balancer takes no security groups (NSGs apply to the instances)",
            )
        if len(input.subnets) > 1:
            raise invalid("subnets", "an internal frontend sits in one subnet")

    def load_balancer_plan(self, input: AzureUpsertLoadBalancerInput) -> Plan:
        """The public IP (unless internal), then the load balancer with all it holds."""
        name, check = input.name, input.health_check
        settings = {"location": self.region}
        balancer: dict[str, Any] = {
            "frontend": "internal" if input.internal else "public",
            "pool": name,
            "probe": {
                "protocol": check.protocol.capitalize(),
                "port": check.port or input.listeners[0].target,
                "path": check.path,
                "interval": check.interval_seconds,
                "count": check.unhealthy_threshold,
            },
            "rules": [
                {
                    "protocol": _protocol(listener.protocol),
                    "frontend_port": listener.port,
                    "backend_port": listener.target,
                }
                for listener in sorted(input.listeners, key=lambda item: item.port)
            ],
        }
        parts = []
        if input.internal:
            if input.subnets:
                balancer["subnet"] = input.subnets[0]
        else:
            balancer["public_ip"] = f"{name}-ip"
            parts.append(
                Part(
                    kind="public_ip",
                    name=f"{name}-ip",
                    desired={"sku": "Standard", "allocation": "Static"},
                    settings=settings,
                )
            )
        parts.append(Part(kind="load_balancer", name=name, desired=balancer, settings=settings))
        return Plan(parts=parts)

    def check_security_group(self, input: AzureUpsertSecurityGroupInput) -> None:
        """Resource names; rules fit in the priorities an NSG has."""
        if not _NAME.match(input.name):
            raise invalid("application", f"{input.name!r} is not an Azure resource name")
        if len(permissions(input.name, input.ingress)) > 400:
            raise invalid("ingress", "an Azure network security group holds at most 1000 rules")

    def security_group_plan(self, input: AzureUpsertSecurityGroupInput) -> Plan:
        """The application security group, then the network security group's rules."""
        settings = {"location": self.region, "description": input.description}
        parts = [
            Part(kind="application_security_group", name=input.name, settings=settings),
            Part(
                kind="security_group",
                name=input.name,
                desired={
                    "ingress": [p.model_dump() for p in permissions(input.name, input.ingress)]
                },
                settings=settings,
            ),
        ]
        references = [
            Reference(kind="security_group", name=group, field=f"ingress.{i}.source_groups.{j}")
            for i, rule in enumerate(input.ingress)
            for j, group in enumerate(rule.source_groups)
            if group != input.name
        ]
        return Plan(parts=parts, references=references)


#: The eight load-balancer and security-group operations of Azure.
NETWORK_OPERATIONS = network_operations(AzureNetwork)
