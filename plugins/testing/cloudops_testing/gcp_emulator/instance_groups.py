"""Instance groups (``instanceGroups`` / ``regionInstanceGroups``): named ports and LB health.

Why this matters: a managed instance group serves a backend service on the port the service's
``portName`` names, and that name must be a *named port of the instance group* (compute v1
discovery document: ``BackendService.portName`` "must be defined on each backend instance
group"; ``InstanceGroupManager.namedPorts`` is "[Output Only] Named ports configured on the
Instance Groups complementary to this Instance Group Manager", so they are set with
``instanceGroups.setNamedPorts``, not on the manager). A health check using
``USE_SERVING_PORT`` probes that port (Google Cloud docs, "Health checks overview", "Port
specification"), so an instance of a group without the named port never becomes HEALTHY.

Covered: ``GET`` and ``POST .../setNamedPorts`` of zonal and regional instance groups (one
Operation, kind ``instanceGroups.setNamedPorts``, ``fingerprint``-checked), and the health
state ``backendServices.getHealth`` reports for one instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudops_testing.gcp_emulator.errors import condition_not_met, invalid
from cloudops_testing.gcp_emulator.links import NAME_RE, link
from cloudops_testing.gcp_emulator.operations import Operation, Scope

if TYPE_CHECKING:
    from cloudops_testing.gcp_emulator.compute import ComputeState
    from cloudops_testing.gcp_emulator.instances import Instance

__all__ = ["DEFAULT_PORT_NAME", "health_state", "render_instance_group", "set_named_ports"]

#: ``BackendService.portName`` when a service gives none (the discovery document's default for
#: the external HTTP(S) load balancers).
DEFAULT_PORT_NAME = "http"


def _manager(state: ComputeState, scope: Scope, name: str) -> dict[str, Any]:
    return state.get_group(scope, name)


def render_instance_group(state: ComputeState, scope: Scope, name: str) -> dict[str, Any]:
    """The ``compute#instanceGroup`` of a managed instance group."""
    group = _manager(state, scope, name)
    members = state.members(state.group_path(scope, name))
    body: dict[str, Any] = {
        "kind": "compute#instanceGroup",
        "id": group["id"],
        "creationTimestamp": group["creationTimestamp"],
        "name": name,
        "description": "This instance group is controlled by Instance Group Manager "
        f"'{name}'. To modify instances in this group, use the Instance Group Manager API: "
        "https://cloud.google.com/compute/docs/reference/latest/instanceGroupManagers",
        "namedPorts": list(group.get("namedPorts") or []),
        "fingerprint": group.setdefault("_portsFingerprint", "42WmSpB8rSM="),
        "size": sum(1 for i in members if i.action != "DELETING"),
        "selfLink": group["instanceGroup"],
    }
    body["zone" if scope.kind == "zones" else "region"] = link(scope.path(state.project))
    return body


def set_named_ports(
    state: ComputeState, scope: Scope, name: str, body: dict[str, Any], request_id: str | None
) -> Operation:
    """Schedule ``setNamedPorts``: the whole list of the group's named ports is replaced."""
    kind = "instanceGroups.setNamedPorts"
    again = state.ops.dedupe(state.project, request_id, kind)
    if again is not None:
        return again
    group = _manager(state, scope, name)
    current = group.setdefault("_portsFingerprint", "42WmSpB8rSM=")
    if body.get("fingerprint") not in (None, current):
        raise condition_not_met(
            "Supplied fingerprint does not match current fingerprint of the resource."
        )
    ports = body.get("namedPorts")
    if not isinstance(ports, list):
        raise invalid("Required field 'resource.namedPorts' not specified", reason="required")
    for index, port in enumerate(ports):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(port, dict) or not NAME_RE.match(str(port.get("name", ""))):
            raise invalid(f"Invalid value for field 'resource.namedPorts[{index}].name'.")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            raise invalid(f"Invalid value for field 'resource.namedPorts[{index}].port'.")
    path = f"{scope.path(state.project)}/instanceGroups/{name}"

    def apply() -> None:
        group["namedPorts"] = [{"name": p["name"], "port": p["port"]} for p in ports]
        group["_portsFingerprint"] = state.ops.new_id()[-11:] + "="

    return state._op(
        scope, kind, "compute.instanceGroups.setNamedPorts", path, group["id"], request_id, apply
    )


def health_state(service: dict[str, Any], group: dict[str, Any] | None, instance: Instance) -> str:
    """HEALTHY only for a RUNNING instance whose group names the service's serving port."""
    port_name = service.get("portName") or DEFAULT_PORT_NAME
    ports = {p.get("name") for p in (group or {}).get("namedPorts") or []}
    return "HEALTHY" if instance.status == "RUNNING" and port_name in ports else "UNHEALTHY"
