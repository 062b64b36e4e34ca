"""A small, faithful emulator of the Compute Engine REST API subset cloudops-gcp calls.

Why our own: no emulator on PyPI serves instance templates and managed instance groups to the
official ``google-cloud-compute`` client (see ``shared/notes/cloud-apis.md``). This one speaks
the real wire format (``/compute/v1/projects/{project}/...``, camelCase JSON, decimal-string
ids, absolute ``selfLink`` values, Operation resources going PENDING -> RUNNING -> DONE,
``requestId`` deduplication, ``notFound``/``alreadyExists`` error bodies,
``maxResults``/``pageToken`` paging), so the official client is used unchanged::

    with GcpEmulator() as emulator:
        client = compute_v1.InstanceTemplatesClient(
            credentials=AnonymousCredentials(),
            transport="rest",
            client_options=ClientOptions(api_endpoint=emulator.url),
        )

Covered: global instance templates (insert/get/list/delete); zonal and regional instance group
managers (insert/get/list/aggregatedList/delete/patch/resize/setTargetPools/setInstanceTemplate/
listManagedInstances/deleteInstances/abandonInstances/recreateInstances, a recreated instance
taking the group's current template); instance groups (get/setNamedPorts); instances
(get/list/reset) that boot PROVISIONING -> STAGING -> RUNNING; global backend services
(insert/get/list/patch/update/getHealth); regional target pools (insert/get/list/getHealth); zonal
and regional autoscalers (insert/get/list/patch/update/delete; with no load, one that scales only
keeps its group's target size within its bounds: see
:mod:`~cloudops_testing.gcp_emulator.autoscalers`); global, regional and zonal operations
(get/list/wait); health checks, URL maps, target HTTP proxies, global and regional forwarding rules
and firewalls (:mod:`~cloudops_testing.gcp_emulator.network`). Not covered: autoscaler
aggregatedList, networks, regional backend services, IAM, ``filter`` beyond ``name`` comparisons.

State lives in memory; tests read it through the helpers (:meth:`GcpEmulator.templates`,
:meth:`GcpEmulator.groups`, :meth:`GcpEmulator.mutations` ...) and steer time with
:class:`Timing`, :meth:`GcpEmulator.hold` and :meth:`GcpEmulator.fail_next`.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from types import TracebackType
from typing import Any

from cloudops_testing.gcp_emulator import network as _network  # noqa: F401  (its routes)
from cloudops_testing.gcp_emulator.compute import DEFAULT_IMAGES, DEFAULT_ZONES, ComputeState
from cloudops_testing.gcp_emulator.errors import ApiError
from cloudops_testing.gcp_emulator.links import render
from cloudops_testing.gcp_emulator.operations import MutationRecord, Operation, Scope, Timing
from cloudops_testing.gcp_emulator.server import EmulatorServer, RequestRecord

__all__ = [
    "DEFAULT_IMAGES",
    "DEFAULT_ZONES",
    "ApiError",
    "GcpEmulator",
    "MutationRecord",
    "RequestRecord",
    "Timing",
]

DEFAULT_PROJECT = "cloudops-emu"


class GcpEmulator:
    """The emulator on a free loopback port, served from background threads.

    ``timing`` sets how long operations and instance boots take (tests: fractions of a second);
    ``seed`` makes ids and instance names reproducible.
    """

    def __init__(
        self,
        project: str = DEFAULT_PROJECT,
        *,
        timing: Timing | None = None,
        zones: dict[str, list[str]] | None = None,
        images: set[str] | frozenset[str] = DEFAULT_IMAGES,
        host: str = "127.0.0.1",
        seed: int | None = None,
    ) -> None:
        self.project = project
        self.timing = timing or Timing()
        self._host = host
        self._options: dict[str, Any] = {"zones": zones, "images": images, "seed": seed}
        self.state = ComputeState(project, self.timing, **self._options)
        self._server: EmulatorServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the ``api_endpoint`` for the official client."""
        if self._server is None:
            raise RuntimeError("GcpEmulator is not running; call start() first")
        return f"http://{self._server.authority}"

    def start(self) -> GcpEmulator:
        """Bind a free port (port 0) and serve, with a ticker moving time along."""
        if self._server is not None:
            raise RuntimeError("GcpEmulator already started")
        self._stopping.clear()
        self._server = EmulatorServer((self._host, 0), self.state)
        serve = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="gcp-emulator",
            daemon=True,
        )
        tick = threading.Thread(target=self._tick, name="gcp-emulator-tick", daemon=True)
        self._threads = [serve, tick]
        for thread in self._threads:
            thread.start()
        return self

    def _tick(self) -> None:
        while not self._stopping.wait(0.02):
            with self.state.lock:
                self.state.tick()

    def stop(self) -> None:
        """Stop serving and join the threads; safe to call twice."""
        server, self._server = self._server, None
        self._stopping.set()
        if server is not None:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def reset(self) -> None:
        """Forget every resource and operation (the server keeps running)."""
        fresh = ComputeState(self.project, self.timing, **self._options)
        with self.state.lock:
            for key, value in vars(fresh).items():
                if key != "lock":
                    setattr(self.state, key, value)

    def __enter__(self) -> GcpEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- steering ----------------------------------------------------------------------------

    def hold(self, kind: str) -> None:
        """Keep operations of ``kind`` (``"instanceGroupManagers.insert"``) RUNNING.

        They stay RUNNING until :meth:`release`: a window in which to kill a worker
        mid-operation.
        """
        with self.state.lock:
            self.state.ops.held.add(kind)

    def release(self, kind: str) -> None:
        """Let held operations of ``kind`` finish."""
        with self.state.lock:
            self.state.ops.held.discard(kind)

    def fail_next(self, kind: str, error: ApiError) -> None:
        """Make the next operation of ``kind`` end DONE with ``error`` (e.g. QUOTA_EXCEEDED)."""
        with self.state.lock:
            self.state.ops.failures.setdefault(kind, []).append(error)

    def limit_instances(self, quota: int | None, stockout_zones: set[str] | None = None) -> None:
        """Set the per-region ``INSTANCES`` quota (None: unlimited) and zones out of resources.

        Instances a group cannot create stay CREATING with ``lastAttempt.errors`` (see
        :mod:`~cloudops_testing.gcp_emulator.capacity`); the group's Operations still succeed.
        """
        with self.state.lock:
            self.state.instance_quota = quota
            self.state.stockout_zones = set(stockout_zones or ())

    def add_image(self, path: str) -> None:
        """Let templates boot ``projects/p/global/images/NAME`` (or ``.../family/F``)."""
        with self.state.lock:
            self.state.images.add(path)

    def add_backend_service(self, name: str, **fields: Any) -> dict[str, Any]:
        """Create a global backend service at once (no operation to wait for)."""
        return self._arrange(lambda: self.state.insert_service({"name": name, **fields}, None))

    def add_target_pool(self, region: str, name: str, **fields: Any) -> dict[str, Any]:
        """Create a regional target pool at once."""
        return self._arrange(lambda: self.state.insert_pool(region, {"name": name, **fields}, None))

    def _arrange(self, start: Any) -> dict[str, Any]:
        with self.state.lock:
            op: Operation = start()
            op.delay, op.polls = 0.0, 0
            self.state.ops.tick()
            self.state.ops.tick()
            if op.error is not None:
                raise op.error
            return dict(self._view(op.resource()))

    # -- inspection --------------------------------------------------------------------------

    def _view(self, payload: Any) -> Any:
        base = self.url if self._server is not None else "http://emulator"
        return json.loads(render(payload, base))

    def templates(self) -> list[dict[str, Any]]:
        """Every instance template, as the API shows it."""
        with self.state.lock:
            return list(self._view(list(self.state.templates.values())))

    def template(self, name: str) -> dict[str, Any] | None:
        """The instance template ``name``, or None."""
        with self.state.lock:
            found = self.state.templates.get(name)
            return self._view(found) if found is not None else None

    def groups(self) -> list[dict[str, Any]]:
        """Every managed instance group (zonal and regional), with live status."""
        with self.state.lock:
            return list(
                self._view([self.state.render_group(g) for g in self.state.groups.values()])
            )

    def group(self, name: str) -> dict[str, Any] | None:
        """The managed instance group ``name`` in any zone or region, or None."""
        return next((g for g in self.groups() if g["name"] == name), None)

    def instances(self, group: str | None = None) -> list[dict[str, Any]]:
        """VMs (of the group named ``group`` only, if given), with their ``currentAction``."""
        with self.state.lock:
            found = []
            for instance in sorted(self.state.instances.values(), key=lambda i: i.name):
                owner = instance.group.rsplit("/", 1)[-1] if instance.group else None
                if group is None or owner == group:
                    body = instance.resource()
                    body["currentAction"] = instance.action
                    body["group"] = owner
                    found.append(body)
            return list(self._view(found))

    def autoscalers(self) -> list[dict[str, Any]]:
        """Every autoscaler (zonal and regional), as the API shows it."""
        from cloudops_testing.gcp_emulator.autoscalers import render_autoscaler

        with self.state.lock:
            found = [render_autoscaler(self.state, a) for a in self.state.autoscalers.values()]
            return list(self._view(found))

    def autoscaler(self, name: str) -> dict[str, Any] | None:
        """The autoscaler ``name`` in any zone or region, or None."""
        return next((a for a in self.autoscalers() if a["name"] == name), None)

    def backend_service(self, name: str) -> dict[str, Any] | None:
        """The backend service ``name``, or None."""
        with self.state.lock:
            found = self.state.backend_services.get(name)
            return self._view(found) if found is not None else None

    def target_pool(self, region: str, name: str) -> dict[str, Any] | None:
        """The target pool ``name`` of ``region`` with its instances, or None."""
        path = f"projects/{self.project}/regions/{region}/targetPools/{name}"
        with self.state.lock:
            if path not in self.state.target_pools:
                return None
            return dict(self._view(self.state.render_pool(path)))

    def operations(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Operations (of ``kind`` only, if given) with ``reads``: how often they were polled."""
        with self.state.lock:
            found = []
            for op in self.state.ops.operations.values():
                if kind is None or op.kind == kind:
                    found.append({**op.resource(), "reads": op.reads, "emulatorKind": op.kind})
            return list(self._view(found))

    def mutations(self, kind: str | None = None) -> list[MutationRecord]:
        """Every mutation request received (deduplicated repeats included), in order."""
        with self.state.lock:
            return [m for m in self.state.ops.log if kind is None or m.kind == kind]

    def applied(self, kind: str, name: str | None = None) -> int:
        """How many *new* operations of ``kind`` (on the resource ``name``) were made.

        A repeated ``requestId`` does not count: this is how tests prove a retried call made
        nothing twice.
        """
        return sum(
            1
            for m in self.mutations(kind)
            if not m.deduplicated and (name is None or m.target.rsplit("/", 1)[-1] == name)
        )

    def requests_by_request_id(self) -> Counter[str]:
        """How many mutation requests carried each ``requestId`` (repeats included)."""
        return Counter(m.request_id for m in self.mutations() if m.request_id)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every HTTP request answered, in order (method, path, status)."""
        if self._server is None:
            return []
        with self._server.records_lock:
            return list(self._server.requests)


__all__ += ["Scope"]
