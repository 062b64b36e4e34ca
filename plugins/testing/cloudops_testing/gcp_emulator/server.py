"""HTTP routing of the emulated Compute Engine REST API (``/compute/v1/projects/...``).

Routes mirror the URIs of google-cloud-compute's REST transport (``rest_base.py``), so the
official client works unchanged with ``ClientOptions(api_endpoint=emulator.url)``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from cloudops_testing.gcp_emulator import autoscalers, capacity, instance_groups
from cloudops_testing.gcp_emulator.compute import ComputeState
from cloudops_testing.gcp_emulator.errors import ApiError, invalid, not_found
from cloudops_testing.gcp_emulator.instances import apply_filter, page
from cloudops_testing.gcp_emulator.links import link, render
from cloudops_testing.gcp_emulator.operations import Operation, Scope
from cloudops_testing.specs import check_gcp

__all__ = ["EmulatorServer", "RequestRecord"]


class Request(NamedTuple):
    """A parsed request as route handlers see it."""

    method: str
    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]


class RequestRecord(NamedTuple):
    """One request the emulator answered (for tests that check what a client sent)."""

    method: str
    path: str
    status: int


Handler = Callable[[ComputeState, Request], Any]
_P = r"^/compute/v1/projects/(?P<project>[^/]+)"
_SCOPED = _P + r"/(?P<sk>zones|regions)/(?P<loc>[^/]+)"
_IGM = _SCOPED + r"/instanceGroupManagers/(?P<name>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register a handler for ``method`` on a path pattern."""

    def add(handler: Handler) -> Handler:
        _ROUTES.append((method, re.compile(pattern + "$"), handler))
        return handler

    return add


def _scope(request: Request) -> Scope:
    return Scope(request.params["sk"], request.params["loc"])


def _op(operation: Operation) -> dict[str, Any]:
    return operation.resource()


def _listing(
    kind: str, path: str, items: list[dict[str, Any]], query: dict[str, str], key: str = "items"
) -> dict[str, Any]:
    chunk, token = page(apply_filter(items, query.get("filter")), query)
    body: dict[str, Any] = {"kind": kind, "id": path, "selfLink": link(path)}
    if chunk:
        body[key] = chunk
    if token:
        body["nextPageToken"] = token
    return body


# -- instance templates ----------------------------------------------------------------------


_TEMPLATES = _P + r"/(?:global|regions/(?P<region>[^/]+))/instanceTemplates"


@route("GET", _TEMPLATES)
def _list_templates(state: ComputeState, r: Request) -> Any:
    path = state.template_path("", r.params.get("region")).rstrip("/")
    items = [t for t in state.templates.values() if t["selfLink"].rsplit("/", 1)[0].endswith(path)]
    return _listing("compute#instanceTemplateList", path, items, r.query)


@route("POST", _TEMPLATES)
def _insert_template(state: ComputeState, r: Request) -> Any:
    return _op(state.insert_template(r.body, r.query.get("requestId"), r.params.get("region")))


@route("GET", _TEMPLATES + r"/(?P<name>[^/]+)")
def _get_template(state: ComputeState, r: Request) -> Any:
    return state.get_template(r.params["name"], r.params.get("region"))


@route("DELETE", _TEMPLATES + r"/(?P<name>[^/]+)")
def _delete_template(state: ComputeState, r: Request) -> Any:
    request_id, region = r.query.get("requestId"), r.params.get("region")
    return _op(state.delete_template(r.params["name"], request_id, region))


# -- managed instance groups -----------------------------------------------------------------


@route("GET", _P + r"/aggregated/instanceGroupManagers")
def _aggregated_groups(state: ComputeState, r: Request) -> Any:
    rendered = [state.render_group(g) for g in state.groups.values()]
    chunk, token = page(apply_filter(rendered, r.query.get("filter")), r.query)
    scopes = [f"regions/{region}" for region in state.zones]
    scopes += [f"zones/{zone}" for zones in state.zones.values() for zone in zones]
    items: dict[str, Any] = {}
    for scope in scopes:
        found = [g for g in chunk if f"/{scope}/instanceGroupManagers/" in g["selfLink"]]
        if found:
            items[scope] = {"instanceGroupManagers": found}
        else:
            items[scope] = {
                "warning": {
                    "code": "NO_RESULTS_ON_PAGE",
                    "message": f"There are no results for scope '{scope}' on this page.",
                    "data": [{"key": "scope", "value": scope}],
                }
            }
    path = f"projects/{state.project}/aggregated/instanceGroupManagers"
    body: dict[str, Any] = {
        "kind": "compute#instanceGroupManagerAggregatedList",
        "id": path,
        "items": items,
        "selfLink": link(path),
    }
    if token:
        body["nextPageToken"] = token
    return body


