"""A seeded, fault-injecting reverse HTTP proxy to put in front of any HTTP cloud emulator.

Why a proxy: throttling, 5xx answers, dropped connections and slow answers are what real cloud
APIs do to us, and only a real HTTP hop makes the official SDKs (botocore, google-api-core,
azure-core) parse, classify and retry them exactly as they would in production. The proxy is
cloud-agnostic; ``FaultRules.flavor`` only decides the shape of the error bodies.

Decisions come from ``random.Random(seed)``: with one client sending requests one after another,
the same rules give the same sequence of faults, so a failing chaos test can be replayed.
"""

from __future__ import annotations

import asyncio
import http.client
import inspect
import json
import random
import re
import socket
import struct
import threading
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, NamedTuple, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.sax.saxutils import escape

from aiohttp import web
from multidict import CIMultiDict

#: A key of :data:`FLAVORS` (these three, or one a cloud added).
Flavor: TypeAlias = str
FaultKind: TypeAlias = Literal["throttle", "unavailable", "server_error", "reset", "delay"]

# Order in which one uniform draw is mapped onto the rates (cumulatively); part of the replay
# contract, so do not reorder.
FAULT_KINDS: tuple[FaultKind, ...] = ("throttle", "unavailable", "server_error", "reset", "delay")

# RFC 9110 hop-by-hop headers plus the ones the proxy recomputes itself.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
    }
)
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")


