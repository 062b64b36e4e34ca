"""GCP load balancers and firewalls: the part handlers and reads (google-cloud-compute, I/O).

Every part is one Compute resource (or, for a security group, its set of firewall rules) read
and written in its REST JSON form. Mutations carry a ``requestId`` derived from the workflow's
request, the part and the state asked for, so a retried activity gets the Operation its first
attempt started; the handler waits for that Operation before it answers. Ownership tags live
in each resource's ``description`` (a JSON object), as they do for managed instance groups.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cloudops import BusinessError, ErrorCode, RetryableError
from cloudops.network import contract as nc
from cloudops.network import models as nm
from cloudops.network.contract import OWNER, TAG_LOAD_BALANCER, TAG_SECURITY_GROUP, Part, PartChange
from cloudops.network.parts import PartHandler, ResourceHandler, Where, listed, part_activities
from cloudops.servergroups.contract import TAG_REQUEST_ID
from cloudops.servergroups.translate import activity_maker
from cloudops_gcp.activities import _get_operation, _op_ref, _region_groups, _v1
from cloudops_gcp.clients import GcpClients, gcp_clients
from cloudops_gcp.errors import classify, classify_operation_error
from cloudops_gcp.resources import last

__all__ = ["NETWORK_ACTIVITIES"]

gcp_activity = activity_maker(classify)
_OP_DEADLINE = 120.0


@dataclass(frozen=True)
class Api:
    """How one kind of Compute resource is called: client, argument name, message, scope."""

    client: str
    field: str
    message: str
    request: str
    regional: bool = False

    @property
    def plural(self) -> str:
        """``HealthChecks``, ``TargetHttpProxies``: how list requests name the kind."""
        return self.request[:-1] + "ies" if self.request.endswith("y") else self.request + "s"


APIS = {
    "health_check": Api("HealthChecksClient", "health_check", "HealthCheck", "HealthCheck"),
    "backend_service": Api(
        "BackendServicesClient", "backend_service", "BackendService", "BackendService"
    ),
    "url_map": Api("UrlMapsClient", "url_map", "UrlMap", "UrlMap"),
    "target_http_proxy": Api(
        "TargetHttpProxiesClient", "target_http_proxy", "TargetHttpProxy", "TargetHttpProxy"
    ),
    "global_forwarding_rule": Api(
        "GlobalForwardingRulesClient", "forwarding_rule", "ForwardingRule", "GlobalForwardingRule"
    ),
    "forwarding_rule": Api(
        "ForwardingRulesClient", "forwarding_rule", "ForwardingRule", "ForwardingRule", True
    ),
    "target_pool": Api("TargetPoolsClient", "target_pool", "TargetPool", "TargetPool", True),
    "firewall": Api("FirewallsClient", "firewall", "Firewall", "Firewall"),
}


def _to_dict(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(type(message).to_json(message))
    return data


def _owner_tags(resource: dict[str, Any]) -> dict[str, str]:
    try:
        data = json.loads(resource.get("description") or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _description(tags: dict[str, str]) -> str:
    return json.dumps(tags, sort_keys=True)


def _request_id(change_id: str, *parts: Any) -> str:
    digest = hashlib.sha256(json.dumps([change_id, *parts], sort_keys=True).encode()).hexdigest()
    return str(uuid.UUID(digest[:32]))


class Compute:
    """Calls on one kind of resource for one account and region, waiting for Operations."""

    def __init__(self, where: Any, kind: str) -> None:
        self.clients: GcpClients = gcp_clients(where.account)
        self.region = where.region
        self.api = APIS[kind]

    def link(self, name: str, kind: str | None = None) -> str:
        api = APIS[kind] if kind else self.api
        collection = {
            "HealthCheck": "healthChecks",
            "BackendService": "backendServices",
            "UrlMap": "urlMaps",
            "TargetHttpProxy": "targetHttpProxies",
            "ForwardingRule": "forwardingRules",
            "TargetPool": "targetPools",
            "Firewall": "firewalls",
        }[api.message]
        where = f"regions/{self.region}" if api.regional else "global"
        return f"projects/{self.clients.project}/{where}/{collection}/{name}"

    def _request(self, verb: str, name: str | None = None, **fields: Any) -> Any:
        v1 = _v1()
        params: dict[str, Any] = {"project": self.clients.project, **fields}
        if self.api.regional:
            params["region"] = self.region
        if name is not None:
            params[self.api.field] = name
        kind = self.api.plural if verb == "List" else self.api.request
        return getattr(v1, f"{verb}{kind}Request")(**params)

    def get(self, name: str) -> dict[str, Any] | None:
        from google.api_core.exceptions import NotFound

        client = self.clients.get(self.api.client)
        try:
            found = client.get(
                request=self._request("Get", name),
                retry=self.clients.read_retry,
                timeout=self.clients.timeout,
            )
        except NotFound:
            return None
        return _to_dict(found)

    def list(self) -> Iterator[dict[str, Any]]:
        client = self.clients.get(self.api.client)
        pager = client.list(
            request=self._request("List", max_results=500),
            retry=self.clients.read_retry,
            timeout=self.clients.timeout,
        )
        for item in pager:
            yield _to_dict(item)

    def _run(self, method: str, request: Any) -> None:
        client = self.clients.get(self.api.client)
        op = getattr(client, f"{method}_unary")(
            request=request, retry=None, timeout=self.clients.timeout
        )
        self.wait(op)

    def wait(self, op: Any) -> None:
        """Until the Operation is DONE; its error classified."""
        v1, ref = _v1(), _op_ref(op)
        deadline = time.monotonic() + _OP_DEADLINE
        while op.status != v1.Operation.Status.DONE:
            if time.monotonic() > deadline:
                raise RetryableError(f"operation {op.name} is still running")
            time.sleep(0.2)
            op = _get_operation(self.clients, ref)
        for error in op.error.errors if op.error else []:
            outcome = classify_operation_error(error.code, op.http_error_status_code or None)
            if outcome == "RETRY":
                raise RetryableError(f"operation {op.name} failed: {error.message}")
            raise BusinessError(outcome, f"{error.code}: {error.message}", {"operation": op.name})

    def insert(self, body: dict[str, Any], request_id: str) -> None:
        v1 = _v1()
        resource = getattr(v1, self.api.message).from_json(json.dumps(body))
        request = self._request(
            "Insert", **{f"{self.api.field}_resource": resource, "request_id": request_id}
        )
        self._run("insert", request)

    def patch(self, name: str, body: dict[str, Any], request_id: str) -> None:
        v1 = _v1()
        resource = getattr(v1, self.api.message).from_json(json.dumps(body))
        request = self._request(
            "Patch", name, **{f"{self.api.field}_resource": resource, "request_id": request_id}
        )
        self._run("patch", request)

    def delete(self, name: str, request_id: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self._run("delete", self._request("Delete", name, request_id=request_id))
        except NotFound:
            return

    def call(self, method: str, request: Any) -> None:
        """A verb of its own (``set_url_map``, ``set_target``)."""
        self._run(method, request)


class Resource(ResourceHandler[Compute]):
    """A part that is one Compute resource; subclasses translate between body and state."""

    def client(self, where: Where) -> Compute:
        return Compute(where, self.kind)

    def get(self, client: Compute, name: str) -> dict[str, Any] | None:
        return client.get(name)

    def identity(self, resource: dict[str, Any]) -> tuple[Any, Any]:
        return resource.get("selfLink"), _owner_tags(resource).get(TAG_REQUEST_ID)

    def create(self, where: Where, change: PartChange) -> str | None:
        compute = Compute(where, self.kind)
        body = {
            **self.body(compute, change.part),
            "name": change.part.name,
            "description": _description(change.tags),
        }
        compute.insert(body, _request_id(change.request_id, change.part.key, "insert", body))
        return compute.link(change.part.name)

    def update(self, where: Where, change: PartChange, current: dict[str, Any]) -> str | None:
        compute = Compute(where, self.kind)
        body = self.body(compute, change.part)
        rid = _request_id(change.request_id, change.part.key, "patch", body)
        compute.patch(change.part.name, body, rid)
        return compute.link(change.part.name)

    def delete(self, where: Where, part: Part, current: dict[str, Any]) -> None:
        compute = Compute(where, self.kind)
        compute.delete(part.name, _request_id(str(current.get("id")), part.key, "delete"))


def _health_state(resource: dict[str, Any]) -> dict[str, Any]:
    kind = resource.get("type", "")
    sub = resource.get(f"{kind.lower()}HealthCheck") or {}
    return {
        "type": kind,
        "port": sub.get("port"),
        "path": sub.get("requestPath") if kind != "TCP" else None,
        "interval": resource.get("checkIntervalSec"),
        "timeout": resource.get("timeoutSec"),
        "healthy": resource.get("healthyThreshold"),
        "unhealthy": resource.get("unhealthyThreshold"),
    }


class HealthChecks(Resource):
    kind = "health_check"

    def state(self, compute: Compute, resource: dict[str, Any]) -> dict[str, Any]:
        return _health_state(resource)

    def body(self, compute: Compute, part: Part) -> dict[str, Any]:
        d = part.desired
        sub: dict[str, Any] = {"port": d["port"]}
        if d["path"]:
            sub["requestPath"] = d["path"]
        return {
            "type": d["type"],
            f"{d['type'].lower()}HealthCheck": sub,
            "checkIntervalSec": d["interval"],
            "timeoutSec": d["timeout"],
            "healthyThreshold": d["healthy"],
            "unhealthyThreshold": d["unhealthy"],
        }


class BackendServices(Resource):
    """The backend service; its ``backends`` belong to the server groups and are left alone."""

    kind = "backend_service"

    def state(self, compute: Compute, resource: dict[str, Any]) -> dict[str, Any]:
        return {
            "protocol": resource.get("protocol"),
            "port_name": resource.get("portName"),
            "health_checks": [last(h) for h in resource.get("healthChecks") or []],
            "scheme": resource.get("loadBalancingScheme"),
        }

    def body(self, compute: Compute, part: Part) -> dict[str, Any]:
        d = part.desired
        return {
            "protocol": d["protocol"],
            "portName": d["port_name"],
            "healthChecks": [compute.link(h, "health_check") for h in d["health_checks"]],
            "loadBalancingScheme": d["scheme"],
        }


class UrlMaps(Resource):
    kind = "url_map"

    def state(self, compute: Compute, resource: dict[str, Any]) -> dict[str, Any]:
        return {"default_service": last(resource.get("defaultService") or "")}

    def body(self, compute: Compute, part: Part) -> dict[str, Any]:
        return {"defaultService": compute.link(part.desired["default_service"], "backend_service")}


class TargetHttpProxies(Resource):
    kind = "target_http_proxy"

    def state(self, compute: Compute, resource: dict[str, Any]) -> dict[str, Any]:
        return {"url_map": last(resource.get("urlMap") or "")}

    def body(self, compute: Compute, part: Part) -> dict[str, Any]:
        return {"urlMap": compute.link(part.desired["url_map"], "url_map")}

    def update(self, where: Where, change: PartChange, current: dict[str, Any]) -> str | None:
        compute, v1 = Compute(where, self.kind), _v1()
        link = compute.link(change.part.desired["url_map"], "url_map")
        compute.call(
            "set_url_map",
            v1.SetUrlMapTargetHttpProxyRequest(
                project=compute.clients.project,
                target_http_proxy=change.part.name,
                url_map_reference_resource=v1.UrlMapReference(url_map=link),
                request_id=_request_id(change.request_id, change.part.key, "set", link),
            ),
        )
        return compute.link(change.part.name)


class TargetPools(Resource):
    kind = "target_pool"

    def state(self, compute: Compute, resource: dict[str, Any]) -> dict[str, Any]:
        return {"session_affinity": resource.get("sessionAffinity")}

    def body(self, compute: Compute, part: Part) -> dict[str, Any]:
        return {"sessionAffinity": part.desired["session_affinity"]}

    def update(self, where: Where, change: PartChange, current: dict[str, Any]) -> str | None:
        raise BusinessError(
            ErrorCode.CONFLICT,
            f"target pool {change.part.name!r} exists with another session affinity, which "
            "cannot be changed; delete the load balancer first",
        )


class ForwardingRules(Resource):
    """A forwarding rule: only its target can change (``setTarget``); else it is replaced."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def _target_kind(self) -> str:
        return "target_pool" if self.kind == "forwarding_rule" else "target_http_proxy"

    def state(self, compute: Compute, resource: dict[str, Any]) -> dict[str, Any]:
        return {
            "port_range": resource.get("portRange"),
            "target": last(resource.get("target") or ""),
            "protocol": resource.get("IPProtocol"),
            "scheme": resource.get("loadBalancingScheme"),
            "address": resource.get("IPAddress"),
        }

    def body(self, compute: Compute, part: Part) -> dict[str, Any]:
        d = part.desired
        return {
            "portRange": d["port_range"],
            "target": compute.link(d["target"], self._target_kind()),
            "IPProtocol": d["protocol"],
            "loadBalancingScheme": d["scheme"],
        }

    def update(self, where: Where, change: PartChange, current: dict[str, Any]) -> str | None:
        compute, part = Compute(where, self.kind), change.part
        others = [k for k in part.desired if k != "target" and part.desired[k] != current.get(k)]
        if others:  # immutable: replace it
            self.delete(where, part, current)
            return self.create(where, change)
        v1 = _v1()
        link = compute.link(part.desired["target"], self._target_kind())
        params: dict[str, Any] = {
            "project": compute.clients.project,
            "forwarding_rule": part.name,
            "target_reference_resource": v1.TargetReference(target=link),
            "request_id": _request_id(change.request_id, part.key, "set", link),
        }
        if compute.api.regional:
            params["region"] = compute.region
            request = v1.SetTargetForwardingRuleRequest(**params)
        else:
            request = v1.SetTargetGlobalForwardingRuleRequest(**params)
        compute.call("set_target", request)
        return compute.link(part.name)


