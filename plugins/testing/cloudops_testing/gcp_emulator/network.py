"""Load-balancing and firewall resources of the emulated Compute API (cloudops-gcp's network).

Covered, over the REST URIs of google-cloud-compute 1.57 (``services/*/transports/rest_base.py``):
global health checks, URL maps, target HTTP proxies (``setUrlMap``), global forwarding rules
(``setTarget``), regional forwarding rules, firewalls; ``delete`` of global backend services and
regional target pools. Each kind is a declaration (:class:`Kind`): its collection path, the
fields that link to other resources (a link to a missing resource is 404; deleting a resource
another one links to is ``resourceInUseByAnotherResource``, as Compute answers) and a
validation of what Compute refuses (compute v1 discovery document field descriptions: a health
check's ``timeoutSec`` may not exceed its ``checkIntervalSec``; a firewall has ``allowed`` or
``denied``, ports only for tcp, udp and sctp, valid CIDR ``sourceRanges``; a forwarding rule's
``portRange`` is ``N`` or ``N-M``). Mutations answer Operations like every other mutation here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cloudops_testing.gcp_emulator.compute import ComputeState
from cloudops_testing.gcp_emulator.errors import (
    already_exists,
    invalid,
    not_found,
    resource_in_use,
)
from cloudops_testing.gcp_emulator.links import check_name, link, relative, timestamp
from cloudops_testing.gcp_emulator.operations import Operation, Scope
from cloudops_testing.gcp_emulator.server import Request, _listing, route

__all__ = ["KINDS", "network_resources"]

_P = r"^/compute/v1/projects/(?P<project>[^/]+)"
_PORTS = re.compile(r"^([0-9]{1,5})(?:-([0-9]{1,5}))?$")


def network_resources(state: ComputeState) -> dict[str, dict[str, Any]]:
    """Every stored resource of this module, by relative path (``projects/p/global/...``)."""
    store: dict[str, dict[str, Any]] = state.__dict__.setdefault("network_resources", {})
    return store


def _port_range(value: Any, field_name: str) -> str:
    found = _PORTS.match(str(value or ""))
    if not found:
        raise invalid(f"Invalid value for field '{field_name}': '{value}'. Must be N or N-M.")
    start, end = int(found.group(1)), int(found.group(2) or found.group(1))
    if not 1 <= start <= end <= 65535:
        raise invalid(f"Invalid value for field '{field_name}': '{value}'. Invalid port range.")
    return f"{start}-{end}"


def _health_check(state: ComputeState, body: dict[str, Any]) -> None:
    kind = body.get("type")
    if kind not in ("HTTP", "HTTPS", "HTTP2", "TCP", "SSL", "GRPC"):
        raise invalid(f"Invalid value for field 'resource.type': '{kind}'.")
    body.setdefault("checkIntervalSec", 5)
    body.setdefault("timeoutSec", 5)
    body.setdefault("healthyThreshold", 2)
    body.setdefault("unhealthyThreshold", 2)
    if body["timeoutSec"] > body["checkIntervalSec"]:
        raise invalid("timeoutSec should be less than or equal to checkIntervalSec.")
    sub = body.get(f"{kind.lower()}HealthCheck") or {}
    port = sub.get("port", 80)
    if not 1 <= int(port) <= 65535:
        raise invalid(f"Invalid value for field 'resource.{kind.lower()}HealthCheck.port'.")


def _forwarding_rule(state: ComputeState, body: dict[str, Any]) -> None:
    body["portRange"] = _port_range(body.get("portRange"), "resource.portRange")
    body.setdefault("IPProtocol", "TCP")
    if body["IPProtocol"] not in ("TCP", "UDP", "ESP", "AH", "SCTP", "ICMP", "L3_DEFAULT"):
        raise invalid(f"Invalid value for field 'resource.IPProtocol': '{body['IPProtocol']}'.")
    body.setdefault("loadBalancingScheme", "EXTERNAL")
    rng = state.rng
    body.setdefault(
        "IPAddress", f"34.{rng.randrange(1, 255)}.{rng.randrange(255)}.{rng.randrange(1, 255)}"
    )


def _firewall(state: ComputeState, body: dict[str, Any]) -> None:
    body.setdefault("network", link(f"projects/{state.project}/global/networks/default"))
    network = relative(str(body["network"]), state.project) or ""
    if not network.endswith("/global/networks/default"):
        raise not_found(network or str(body["network"]))
    body["network"] = link(network)
    body.setdefault("direction", "INGRESS")
    body.setdefault("priority", 1000)
    if not 0 <= int(body["priority"]) <= 65535:
        raise invalid("Invalid value for field 'resource.priority'.")
    allowed, denied = body.get("allowed") or [], body.get("denied") or []
    if bool(allowed) == bool(denied):
        raise invalid("Exactly one of 'allowed' or 'denied' must be specified.")
    for index, rule in enumerate(allowed or denied):
        protocol = str(rule.get("IPProtocol", "")).lower()
        if protocol not in ("tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all"):
            raise invalid(f"Invalid value for field 'resource.allowed[{index}].IPProtocol'.")
        ports = rule.get("ports") or []
        if ports and protocol not in ("tcp", "udp", "sctp"):
            raise invalid("Ports may only be specified for tcp, udp and sctp.")
        for port in ports:
            _port_range(port, f"resource.allowed[{index}].ports")
    ranges = body.get("sourceRanges") or []
    if not ranges and not body.get("sourceTags") and body["direction"] == "INGRESS":
        body["sourceRanges"] = ranges = ["0.0.0.0/0"]
    for cidr in ranges:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise invalid(f"Invalid value for field 'resource.sourceRanges': '{cidr}'.") from None
    if any(":" in c for c in ranges) and any(":" not in c for c in ranges):
        raise invalid("IPv4 and IPv6 source ranges cannot be mixed in one firewall.")
    for tag in [*(body.get("sourceTags") or []), *(body.get("targetTags") or [])]:
        check_name(tag, "resource.targetTags")


def _nothing(state: ComputeState, body: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class Kind:
    """One collection: its API name, scope, the fields linking elsewhere, its validation."""

    collection: str
    kind: str
    regional: bool = False
    links: tuple[str, ...] = ()
    check: Callable[[ComputeState, dict[str, Any]], None] = _nothing
    setters: dict[str, str] = field(default_factory=dict)
    setter_prefix: str = "/global"

    def path(self, state: ComputeState, name: str, region: str | None) -> str:
        """The relative path of one resource."""
        where = f"regions/{region}" if self.regional else "global"
        return f"projects/{state.project}/{where}/{self.collection}/{name}"


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind("healthChecks", "healthCheck", check=_health_check),
        Kind("urlMaps", "urlMap", links=("defaultService",)),
        Kind(
            "targetHttpProxies",
            "targetHttpProxy",
            links=("urlMap",),
            setters={"setUrlMap": "urlMap"},
            setter_prefix="",
        ),
        Kind(
            "forwardingRules",
            "forwardingRule",
            links=("target",),
            check=_forwarding_rule,
            setters={"setTarget": "target"},
        ),
        Kind(
            "forwardingRules",
            "regionForwardingRule",
            regional=True,
            links=("target",),
            check=_forwarding_rule,
            setters={"setTarget": "target"},
        ),
        Kind("firewalls", "firewall", check=_firewall),
    )
}


def _exists(state: ComputeState, path: str) -> bool:
    if path in network_resources(state) or path in state.target_pools:
        return True
    parts = path.split("/")
    return parts[-2] == "backendServices" and parts[-1] in state.backend_services


def _check_links(state: ComputeState, spec: Kind, body: dict[str, Any]) -> None:
    for name in spec.links:
        value = body.get(name)
        if value is None:
            raise invalid(f"Required field 'resource.{name}' not specified", reason="required")
        path = relative(str(value), state.project)
        if path is None or not _exists(state, path):
            raise not_found(path or str(value))
        body[name] = link(path)


def _users(state: ComputeState, path: str) -> list[str]:
    """Resources linking to ``path`` (URL maps, proxies, forwarding rules, backend services)."""
    target = link(path)
    users = [
        other
        for other, resource in network_resources(state).items()
        if target in [resource.get(name) for name in KINDS[resource["_kind"]].links]
    ]
    for name, service in state.backend_services.items():
        if target in (service.get("healthChecks") or []):
            users.append(f"projects/{state.project}/global/backendServices/{name}")
    for pool_path, pool in state.target_pools.items():
        if target in (pool.get("healthChecks") or []):
            users.append(pool_path)
    return users


def _scope(spec: Kind, region: str | None) -> Scope:
    return Scope("regions", region) if spec.regional else Scope("global", None)


def _public(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if not k.startswith("_")}


def _insert(state: ComputeState, spec: Kind, r: Request) -> Operation:
    region = r.params.get("region")
    op_kind = f"{spec.collection}.insert"
    again = state.ops.dedupe(state.project, r.query.get("requestId"), op_kind)
    if again is not None:
        return again
    if region is not None:
        state.check_scope(Scope("regions", region))
    body = dict(r.body)
    name = check_name(body.get("name"))
    path = spec.path(state, name, region)
    if _exists(state, path) or path in state.reserved:
        raise already_exists(path)
    spec.check(state, body)
    _check_links(state, spec, body)
    resource = {
        **body,
        "kind": f"compute#{spec.kind if not spec.regional else 'forwardingRule'}",
        "id": state.ops.new_id(),
        "creationTimestamp": timestamp(),
        "name": name,
        "selfLink": link(path),
        "_kind": spec.kind,
    }
    if region is not None:
        resource["region"] = link(f"projects/{state.project}/regions/{region}")
    state.reserved.add(path)

    def apply() -> None:
        state.reserved.discard(path)
        network_resources(state)[path] = resource

    return state._op(
        _scope(spec, region),
        op_kind,
        "insert",
        path,
        resource["id"],
        r.query.get("requestId"),
        apply,
    )


def _get(state: ComputeState, spec: Kind, r: Request) -> dict[str, Any]:
    path = spec.path(state, r.params["name"], r.params.get("region"))
    found = network_resources(state).get(path)
    if found is None:
        raise not_found(path)
    return found


def _change(
    state: ComputeState, spec: Kind, r: Request, changes: dict[str, Any], verb: str
) -> Operation:
    op_kind = f"{spec.collection}.{verb}"
    again = state.ops.dedupe(state.project, r.query.get("requestId"), op_kind)
    if again is not None:
        return again
    resource = _get(state, spec, r)
    merged = {
        **resource,
        **{k: v for k, v in changes.items() if k not in ("id", "selfLink", "name", "kind")},
    }
    spec.check(state, merged)
    _check_links(state, spec, merged)

    def apply() -> None:
        resource.update(merged)

    region = r.params.get("region")
    return state._op(
        _scope(spec, region),
        op_kind,
        verb,
        resource["selfLink"].split("/compute/v1/", 1)[-1],
        resource["id"],
        r.query.get("requestId"),
        apply,
    )


def _delete_path(
    state: ComputeState,
    scope: Scope,
    kind: str,
    path: str,
    request_id: str | None,
    target_id: str,
    drop: Callable[[], None],
) -> Operation:
    users = _users(state, path)
    if users:
        raise resource_in_use(path, users[0])
    return state._op(scope, kind, "delete", path, target_id, request_id, drop)


def _register(spec: Kind) -> None:
    base = _P + (r"/regions/(?P<region>[^/]+)/" if spec.regional else r"/global/") + spec.collection
    one = base + r"/(?P<name>[^/]+)"

    @route("GET", base)
    def _list(state: ComputeState, r: Request) -> Any:
        prefix = spec.path(state, "", r.params.get("region"))
        items = [
            _public(v)
            for p, v in network_resources(state).items()
            if p.startswith(prefix) and v["_kind"] == spec.kind
        ]
        return _listing(f"compute#{spec.kind}List", prefix.rstrip("/"), items, r.query)

    @route("POST", base)
    def _post(state: ComputeState, r: Request) -> Any:
        return _insert(state, spec, r).resource()

    @route("GET", one)
    def _read(state: ComputeState, r: Request) -> Any:
        return _public(_get(state, spec, r))

    @route("PATCH", one)
    def _patch(state: ComputeState, r: Request) -> Any:
        return _change(state, spec, r, r.body, "patch").resource()

    @route("PUT", one)
    def _put(state: ComputeState, r: Request) -> Any:
        return _change(state, spec, r, r.body, "update").resource()

    @route("DELETE", one)
    def _delete(state: ComputeState, r: Request) -> Any:
        again = state.ops.dedupe(
            state.project, r.query.get("requestId"), f"{spec.collection}.delete"
        )
        if again is not None:
            return again.resource()
        resource = _get(state, spec, r)
        path = spec.path(state, r.params["name"], r.params.get("region"))
        op = _delete_path(
            state,
            _scope(spec, r.params.get("region")),
            f"{spec.collection}.delete",
            path,
            r.query.get("requestId"),
            resource["id"],
            lambda: network_resources(state).pop(path, None),
        )
        return op.resource()

    for verb, field_name in spec.setters.items():
        prefix = (
            _P
            + (r"/regions/(?P<region>[^/]+)/" if spec.regional else f"{spec.setter_prefix}/")
            + spec.collection
        )

        @route("POST", prefix + r"/(?P<name>[^/]+)/" + verb)
        def _set(
            state: ComputeState, r: Request, _field: str = field_name, _verb: str = verb
        ) -> Any:
            return _change(state, spec, r, {_field: r.body.get(_field)}, _verb).resource()


for _spec in KINDS.values():
    _register(_spec)


@route("DELETE", _P + r"/global/backendServices/(?P<name>[^/]+)")
def _delete_service(state: ComputeState, r: Request) -> Any:
    again = state.ops.dedupe(state.project, r.query.get("requestId"), "backendServices.delete")
    if again is not None:
        return again.resource()
    service = state.get_service(r.params["name"])
    path = state.service_path(r.params["name"])
    op = _delete_path(
        state,
        Scope("global", None),
        "backendServices.delete",
        path,
        r.query.get("requestId"),
        service["id"],
        lambda: state.backend_services.pop(r.params["name"], None),
    )
    return op.resource()


@route("DELETE", _P + r"/regions/(?P<region>[^/]+)/targetPools/(?P<name>[^/]+)")
def _delete_pool(state: ComputeState, r: Request) -> Any:
    again = state.ops.dedupe(state.project, r.query.get("requestId"), "targetPools.delete")
    if again is not None:
        return again.resource()
    path = f"projects/{state.project}/regions/{r.params['region']}/targetPools/{r.params['name']}"
    pool = state.target_pools.get(path)
    if pool is None:
        raise not_found(path)
    op = _delete_path(
        state,
        Scope("regions", r.params["region"]),
        "targetPools.delete",
        path,
        r.query.get("requestId"),
        pool["id"],
        lambda: state.target_pools.pop(path, None),
    )
    return op.resource()
