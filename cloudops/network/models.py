"""Load balancers and security groups, the models every cloud provider shares.

A *load balancer* is named as a cluster is (``application-stack-detail``), listens on ports with
a protocol, forwards to a port of the instances behind it and checks their health. On AWS it is
an ALB or NLB with its listeners and target groups; on GCP an external HTTP load balancer
(health check, backend service, URL map, target proxy, global forwarding rule) or a regional
network load balancer; on Azure a load balancer with a frontend (public IP or internal), a
backend pool, a probe and rules.

A *security group* is a named set of ingress rules (protocol, port range, sources: CIDR blocks,
other security groups by name, or the group itself): an AWS security group, GCP firewall rules
that target the instances tagged with the group's name, an Azure network security group.

Validation here rejects what every cloud rejects (ports outside 1-65535, a range whose end is
before its start, a CIDR that is not one, an HTTPS listener without a certificate...) before
anything changes; each provider's adapter adds its own limits (name lengths, protocols).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from cloudops.models import Input, Output
from cloudops.servergroups.models import RESERVED_TAG_PREFIX, Application, ClusterRef

__all__ = [
    "DeleteLoadBalancerInput",
    "DeleteSecurityGroupInput",
    "HealthCheck",
    "IngressRule",
    "Listener",
    "LoadBalancerDescription",
    "LoadBalancerList",
    "LoadBalancerRef",
    "NetworkFilter",
    "NetworkOutput",
    "Permission",
    "SecurityGroupDescription",
    "SecurityGroupList",
    "SecurityGroupRef",
    "UpsertLoadBalancerInput",
    "UpsertSecurityGroupInput",
    "permissions",
]

#: A load balancer or security group named by a caller (ours are ``app-stack-detail``).
NetworkName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9._~^-]+$",
        description="name of a load balancer or security group, e.g. 'app-web'",
    ),
]
Port = Annotated[int, Field(ge=1, le=65_535, description="TCP/UDP port, 1-65535")]
ListenerProtocol = Literal["HTTP", "HTTPS", "TCP", "UDP", "TLS"]
#: The protocols each kind of load balancer listens with.
LISTENER_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "application": ("HTTP", "HTTPS"),
    "network": ("TCP", "UDP", "TLS"),
}


def _check_tags(tags: dict[str, str]) -> dict[str, str]:
    for key in tags:
        if not key or key.startswith(RESERVED_TAG_PREFIX):
            raise ValueError(
                f"tag key {key!r} is not allowed: keys must be non-empty and must not start with "
                f"{RESERVED_TAG_PREFIX!r} (cloudops writes those)"
            )
    return tags


class HealthCheck(Input):
    """How the load balancer checks an instance: a request (HTTP/HTTPS) or a connection (TCP).

    ``port`` defaults to the port traffic goes to; ``path`` (HTTP and HTTPS only) to ``/``.
    """

    protocol: Literal["HTTP", "HTTPS", "TCP"] = "HTTP"
    port: Port | None = None
    path: str | None = Field(default=None, max_length=1024, validate_default=True)
    interval_seconds: int = Field(default=10, ge=5, le=300)
    timeout_seconds: int = Field(default=5, ge=2, le=120, validate_default=True)
    healthy_threshold: int = Field(default=3, ge=2, le=10)
    unhealthy_threshold: int = Field(default=3, ge=2, le=10)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None, info: ValidationInfo) -> str | None:
        protocol = info.data.get("protocol")
        if protocol == "TCP":
            if value is not None:
                raise ValueError("a TCP health check has no path")
            return None
        if value is None:
            return "/"
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise ValueError("the path must start with '/' and hold no spaces")
        return value

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout(cls, value: int, info: ValidationInfo) -> int:
        interval = info.data.get("interval_seconds")
        if interval is not None and value >= interval:
            raise ValueError(f"the timeout must be shorter than the interval ({interval} s)")
        return value


class Listener(Input):
    """A port the load balancer listens on, and the port of the instances it forwards to.

    ``target_port`` defaults to ``port``; ``certificate`` (an ARN, a certificate resource name)
    is required by HTTPS and TLS listeners and refused by the others.
    """

    protocol: ListenerProtocol = "HTTP"
    port: Port
    target_port: Port | None = Field(default=None, validate_default=True)
    certificate: str | None = Field(
        default=None, min_length=1, max_length=2048, validate_default=True
    )

    @field_validator("target_port")
    @classmethod
    def _target_port(cls, value: int | None, info: ValidationInfo) -> int | None:
        return value if value is not None else info.data.get("port")

    @field_validator("certificate")
    @classmethod
    def _certificate(cls, value: str | None, info: ValidationInfo) -> str | None:
        secure = info.data.get("protocol") in ("HTTPS", "TLS")
        if secure and value is None:
            raise ValueError(f"a {info.data.get('protocol')} listener needs a certificate")
        if not secure and value is not None:
            raise ValueError("only HTTPS and TLS listeners take a certificate")
        return value

    @property
    def target(self) -> int:
        """The instances' port."""
        return self.target_port or self.port