# --------------------------------------------------------------------------------------------
# Requests and responses as seen by rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyResponse:
    """A complete answer the proxy sends instead of (or got from) the upstream.

    Why: fault bodies, fidelity rules and upstream probes all need one small value type.
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class ProxyRequest:
    """One incoming request, with the body already read, handed to matchers and fidelity rules.

    Why: rules must decide on method, path and (for AWS Query/JSON APIs) the action name, and
    fidelity rules may need to ask the upstream a question of their own (``send_upstream``).
    """

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes
    sender: Callable[[ProxyRequest], Awaitable[ProxyResponse]] = field(repr=False, compare=False)
    """Sends a request to the upstream, bypassing faults; the proxy supplies it (a fake in
    unit tests of fidelity rules)."""

    @property
    def path_qs(self) -> str:
        """Raw path plus query string, exactly as the client sent it."""
        return f"{self.path}?{self.query_string}" if self.query_string else self.path

    @property
    def form(self) -> dict[str, str]:
        """Query-string plus form-encoded body parameters (AWS Query protocol), last one wins."""
        params = dict(parse_qsl(self.query_string, keep_blank_values=True))
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return params

    @property
    def action(self) -> str | None:
        """AWS operation name: ``Action=`` (Query/EC2) or the ``X-Amz-Target`` suffix (JSON)."""
        target = self.headers.get("X-Amz-Target")
        if target:
            return target.rsplit(".", 1)[-1]
        return self.form.get("Action")

    @property
    def aws_service(self) -> str | None:
        """Signing name from the SigV4 credential scope (e.g. ``ec2``), else from the host."""
        found = _CREDENTIAL_SCOPE.search(self.headers.get("Authorization", ""))
        if found:
            return found.group(1)
        host = self.headers.get("Host", "")
        return host.split(".", 1)[0] if host.endswith(".amazonaws.com") else None

    @property
    def summary(self) -> str:
        """``"METHOD path action"``: the string that ``FaultRules.match`` patterns are tried on."""
        return f"{self.method} {self.path} {self.action or ''}".rstrip()

    async def send_upstream(
        self, *, method: str | None = None, path_qs: str | None = None, body: bytes | None = None
    ) -> ProxyResponse:
        """Send a variant of this request (same headers) to the upstream, bypassing faults."""
        path, _, query = (path_qs or self.path_qs).partition("?")
        variant = ProxyRequest(
            method=method or self.method,
            path=path,
            query_string=query,
            headers=self.headers,
            body=self.body if body is None else body,
            sender=self.sender,
        )
        return await self.sender(variant)


Matcher: TypeAlias = Callable[[ProxyRequest], bool] | Sequence[str | re.Pattern[str]]
"""A predicate on the request, or substrings / compiled regexes tried on ``summary``."""
FidelityRule: TypeAlias = Callable[
    [ProxyRequest], ProxyResponse | Awaitable[ProxyResponse | None] | None
]
"""Sync or async hook that answers instead of the upstream (a response) or lets it pass (None)."""


# --------------------------------------------------------------------------------------------
# Rules and decisions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultRules:
    """How often to inject each kind of fault, and how the injected errors look.

    Why: one immutable value describes a chaos scenario; swap ``FaultProxy.rules`` to change it
    (e.g. ``FaultRules()`` — no faults — during setup). Rates are probabilities in [0, 1] whose
    sum must not exceed 1: one uniform draw per matching request picks at most one kind, so the
    observed rates equal the configured ones.

    ``match`` limits faults to some requests: a predicate on ``ProxyRequest``, or a list of
    substrings / compiled regexes searched in ``ProxyRequest.summary`` ("POST / CreateAutoScaling
    Group"). Requests that do not match are forwarded and do not consume random draws.
    ``retry_after`` (whole seconds) is sent as ``Retry-After`` with throttle and unavailable
    answers (AWS flavor also gets ``x-amz-retry-after`` in milliseconds, which botocore's
    standard retry mode reads); ``None`` sends no such header.
    """

    throttle: float = 0.0
    unavailable: float = 0.0
    server_error: float = 0.0
    reset: float = 0.0
    delay: float = 0.0
    delay_seconds: float = 1.0
    retry_after: int | None = None
    seed: int | None = 0
    match: Matcher | None = None
    flavor: Flavor = "aws"

    def __post_init__(self) -> None:
        if isinstance(self.match, str | re.Pattern):  # one pattern, not a sequence of characters
            object.__setattr__(self, "match", (self.match,))
        elif self.match is not None and not callable(self.match):
            object.__setattr__(self, "match", tuple(self.match))
        rates = [self.rate(kind) for kind in FAULT_KINDS]
        for kind, rate in zip(FAULT_KINDS, rates, strict=True):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"rate for {kind!r} must be within [0, 1], got {rate}")
        if sum(rates) > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {sum(rates)}, more than 1")
        if self.delay_seconds < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise ValueError("delay_seconds and retry_after must not be negative")
        if self.flavor not in FLAVORS:
            raise ValueError(f"unknown flavor {self.flavor!r}; known: {', '.join(FLAVORS)}")

    def rate(self, kind: FaultKind) -> float:
        """The configured probability of ``kind``."""
        value: float = getattr(self, kind)
        return value

    def matches(self, request: ProxyRequest) -> bool:
        """Whether faults may be injected into ``request`` at all."""
        if self.match is None:
            return True
        if callable(self.match):
            return self.match(request)
        summary = request.summary
        return any(
            (pattern in summary) if isinstance(pattern, str) else bool(pattern.search(summary))
            for pattern in self.match
        )


class _Decider:
    """Turns rules plus a seeded RNG into one fault decision per request, thread-safely."""

    def __init__(self, rules: FaultRules) -> None:
        self._lock = threading.Lock()
        self._rules = rules
        self._rng = random.Random(rules.seed)

    @property
    def rules(self) -> FaultRules:
        with self._lock:
            return self._rules

    @rules.setter
    def rules(self, rules: FaultRules) -> None:
        with self._lock:
            self._rules = rules
            self._rng = random.Random(rules.seed)

    def decide(self, request: ProxyRequest) -> tuple[FaultKind | None, FaultRules]:
        with self._lock:
            rules = self._rules
            if not rules.matches(request):
                return None, rules
            draw = self._rng.random()
            threshold = 0.0
            for kind in FAULT_KINDS:
                threshold += rules.rate(kind)
                if draw < threshold:
                    return kind, rules
            return None, rules


# --------------------------------------------------------------------------------------------
# Error bodies per cloud
# --------------------------------------------------------------------------------------------

# kind -> (status, code, message) for each AWS protocol family. Query APIs send Throttling with
# 400 and EC2 sends RequestLimitExceeded with 503: botocore's legacy retry mode only treats them
# as throttling with exactly those statuses (standard mode goes by the code alone).
_AWS_QUERY = {
    "throttle": (400, "Throttling", "Rate exceeded"),
    "unavailable": (503, "ServiceUnavailable", "Service is unavailable. Please try again later."),
    "server_error": (500, "InternalFailure", "An internal error has occurred."),
}
_AWS_EC2 = {
    "throttle": (503, "RequestLimitExceeded", "Request limit exceeded."),
    "unavailable": (503, "Unavailable", "The server is overloaded and can't handle the request."),
    "server_error": (500, "InternalError", "An internal error has occurred."),
}
_AWS_JSON = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "unavailable": (503, "ServiceUnavailable", "Service is unavailable. Please try again later."),
    "server_error": (500, "InternalFailure", "An internal error has occurred."),
}
_GCP = {  # kind -> (status, google.rpc status, reason, domain, message)
    "throttle": (
        429,
        "RESOURCE_EXHAUSTED",
        "rateLimitExceeded",
        "usageLimits",
        "Rate Limit Exceeded",
    ),
    "unavailable": (503, "UNAVAILABLE", "backendError", "global", "The service is unavailable."),
    "server_error": (500, "INTERNAL", "backendError", "global", "Internal error."),
}
_AZURE = {
    "throttle": (429, "TooManyRequests", "The request is being throttled. Retry after a while."),
    "unavailable": (503, "ServiceUnavailable", "The service is temporarily unavailable."),
    "server_error": (500, "InternalServerError", "The server encountered an internal error."),
}


def aws_query_error(
    status: int, code: str, message: str, *, ec2: bool = False, sender: bool = True
) -> ProxyResponse:
    """An AWS Query-protocol error (``ErrorResponse``, or EC2's ``Response/Errors``).

    Why public: fidelity rules answer with the same shapes as injected faults.
    """
    request_id = str(uuid.uuid4())
    code, message = escape(code), escape(message)
    if ec2:
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>"
        )
    else:
        kind = "Sender" if sender else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
    headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    return ProxyResponse(status, headers, ('<?xml version="1.0"?>\n' + body).encode())


def aws_json_error(status: int, code: str, message: str, content_type: str) -> ProxyResponse:
    """An AWS JSON-protocol error (``{"__type": ..., "message": ...}``)."""
    request_id = str(uuid.uuid4())
    headers = {"Content-Type": content_type, "x-amzn-RequestId": request_id}
    return ProxyResponse(status, headers, json.dumps({"__type": code, "message": message}).encode())


def fault_response(kind: FaultKind, request: ProxyRequest, rules: FaultRules) -> ProxyResponse:
    """The answer a real cloud of ``rules.flavor`` gives for an HTTP-level fault ``kind``."""
    if kind not in ("throttle", "unavailable", "server_error"):
        raise ValueError(f"{kind!r} is not answered with a response")
    base = FLAVORS[rules.flavor](kind, request)
    headers = dict(base.headers)
    if rules.retry_after is not None and kind in ("throttle", "unavailable"):
        headers["Retry-After"] = str(rules.retry_after)
        if rules.flavor == "aws":  # botocore's standard retry mode reads this one
            headers["x-amz-retry-after"] = str(rules.retry_after * 1000)
    return ProxyResponse(base.status, headers, base.body)


def _aws_fault(kind: FaultKind, request: ProxyRequest) -> ProxyResponse:
    if "X-Amz-Target" in request.headers:
        status, code, message = _AWS_JSON[kind]
        content_type = request.headers.get("Content-Type", "application/x-amz-json-1.1")
        return aws_json_error(status, code, message, content_type)
    ec2 = request.aws_service == "ec2"
    status, code, message = (_AWS_EC2 if ec2 else _AWS_QUERY)[kind]
    return aws_query_error(status, code, message, ec2=ec2, sender=status < 500)


def _gcp_fault(kind: FaultKind, request: ProxyRequest) -> ProxyResponse:
    status, grpc_status, reason, domain, message = _GCP[kind]
    error = {"message": message, "domain": domain, "reason": reason}
    payload = {
        "error": {"code": status, "message": message, "errors": [error], "status": grpc_status}
    }
    headers = {"Content-Type": "application/json; charset=UTF-8"}
    return ProxyResponse(status, headers, json.dumps(payload).encode())


def _azure_fault(kind: FaultKind, request: ProxyRequest) -> ProxyResponse:
    status, code, message = _AZURE[kind]
    request_id = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "x-ms-request-id": request_id,
        "x-ms-correlation-request-id": request_id,
    }
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return ProxyResponse(status, headers, body)


#: Flavour name -> the error answer of that cloud for a fault kind (throttle, unavailable,
#: server_error). A local cloud profile names its flavour; a cloud with an error format of its
#: own adds its function here before starting its proxy.
FLAVORS: dict[str, Callable[[FaultKind, ProxyRequest], ProxyResponse]] = {
    "aws": _aws_fault,
    "gcp": _gcp_fault,
    "azure": _azure_fault,
}


# --------------------------------------------------------------------------------------------
# Fidelity rules: make the emulator answer like the real cloud where it is not faithful
# --------------------------------------------------------------------------------------------


async def aws_reject_duplicate_asg(request: ProxyRequest) -> ProxyResponse | None:
    """Answer ``AlreadyExists`` to a CreateAutoScalingGroup whose name already exists.

    Why: moto silently replaces the group (orphaning its instances) where AWS refuses, so a
    non-idempotent retry of our create would go unnoticed. The existence check is a
    DescribeAutoScalingGroups sent upstream with the same headers (moto ignores signatures).
    """
    if request.action != "CreateAutoScalingGroup":
        return None
    form = request.form
    name = form.get("AutoScalingGroupName")
    if not name:
        return None
    probe = urlencode(
        {
            "Action": "DescribeAutoScalingGroups",
            "Version": form.get("Version", "2011-01-01"),
            "AutoScalingGroupNames.member.1": name,
        }
    )
    answer = await request.send_upstream(method="POST", path_qs=request.path, body=probe.encode())
    if answer.status != 200 or name not in _xml_texts(answer.body, "AutoScalingGroupName"):
        return None
    message = (
        "AutoScalingGroup by this name already exists - "
        f"A group with the name {name} already exists"
    )
    return aws_query_error(400, "AlreadyExists", message)


async def aws_create_lifecycle_hooks(request: ProxyRequest) -> ProxyResponse | None:
    """Create the hooks of a CreateAutoScalingGroup's ``LifecycleHookSpecificationList``.

    Why: AWS creates them with the group, so no instance launches before its hook exists;
    moto ignores the list. The create is sent upstream, then one PutLifecycleHook per hook.
    """
    form = request.form
    prefix = "LifecycleHookSpecificationList.member."
    if request.action != "CreateAutoScalingGroup" or not any(k.startswith(prefix) for k in form):
        return None
    answer = await request.send_upstream()
    if answer.status != 200:
        return answer
    hooks: dict[str, dict[str, str]] = {}
    for key, value in form.items():
        if key.startswith(prefix):
            index, _, field_name = key[len(prefix) :].partition(".")
            hooks.setdefault(index, {})[field_name] = value
    for hook in hooks.values():
        put = {
            "Action": "PutLifecycleHook",
            "Version": form.get("Version", "2011-01-01"),
            "AutoScalingGroupName": form.get("AutoScalingGroupName", ""),
            **hook,
        }
        made = await request.send_upstream(path_qs=request.path, body=urlencode(put).encode())
        if made.status != 200:
            return made
    return answer


#: The fidelity rules that hold moto to AWS's behaviour, in the order they apply.
AWS_FIDELITY = (aws_reject_duplicate_asg, aws_create_lifecycle_hooks)


def _xml_texts(body: bytes, local_name: str) -> set[str]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return set()
    return {
        (element.text or "").strip()
        for element in root.iter()
        if element.tag.rsplit("}", 1)[-1] == local_name
    }


# --------------------------------------------------------------------------------------------
# The proxy
# --------------------------------------------------------------------------------------------


class _Upstream:
    """Blocking HTTP/1.1 client for the emulator behind the proxy (run in worker threads).

    Why stdlib ``http.client`` rather than aiohttp's client: aiohttp parses responses strictly
    under ``python -X dev`` / ``PYTHONASYNCIODEBUG=1`` and then rejects moto's answers (werkzeug
    sends ``Server`` twice). A test proxy must relay whatever the emulator says.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL, got {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout

    def open(
        self, request: ProxyRequest
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send ``request`` (same method, raw path, headers incl. Host, body); return the answer.

        The caller reads the response and then closes the connection.
        """
        factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = factory(self._host, self._port, timeout=self._timeout)
        try:
            conn.putrequest(
                request.method,
                self._prefix + request.path_qs,
                skip_host="Host" in request.headers,
                skip_accept_encoding=True,
            )
            for name, value in request.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            if request.body or request.method not in ("GET", "HEAD", "OPTIONS", "DELETE"):
                conn.putheader("Content-Length", str(len(request.body)))
            conn.putheader("Connection", "close")
            conn.endheaders(request.body or None)
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise

    def fetch(self, request: ProxyRequest) -> ProxyResponse:
        """Send ``request`` and read the whole answer."""
        conn, response = self.open(request)
        try:
            return ProxyResponse(response.status, dict(response.getheaders()), response.read())
        finally:
            conn.close()


class LogEntry(NamedTuple):
    """One handled request: what it was and what the proxy did with it.

    ``target`` is the AWS action when there is one, else the path. ``outcome`` is a fault kind,
    ``"forwarded"``, ``"fidelity:<rule>"`` or ``"upstream_error"``.
    """

    method: str
    target: str
    outcome: str


class FaultProxy:
    """Reverse HTTP proxy on a free loopback port that injects faults by ``FaultRules``.

    Why: it sits between an SDK client and any emulator (moto, our GCP and Azure emulators), so
    faults are seen exactly as from a real cloud, across every client and process that talks to
    it. It serves from its own asyncio loop (aiohttp server) in a daemon thread, so it works from
    sync and async tests alike; upstream calls run in worker threads. The ``Host`` header is
    passed through unchanged, so absolute URLs the emulator builds (operation links,
    ``nextLink``) point back at the proxy.

    ``counts`` counts injected faults per kind plus ``forwarded`` (answers relayed from the
    upstream, delayed ones included), ``fidelity`` and ``upstream_error``; ``log`` lists every
    request in order.
    """

    def __init__(
        self,
        upstream_url: str,
        rules: FaultRules | None = None,
        *,
        fidelity: Sequence[FidelityRule] = (),
        host: str = "127.0.0.1",
        upstream_timeout: float = 300.0,
    ) -> None:
        self._upstream = _Upstream(upstream_url, upstream_timeout)
        self._decider = _Decider(rules or FaultRules())
        self.fidelity: list[FidelityRule] = list(fidelity)
        self._host = host
        self._stats_lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._log: list[LogEntry] = []
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.ServerRunner | None = None

    # -- public state ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL for clients (``endpoint_url``, ``api_endpoint``, ``base_url``)."""
        if self._port is None:
            raise RuntimeError("FaultProxy is not running; call start() first")
        return f"http://{self._host}:{self._port}"

    @property
    def rules(self) -> FaultRules:
        """Current rules; assigning new ones also restarts the RNG from their seed."""
        return self._decider.rules

    @rules.setter
    def rules(self, rules: FaultRules) -> None:
        self._decider.rules = rules

    @property
    def counts(self) -> Counter[str]:
        """A snapshot of what the proxy did so far, per outcome."""
        with self._stats_lock:
            return Counter(self._counts)

    @property
    def log(self) -> list[LogEntry]:
        """A snapshot of every handled request, in arrival order."""
        with self._stats_lock:
            return list(self._log)

    def reset_counts(self) -> None:
        """Forget counts and log (not the RNG state: reassign ``rules`` for that)."""
        with self._stats_lock:
            self._counts.clear()
            self._log.clear()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Bind a free port and serve from a background thread until ``stop()``."""
        if self._thread is not None:
            raise RuntimeError("FaultProxy already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self._host, 0))
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="cloudops-fault-proxy", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(self._serve(sock), loop).result(timeout=30)
        except BaseException:
            sock.close()
            self.stop()
            raise
        self._port = sock.getsockname()[1]

    def stop(self) -> None:
        """Close the listener, abort in-flight requests and join the thread; idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()
            self._loop = self._thread = None
            self._port = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _serve(self, sock: socket.socket) -> None:
        server = web.Server(self._handle, access_log=None)
        self._runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None

    # -- request handling --------------------------------------------------------------------

    async def _handle(self, raw: web.BaseRequest) -> web.StreamResponse:
        path, _, query_string = raw.raw_path.partition("?")  # raw: keep the client's encoding
        request = ProxyRequest(
            method=raw.method,
            path=path,
            query_string=query_string,
            headers=CIMultiDict(raw.headers),
            body=await raw.content.read(),
            sender=self._send_buffered,
        )
        kind, rules = self._decider.decide(request)
        if kind == "reset":
            self._record(request, "reset")
            _reset_connection(raw)
            return web.Response()  # aiohttp sees the closed transport and drops this quietly
        if kind == "delay":
            self._count("delay")
            await asyncio.sleep(rules.delay_seconds)
        elif kind is not None:
            self._record(request, kind)
            return _to_web(fault_response(kind, request, rules))
        for rule in list(self.fidelity):
            answer = rule(request)
            if inspect.isawaitable(answer):
                answer = await answer
            if answer is not None:
                self._record(request, f"fidelity:{getattr(rule, '__name__', 'rule')}", "fidelity")
                return _to_web(answer)
        return await self._relay(raw, request, outcome="delay" if kind == "delay" else "forwarded")

    async def _relay(
        self, raw: web.BaseRequest, request: ProxyRequest, outcome: str
    ) -> web.StreamResponse:
        """Forward upstream and stream the answer back as it arrives.

        The outcome is recorded before the first byte reaches the client, so a test that has
        its answer always sees it in ``counts`` and ``log``.
        """
        try:
            conn, upstream = await self._open_upstream(request)
        except (OSError, http.client.HTTPException) as exc:
            self._record(request, "upstream_error")
            return web.Response(status=502, text=f"fault proxy: upstream failed: {exc!r}")
        try:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.getheaders():
                if name.lower() not in _HOP_BY_HOP:
                    response.headers.add(name, value)
            length = upstream.getheader("Content-Length")
            if length is not None and length.isdigit():
                response.content_length = int(length)
            self._record(request, outcome, "forwarded")
            await response.prepare(raw)
            while chunk := await asyncio.to_thread(upstream.read1, 65536):
                await response.write(chunk)
            await response.write_eof()
        except (OSError, http.client.HTTPException):
            if raw.transport is not None and not raw.transport.is_closing():
                self._count("upstream_error")  # upstream failed mid-answer: drop the line
                _reset_connection(raw)
        finally:
            await asyncio.to_thread(conn.close)
        return response

    async def _open_upstream(
        self, request: ProxyRequest
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Open upstream in a worker thread; if we are cancelled meanwhile, close what it opens."""
        opening = asyncio.ensure_future(asyncio.to_thread(self._upstream.open, request))
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)
            raise

    async def _send_buffered(self, request: ProxyRequest) -> ProxyResponse:
        return await asyncio.to_thread(self._upstream.fetch, request)

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self._counts[key] += 1

    def _record(self, request: ProxyRequest, outcome: str, counted_as: str | None = None) -> None:
        with self._stats_lock:
            self._counts[counted_as or outcome] += 1
            self._log.append(LogEntry(request.method, request.action or request.path, outcome))


def _close_opened(
    opening: asyncio.Future[tuple[http.client.HTTPConnection, http.client.HTTPResponse]],
) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result()[0].close()


def _reset_connection(raw: web.BaseRequest) -> None:
    """Close with SO_LINGER 0, so the client sees a TCP RST instead of any answer."""
    transport = raw.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _to_web(answer: ProxyResponse) -> web.Response:
    response = web.Response(status=answer.status, body=answer.body)
    for name, value in answer.headers.items():
        if name.lower() not in _HOP_BY_HOP:
            response.headers[name] = value
    return response


__all__ = [
    "FAULT_KINDS",
    "FLAVORS",
    "FaultKind",
    "FaultProxy",
    "FaultRules",
    "FidelityRule",
    "Flavor",
    "LogEntry",
    "Matcher",
    "ProxyRequest",
    "ProxyResponse",
    "aws_json_error",
    "aws_query_error",
    "aws_reject_duplicate_asg",
    "fault_response",
]
