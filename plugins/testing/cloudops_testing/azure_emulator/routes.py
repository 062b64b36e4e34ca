"""HTTP routes of the emulator: ARM's URL scheme for the subset cloudops calls.

Why a table of regexes: ARM paths are case-insensitive and deeply nested; one list of
(method, pattern, handler) reads like the REST reference. Every request must carry an
``Authorization`` header (401 ``AuthenticationFailed`` otherwise) and an ``api-version`` query
parameter (400 ``MissingApiVersionParameter``), as on the real service. Absolute URLs in
answers (operation status, ``nextLink``) are built from the request's ``Host`` header, so they
point back through any proxy in between.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from cloudops_testing.azure_emulator import autoscale, wire
from cloudops_testing.azure_emulator.errors import ArmError, not_found
from cloudops_testing.azure_emulator.resources import LoadBalancer
from cloudops_testing.azure_emulator.state import ArmState
from cloudops_testing.specs import check_azure

__all__ = ["Reply", "Request", "route"]

_RG = r"/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)"
_VMSS = _RG + r"/providers/microsoft\.compute/virtualmachinescalesets"
_LB = _RG + r"/providers/microsoft\.network/loadbalancers/(?P<lb>[^/]+)"


@dataclass
class Request:
    """One parsed request."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    base: str
    groups: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names

    def json(self) -> dict[str, Any]:
        """The JSON object body, or 400 ``InvalidRequestContent``."""
        try:
            value = json.loads(self.body or b"null")
        except ValueError as err:
            raise ArmError(
                400, "InvalidRequestContent", f"The request content was invalid: {err}"
            ) from None
        if not isinstance(value, dict):
            raise ArmError(
                400, "InvalidRequestContent", "The request content must be a JSON object."
            )
        return value

    @property
    def api_version(self) -> str:
        """The api-version query parameter (checked to be present before routing)."""
        return self.query["api-version"]