class _Named(ClusterRef):
    @property
    def name(self) -> str:
        """The resource's name: the cluster name ``app-stack-detail``."""
        return self.cluster


class UpsertLoadBalancerInput(_Named):
    """Create a load balancer named ``application-stack-detail``, or converge it to this input.

    ``type`` is ``application`` (HTTP/HTTPS, layer 7) or ``network`` (TCP/UDP/TLS, layer 4);
    ``internal`` keeps it off the internet. ``subnets`` and ``network`` place it (AWS subnets
    and VPC, GCP network, Azure virtual network subnet); ``security_groups`` (by our names)
    apply where the cloud attaches them to a load balancer (AWS application load balancers).
    Server groups join it by naming it in ``load_balancers`` when they are created.
    """

    type: Literal["application", "network"] = "application"
    internal: bool = False
    listeners: list[Listener] = Field(min_length=1, max_length=50)
    health_check: HealthCheck = Field(default_factory=HealthCheck)
    subnets: list[str] = Field(default_factory=list, max_length=50)
    network: str | None = Field(default=None, min_length=1, max_length=1024)
    security_groups: list[NetworkName] = Field(default_factory=list, max_length=16)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("listeners")
    @classmethod
    def _listeners(cls, value: list[Listener], info: ValidationInfo) -> list[Listener]:
        kind = info.data.get("type", "application")
        allowed = LISTENER_PROTOCOLS[kind]
        seen: set[int] = set()
        for listener in value:
            if listener.protocol not in allowed:
                raise ValueError(
                    f"an {kind} load balancer listens with {' or '.join(allowed)}, "
                    f"not {listener.protocol}"
                )
            if listener.port in seen:
                raise ValueError(f"port {listener.port} has two listeners")
            seen.add(listener.port)
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_tags(value)


