"""GCP load balancers and firewalls: the plan, workflow-side.

An *application* load balancer ``app-web`` is Google's external HTTP load balancer: a health
check, a backend service (server groups join it as backends, by naming it in
``load_balancers``), a URL map, a target HTTP proxy and a global forwarding rule per port
(``app-web-80``). A *network* load balancer is regional and passthrough: a target pool (server
groups join it by naming it in ``target_pools``) and a regional forwarding rule per port. A
security group ``app-web`` is a set of firewall rules of one network that target the instances
tagged ``app-web`` (server groups take the tag by naming the group in ``security_groups``).
"""

from __future__ import annotations

import re
from typing import Any

from cloudops.network.contract import Part, Reference
from cloudops.network.kit import NetworkCloud, Plan, invalid, network_operations
from cloudops.network.models import UpsertLoadBalancerInput, UpsertSecurityGroupInput, permissions

__all__ = ["NETWORK_OPERATIONS", "GcpNetwork"]

#: Compute resource names and network tags (RFC 1035, at most 63 characters).
_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
#: Room left in a name for ``-PORT`` (forwarding rules) or ``-xxxxxxxx`` (firewall rules).
_ROOM = 9


def _name_problem(name: str) -> str | None:
    if not _NAME.match(name):
        return (
            f"{name!r} is not a Compute resource name (lowercase letters, digits and hyphens, "
            "starting with a letter)"
        )
    if len(name) > 63 - _ROOM:
        return f"{name!r} is longer than {63 - _ROOM} characters"
    return None


def _name_field(input: Any) -> str:
    return "detail" if input.detail else "stack" if input.stack else "application"


class GcpNetwork(NetworkCloud):
    """External HTTP and target-pool network load balancers; firewall rules by target tag."""

    provider = "gcp"
    label = "GCP"
    load_balancer_note = """
    On GCP: ``application`` is the global external HTTP load balancer (health check, backend
    service, URL map, target HTTP proxy, a global forwarding rule per port); server groups join
    its backend service by naming it in ``load_balancers`` (with the named port ``http``).
    ``network`` is a regional passthrough load balancer: a target pool and a regional
    forwarding rule per port; server groups join it by naming it in ``target_pools``.
    """
    security_group_note = """
    On GCP: firewall rules of the network ``network`` (default ``default``) allowing the rules'
    traffic to instances tagged with the group's name; rules naming other groups allow traffic
    from instances tagged with theirs. Server groups take the tag by naming the group in
    ``security_groups``.
    """

    def check_load_balancer(self, input: UpsertLoadBalancerInput) -> None:
        """Compute's names; one target port; HTTP only (HTTPS and internal are not built yet)."""
        problem = _name_problem(input.name)
        if problem:
            raise invalid(_name_field(input), problem)
        if input.internal:
            raise invalid("internal", "internal load balancers are not supported on GCP yet")
        if input.security_groups:
            raise invalid(
                "security_groups",
                "GCP load balancers take no security groups (firewall rules select instances)",
            )
        ports = {listener.target for listener in input.listeners}
        for i, listener in enumerate(input.listeners):
            if input.type == "application" and listener.protocol != "HTTP":
                raise invalid(
                    f"listeners.{i}.protocol", "only HTTP listeners are supported on GCP yet"
                )
            if input.type == "network" and listener.protocol == "TLS":
                raise invalid(
                    f"listeners.{i}.protocol", "a passthrough network load balancer has no TLS"
                )
            if input.type == "network" and listener.target != listener.port:
                raise invalid(
                    f"listeners.{i}.target_port",
                    "a passthrough network load balancer forwards to the port it listens on",
                )
            if input.type == "application" and len(ports) > 1:
                raise invalid(
                    f"listeners.{i}.target_port",
                    "a backend service sends to one named port: give every listener one "
                    "target_port",
                )

    def load_balancer_plan(self, input: UpsertLoadBalancerInput) -> Plan:
        """Health check, backend service, URL map, proxy and forwarding rules (or pool, rules)."""
        name = input.name
        rules = [
            Part(
                kind="forwarding_rule" if input.type == "network" else "global_forwarding_rule",
                name=f"{name}-{listener.port}",
                desired={
                    "port_range": f"{listener.port}-{listener.port}",
                    "target": name,
                    "protocol": "UDP" if listener.protocol == "UDP" else "TCP",
                    "scheme": "EXTERNAL" if input.type == "network" else "EXTERNAL_MANAGED",
                },
            )
            for listener in sorted(input.listeners, key=lambda item: item.port)
        ]
        stale = Part(
            kind="stale_forwarding_rules",
            name=name,
            desired={"rules": sorted(rule.name for rule in rules)},
            settings={"regional": input.type == "network"},
            undo=False,
        )
        if input.type == "network":
            pool = Part(kind="target_pool", name=name, desired={"session_affinity": "NONE"})
            return Plan(parts=[pool, *rules, stale])
        check = input.health_check
        port = check.port or input.listeners[0].target
        parts = [
            Part(
                kind="health_check",
                name=name,
                desired={
                    "type": check.protocol,
                    "port": port,
                    "path": check.path,
                    "interval": check.interval_seconds,
                    "timeout": check.timeout_seconds,
                    "healthy": check.healthy_threshold,
                    "unhealthy": check.unhealthy_threshold,
                },
            ),
            Part(
                kind="backend_service",
                name=name,
                desired={
                    "protocol": "HTTP",
                    "port_name": "http",
                    "health_checks": [name],
                    "scheme": "EXTERNAL_MANAGED",
                },
            ),
            Part(kind="url_map", name=name, desired={"default_service": name}),
            Part(kind="target_http_proxy", name=name, desired={"url_map": name}),
        ]
        return Plan(parts=[*parts, *rules, stale])

    def check_security_group(self, input: UpsertSecurityGroupInput) -> None:
        """Network tags and firewall names: lowercase RFC 1035 names."""
        problem = _name_problem(input.name)
        if problem:
            raise invalid(_name_field(input), problem)
        for i, rule in enumerate(input.ingress):
            for j, group in enumerate(rule.source_groups):
                if not _NAME.match(group):
                    raise invalid(
                        f"ingress.{i}.source_groups.{j}", f"{group!r} is not a network tag"
                    )

    def security_group_plan(self, input: UpsertSecurityGroupInput) -> Plan:
        """The group's firewall rules; the groups it names must exist."""
        network = input.network or "default"
        part = Part(
            kind="security_group",
            name=input.name,
            desired={"ingress": [p.model_dump() for p in permissions(input.name, input.ingress)]},
            settings={"network": network, "description": input.description},
        )
        references = [
            Reference(
                kind="security_group",
                name=group,
                field=f"ingress.{i}.source_groups.{j}",
                settings={"network": network},
            )
            for i, rule in enumerate(input.ingress)
            for j, group in enumerate(rule.source_groups)
            if group != input.name
        ]
        return Plan(parts=[part], references=references)


#: The eight load-balancer and security-group operations of GCP.
NETWORK_OPERATIONS = network_operations(GcpNetwork)