@dataclass
class Reply:
    """Status, headers and JSON body (None: empty) of an answer."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None


Handler = Callable[[ArmState, Request], Reply]


def _sub_rg(request: Request) -> tuple[str, str]:
    return request.groups["sub"], request.groups["rg"]


# -- resource groups -------------------------------------------------------------------------


def _group_json(subscription: str, name: str, location: str) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{subscription}/resourceGroups/{name}",
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": location,
        "properties": {"provisioningState": "Succeeded"},
    }


def get_group(state: ArmState, request: Request) -> Reply:
    """GET a resource group."""
    sub, rg = _sub_rg(request)
    location = state.require_group(sub, rg)
    name = state.resource_groups[(sub.lower(), rg.lower())][0]
    return Reply(200, _group_json(sub, name, location))


def put_group(state: ArmState, request: Request) -> Reply:
    """PUT (create or keep) a resource group."""
    sub, rg = _sub_rg(request)
    location = str(request.json().get("location") or "").replace(" ", "").lower()
    if not location:
        raise ArmError(
            400, "LocationRequired", "The location property is required for this definition."
        )
    key = (sub.lower(), rg.lower())
    created = key not in state.resource_groups
    state.resource_groups.setdefault(key, (rg, location))
    name, location = state.resource_groups[key]
    return Reply(201 if created else 200, _group_json(sub, name, location))


# -- scale sets ------------------------------------------------------------------------------


def list_scale_sets(state: ArmState, request: Request) -> Reply:
    """GET the scale sets of a resource group, paged."""
    sub, rg = _sub_rg(request)
    items = [wire.scale_set_json(s) for s in state.list_scale_sets(sub, rg)]
    return Reply(200, _page(state, request, items))


def get_scale_set(state: ArmState, request: Request) -> Reply:
    """GET one scale set (``$expand=userData`` adds the user data)."""
    sub, rg = _sub_rg(request)
    scale_set = state.get(sub, rg, request.groups["name"])
    expand = request.query.get("$expand", "").lower()
    return Reply(200, wire.scale_set_json(scale_set, user_data=expand == "userdata"))


def put_scale_set(state: ArmState, request: Request) -> Reply:
    """PUT: 201 (created) or 200 (replaced), with Azure-AsyncOperation and Retry-After."""
    sub, rg = _sub_rg(request)
    state.check_etag(sub, rg, request.groups["name"], request.headers)
    created, scale_set, op = state.put(sub, rg, request.groups["name"], request.json())
    headers = wire.async_headers(
        request.base, op, request.api_version, state.settings.retry_after, location=False
    )
    return Reply(201 if created else 200, wire.scale_set_json(scale_set), headers)


def patch_scale_set(state: ArmState, request: Request) -> Reply:
    """PATCH: 200 only (the client refuses 202), with Azure-AsyncOperation and Retry-After."""
    sub, rg = _sub_rg(request)
    state.check_etag(sub, rg, request.groups["name"], request.headers)
    scale_set, op = state.patch(sub, rg, request.groups["name"], request.json())
    headers = wire.async_headers(
        request.base, op, request.api_version, state.settings.retry_after, location=False
    )
    return Reply(200, wire.scale_set_json(scale_set), headers)


def delete_scale_set(state: ArmState, request: Request) -> Reply:
    """DELETE: 202 with Azure-AsyncOperation and Location; 204 when there is nothing."""
    sub, rg = _sub_rg(request)
    op = state.delete(sub, rg, request.groups["name"])
    if op is None:
        return Reply(204)
    headers = wire.async_headers(
        request.base, op, request.api_version, state.settings.retry_after, location=True
    )
    return Reply(202, None, headers)


def _instance_ids(request: Request) -> list[str]:
    ids = request.json().get("instanceIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ArmError(
            400,
            "InvalidParameter",
            "Required parameter 'instanceIds' is missing (null).",
            "instanceIds",
        )
    return ids


def delete_instances(state: ArmState, request: Request) -> Reply:
    """POST .../delete with ``{"instanceIds": [...]}``: 202 with Location."""
    sub, rg = _sub_rg(request)
    op = state.delete_instances(sub, rg, request.groups["name"], _instance_ids(request))
    headers = wire.async_headers(
        request.base, op, request.api_version, state.settings.retry_after, location=True
    )
    return Reply(202, None, headers)


def upgrade_instances(state: ArmState, request: Request) -> Reply:
    """POST .../manualupgrade with ``{"instanceIds": [...]}``: 202 with Location."""
    sub, rg = _sub_rg(request)
    op = state.upgrade_instances(sub, rg, request.groups["name"], _instance_ids(request))
    headers = wire.async_headers(
        request.base, op, request.api_version, state.settings.retry_after, location=True
    )
    return Reply(202, None, headers)


def restart_instances(state: ArmState, request: Request) -> Reply:
    """POST .../restart, ``{"instanceIds": [...]}`` or no body (every VM): 202 with Location.

    azure-rest-api-specs ``VirtualMachineScaleSets_Restart``: the body
    (``VirtualMachineScaleSetVMInstanceIDs``) is optional, and without ``instanceIds`` every VM
    of the scale set restarts; the answer is 200 or 202 (a long-running operation, final state
    via ``location``).
    """
    sub, rg = _sub_rg(request)
    given = request.body and "instanceIds" in request.json()
    ids = _instance_ids(request) if given else None
    op = state.restart_instances(sub, rg, request.groups["name"], ids)
    headers = wire.async_headers(
        request.base, op, request.api_version, state.settings.retry_after, location=True
    )
    return Reply(202, None, headers)


def list_instances(state: ArmState, request: Request) -> Reply:
    """GET the VMs of a scale set, paged (``$expand=instanceView`` adds power states)."""
    sub, rg = _sub_rg(request)
    scale_set = state.get(sub, rg, request.groups["name"])
    view = request.query.get("$expand", "").lower() == "instanceview"
    now = state.clock()
    items = [
        wire.instance_json(scale_set, i, now, instance_view=view)
        for i in sorted(scale_set.instances.values(), key=lambda i: int(i.instance_id))
    ]
    return Reply(200, _page(state, request, items))


def get_instance(state: ArmState, request: Request) -> Reply:
    """GET one VM of a scale set."""
    sub, rg = _sub_rg(request)
    scale_set = state.get(sub, rg, request.groups["name"])
    instance = scale_set.instances.get(request.groups["iid"])
    if instance is None:
        raise not_found(
            "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
            f"{scale_set.name}/{request.groups['iid']}",
            rg,
        )
    view = request.query.get("$expand", "").lower() == "instanceview"
    return Reply(200, wire.instance_json(scale_set, instance, state.clock(), instance_view=view))


def put_instance(state: ArmState, request: Request) -> Reply:
    """PUT one VM (its NIC configurations): 200 with Azure-AsyncOperation."""
    sub, rg = _sub_rg(request)
    scale_set, instance, op = state.update_instance(
        sub, rg, request.groups["name"], request.groups["iid"], request.json()
    )
    headers = wire.async_headers(
        request.base, op, request.api_version, state.settings.retry_after, location=False
    )
    body = wire.instance_json(scale_set, instance, state.clock(), instance_view=False)
    return Reply(200, body, headers)


def get_operation(state: ArmState, request: Request) -> Reply:
    """The operation-status resource; ``monitor=true`` is the Location (202 until done) form."""
    op = state.poll(request.groups["sub"], request.groups["op"])
    retry = {"Retry-After": str(state.settings.retry_after)}
    if request.query.get("monitor", "").lower() == "true":
        if op.status == "InProgress":
            here = f"{request.base}{request.path}?{urlencode(request.query)}"
            return Reply(202, None, {**retry, "Location": here})
        if op.status == "Succeeded":
            return Reply(200)
        error = op.error or {"code": op.status, "message": f"The operation {op.status.lower()}."}
        return Reply(400, {"error": error})
    return Reply(200, wire.operation_json(op), retry if op.status == "InProgress" else None)


# -- network ---------------------------------------------------------------------------------


def _pools(state: ArmState, balancer: LoadBalancer) -> list[dict[str, Any]]:
    return [
        wire.pool_json(
            balancer, name, state.pool_members(f"{balancer.id}/backendAddressPools/{name}")
        )
        for name in sorted(balancer.pools.values(), key=str.lower)
    ]


def get_load_balancer(state: ArmState, request: Request) -> Reply:
    """GET a load balancer with its backend pools and their members."""
    sub, rg = _sub_rg(request)
    balancer = state.load_balancer(sub, rg, request.groups["lb"])
    return Reply(200, wire.load_balancer_json(balancer, _pools(state, balancer)))


def put_load_balancer(state: ArmState, request: Request) -> Reply:
    """PUT a load balancer (only its backend pool names are kept); done at once."""
    sub, rg = _sub_rg(request)
    state.require_group(sub, rg)
    body = request.json()
    location = str(body.get("location") or "").replace(" ", "").lower()
    if not location:
        raise ArmError(
            400, "LocationRequired", "The location property is required for this definition."
        )
    names = [
        str(p.get("name"))
        for p in (body.get("properties") or {}).get("backendAddressPools") or []
        if isinstance(p, dict) and p.get("name")
    ]
    probes = [
        str(p.get("name"))
        for p in (body.get("properties") or {}).get("probes") or []
        if isinstance(p, dict) and p.get("name")
    ]
    key = (sub.lower(), rg.lower(), request.groups["lb"].lower())
    created = key not in state.load_balancers
    balancer = LoadBalancer(
        subscription=sub,
        resource_group=state.resource_groups[(sub.lower(), rg.lower())][0],
        name=request.groups["lb"],
        location=location,
        pools={n.lower(): n for n in names},
        probes={n.lower(): n for n in probes},
    )
    state.load_balancers[key] = balancer
    return Reply(
        201 if created else 200, wire.load_balancer_json(balancer, _pools(state, balancer))
    )


def list_pools(state: ArmState, request: Request) -> Reply:
    """GET the backend pools of a load balancer."""
    sub, rg = _sub_rg(request)
    balancer = state.load_balancer(sub, rg, request.groups["lb"])
    return Reply(200, {"value": _pools(state, balancer)})


def get_pool(state: ArmState, request: Request) -> Reply:
    """GET one backend pool: ``backendIPConfigurations`` lists the VM NICs in it."""
    sub, rg = _sub_rg(request)
    balancer = state.load_balancer(sub, rg, request.groups["lb"])
    name = balancer.pools.get(request.groups["pool"].lower())
    if name is None:
        raise not_found(
            "Microsoft.Network/loadBalancers/backendAddressPools",
            f"{balancer.name}/{request.groups['pool']}",
            rg,
        )
    members = state.pool_members(f"{balancer.id}/backendAddressPools/{name}")
    return Reply(200, wire.pool_json(balancer, name, members))


def get_subnet(state: ArmState, request: Request) -> Reply:
    """GET a subnet the emulator was given."""
    sub, rg = _sub_rg(request)
    state.require_group(sub, rg)
    ref = state.subnets.get(request.path.lower())
    if ref is None:
        raise not_found(
            "Microsoft.Network/virtualNetworks/subnets",
            f"{request.groups['vnet']}/{request.groups['subnet']}",
            rg,
        )
    return Reply(
        200,
        {
            "id": ref,
            "name": ref.rsplit("/", 1)[-1],
            "type": "Microsoft.Network/virtualNetworks/subnets",
            "properties": {"addressPrefix": "10.0.0.0/24", "provisioningState": "Succeeded"},
        },
    )


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(pattern + "$", re.IGNORECASE), handler)
    for method, pattern, handler in (
        ("GET", _RG, get_group),
        ("PUT", _RG, put_group),
        ("GET", _VMSS, list_scale_sets),
        ("GET", _VMSS + r"/(?P<name>[^/]+)", get_scale_set),
        ("PUT", _VMSS + r"/(?P<name>[^/]+)", put_scale_set),
        ("PATCH", _VMSS + r"/(?P<name>[^/]+)", patch_scale_set),
        ("DELETE", _VMSS + r"/(?P<name>[^/]+)", delete_scale_set),
        ("POST", _VMSS + r"/(?P<name>[^/]+)/delete", delete_instances),
        ("POST", _VMSS + r"/(?P<name>[^/]+)/manualupgrade", upgrade_instances),
        ("POST", _VMSS + r"/(?P<name>[^/]+)/restart", restart_instances),
        ("GET", _VMSS + r"/(?P<name>[^/]+)/virtualmachines", list_instances),
        ("GET", _VMSS + r"/(?P<name>[^/]+)/virtualmachines/(?P<iid>[^/]+)", get_instance),
        ("PUT", _VMSS + r"/(?P<name>[^/]+)/virtualmachines/(?P<iid>[^/]+)", put_instance),
        (
            "GET",
            r"/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.compute/locations/"
            r"(?P<loc>[^/]+)/operations/(?P<op>[^/]+)",
            get_operation,
        ),
        ("GET", _LB, get_load_balancer),
        ("PUT", _LB, put_load_balancer),
        ("GET", _LB + r"/backendaddresspools", list_pools),
        ("GET", _LB + r"/backendaddresspools/(?P<pool>[^/]+)", get_pool),
        (
            "GET",
            _RG + r"/providers/microsoft\.network/virtualnetworks/(?P<vnet>[^/]+)"
            r"/subnets/(?P<subnet>[^/]+)",
            get_subnet,
        ),
        *autoscale.ROUTES,
    )
]


def _page(state: ArmState, request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    return wire.page(
        items,
        base=request.base,
        path=request.path,
        query=request.query,
        size=state.settings.page_size,
    )


def route(
    state: ArmState,
    method: str,
    raw_path: str,
    body: bytes,
    host: str,
    headers: dict[str, str] | None = None,
) -> Reply:
    """Answer one request: authentication and api-version checks, then the matching route."""
    parts = urlsplit(raw_path)
    path = parts.path.rstrip("/") or "/"
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    base = f"http://{host}"
    matched = False
    for route_method, pattern, handler in ROUTES:
        found = pattern.match(path)
        if found is None:
            continue
        matched = True
        if route_method != method:
            continue
        if "api-version" not in query or not query["api-version"]:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        request = Request(method, path, query, body, base, found.groupdict(), headers or {})
        with state.lock:
            state.requests[(method, path.lower())] += 1
            state.advance()
            return handler(state, request)
    if matched:
        raise ArmError(405, "HttpMethodNotAllowed", f"The HTTP method '{method}' is not supported.")
    raise ArmError(
        404,
        "InvalidResourceType",
        f"The resource type for path '{path}' could not be found in the emulator.",
    )


class ArmHandler(BaseHTTPRequestHandler):
    """``http.server`` handler that turns every request into :func:`route` and sends its Reply."""

    protocol_version = "HTTP/1.1"
    state: ArmState  # set on the subclass the emulator builds

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read the emulator's state, not its access log."""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            if not self.headers.get("Authorization"):
                raise ArmError(
                    401,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing.",
                )
            reply = route(
                self.state,
                self.command,
                self.path,
                body,
                self.headers.get("Host", "localhost"),
                {k.lower(): v for k, v in self.headers.items()},
            )
        except ArmError as err:
            reply = Reply(err.status, err.body())
        self._spec(body, reply)
        self._send(reply)

    def _spec(self, body: bytes, reply: Reply) -> None:
        """Record where this exchange breaks the vendored Microsoft.Compute spec (tests fail)."""
        try:
            request = json.loads(body) if body else None
        except ValueError:
            request = None
        found = check_azure(
            self.command, urlsplit(self.path).path, request, reply.status, reply.body
        )
        if found:
            with self.state.lock:
                self.state.spec_violations.extend(found)

    def _send(self, reply: Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        request_id = str(uuid.uuid4())
        self.send_response(reply.status)
        for name, value in (reply.headers or {}).items():
            self.send_header(name, value)
        self.send_header("x-ms-request-id", request_id)
        self.send_header("x-ms-correlation-request-id", request_id)
        client_id = self.headers.get("x-ms-client-request-id")
        if client_id:
            self.send_header("x-ms-client-request-id", client_id)
        if payload:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = _handle