class IngressRule(Input):
    """Traffic allowed in: a protocol, a port range, and where it may come from.

    ``from_port``/``to_port`` bound the range (``to_port`` defaults to ``from_port``); ``icmp``
    and ``all`` take no ports. Sources: ``cidrs`` (IPv4 or IPv6 networks, host bits clear),
    ``source_groups`` (other security groups, by our names) and ``from_self`` (instances of this
    same group); at least one of them.
    """

    protocol: Literal["tcp", "udp", "icmp", "all"] = "tcp"
    from_port: int | None = Field(default=None, ge=0, le=65_535, validate_default=True)
    to_port: int | None = Field(default=None, ge=0, le=65_535, validate_default=True)
    cidrs: list[str] = Field(default_factory=list, max_length=60)
    source_groups: list[NetworkName] = Field(default_factory=list, max_length=60)
    from_self: bool = Field(default=False, validate_default=True)

    @field_validator("from_port")
    @classmethod
    def _from_port(cls, value: int | None, info: ValidationInfo) -> int | None:
        ported = info.data.get("protocol") in ("tcp", "udp")
        if ported and value is None:
            raise ValueError("tcp and udp rules need a port (from_port)")
        if not ported and value is not None:
            raise ValueError("icmp and all rules take no ports")
        return value

    @field_validator("to_port")
    @classmethod
    def _to_port(cls, value: int | None, info: ValidationInfo) -> int | None:
        if info.data.get("protocol") in ("icmp", "all"):
            if value is not None:
                raise ValueError("icmp and all rules take no ports")
            return None
        start = info.data.get("from_port")
        if start is None:
            return value
        if value is None:
            return int(start)
        if value < start:
            raise ValueError(f"the port range ends ({value}) before it starts ({start})")
        return value

    @field_validator("cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        normal = []
        for cidr in value:
            try:
                normal.append(str(ipaddress.ip_network(cidr, strict=True)))
            except ValueError as err:
                raise ValueError(f"{cidr!r} is not a CIDR block: {err}") from None
        return normal

    @field_validator("from_self")
    @classmethod
    def _sources(cls, value: bool, info: ValidationInfo) -> bool:
        has_cidrs = "cidrs" in info.data and info.data["cidrs"]
        has_groups = "source_groups" in info.data and info.data["source_groups"]
        if "cidrs" in info.data and not (value or has_cidrs or has_groups):
            raise ValueError("a rule needs a source: cidrs, source_groups or from_self")
        return value


class UpsertSecurityGroupInput(_Named):
    """Create a security group named ``application-stack-detail``, or converge its rules.

    The group ends up with exactly the ``ingress`` rules given: missing ones are added, rules no
    longer declared are revoked. ``network`` is the AWS VPC (default: the default VPC), the GCP
    network (default ``default``) or the Azure region's virtual network (unused).
    """

    description: str = Field(default="", max_length=255)
    network: str | None = Field(default=None, min_length=1, max_length=1024)
    ingress: list[IngressRule] = Field(default_factory=list, max_length=100)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_tags(value)


class LoadBalancerRef(Input):
    """Names one load balancer (``describeLoadBalancer``)."""

    name: NetworkName


class DeleteLoadBalancerInput(LoadBalancerRef):
    """Delete a load balancer and the parts cloudops made for it.

    Refused (``CONFLICT``) while server groups are attached, unless ``force``.
    """

    force: bool = False


class SecurityGroupRef(Input):
    """Names one security group (``describeSecurityGroup``)."""

    name: NetworkName


class DeleteSecurityGroupInput(SecurityGroupRef):
    """Delete a security group; refused (``CONFLICT``) while instances or rules use it."""


class NetworkFilter(Input):
    """Which load balancers or security groups to list: one application's, or all cloudops made."""

    application: Application | None = None


class Permission(Output):
    """One allowed flow, the unit rules are compared and converged in.

    ``source`` is a CIDR block (``kind="cidr"``) or a security group's name (``kind="group"``).
    """

    protocol: str
    from_port: int | None = None
    to_port: int | None = None
    kind: Literal["cidr", "group"]
    source: str

    def key(self) -> tuple[str, int, int, str, str]:
        """A sort key."""
        return (self.protocol, self.from_port or 0, self.to_port or 0, self.kind, self.source)


def permissions(name: str, rules: list[IngressRule]) -> list[Permission]:
    """The rules of group ``name`` as sorted, unique permissions (``from_self`` names ``name``)."""
    found: dict[tuple[Any, ...], Permission] = {}
    for rule in rules:
        sources = [("cidr", c) for c in rule.cidrs] + [("group", g) for g in rule.source_groups]
        if rule.from_self:
            sources.append(("group", name))
        for kind, source in sources:
            permission = Permission(
                protocol=rule.protocol,
                from_port=rule.from_port,
                to_port=rule.to_port,
                kind=kind,
                source=source,
            )
            found[permission.key()] = permission
    return [found[key] for key in sorted(found)]


class NetworkOutput(Output):
    """What an upsert or delete answers: which resource, and what changed.

    ``changed`` is false when there was nothing to do (a second identical upsert, a delete of
    something already gone); ``changes`` lists each part created, updated or deleted
    (``create target_group app-web-8080``); ``resources`` holds the cloud's ids of the parts.
    """

    name: str
    changed: bool = False
    created: bool = False
    changes: list[str] = Field(default_factory=list)
    resources: dict[str, str] = Field(default_factory=dict)


class LoadBalancerDescription(Output):
    """A load balancer as the cloud holds it, the same shape on every cloud.

    ``server_groups`` are the server groups behind it (deleting it is refused while there are
    any); ``parts`` the cloud resources it is made of, as ``kind/name``, in creation order.
    """

    name: str
    type: str
    internal: bool = False
    address: str | None = None
    listeners: list[Listener] = Field(default_factory=list)
    health_check: HealthCheck | None = None
    server_groups: list[str] = Field(default_factory=list)
    resources: dict[str, str] = Field(default_factory=dict)
    parts: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)


class LoadBalancerList(Output):
    """Load balancers, by name."""

    load_balancers: list[LoadBalancerDescription] = Field(default_factory=list)


class SecurityGroupDescription(Output):
    """A security group as the cloud holds it: its rules as permissions, and what uses it.

    ``in_use_by`` names what refuses its deletion (instances, network interfaces, server
    groups, other groups' rules).
    """

    name: str
    id: str | None = None
    network: str | None = None
    description: str = ""
    ingress: list[Permission] = Field(default_factory=list)
    in_use_by: list[str] = Field(default_factory=list)
    parts: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)


class SecurityGroupList(Output):
    """Security groups, by name."""

    security_groups: list[SecurityGroupDescription] = Field(default_factory=list)