def _ours(compute: Compute, key: str, name: str) -> dict[str, dict[str, Any]]:
    """Resources of ``compute``'s kind whose description says they belong to ``name``."""
    return {r["name"]: r for r in compute.list() if _owner_tags(r).get(key) == name}


class StaleForwardingRules(PartHandler):
    """The last step of an upsert: delete the load balancer's rules no listener declares."""

    def _compute(self, where: Where, part: Part) -> Compute:
        regional = part.settings.get("regional")
        return Compute(where, "forwarding_rule" if regional else "global_forwarding_rule")

    def read(self, where: Where, part: Part) -> dict[str, Any] | None:
        found = _ours(self._compute(where, part), TAG_LOAD_BALANCER, part.name)
        return {"rules": sorted(found), OWNER: None}

    def create(self, where: Where, change: PartChange) -> str | None:
        return self.update(where, change, {})

    def update(self, where: Where, change: PartChange, current: dict[str, Any]) -> str | None:
        compute = self._compute(where, change.part)
        keep = set(change.part.desired["rules"])
        for name, rule in sorted(_ours(compute, TAG_LOAD_BALANCER, change.part.name).items()):
            if name not in keep:
                compute.delete(name, _request_id(str(rule.get("selfLink")), "delete"))
        return None

    def delete(self, where: Where, part: Part, current: dict[str, Any]) -> None:
        return None