@route("GET", _SCOPED + r"/instanceGroupManagers")
def _list_groups(state: ComputeState, r: Request) -> Any:
    scope = _scope(r)
    state.check_scope(scope)
    prefix = scope.path(state.project) + "/instanceGroupManagers/"
    items = [state.render_group(g) for p, g in state.groups.items() if p.startswith(prefix)]
    kind = (
        "compute#instanceGroupManagerList"
        if scope.kind == "zones"
        else "compute#regionInstanceGroupManagerList"
    )
    return _listing(kind, prefix.rstrip("/"), items, r.query)


@route("POST", _SCOPED + r"/instanceGroupManagers")
def _insert_group(state: ComputeState, r: Request) -> Any:
    return _op(state.insert_group(_scope(r), r.body, r.query.get("requestId")))


@route("GET", _IGM)
def _get_group(state: ComputeState, r: Request) -> Any:
    return state.render_group(state.get_group(_scope(r), r.params["name"]))


@route("DELETE", _IGM)
def _delete_group(state: ComputeState, r: Request) -> Any:
    return _op(state.delete_group(_scope(r), r.params["name"], r.query.get("requestId")))


@route("PATCH", _IGM)
def _patch_group(state: ComputeState, r: Request) -> Any:
    return _op(state.patch_group(_scope(r), r.params["name"], r.body, r.query.get("requestId")))


@route("POST", _IGM + r"/resize")
def _resize_group(state: ComputeState, r: Request) -> Any:
    scope, name = _scope(r), r.params["name"]
    return _op(state.resize_group(scope, name, r.query.get("size"), r.query.get("requestId")))


@route("POST", _IGM + r"/setTargetPools")
def _set_target_pools(state: ComputeState, r: Request) -> Any:
    scope, name = _scope(r), r.params["name"]
    return _op(state.set_target_pools(scope, name, r.body, r.query.get("requestId")))


@route("POST", _IGM + r"/setInstanceTemplate")
def _set_instance_template(state: ComputeState, r: Request) -> Any:
    scope, name = _scope(r), r.params["name"]
    return _op(state.set_instance_template(scope, name, r.body, r.query.get("requestId")))


@route("POST", _IGM + r"/(?P<verb>deleteInstances|abandonInstances|recreateInstances)")
def _change_instances(state: ComputeState, r: Request) -> Any:
    scope, name, verb = _scope(r), r.params["name"], r.params["verb"]
    return _op(state.change_instances(scope, name, verb, r.body, r.query.get("requestId")))


@route("POST", _IGM + r"/listManagedInstances")
def _list_managed(state: ComputeState, r: Request) -> Any:
    scope = _scope(r)
    group = state.get_group(scope, r.params["name"])
    members = [i.managed() for i in state.members(state.group_path(scope, group["name"]))]
    chunk, token = page(members, r.query)
    body: dict[str, Any] = {"managedInstances": chunk}
    if token:
        body["nextPageToken"] = token
    return body


@route("GET", _IGM + r"/listErrors")
def _list_errors(state: ComputeState, r: Request) -> Any:
    group = state.get_group(_scope(r), r.params["name"])
    chunk, token = page(capacity.list_errors(state, group), r.query)
    return {"items": chunk, **({"nextPageToken": token} if token else {})}


@route("GET", _SCOPED + r"/instanceGroups/(?P<name>[^/]+)")
def _get_instance_group(state: ComputeState, r: Request) -> Any:
    return instance_groups.render_instance_group(state, _scope(r), r.params["name"])


@route("POST", _SCOPED + r"/instanceGroups/(?P<name>[^/]+)/setNamedPorts")
def _set_named_ports(state: ComputeState, r: Request) -> Any:
    scope, name, request_id = _scope(r), r.params["name"], r.query.get("requestId")
    return _op(instance_groups.set_named_ports(state, scope, name, r.body, request_id))


# -- autoscalers (zonal and regional) ---------------------------------------------------------

_AUTOSCALERS = _SCOPED + r"/autoscalers"


@route("GET", _AUTOSCALERS)
def _list_autoscalers(state: ComputeState, r: Request) -> Any:
    scope = _scope(r)
    items = autoscalers.list_autoscalers(state, scope)
    kind = "compute#autoscalerList" if scope.kind == "zones" else "compute#regionAutoscalerList"
    return _listing(kind, f"{scope.path(state.project)}/autoscalers", items, r.query)


@route("POST", _AUTOSCALERS)
def _insert_autoscaler(state: ComputeState, r: Request) -> Any:
    return _op(autoscalers.insert_autoscaler(state, _scope(r), r.body, r.query.get("requestId")))


