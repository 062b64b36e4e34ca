"""AzureEmulator: the server's lifecycle, arranging resources, and inspecting state in tests."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from cloudops_testing.azure_emulator import wire
from cloudops_testing.azure_emulator.resources import EmulatorSettings, LoadBalancer
from cloudops_testing.azure_emulator.routes import ArmHandler
from cloudops_testing.azure_emulator.state import ArmState

__all__ = ["DEFAULT_SUBSCRIPTION", "AzureEmulator"]

#: Subscription used when a helper is not given one.
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-00000000c10d"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class AzureEmulator:
    """A local Azure Resource Manager for VM scale sets, on a free loopback port.

    Why: no usable ARM compute emulator exists (see the cloud notes), and the provider must be
    tested through the official ``azure-mgmt-compute`` client over HTTP, long-running operations
    included. Point a ``ComputeManagementClient`` at :attr:`url` (``base_url``) with any
    credential whose policy sends an ``Authorization`` header.

    Arrange with :meth:`add_resource_group`, :meth:`add_subnet`, :meth:`add_load_balancer`,
    :meth:`add_image`; steer with :attr:`settings` (timing, page size, quota), :meth:`hold`/
    :meth:`release` (keep a scale set's operations InProgress), :meth:`fail_next` (make its next
    create/update fail asynchronously) and :attr:`unavailable_skus`; inspect with
    :meth:`scale_sets`, :meth:`scale_set`, :meth:`instances`, :meth:`put_count`,
    :meth:`request_count` and :meth:`pool_members`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        settings: EmulatorSettings | None = None,
        subscription: str = DEFAULT_SUBSCRIPTION,
    ) -> None:
        self.state = ArmState(settings or EmulatorSettings())
        self.subscription = subscription
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def settings(self) -> EmulatorSettings:
        """Timing and limits; assign fields on a running emulator to change its behaviour."""
        return self.state.settings

    @property
    def url(self) -> str:
        """Base URL (``base_url`` of the Azure clients, ``endpoint`` of a cloudops account)."""
        if self._server is None:
            raise RuntimeError("AzureEmulator is not running; call start() first")
        return f"http://{self._host}:{self._server.server_address[1]}"

    def start(self) -> AzureEmulator:
        """Bind the port and serve from a daemon thread until :meth:`stop`."""
        if self._server is not None:
            raise RuntimeError("AzureEmulator already started")
        handler = type("BoundArmHandler", (ArmHandler,), {"state": self.state})
        self._server = _Server((self._host, self._port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="cloudops-azure-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port; idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> AzureEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every resource, operation, hold, failure and request count."""
        with self.state.lock:
            self.state.clear()

    # -- arranging -----------------------------------------------------------------------------

    def _sub(self, subscription: str | None) -> str:
        return subscription or self.subscription

    def add_resource_group(
        self, name: str, location: str = "eastus", *, subscription: str | None = None
    ) -> str:
        """Create a resource group (idempotent); returns its id."""
        sub = self._sub(subscription)
        with self.state.lock:
            self.state.resource_groups.setdefault((sub.lower(), name.lower()), (name, location))
        return f"/subscriptions/{sub}/resourceGroups/{name}"

    def add_subnet(
        self,
        resource_group: str,
        network: str,
        subnet: str = "default",
        *,
        subscription: str | None = None,
    ) -> str:
        """Declare a subnet that scale sets may reference; returns its id."""
        sub = self._sub(subscription)
        ref = (
            f"/subscriptions/{sub}/resourceGroups/{resource_group}/providers/"
            f"Microsoft.Network/virtualNetworks/{network}/subnets/{subnet}"
        )
        with self.state.lock:
            self.state.subnets[ref.lower()] = ref
        return ref

    def add_load_balancer(
        self,
        resource_group: str,
        name: str,
        pools: tuple[str, ...] | list[str] = ("backend",),
        *,
        location: str = "eastus",
        subscription: str | None = None,
        probes: tuple[str, ...] | list[str] = ("health",),
    ) -> list[str]:
        """Create a load balancer with backend pools and health probes; returns the pools' ids."""
        sub = self._sub(subscription)
        balancer = LoadBalancer(
            subscription=sub,
            resource_group=resource_group,
            name=name,
            location=location,
            pools={p.lower(): p for p in pools},
            probes={p.lower(): p for p in probes},
        )
        with self.state.lock:
            self.state.load_balancers[(sub.lower(), resource_group.lower(), name.lower())] = (
                balancer
            )
        return [f"{balancer.id}/backendAddressPools/{p}" for p in pools]

    def add_image(self, image: str) -> None:
        """Accept an image: ``publisher:offer:sku`` (any version) or an image resource id."""
        with self.state.lock:
            self.state.images.add(image.lower())

    @property
    def unavailable_skus(self) -> set[str]:
        """Lower-cased VM sizes answered with 409 ``SkuNotAvailable``."""
        return self.state.unavailable_skus

    def hold(self, scale_set: str) -> None:
        """Keep every operation on scale sets named ``scale_set`` InProgress until released."""
        with self.state.lock:
            self.state.holds.add(scale_set.lower())

    def release(self, scale_set: str) -> None:
        """Let held operations complete (on the next request or inspection)."""
        with self.state.lock:
            self.state.holds.discard(scale_set.lower())

    def fail_next(
        self,
        scale_set: str,
        code: str = "AllocationFailed",
        message: str = (
            "Allocation failed. We do not have sufficient capacity for the requested VM size "
            "in this region."
        ),
    ) -> None:
        """Make the next create or update of ``scale_set`` end ``Failed`` with this error."""
        with self.state.lock:
            self.state.pending_failures[scale_set.lower()] = (code, message)

    # -- inspecting ----------------------------------------------------------------------------

    def scale_sets(
        self, resource_group: str | None = None, *, subscription: str | None = None
    ) -> list[dict[str, Any]]:
        """Every scale set (of one resource group), as GET shows it plus its userData."""
        sub = self._sub(subscription).lower()
        with self.state.lock:
            self.state.advance()
            return [
                wire.scale_set_json(s, user_data=True)
                for key, s in sorted(self.state.scale_sets.items())
                if key[0] == sub and (resource_group is None or key[1] == resource_group.lower())
            ]

    def scale_set(
        self, resource_group: str, name: str, *, subscription: str | None = None
    ) -> dict[str, Any] | None:
        """One scale set as GET shows it (plus userData), or None."""
        key = (self._sub(subscription).lower(), resource_group.lower(), name.lower())
        with self.state.lock:
            self.state.advance()
            found = self.state.scale_sets.get(key)
            return wire.scale_set_json(found, user_data=True) if found else None

    def instances(
        self, resource_group: str, name: str, *, subscription: str | None = None
    ) -> list[dict[str, Any]]:
        """The VMs of a scale set with their instance views ([] when it does not exist)."""
        key = (self._sub(subscription).lower(), resource_group.lower(), name.lower())
        with self.state.lock:
            self.state.advance()
            found = self.state.scale_sets.get(key)
            if found is None:
                return []
            now = self.state.clock()
            return [
                wire.instance_json(found, i, now, instance_view=True)
                for i in sorted(found.instances.values(), key=lambda i: int(i.instance_id))
            ]

    def restarts(
        self, resource_group: str, name: str, *, subscription: str | None = None
    ) -> dict[str, int]:
        """Completed restarts of each VM of a scale set, by instance id ({} when it is gone)."""
        key = (self._sub(subscription).lower(), resource_group.lower(), name.lower())
        with self.state.lock:
            self.state.advance()
            found = self.state.scale_sets.get(key)
            instances = found.instances.values() if found else []
            return {i.instance_id: i.restarts for i in instances}

    def request_count(self, method: str, path: str) -> int:
        """How many ``method`` requests reached ``path`` (an ARM path, any case)."""
        with self.state.lock:
            return self.state.requests[(method.upper(), path.rstrip("/").lower())]

    def put_count(self, resource_group: str, name: str, *, subscription: str | None = None) -> int:
        """How many PUTs reached the scale set ``name`` (retries that got through included)."""
        sub = self._sub(subscription)
        return self.request_count(
            "PUT",
            f"/subscriptions/{sub}/resourceGroups/{resource_group}/providers/"
            f"Microsoft.Compute/virtualMachineScaleSets/{name}",
        )

    def pool_members(self, pool_id: str) -> list[str]:
        """Names (``vmss_N``) of the VMs whose NICs are in the backend pool ``pool_id``."""
        with self.state.lock:
            self.state.advance()
            return [f"{s.name}_{i.instance_id}" for s, i, _, _ in self.state.pool_members(pool_id)]

    def operations(self) -> list[dict[str, Any]]:
        """Every long-running operation so far (status resource plus kind and target)."""
        with self.state.lock:
            self.state.advance()
            return [
                {**wire.operation_json(op), "kind": op.kind, "target": op.name}
                for op in self.state.operations.values()
            ]