# --------------------------------------------------------------------------------------------
# Firewalls
# --------------------------------------------------------------------------------------------


def _firewall_specs(name: str, wanted: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Firewall rules (by name ``NAME-xxxxxxxx``, content-addressed) for the permissions."""
    buckets: dict[tuple[Any, ...], dict[str, set[str]]] = {}
    for item in wanted:
        permission = nm.Permission.model_validate(item)
        family = "6" if permission.kind == "cidr" and ":" in permission.source else "4"
        key = (permission.protocol, permission.from_port, permission.to_port, family)
        bucket = buckets.setdefault(key, {"cidr": set(), "group": set()})
        bucket[permission.kind].add(permission.source)
    specs = {}
    for (protocol, start, end, _), sources in sorted(buckets.items(), key=str):
        allowed: dict[str, Any] = {"IPProtocol": protocol}
        if start is not None:
            allowed["ports"] = [str(start) if start == end else f"{start}-{end}"]
        spec: dict[str, Any] = {"allowed": [allowed], "targetTags": [name]}
        if sources["cidr"]:
            spec["sourceRanges"] = sorted(sources["cidr"])
        if sources["group"]:
            spec["sourceTags"] = sorted(sources["group"])
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]
        specs[f"{name}-{digest}"] = spec
    return specs


def _firewall_permissions(rule: dict[str, Any]) -> list[nm.Permission]:
    found = []
    for allowed in rule.get("allowed") or []:
        protocol = str(allowed.get("IPProtocol")).lower()
        ports = allowed.get("ports") or [None]
        for port in ports:
            start = end = None
            if port is not None:
                first, _, second = str(port).partition("-")
                start, end = int(first), int(second or first)
            sources = [("cidr", c) for c in rule.get("sourceRanges") or []]
            sources += [("group", t) for t in rule.get("sourceTags") or []]
            found += [
                nm.Permission(protocol=protocol, from_port=start, to_port=end, kind=k, source=s)  # type: ignore[arg-type]
                for k, s in sources
            ]
    return found


def _group_firewalls(compute: Compute, name: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The group's marker firewall (named as the group) and its rule firewalls by name."""
    ours = _ours(compute, TAG_SECURITY_GROUP, name)
    marker = ours.pop(name, None)
    return marker, ours


class SecurityGroups(PartHandler):
    """A security group: a marker firewall and one allow rule per protocol and port range.

    The marker (named as the group) denies everything at the lowest priority, which Compute
    does anyway; it holds the group's tags, so a group without rules exists too.
    """

    def read(self, where: Where, part: Part) -> dict[str, Any] | None:
        marker, rules = _group_firewalls(Compute(where, "firewall"), part.name)
        if marker is None:
            return None
        permissions = {p.key(): p for r in rules.values() for p in _firewall_permissions(r)}
        return {
            "id": marker.get("selfLink"),
            "ingress": [permissions[k].model_dump() for k in sorted(permissions)],
            "rules": sorted(rules),
            OWNER: _owner_tags(marker).get(TAG_REQUEST_ID),
        }

    def _network(self, compute: Compute, part: Part) -> str:
        network = str(part.settings.get("network") or "default")
        if "/" in network:
            return network
        return f"projects/{compute.clients.project}/global/networks/{network}"

    def create(self, where: Where, change: PartChange) -> str | None:
        compute, part = Compute(where, "firewall"), change.part
        marker = {
            "name": part.name,
            "network": self._network(compute, part),
            "direction": "INGRESS",
            "priority": 65535,
            "denied": [{"IPProtocol": "all"}],
            "sourceRanges": ["0.0.0.0/0"],
            "targetTags": [part.name],
            "description": _description(change.tags),
        }
        if compute.get(part.name) is None:
            compute.insert(marker, _request_id(change.request_id, part.key, "marker"))
        self._converge(compute, change, {})
        return compute.link(part.name)

    def update(self, where: Where, change: PartChange, current: dict[str, Any]) -> str | None:
        compute = Compute(where, "firewall")
        _, rules = _group_firewalls(compute, change.part.name)
        self._converge(compute, change, rules)
        return compute.link(change.part.name)

    def _converge(self, compute: Compute, change: PartChange, rules: dict[str, Any]) -> None:
        part = change.part
        wanted = _firewall_specs(part.name, part.desired["ingress"])
        tags = {**change.tags, TAG_SECURITY_GROUP: part.name}
        if change.restore:
            marker = compute.get(part.name) or {}
            tags = {**_owner_tags(marker), TAG_SECURITY_GROUP: part.name}
        for name, spec in sorted(wanted.items()):
            if name in rules:
                continue
            body = {
                **spec,
                "name": name,
                "network": self._network(compute, part),
                "direction": "INGRESS",
                "priority": 1000,
                "description": _description(tags),
            }
            compute.insert(body, _request_id(change.request_id, name, "insert"))
        for name, rule in sorted(rules.items()):
            if name not in wanted:
                compute.delete(name, _request_id(str(rule.get("selfLink")), name, "delete"))

    def delete(self, where: Where, part: Part, current: dict[str, Any]) -> None:
        compute = Compute(where, "firewall")
        marker, rules = _group_firewalls(compute, part.name)
        for name, rule in sorted(rules.items()):
            compute.delete(name, _request_id(str(rule.get("selfLink")), name, "delete"))
        if marker is not None:
            compute.delete(part.name, _request_id(str(marker.get("selfLink")), "delete"))


HANDLERS: dict[str, PartHandler] = {
    "health_check": HealthChecks(),
    "backend_service": BackendServices(),
    "url_map": UrlMaps(),
    "target_http_proxy": TargetHttpProxies(),
    "global_forwarding_rule": ForwardingRules("global_forwarding_rule"),
    "forwarding_rule": ForwardingRules("forwarding_rule"),
    "target_pool": TargetPools(),
    "stale_forwarding_rules": StaleForwardingRules(),
    "security_group": SecurityGroups(),
}


# --------------------------------------------------------------------------------------------
# Describe and list
# --------------------------------------------------------------------------------------------


def _health(found: dict[str, Any] | None) -> nm.HealthCheck | None:
    if found is None:
        return None
    state = _health_state(found)
    try:
        return nm.HealthCheck(
            protocol=state["type"],
            port=state["port"],
            path=state["path"],
            interval_seconds=state["interval"],
            timeout_seconds=state["timeout"],
            healthy_threshold=state["healthy"],
            unhealthy_threshold=state["unhealthy"],
        )
    except ValueError:
        return None


def _describe_http(where: Any, service: dict[str, Any]) -> nm.LoadBalancerDescription:
    name = service["name"]
    check = Compute(where, "health_check").get(name)
    rules = _ours(Compute(where, "global_forwarding_rule"), TAG_LOAD_BALANCER, name)
    parts = [f"health_check/{name}"] if check else []
    parts += [f"backend_service/{name}"]
    if Compute(where, "url_map").get(name):
        parts.append(f"url_map/{name}")
    if Compute(where, "target_http_proxy").get(name):
        parts.append(f"target_http_proxy/{name}")
    parts += [f"global_forwarding_rule/{r}" for r in sorted(rules)]
    port = ((check or {}).get("httpHealthCheck") or {}).get("port")
    return nm.LoadBalancerDescription(
        name=name,
        type="application",
        address=next((r.get("IPAddress") for _, r in sorted(rules.items())), None),
        listeners=[
            nm.Listener(
                protocol="HTTP", port=int(r["portRange"].split("-")[0]), target_port=port or None
            )
            for _, r in sorted(rules.items())
        ],
        health_check=_health(check),
        server_groups=sorted(last(b.get("group") or "") for b in service.get("backends") or []),
        resources={"backend_service": service.get("selfLink", "")},
        parts=parts,
        tags=_owner_tags(service),
    )


def _describe_pool(where: Any, pool: dict[str, Any]) -> nm.LoadBalancerDescription:
    name = pool["name"]
    rules = _ours(Compute(where, "forwarding_rule"), TAG_LOAD_BALANCER, name)
    clients = gcp_clients(where.account)
    link = pool.get("selfLink", "")
    groups = sorted(
        group.name
        for group, _ in _region_groups(clients, where.region)
        if any(last(p) == name for p in group.target_pools)
    )
    return nm.LoadBalancerDescription(
        name=name,
        type="network",
        address=next((r.get("IPAddress") for _, r in sorted(rules.items())), None),
        listeners=[
            nm.Listener(
                protocol="UDP" if r.get("IPProtocol") == "UDP" else "TCP",
                port=int(r["portRange"].split("-")[0]),
            )
            for _, r in sorted(rules.items())
        ],
        server_groups=groups,
        resources={"target_pool": link},
        parts=[f"target_pool/{name}", *(f"forwarding_rule/{r}" for r in sorted(rules))],
        tags=_owner_tags(pool),
    )


@gcp_activity("gcp.describe_load_balancer")
def describe_load_balancer(call: nc.NetworkCall) -> nc.LoadBalancerLookup:
    """The external HTTP load balancer (backend service) or network one (target pool) ``name``."""
    service = Compute(call, "backend_service").get(call.name)
    if service is not None:
        return nc.LoadBalancerLookup(description=_describe_http(call, service))
    pool = Compute(call, "target_pool").get(call.name)
    if pool is not None:
        return nc.LoadBalancerLookup(description=_describe_pool(call, pool))
    return nc.LoadBalancerLookup()


@gcp_activity("gcp.list_load_balancers")
def list_load_balancers(call: nc.NetworkListCall) -> nm.LoadBalancerList:
    """The load balancers cloudops made (of one application), each described."""
    found = []
    for kind, describe in (("backend_service", _describe_http), ("target_pool", _describe_pool)):
        for resource in Compute(call, kind).list():
            if not listed(_owner_tags(resource), TAG_LOAD_BALANCER, call.application):
                continue
            found.append(describe(call, resource))
    return nm.LoadBalancerList(load_balancers=sorted(found, key=lambda d: d.name))


def _describe_group(
    where: Any, marker: dict[str, Any], firewalls: list[dict[str, Any]]
) -> nm.SecurityGroupDescription:
    name = marker["name"]
    mine = [
        f for f in firewalls if _owner_tags(f).get(TAG_SECURITY_GROUP) == name and f is not marker
    ]
    permissions = {p.key(): p for f in mine for p in _firewall_permissions(f)}
    users = {
        f"rules of security group {_owner_tags(f).get(TAG_SECURITY_GROUP) or f['name']}"
        for f in firewalls
        if _owner_tags(f).get(TAG_SECURITY_GROUP) != name and name in (f.get("sourceTags") or [])
    }
    clients = gcp_clients(where.account)
    for group, _ in _region_groups(clients, where.region):
        template = last(group.instance_template)
        found = clients.get("InstanceTemplatesClient").get(
            project=clients.project, instance_template=template, timeout=clients.timeout
        )
        if name in list(found.properties.tags.items):
            users.add(f"server group {group.name}")
    return nm.SecurityGroupDescription(
        name=name,
        id=marker.get("selfLink"),
        network=last(marker.get("network") or ""),
        ingress=[permissions[k] for k in sorted(permissions)],
        in_use_by=sorted(users),
        parts=[f"security_group/{name}"],
        tags=_owner_tags(marker),
    )


@gcp_activity("gcp.describe_security_group")
def describe_security_group(call: nc.NetworkCall) -> nc.SecurityGroupLookup:
    """The firewall rules of security group ``name``, and what uses them."""
    firewalls = list(Compute(call, "firewall").list())
    marker = next((f for f in firewalls if f["name"] == call.name), None)
    if marker is None or _owner_tags(marker).get(TAG_SECURITY_GROUP) != call.name:
        return nc.SecurityGroupLookup()
    return nc.SecurityGroupLookup(description=_describe_group(call, marker, firewalls))


@gcp_activity("gcp.list_security_groups")
def list_security_groups(call: nc.NetworkListCall) -> nm.SecurityGroupList:
    """The security groups cloudops made (of one application), each described."""
    firewalls = list(Compute(call, "firewall").list())
    found = []
    for firewall in sorted(firewalls, key=lambda f: f["name"]):
        tags = _owner_tags(firewall)
        if tags.get(TAG_SECURITY_GROUP) != firewall["name"]:
            continue
        if not listed(tags, TAG_SECURITY_GROUP, call.application):
            continue
        found.append(_describe_group(call, firewall, firewalls))
    return nm.SecurityGroupList(security_groups=found)


#: Every network activity of the plugin.
NETWORK_ACTIVITIES = (
    *part_activities("gcp", classify, HANDLERS),
    describe_load_balancer,
    list_load_balancers,
    describe_security_group,
    list_security_groups,
)