@route("PATCH", _AUTOSCALERS)
def _patch_autoscaler(state: ComputeState, r: Request) -> Any:
    name, request_id = r.query.get("autoscaler"), r.query.get("requestId")
    return _op(
        autoscalers.change_autoscaler(state, _scope(r), name, r.body, request_id, replace=False)
    )


@route("PUT", _AUTOSCALERS)
def _update_autoscaler(state: ComputeState, r: Request) -> Any:
    name, request_id = r.query.get("autoscaler"), r.query.get("requestId")
    return _op(
        autoscalers.change_autoscaler(state, _scope(r), name, r.body, request_id, replace=True)
    )


@route("GET", _AUTOSCALERS + r"/(?P<name>[^/]+)")
def _get_autoscaler(state: ComputeState, r: Request) -> Any:
    found = autoscalers.get_autoscaler(state, _scope(r), r.params["name"])
    return autoscalers.render_autoscaler(state, found)


@route("DELETE", _AUTOSCALERS + r"/(?P<name>[^/]+)")
def _delete_autoscaler(state: ComputeState, r: Request) -> Any:
    scope, name = _scope(r), r.params["name"]
    return _op(autoscalers.delete_autoscaler(state, scope, name, r.query.get("requestId")))


# -- instances -------------------------------------------------------------------------------


@route("GET", _P + r"/zones/(?P<zone>[^/]+)/instances")
def _list_instances(state: ComputeState, r: Request) -> Any:
    zone = r.params["zone"]
    state.region_of(zone)
    items = [i.resource() for i in state.instances.values() if i.zone == zone]
    path = f"projects/{state.project}/zones/{zone}/instances"
    return _listing("compute#instanceList", path, items, r.query)


@route("GET", _P + r"/zones/(?P<zone>[^/]+)/instances/(?P<name>[^/]+)")
def _get_instance(state: ComputeState, r: Request) -> Any:
    return state.get_instance(r.params["zone"], r.params["name"]).resource()


@route("POST", _P + r"/zones/(?P<zone>[^/]+)/instances/(?P<name>[^/]+)/reset")
def _reset_instance(state: ComputeState, r: Request) -> Any:
    zone, name = r.params["zone"], r.params["name"]
    return _op(state.reset_instance(zone, name, r.query.get("requestId")))


# -- target pools ----------------------------------------------------------------------------

_POOLS = _P + r"/regions/(?P<region>[^/]+)/targetPools"


@route("GET", _POOLS)
def _list_pools(state: ComputeState, r: Request) -> Any:
    prefix = f"projects/{state.project}/regions/{r.params['region']}/targetPools/"
    items = [state.render_pool(p) for p in state.target_pools if p.startswith(prefix)]
    return _listing("compute#targetPoolList", prefix.rstrip("/"), items, r.query)


@route("POST", _POOLS)
def _insert_pool(state: ComputeState, r: Request) -> Any:
    return _op(state.insert_pool(r.params["region"], r.body, r.query.get("requestId")))


@route("GET", _POOLS + r"/(?P<name>[^/]+)")
def _get_pool(state: ComputeState, r: Request) -> Any:
    path = f"projects/{state.project}/regions/{r.params['region']}/targetPools/{r.params['name']}"
    if path not in state.target_pools:
        raise not_found(path)
    return state.render_pool(path)


@route("POST", _POOLS + r"/(?P<name>[^/]+)/getHealth")
def _pool_health(state: ComputeState, r: Request) -> Any:
    path = f"projects/{state.project}/regions/{r.params['region']}/targetPools/{r.params['name']}"
    return state.pool_health(path, r.body)


# -- backend services ------------------------------------------------------------------------

_SERVICES = _P + r"/global/backendServices"


@route("GET", _SERVICES)
def _list_services(state: ComputeState, r: Request) -> Any:
    path = f"projects/{state.project}/global/backendServices"
    items = list(state.backend_services.values())
    return _listing("compute#backendServiceList", path, items, r.query)


@route("POST", _SERVICES)
def _insert_service(state: ComputeState, r: Request) -> Any:
    return _op(state.insert_service(r.body, r.query.get("requestId")))


@route("GET", _SERVICES + r"/(?P<name>[^/]+)")
def _get_service(state: ComputeState, r: Request) -> Any:
    return state.get_service(r.params["name"])


@route("PATCH", _SERVICES + r"/(?P<name>[^/]+)")
def _patch_service(state: ComputeState, r: Request) -> Any:
    name, request_id = r.params["name"], r.query.get("requestId")
    return _op(state.change_service(name, r.body, request_id, replace=False))


