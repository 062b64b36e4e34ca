"""Microsoft.Network resources cloudops-azure's load balancers and security groups need.

Covered (api-version of azure-mgmt-network): public IP addresses, load balancers with frontend
IP configurations, backend pools, probes and load-balancing rules, network security groups with
inline security rules, application security groups: PUT (create or replace), GET, list in a
resource group, DELETE. Changes are synchronous here (provisioningState ``Succeeded`` at once,
which the SDK's pollers accept). What the real service refuses is refused, citing the REST
reference (azure-rest-api-specs, ``network/resource-manager``): a Standard public IP must be
Static; a rule must name a frontend, a pool and a probe of its own load balancer; a probe over
HTTP needs a ``requestPath``; security rule priorities are 100-4096 and unique per direction;
ports are ``*``, ``N`` or ``N-M``; references to other resources must exist; a resource still
used (a public IP by a frontend, a load balancer's pool or a security group by a scale set, an
application security group by a rule) cannot be deleted.

Load balancers PUT here also update the emulator's :class:`LoadBalancer` (its pool names), so
scale sets join their pools exactly as they join those made with ``add_load_balancer``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from cloudops_testing.azure_emulator import routes
from cloudops_testing.azure_emulator.errors import ArmError, not_found
from cloudops_testing.azure_emulator.resources import LoadBalancer
from cloudops_testing.azure_emulator.routes import Reply, Request, _pools, _sub_rg
from cloudops_testing.azure_emulator.state import ArmState

__all__ = ["network_bodies"]

_NET = routes._RG + (
    r"/providers/microsoft\.network/(?P<kind>publicipaddresses|loadbalancers|"
    r"networksecuritygroups|applicationsecuritygroups)"
)
_TYPES = {
    "publicipaddresses": "publicIPAddresses",
    "loadbalancers": "loadBalancers",
    "networksecuritygroups": "networkSecurityGroups",
    "applicationsecuritygroups": "applicationSecurityGroups",
}
_PORTS = re.compile(r"^(\*|[0-9]{1,5}(?:-[0-9]{1,5})?)$")
_SERVICE_TAGS = {"*", "virtualnetwork", "internet", "azureloadbalancer"}


def network_bodies(state: ArmState) -> dict[str, dict[str, Any]]:
    """Stored network resources by lower-cased ARM id."""
    store: dict[str, dict[str, Any]] = state.__dict__.setdefault("network_bodies", {})
    return store


def _bad(code: str, message: str) -> ArmError:
    return ArmError(400, code, message)


def _id(request: Request, kind: str, name: str) -> str:
    sub, rg = _sub_rg(request)
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{kind}/{name}"


def _exists(state: ArmState, ref: Any) -> bool:
    return isinstance(ref, str) and ref.lower() in network_bodies(state)


def _ports(value: Any, field: str) -> None:
    found = _PORTS.match(str(value))
    ok = found is not None
    if ok and value != "*":
        low, _, high = str(value).partition("-")
        ok = 0 <= int(low) <= int(high or low) <= 65535
    if not ok:
        raise _bad(
            "SecurityRuleInvalidPortRange",
            f"Security rule has invalid Port range {value!r} in {field}.",
        )


def _public_ip(state: ArmState, rid: str, body: dict[str, Any]) -> None:
    props = body.setdefault("properties", {})
    sku = (body.get("sku") or {}).get("name", "Basic")
    if sku == "Standard" and props.get("publicIPAllocationMethod", "Dynamic") != "Static":
        raise _bad(
            "StandardSkuPublicIPAddressesMustBeStatic",
            "Standard sku publicIp addresses must be Static allocation method.",
        )
    old = network_bodies(state).get(rid.lower()) or {}
    address = (old.get("properties") or {}).get("ipAddress")
    count = len(network_bodies(state))
    props["ipAddress"] = address or f"20.0.{count // 250 % 250}.{count % 250 + 1}"


def _child_ids(rid: str, props: dict[str, Any], key: str, kind: str) -> set[str]:
    ids = set()
    for item in props.get(key) or []:
        if not isinstance(item, dict) or not item.get("name"):
            raise _bad("InvalidRequestFormat", f"Every item of {key} needs a name.")
        item["id"] = f"{rid}/{kind}/{item['name']}"
        ids.add(item["id"].lower())
    return ids


def _load_balancer(state: ArmState, rid: str, body: dict[str, Any]) -> None:
    props = body.setdefault("properties", {})
    frontends = _child_ids(rid, props, "frontendIPConfigurations", "frontendIPConfigurations")
    pools = _child_ids(rid, props, "backendAddressPools", "backendAddressPools")
    probes = _child_ids(rid, props, "probes", "probes")
    _child_ids(rid, props, "loadBalancingRules", "loadBalancingRules")
    for frontend in props.get("frontendIPConfigurations") or []:
        fp = frontend.get("properties") or {}
        public = (fp.get("publicIPAddress") or {}).get("id")
        subnet = (fp.get("subnet") or {}).get("id")
        if bool(public) == bool(subnet):
            raise _bad(
                "InvalidFrontendIPConfiguration",
                f"Frontend {frontend['name']} needs either a public IP address or a subnet.",
            )
        if public and not _exists(state, public):
            raise _bad(
                "InvalidResourceReference",
                f"Resource {public} referenced by load balancer {rid} was not found.",
            )
        if subnet and subnet.lower() not in state.subnets:
            raise _bad(
                "InvalidResourceReference",
                f"Resource {subnet} referenced by load balancer {rid} was not found.",
            )
    for probe in props.get("probes") or []:
        pp = probe.get("properties") or {}
        if pp.get("protocol") not in ("Http", "Https", "Tcp"):
            raise _bad("InvalidProbeProtocol", f"Probe {probe['name']} has an invalid protocol.")
        if pp.get("protocol") in ("Http", "Https") and not pp.get("requestPath"):
            raise _bad(
                "ProbeRequestPathRequired", f"Probe {probe['name']} over HTTP needs a requestPath."
            )
        if not 1 <= int(pp.get("port", 0)) <= 65535:
            raise _bad("InvalidProbePort", f"Probe {probe['name']} has an invalid port.")
        if int(pp.get("intervalInSeconds", 15)) < 5:
            raise _bad("InvalidProbeInterval", "intervalInSeconds must be at least 5.")
    seen: set[tuple[str, int]] = set()
    for rule in props.get("loadBalancingRules") or []:
        rp = rule.get("properties") or {}
        for key, known in (
            ("frontendIPConfiguration", frontends),
            ("backendAddressPool", pools),
            ("probe", probes),
        ):
            ref = str((rp.get(key) or {}).get("id", "")).lower()
            if ref not in known:
                raise _bad(
                    "InvalidResourceReference",
                    f"Rule {rule['name']} references {key} {ref or '(none)'} not in load balancer.",
                )
        if rp.get("protocol") not in ("Tcp", "Udp", "All"):
            raise _bad("InvalidLoadBalancingRuleProtocol", f"Rule {rule['name']}: bad protocol.")
        port = int(rp.get("frontendPort", -1))
        if not 0 <= port <= 65534 or not 0 <= int(rp.get("backendPort", -1)) <= 65535:
            raise _bad("InvalidLoadBalancingRulePort", f"Rule {rule['name']}: bad port.")
        if (rp["protocol"], port) in seen:
            raise _bad(
                "LoadBalancingRuleFrontendPortConflict",
                f"Rule {rule['name']}: another rule uses {rp['protocol']} port {port}.",
            )
        seen.add((rp["protocol"], port))


def _security_group(state: ArmState, rid: str, body: dict[str, Any]) -> None:
    props = body.setdefault("properties", {})
    _child_ids(rid, props, "securityRules", "securityRules")
    priorities: set[tuple[str, int]] = set()
    for rule in props.get("securityRules") or []:
        rp = rule.get("properties") or {}
        if rp.get("protocol") not in ("Tcp", "Udp", "Icmp", "Esp", "Ah", "*"):
            raise _bad(
                "SecurityRuleParameterContainsUnsupportedValue", f"Rule {rule['name']}: protocol."
            )
        if rp.get("access") not in ("Allow", "Deny") or rp.get("direction") not in (
            "Inbound",
            "Outbound",
        ):
            raise _bad(
                "SecurityRuleParameterContainsUnsupportedValue",
                f"Rule {rule['name']}: access or direction.",
            )
        priority = int(rp.get("priority", 0))
        if not 100 <= priority <= 4096:
            raise _bad(
                "SecurityRuleInvalidPriority", f"Rule {rule['name']}: priority must be 100-4096."
            )
        if (rp["direction"], priority) in priorities:
            raise _bad(
                "SecurityRuleConflict",
                f"Rule {rule['name']}: another rule has priority {priority}.",
            )
        priorities.add((rp["direction"], priority))
        for field in ("sourcePortRange", "destinationPortRange"):
            if field in rp:
                _ports(rp[field], field)
        for value in rp.get("destinationPortRanges") or []:
            _ports(value, "destinationPortRanges")
        prefixes = list(rp.get("sourceAddressPrefixes") or [])
        if rp.get("sourceAddressPrefix"):
            prefixes.append(rp["sourceAddressPrefix"])
        groups = [g.get("id") for g in rp.get("sourceApplicationSecurityGroups") or []]
        if not prefixes and not groups:
            raise _bad(
                "SecurityRuleParameterContainsUnsupportedValue", f"Rule {rule['name']}: no source."
            )
        for prefix in prefixes:
            if str(prefix).lower() in _SERVICE_TAGS:
                continue
            try:
                ipaddress.ip_network(prefix, strict=False)
            except ValueError:
                raise _bad(
                    "SecurityRuleInvalidAddressPrefix", f"Rule {rule['name']}: {prefix!r}."
                ) from None
        for group in groups:
            if not _exists(state, group):
                raise _bad(
                    "InvalidResourceReference",
                    f"Resource {group} referenced by {rid} was not found.",
                )


_CHECKS = {
    "publicIPAddresses": _public_ip,
    "loadBalancers": _load_balancer,
    "networkSecurityGroups": _security_group,
    "applicationSecurityGroups": lambda state, rid, body: None,
}


def _render(state: ArmState, body: dict[str, Any]) -> dict[str, Any]:
    if body["type"] != "Microsoft.Network/loadBalancers":
        return body
    balancer = _balancer(state, body["id"])
    props = dict(body["properties"])
    if balancer is not None:
        props["backendAddressPools"] = _pools(state, balancer)
    return {**body, "properties": props}


def _balancer(state: ArmState, rid: str) -> LoadBalancer | None:
    parts = rid.split("/")
    return state.load_balancers.get((parts[2].lower(), parts[4].lower(), parts[-1].lower()))


def _put(state: ArmState, request: Request) -> Reply:
    sub, rg = _sub_rg(request)
    state.require_group(sub, rg)
    kind = _TYPES[request.groups["kind"].lower()]
    name = request.groups["name"]
    rid = _id(request, kind, name)
    body = request.json()
    location = str(body.get("location") or "").replace(" ", "").lower()
    if not location:
        raise ArmError(
            400, "LocationRequired", "The location property is required for this definition."
        )
    stored = {
        "name": name,
        "id": rid,
        "type": f"Microsoft.Network/{kind}",
        "location": location,
        "tags": dict(body.get("tags") or {}),
        "properties": dict(body.get("properties") or {}),
    }
    if body.get("sku"):
        stored["sku"] = body["sku"]
    _CHECKS[kind](state, rid, stored)
    stored["properties"]["provisioningState"] = "Succeeded"
    created = rid.lower() not in network_bodies(state)
    network_bodies(state)[rid.lower()] = stored
    if kind == "loadBalancers":
        names = [p["name"] for p in stored["properties"].get("backendAddressPools") or []]
        state.load_balancers[(sub.lower(), rg.lower(), name.lower())] = LoadBalancer(
            subscription=sub,
            resource_group=state.resource_groups[(sub.lower(), rg.lower())][0],
            name=name,
            location=location,
            pools={n.lower(): n for n in names},
        )
    return Reply(201 if created else 200, _render(state, stored))


def _get(state: ArmState, request: Request) -> Reply:
    sub, rg = _sub_rg(request)
    state.require_group(sub, rg)
    kind = _TYPES[request.groups["kind"].lower()]
    found = network_bodies(state).get(_id(request, kind, request.groups["name"]).lower())
    if found is None:
        if kind == "loadBalancers":  # one made with add_load_balancer
            return routes.get_load_balancer(state, _as_lb(request))
        raise not_found(f"Microsoft.Network/{kind}", request.groups["name"], rg)
    return Reply(200, _render(state, found))


def _as_lb(request: Request) -> Request:
    groups = {**request.groups, "lb": request.groups["name"]}
    return Request(request.method, request.path, request.query, request.body, request.base, groups)


def _list(state: ArmState, request: Request) -> Reply:
    sub, rg = _sub_rg(request)
    state.require_group(sub, rg)
    kind = _TYPES[request.groups["kind"].lower()]
    prefix = _id(request, kind, "").lower()
    items = [
        _render(state, b) for k, b in sorted(network_bodies(state).items()) if k.startswith(prefix)
    ]
    return Reply(200, {"value": items})


def _users(state: ArmState, rid: str) -> list[str]:
    """What still uses the resource ``rid`` (its deletion is refused while any does)."""
    wanted, users = rid.lower(), []
    for other in network_bodies(state).values():
        if other["id"].lower() == wanted:
            continue
        text = repr(other["properties"]).lower()
        if f"'{wanted}'" in text:
            users.append(other["id"])
    for scale_set in state.scale_sets.values():
        text = repr(scale_set.properties).lower()
        if f"'{wanted}'" in text or f"'{wanted}/" in text:
            users.append(scale_set.id)
    return users


_IN_USE = {
    "publicIPAddresses": "PublicIPAddressInUse",
    "loadBalancers": "LoadBalancerInUseByVirtualMachineScaleSet",
    "networkSecurityGroups": "InUseNetworkSecurityGroupCannotBeDeleted",
    "applicationSecurityGroups": "InUseApplicationSecurityGroupCannotBeDeleted",
}


def _delete(state: ArmState, request: Request) -> Reply:
    sub, rg = _sub_rg(request)
    state.require_group(sub, rg)
    kind = _TYPES[request.groups["kind"].lower()]
    name = request.groups["name"]
    rid = _id(request, kind, name)
    if rid.lower() not in network_bodies(state):
        return Reply(204)
    users = _users(state, rid)
    if users:
        raise _bad(_IN_USE[kind], f"{kind} {name} cannot be deleted: it is in use by {users[0]}.")
    del network_bodies(state)[rid.lower()]
    if kind == "loadBalancers":
        state.load_balancers.pop((sub.lower(), rg.lower(), name.lower()), None)
    return Reply(200)


#: Ahead of the emulator's own routes (their GET/PUT of load balancers keep only pools).
routes.ROUTES[:0] = [
    (method, re.compile(pattern + "$", re.IGNORECASE), handler)
    for method, pattern, handler in (
        ("GET", _NET, _list),
        ("PUT", _NET + r"/(?P<name>[^/]+)", _put),
        ("GET", _NET + r"/(?P<name>[^/]+)", _get),
        ("DELETE", _NET + r"/(?P<name>[^/]+)", _delete),
    )
]