@route("PUT", _SERVICES + r"/(?P<name>[^/]+)")
def _update_service(state: ComputeState, r: Request) -> Any:
    name, request_id = r.params["name"], r.query.get("requestId")
    return _op(state.change_service(name, r.body, request_id, replace=True))


@route("POST", _SERVICES + r"/(?P<name>[^/]+)/getHealth")
def _service_health(state: ComputeState, r: Request) -> Any:
    return state.service_health(r.params["name"], r.body)


# -- operations ------------------------------------------------------------------------------

_OPS = _P + r"/(?:(?P<sk>zones|regions)/(?P<loc>[^/]+)|global)/operations"


def _op_scope(r: Request) -> Scope:
    kind = r.params.get("sk")
    return Scope(kind, r.params["loc"]) if kind else Scope("global", None)


def _find_op(state: ComputeState, r: Request) -> Operation:
    scope = _op_scope(r)
    state.check_scope(scope)
    op = state.ops.get(state.project, scope, r.params["op"])
    if op is None:
        raise not_found(f"{scope.path(state.project)}/operations/{r.params['op']}")
    return op


@route("GET", _OPS)
def _list_ops(state: ComputeState, r: Request) -> Any:
    scope = _op_scope(r)
    items = [op.resource() for op in state.ops.operations.values() if op.scope == scope]
    path = f"{scope.path(state.project)}/operations"
    return _listing("compute#operationList", path, items, r.query)


@route("GET", _OPS + r"/(?P<op>[^/]+)")
def _get_op(state: ComputeState, r: Request) -> Any:
    op = _find_op(state, r)
    op.reads += 1
    return op.resource()


# ``wait`` is special-cased in the handler (it must not hold the lock while it waits).
_WAIT = re.compile(_OPS + r"/(?P<op>[^/]+)/wait$")


class EmulatorServer(ThreadingHTTPServer):
    """The HTTP server, holding the state its handler threads share."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: ComputeState) -> None:
        super().__init__(address, _Handler)
        host, port = self.socket.getsockname()[:2]
        #: ``host:port`` the server listens on (links use the request's ``Host`` instead).
        self.authority = f"{host}:{port}"
        self.state = state
        self.requests: list[RequestRecord] = []
        self.records_lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "cloudops-gcp-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``GcpEmulator.requests`` instead."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        base = f"http://{self.headers.get('Host') or self.server.authority}"
        state = self.server.state
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            self._answer(400, invalid("Parse Error", reason="parseError").body(), base, parts.path)
            return
        waiting = _WAIT.match(parts.path)
        try:
            if waiting and self.command == "POST":
                payload = self._wait(state, Request("POST", waiting.groupdict(), query, body))
            else:
                payload = self._route(state, parts.path, query, body)
        except ApiError as err:
            self._spec(parts.path, body, err.status, None)
            self._answer(err.status, err.body(), base, parts.path)
            return
        self._spec(parts.path, body, 200, payload)
        self._answer(200, payload, base, parts.path)

    def _spec(self, path: str, body: dict[str, Any], status: int, payload: Any) -> None:
        """Record where this exchange breaks the compute v1 discovery document (tests fail)."""
        answer = json.loads(render(payload, "http://emulator")) if payload is not None else None
        found = check_gcp(self.command, path, body, status, answer)
        if found:
            with self.server.state.lock:
                self.server.state.spec_violations.extend(found)

    def _route(
        self, state: ComputeState, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> Any:
        known_path = False
        for method, pattern, handler in _ROUTES:
            found = pattern.match(path)
            if not found:
                continue
            known_path = True
            if method != self.command:
                continue
            params = {k: v for k, v in found.groupdict().items() if v is not None}
            with state.lock:
                state.check_project(params["project"])
                state.tick()
                return handler(state, Request(self.command, params, query, body))
        if known_path:
            raise ApiError(405, "httpMethodNotAllowed", f"Method {self.command} not allowed")
        raise ApiError(404, "notFound", f"The requested URL {path} was not found on this server.")

    def _wait(self, state: ComputeState, r: Request) -> Any:
        """``operations.wait``: answer when DONE or after ``wait_seconds``, whichever first."""
        params = {k: v for k, v in r.params.items() if v is not None}
        request = r._replace(params=params)
        with state.lock:
            state.check_project(params["project"])
            op = _find_op(state, request)
            op.reads += 1
            deadline = time.monotonic() + state.timing.wait_seconds
        while True:
            with state.lock:
                state.tick()
                if op.status == "DONE" or time.monotonic() >= deadline:
                    return op.resource()
            time.sleep(0.02)

    def _answer(self, status: int, payload: Any, base: str, path: str) -> None:
        data = render(payload, base)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        with self.server.records_lock:
            self.server.requests.append(RequestRecord(self.command, path, status))
