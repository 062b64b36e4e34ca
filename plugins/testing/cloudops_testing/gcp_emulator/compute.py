"""The emulated Compute Engine project: templates, managed instance groups, load balancing.

Everything here runs under one lock (``ComputeState.lock``), taken by the HTTP handlers and the
inspection helpers alike. Mutations validate synchronously (404, 409, 400 answers) and return an
:class:`~cloudops_testing.gcp_emulator.operations.Operation` whose change is applied when it is
DONE; a background ticker moves operations and instances along in time.
"""

from __future__ import annotations

import base64
import copy
import functools
import random
import re
import string
import threading
import time
from collections.abc import Callable
from typing import Any

from cloudops_testing.gcp_emulator.capacity import retry_creations
from cloudops_testing.gcp_emulator.errors import (
    ApiError,
    already_exists,
    condition_not_met,
    invalid,
    not_found,
    resource_in_use,
)
from cloudops_testing.gcp_emulator.instance_groups import health_state
from cloudops_testing.gcp_emulator.instances import Instance
from cloudops_testing.gcp_emulator.links import NAME_RE, check_name, link, relative, timestamp
from cloudops_testing.gcp_emulator.operations import Operation, OperationBook, Scope, Timing
from cloudops_testing.gcp_emulator.policy import bounded_size

__all__ = ["DEFAULT_IMAGES", "DEFAULT_ZONES", "ComputeState", "GroupScope"]

#: Regions and their zones the emulator knows.
DEFAULT_ZONES: dict[str, list[str]] = {
    "us-central1": ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"],
    "us-east1": ["us-east1-b", "us-east1-c", "us-east1-d"],
    "europe-west1": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
}
#: Public images (and families) an instance template may boot.
DEFAULT_IMAGES = frozenset(
    {
        "projects/debian-cloud/global/images/family/debian-12",
        "projects/debian-cloud/global/images/debian-12-bookworm-v20240515",
        "projects/cos-cloud/global/images/family/cos-stable",
    }
)
_LABEL_KEY = r"^[a-z][a-z0-9_-]{0,62}$"
_LABEL_VALUE = r"^[a-z0-9_-]{0,63}$"
_GROUP_PATCHABLE = (
    "instanceTemplate",
    "versions",
    "targetPools",
    "description",
    "updatePolicy",
    "distributionPolicy",
    "autoHealingPolicies",
)

GroupScope = Scope


def _fingerprint(rng: random.Random) -> str:
    return base64.b64encode(rng.randbytes(8)).decode()


class ComputeState:
    """One emulated project's Compute resources; every method expects ``lock`` to be held.

    Why one class: a managed instance group touches templates, instances, target pools and
    backend services at once, and a single lock keeps those views consistent for the client.
    """

    def __init__(
        self,
        project: str,
        timing: Timing,
        *,
        zones: dict[str, list[str]] | None = None,
        images: frozenset[str] | set[str] = DEFAULT_IMAGES,
        seed: int | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.project = project
        self.timing = timing
        self.rng = random.Random(seed)
        self.zones = {region: list(z) for region, z in (zones or DEFAULT_ZONES).items()}
        self.images = set(images)
        self.ops = OperationBook(timing, self.rng)
        self.templates: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.instances: dict[str, Instance] = {}
        self.backend_services: dict[str, dict[str, Any]] = {}
        self.target_pools: dict[str, dict[str, Any]] = {}
        #: ``projects/p/zones/z/autoscalers/NAME`` (or regional) -> stored autoscaler.
        self.autoscalers: dict[str, dict[str, Any]] = {}
        self.reserved: set[str] = set()
        #: ``INSTANCES`` quota per region (None: unlimited) and zones out of resources.
        self.instance_quota: int | None = None
        self.stockout_zones: set[str] = set()
        #: Exchanges that broke the vendored API spec (see cloudops_testing.specs).
        self.spec_violations: list[str] = []
        #: When each autoscaler acts next on a group outside its bounds (see enforce_bounds).
        self.autoscale_due: dict[str, float] = {}

    # -- paths and scopes ----------------------------------------------------------------

    def check_project(self, project: str) -> None:
        """404 for any project but the emulated one."""
        if project != self.project:
            raise not_found(f"projects/{project}")

    def region_of(self, zone: str) -> str:
        """The region of a known zone, or 404."""
        for region, zones in self.zones.items():
            if zone in zones:
                return region
        raise ApiError(400, "invalid", f"Invalid value for field 'zone': '{zone}'. Unknown zone.")

    def check_scope(self, scope: Scope) -> None:
        """404/400 for an unknown zone or region."""
        if scope.kind == "zones":
            self.region_of(str(scope.location))
        elif scope.kind == "regions" and scope.location not in self.zones:
            raise invalid(f"Invalid value for field 'region': '{scope.location}'. Unknown region.")

    def group_path(self, scope: Scope, name: str) -> str:
        """``projects/p/zones/z/instanceGroupManagers/NAME`` (or regional)."""
        return f"{scope.path(self.project)}/instanceGroupManagers/{name}"

    def _rel(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value:
            raise invalid(f"Required field '{field}' not specified", reason="required")
        found = relative(value, self.project)
        if found is None:
            raise invalid(f"Invalid value for field '{field}': '{value}'.")
        return found

    def _op(
        self,
        scope: Scope,
        kind: str,
        operation_type: str,
        target: str,
        target_id: str,
        request_id: str | None,
        apply: Callable[[], None] | None,
    ) -> Operation:
        release = None
        if target in self.reserved:  # an insert: a failed operation frees the name again
            release = functools.partial(self.reserved.discard, target)
        return self.ops.start(
            project=self.project,
            scope=scope,
            kind=kind,
            operation_type=operation_type,
            target=target,
            target_id=target_id,
            request_id=request_id,
            apply=apply,
            release=release,
        )

    # -- instance templates ----------------------------------------------------------------

    def template_path(self, name: str, region: str | None = None) -> str:
        """``projects/p/global/instanceTemplates/NAME`` (or ``regions/r`` for a regional one)."""
        where = f"regions/{region}" if region else "global"
        return f"projects/{self.project}/{where}/instanceTemplates/{name}"

    def _template_key(self, name: str, region: str | None) -> str:
        # Global templates are kept by name, regional ones by path (regionInstanceTemplates:
        # the discovery document's regional variant, usable only by groups of that region).
        return self.template_path(name, region) if region else name

    def get_template(self, name: str, region: str | None = None) -> dict[str, Any]:
        """The template ``name`` (global, or of ``region``) or 404."""
        found = self.templates.get(self._template_key(name, region))
        if found is None:
            raise not_found(self.template_path(name, region))
        return found

    def template_at(self, path: str, field: str, region: str | None = None) -> str:
        """The key of the template at ``path``; 404, or 400 for a template of another region."""
        parts = path.split("/")
        name, where = parts[-1], (parts[3] if len(parts) == 6 and parts[2] == "regions" else None)
        if path != self.template_path(name, where) or (where and region and where != region):
            raise invalid(f"Invalid value for field '{field}': '{path}'.")
        self.get_template(name, where)
        return self._template_key(name, where)

    def insert_template(
        self, body: dict[str, Any], request_id: str | None, region: str | None = None
    ) -> Operation:
        """Validate and schedule the creation of a global (or regional) instance template."""
        again = self.ops.dedupe(self.project, request_id, "instanceTemplates.insert")
        if again is not None:
            return again
        scope = Scope("regions", region) if region else Scope("global", None)
        self.check_scope(scope)
        name = check_name(body.get("name"))
        path = self.template_path(name, region)
        stored_as = self._template_key(name, region)
        if stored_as in self.templates or path in self.reserved:
            raise already_exists(path)
        properties = body.get("properties")
        if not isinstance(properties, dict):
            raise invalid("Required field 'resource.properties' not specified", reason="required")
        if not properties.get("machineType"):
            raise invalid(
                "Required field 'resource.properties.machineType' not specified", reason="required"
            )
        self._check_disks(properties.get("disks"))
        for key, value in (properties.get("labels") or {}).items():
            if not re.match(_LABEL_KEY, key) or not re.match(_LABEL_VALUE, str(value)):
                raise invalid(
                    f"Invalid value for field 'resource.properties.labels': '{key}'. "
                    "Label keys and values must be lowercase letters, digits, '_' or '-'."
                )
        resource = copy.deepcopy(body)
        resource.update(
            kind="compute#instanceTemplate",
            id=self.ops.new_id(),
            creationTimestamp=timestamp(),
            selfLink=link(path),
        )
        if region:
            resource["region"] = link(scope.path(self.project))
        self.reserved.add(path)

        def apply() -> None:
            self.reserved.discard(path)
            self.templates[stored_as] = resource

        op = self._op(
            scope,
            "instanceTemplates.insert",
            "insert",
            path,
            resource["id"],
            request_id,
            apply,
        )
        if "/" in str(properties["machineType"]):
            # Discovery document, InstanceProperties.machineType: "only accepts a machine type
            # name ... If you use the machine type full or partial URL ... the request will
            # result in an INTERNAL_ERROR" (the Operation fails; nothing refuses it up front).
            op.fail_with = ApiError(500, "backendError", "Internal error.", "INTERNAL_ERROR")
        return op

    def _check_disks(self, disks: Any) -> None:
        if not isinstance(disks, list) or not disks:
            raise invalid(
                "Required field 'resource.properties.disks' not specified", reason="required"
            )
        boot = [d for d in disks if isinstance(d, dict) and d.get("boot")]
        if len(boot) != 1:
            raise invalid("Invalid value for field 'resource.properties.disks': one boot disk.")
        source = (boot[0].get("initializeParams") or {}).get("sourceImage")
        path = self._rel(source, "resource.properties.disks[0].initializeParams.sourceImage")
        if path not in self.images:
            raise not_found(path)

    def delete_template(
        self, name: str, request_id: str | None, region: str | None = None
    ) -> Operation:
        """Schedule the deletion of a template; 404 if absent, 400 if a group still uses it."""
        again = self.ops.dedupe(self.project, request_id, "instanceTemplates.delete")
        if again is not None:
            return again
        found = self.get_template(name, region)
        path = self.template_path(name, region)
        for group_path, group in self.groups.items():
            used = {group.get("instanceTemplate")} | {
                v.get("instanceTemplate") for v in group.get("versions", [])
            }
            if link(path) in used:
                raise resource_in_use(path, group_path)

        def apply() -> None:
            self.templates.pop(self._template_key(name, region), None)

        return self._op(
            Scope("regions", region) if region else Scope("global", None),
            "instanceTemplates.delete",
            "delete",
            path,
            found["id"],
            request_id,
            apply,
        )

    # -- managed instance groups -------------------------------------------------------------

    def get_group(self, scope: Scope, name: str) -> dict[str, Any]:
        """The stored group or 404."""
        path = self.group_path(scope, name)
        found = self.groups.get(path)
        if found is None:
            raise not_found(path)
        return found

    def members(self, group_path: str) -> list[Instance]:
        """The group's instances (being deleted ones included), by name."""
        return sorted(
            (i for i in self.instances.values() if i.group == group_path), key=lambda i: i.name
        )

    def render_group(self, group: dict[str, Any]) -> dict[str, Any]:
        """The group with its live ``currentActions`` and ``status``."""
        members = self.members(self.group_path(group["_scope"], group["name"]))
        actions = {
            key: 0
            for key in (
                "abandoning",
                "creating",
                "creatingWithoutRetries",
                "deleting",
                "none",
                "recreating",
                "refreshing",
                "restarting",
                "resuming",
                "starting",
                "stopping",
                "suspending",
                "verifying",
            )
        }
        for instance in members:
            actions[instance.action.lower()] = actions.get(instance.action.lower(), 0) + 1
        alive = [i for i in members if i.action != "DELETING"]
        stable = all(i.action == "NONE" for i in members) and len(alive) == group["targetSize"]
        body = {k: v for k, v in group.items() if not k.startswith("_")}
        body["currentActions"] = actions
        body["status"] = {
            "isStable": stable,
            "versionTarget": {"isReached": True},
            "stateful": {"hasStatefulConfig": False, "perInstanceConfigs": {"allEffective": True}},
        }
        return body

    def insert_group(self, scope: Scope, body: dict[str, Any], request_id: str | None) -> Operation:
        """Validate and schedule the creation of a zonal or regional managed instance group."""
        again = self.ops.dedupe(self.project, request_id, "instanceGroupManagers.insert")
        if again is not None:
            return again
        self.check_scope(scope)
        name = check_name(body.get("name"))
        path = self.group_path(scope, name)
        if path in self.groups or path in self.reserved:
            raise already_exists(path)
        size = body.get("targetSize")
        if not isinstance(size, int) or size < 0:
            raise invalid("Required field 'resource.targetSize' not specified", reason="required")
        base = body.get("baseInstanceName")
        if not isinstance(base, str) or not NAME_RE.match(base) or len(base) > 58:
            raise invalid(f"Invalid value for field 'resource.baseInstanceName': '{base}'.")
        versions = body.get("versions") or []
        template = body.get("instanceTemplate") or (versions[0] if versions else {}).get(
            "instanceTemplate"
        )
        template_path = self._rel(template, "resource.instanceTemplate")
        region = self.region_of(str(scope.location)) if scope.kind == "zones" else scope.location
        self.template_at(template_path, "resource.instanceTemplate", region)
        pools = [self._pool_link(p, str(region)) for p in body.get("targetPools") or []]
        zones = self._distribution(scope, body)
        resource: dict[str, Any] = {
            "kind": "compute#instanceGroupManager",
            "id": self.ops.new_id(),
            "creationTimestamp": timestamp(),
            "name": name,
            "description": str(body.get("description") or ""),
            "instanceTemplate": link(template_path),
            "versions": [{"instanceTemplate": link(template_path), "name": ""}],
            "instanceGroup": link(f"{scope.path(self.project)}/instanceGroups/{name}"),
            "baseInstanceName": base,
            "fingerprint": _fingerprint(self.rng),
            "targetSize": size,
            "targetPools": pools,
            "namedPorts": [],  # output only: set on the instance group (setNamedPorts)
            "autoHealingPolicies": self._auto_healing(body),
            "updatePolicy": body.get("updatePolicy")
            or {"type": "OPPORTUNISTIC", "minimalAction": "REPLACE"},
            "selfLink": link(path),
            "_scope": scope,
            "_zones": zones,
        }
        scope_path = scope.path(self.project)
        if scope.kind == "zones":
            resource["zone"] = link(scope_path)
        else:
            resource["region"] = link(scope_path)
            resource["distributionPolicy"] = {
                "zones": [{"zone": link(f"projects/{self.project}/zones/{z}")} for z in zones],
                "targetShape": "EVEN",
            }
        self.reserved.add(path)

        def apply() -> None:
            self.reserved.discard(path)
            self.groups[path] = resource

        return self._op(
            scope, "instanceGroupManagers.insert", "insert", path, resource["id"], request_id, apply
        )

    def _auto_healing(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The group's ``autoHealingPolicies``, as compute v1 validates them.

        At most one; ``healthCheck`` a global or regional health check URL; ``initialDelaySec``
        in [0, 3600], default 300. Laxer than Compute in one way: the emulator holds no health
        checks, so a well-formed link is accepted without checking that the health check exists.
        """
        policies = body.get("autoHealingPolicies") or []
        field = "resource.autoHealingPolicies"
        if not isinstance(policies, list) or len(policies) > 1:
            raise invalid(f"Invalid value for field '{field}': at most one policy is allowed.")
        kept = []
        for policy in policies:
            check = self._rel(policy.get("healthCheck"), f"{field}[0].healthCheck")
            if not re.match(r"^projects/[^/]+/(global|regions/[^/]+)/healthChecks/[^/]+$", check):
                raise invalid(f"Invalid value for field '{field}[0].healthCheck': '{check}'.")
            delay = policy.get("initialDelaySec", 300)
            if isinstance(delay, str) and delay.isdigit():
                delay = int(delay)
            if not isinstance(delay, int) or not 0 <= delay <= 3600:
                raise invalid(f"Invalid value for field '{field}[0].initialDelaySec': '{delay}'.")
            kept.append({"healthCheck": link(check), "initialDelaySec": delay})
        return kept

    def _distribution(self, scope: Scope, body: dict[str, Any]) -> list[str]:
        if scope.kind == "zones":
            return [str(scope.location)]
        region = str(scope.location)
        wanted = [
            self._rel(z.get("zone"), "resource.distributionPolicy.zones").rsplit("/", 1)[-1]
            for z in (body.get("distributionPolicy") or {}).get("zones") or []
        ]
        for zone in wanted:
            if zone not in self.zones[region]:
                raise invalid(
                    f"Invalid value for field 'resource.distributionPolicy.zones': '{zone}'. "
                    f"Zone is not in region {region}."
                )
        return wanted or self.zones[region][:3]

    def _pool_link(self, value: Any, region: str) -> str:
        path = self._rel(value, "resource.targetPools")
        if path not in self.target_pools:
            raise not_found(path)
        if f"/regions/{region}/" not in path:
            raise invalid(f"Target pool '{path}' is not in region {region}.")
        return link(path)

    def delete_group(self, scope: Scope, name: str, request_id: str | None) -> Operation:
        """Schedule the deletion of a group and its instances; 400 if a backend uses it."""
        again = self.ops.dedupe(self.project, request_id, "instanceGroupManagers.delete")
        if again is not None:
            return again
        group = self.get_group(scope, name)
        path = self.group_path(scope, name)
        for scaler_path, scaler in self.autoscalers.items():
            if scaler["_target"] == path:
                raise resource_in_use(path, scaler_path)
        for service in self.backend_services.values():
            if any(b.get("group") == group["instanceGroup"] for b in service.get("backends", [])):
                raise resource_in_use(
                    f"{scope.path(self.project)}/instanceGroups/{name}",
                    f"projects/{self.project}/global/backendServices/{service['name']}",
                )

        def apply() -> None:
            self.groups.pop(path, None)

        op = self._op(
            scope, "instanceGroupManagers.delete", "delete", path, group["id"], request_id, apply
        )
        # Not atomic (Google Cloud docs, "Deleting a managed instance group": the group deletes
        # its instances first): while the Operation runs the group is still there, every
        # instance DELETING; the group goes once they are gone. A failure leaves what is left.
        group["_deleting"] = True
        for instance in self.members(path):
            if instance.action != "DELETING":
                instance.action, instance.since = "DELETING", _now()
        op.ready = lambda: not self.members(path)
        op.release = lambda: group.pop("_deleting", None)  # failed: the group goes on
        return op

    def resize_group(
        self, scope: Scope, name: str, size: str | None, request_id: str | None
    ) -> Operation:
        """Schedule a new target size (``resize?size=N``)."""
        kind = "instanceGroupManagers.resize"
        again = self.ops.dedupe(self.project, request_id, kind)
        if again is not None:
            return again
        group = self.get_group(scope, name)
        if size is None or not size.lstrip("-").isdigit():
            raise invalid("Required field 'size' not specified", reason="required")
        if int(size) < 0:
            raise invalid(f"Invalid value for field 'size': '{size}'. Must be >= 0")

        def apply() -> None:
            group["targetSize"] = int(size)
            group["fingerprint"] = _fingerprint(self.rng)

        return self._op(
            scope,
            kind,
            "compute.instanceGroupManagers.resize",
            self.group_path(scope, name),
            group["id"],
            request_id,
            apply,
        )

    def patch_group(
        self, scope: Scope, name: str, body: dict[str, Any], request_id: str | None
    ) -> Operation:
        """Schedule a JSON merge patch of the patchable fields (fingerprint-checked)."""
        again = self.ops.dedupe(self.project, request_id, "instanceGroupManagers.patch")
        if again is not None:
            return again
        group = self.get_group(scope, name)
        if body.get("fingerprint") not in (None, group["fingerprint"]):
            raise condition_not_met(
                "Supplied fingerprint does not match current fingerprint of the resource."
            )
        unknown = sorted(set(body) - set(_GROUP_PATCHABLE) - {"fingerprint", "name"})
        if unknown:
            raise invalid(f"Invalid value for field 'resource.{unknown[0]}': cannot be patched.")
        region = self.region_of(group["_zones"][0])
        changes = dict(body)
        changes.pop("fingerprint", None)
        changes.pop("name", None)
        if "targetPools" in changes:
            changes["targetPools"] = [self._pool_link(p, region) for p in changes["targetPools"]]
        for key in ("instanceTemplate",):
            if key in changes:
                template = self._rel(changes[key], f"resource.{key}")
                self.template_at(template, f"resource.{key}", region)
                changes[key] = link(template)
                changes["versions"] = [{"instanceTemplate": changes[key], "name": ""}]

        def apply() -> None:
            group.update(changes)
            group["fingerprint"] = _fingerprint(self.rng)

        return self._op(
            scope,
            "instanceGroupManagers.patch",
            "patch",
            self.group_path(scope, name),
            group["id"],
            request_id,
            apply,
        )

    def set_instance_template(
        self, scope: Scope, name: str, body: dict[str, Any], request_id: str | None
    ) -> Operation:
        """Schedule ``setInstanceTemplate``: the template of the group's *new* instances.

        Discovery document (InstanceGroupManagersSetInstanceTemplateRequest.instanceTemplate):
        "The templates for existing instances in the group do not change unless you run
        recreateInstances, run applyUpdatesToInstances, or set the group's updatePolicy.type
        to PROACTIVE". The group's ``versions`` become that one template.
        """
        kind = "instanceGroupManagers.setInstanceTemplate"
        again = self.ops.dedupe(self.project, request_id, kind)
        if again is not None:
            return again
        group = self.get_group(scope, name)
        region = self.region_of(group["_zones"][0])
        template = self._rel(body.get("instanceTemplate"), "resource.instanceTemplate")
        self.template_at(template, "resource.instanceTemplate", region)

        def apply() -> None:
            group["instanceTemplate"] = link(template)
            group["versions"] = [{"instanceTemplate": link(template), "name": ""}]
            group["fingerprint"] = _fingerprint(self.rng)

        return self._op(
            scope,
            kind,
            "compute.instanceGroupManagers.setInstanceTemplate",
            self.group_path(scope, name),
            group["id"],
            request_id,
            apply,
        )

    def set_target_pools(
        self, scope: Scope, name: str, body: dict[str, Any], request_id: str | None
    ) -> Operation:
        """Schedule ``setTargetPools``: the pools every instance of the group belongs to."""
        kind = "instanceGroupManagers.setTargetPools"
        again = self.ops.dedupe(self.project, request_id, kind)
        if again is not None:
            return again
        group = self.get_group(scope, name)
        if body.get("fingerprint") not in (None, group["fingerprint"]):
            raise condition_not_met(
                "Supplied fingerprint does not match current fingerprint of the resource."
            )
        region = self.region_of(group["_zones"][0])
        pools = [self._pool_link(p, region) for p in body.get("targetPools") or []]

        def apply() -> None:
            group["targetPools"] = pools
            group["fingerprint"] = _fingerprint(self.rng)

        return self._op(
            scope,
            kind,
            "compute.instanceGroupManagers.setTargetPools",
            self.group_path(scope, name),
            group["id"],
            request_id,
            apply,
        )

    def change_instances(
        self, scope: Scope, name: str, verb: str, body: dict[str, Any], request_id: str | None
    ) -> Operation:
        """``deleteInstances``, ``abandonInstances`` or ``recreateInstances`` of members."""
        kind = f"instanceGroupManagers.{verb}"
        again = self.ops.dedupe(self.project, request_id, kind)
        if again is not None:
            return again
        group = self.get_group(scope, name)
        path = self.group_path(scope, name)
        urls = body.get("instances")
        if not isinstance(urls, list) or not urls:
            raise invalid("Required field 'resource.instances' not specified", reason="required")
        chosen: list[Instance] = []
        for url in urls:
            instance = self.instances.get(self._rel(url, "resource.instances"))
            if instance is None or instance.group != path:
                raise invalid(
                    f"Invalid value for field 'resource.instances': '{url}'. The instance is "
                    f"not a member of the instance group manager '{path}'."
                )
            chosen.append(instance)

        def apply() -> None:
            live = [i for i in chosen if i.group == path and i.action != "DELETING"]
            if verb in ("deleteInstances", "abandonInstances"):
                group["targetSize"] = max(0, group["targetSize"] - len(live))
            for instance in live:
                if verb == "deleteInstances":
                    instance.action, instance.since = "DELETING", _now()
                elif verb == "abandonInstances":
                    instance.group, instance.action = None, "NONE"
                else:  # recreated from the group's template (instanceGroupManagers docs)
                    instance.action, instance.since = "RECREATING", _now()
                    instance.id = self.ops.new_id()
                    template = self._rel(group["instanceTemplate"], "instanceTemplate")
                    instance.template_path = template
                    instance.template = self.templates.get(
                        self.template_at(template, "instanceTemplate"), {}
                    )

        return self._op(
            scope,
            kind,
            f"compute.instanceGroupManagers.{verb}",
            path,
            group["id"],
            request_id,
            apply,
        )

    # -- instances and reconciliation ----------------------------------------------------------

    def enforce_bounds(self) -> None:
        """Bring every autoscaled group's target size within its autoscaler's bounds, later.

        The real autoscaler is not synchronous: it acts on its next evaluation (Timing
        ``autoscaler_seconds``), and it scales in only after a stabilisation period (Google Cloud
        docs, "Autoscaler decisions": a 10-minute stabilization period before it removes
        instances; Timing ``scale_in_seconds``). A client must wait for it.
        """
        now = _now()
        for path, scaler in self.autoscalers.items():
            group = self.groups.get(scaler["_target"])
            size = group and bounded_size(scaler["autoscalingPolicy"], group["targetSize"])
            if group is None or size == group["targetSize"]:
                self.autoscale_due.pop(path, None)
                continue
            wait = self.timing.autoscaler_seconds
            if size < group["targetSize"]:
                wait += self.timing.scale_in_seconds
            if now >= self.autoscale_due.setdefault(path, now + wait):
                group["targetSize"] = size
                self.autoscale_due.pop(path, None)

    def tick(self) -> None:
        """Advance operations, instances, and groups towards their target sizes."""
        self.ops.tick()
        self.enforce_bounds()
        retry_creations(self, _now())
        for path, instance in list(self.instances.items()):
            if not instance.advance(self.timing.instance_seconds):
                del self.instances[path]
        for path, group in self.groups.items():
            if group.get("_deleting"):
                continue
            alive = [i for i in self.members(path) if i.action != "DELETING"]
            missing = group["targetSize"] - len(alive)
            for _ in range(missing):
                self._launch(path, group, alive)
            if missing < 0:
                # Like the real group: instances not running yet go first, then by name.
                order = sorted(alive, key=lambda i: (i.action == "NONE", i.name))
                for instance in order[:-missing]:
                    instance.action, instance.since = "DELETING", _now()

    def _launch(self, path: str, group: dict[str, Any], alive: list[Instance]) -> None:
        zones = group["_zones"]
        zone = min(zones, key=lambda z: sum(1 for i in alive if i.zone == z))
        template_path = self._rel(group["instanceTemplate"], "instanceTemplate")
        template = self.templates.get(self.template_at(template_path, "instanceTemplate"), {})
        alphabet = string.ascii_lowercase + string.digits
        while True:
            name = f"{group['baseInstanceName']}-{''.join(self.rng.choices(alphabet, k=4))}"
            if f"projects/{self.project}/zones/{zone}/instances/{name}" not in self.instances:
                break
        instance = Instance(
            project=self.project,
            zone=zone,
            name=name,
            id=self.ops.new_id(),
            template=template,
            template_path=template_path,
            group=path,
            address=f"10.128.{self.rng.randrange(256)}.{self.rng.randrange(2, 255)}",
        )
        self.instances[instance.path] = instance
        alive.append(instance)

    def get_instance(self, zone: str, name: str) -> Instance:
        """The VM ``name`` in ``zone`` or 404."""
        self.region_of(zone)
        path = f"projects/{self.project}/zones/{zone}/instances/{name}"
        found = self.instances.get(path)
        if found is None or found.last_error is not None:
            raise not_found(path)
        return found

    def reset_instance(self, zone: str, name: str, request_id: str | None) -> Operation:
        """Schedule ``instances.reset``: a hard reset of a VM (counted in ``resets``).

        Compute docs ("Resetting an instance"): a reset wipes the memory and restarts the VM
        without a graceful shutdown; it keeps the VM's status RUNNING. A VM that is not
        RUNNING cannot be reset (400 ``resourceNotReady``).
        """
        kind = "instances.reset"
        again = self.ops.dedupe(self.project, request_id, kind)
        if again is not None:
            return again
        instance = self.get_instance(zone, name)
        if instance.status != "RUNNING":
            raise ApiError(400, "resourceNotReady", f"The resource '{instance.path}' is not ready")

        def apply() -> None:
            instance.resets += 1

        return self._op(
            Scope("zones", zone), kind, "reset", instance.path, instance.id, request_id, apply
        )

    # -- target pools ----------------------------------------------------------------------

    def pool_instances(self, path: str) -> list[str]:
        """Links of a pool's instances: those added by hand plus those of groups naming it."""
        pool = self.target_pools[path]
        found = list(pool.get("_manual", []))
        for group_path, group in self.groups.items():
            if link(path) in group.get("targetPools", []):
                found += [
                    link(i.path)
                    for i in self.members(group_path)
                    if i.action != "DELETING" and i.last_error is None
                ]
        return found

    def render_pool(self, path: str) -> dict[str, Any]:
        """The pool with its current instances."""
        pool = self.target_pools[path]
        body = {k: v for k, v in pool.items() if not k.startswith("_")}
        body["instances"] = self.pool_instances(path)
        return body

    def insert_pool(self, region: str, body: dict[str, Any], request_id: str | None) -> Operation:
        """Create a target pool (tests arrange load balancers with it)."""
        again = self.ops.dedupe(self.project, request_id, "targetPools.insert")
        if again is not None:
            return again
        scope = Scope("regions", region)
        self.check_scope(scope)
        name = check_name(body.get("name"))
        path = f"{scope.path(self.project)}/targetPools/{name}"
        if path in self.target_pools or path in self.reserved:
            raise already_exists(path)
        resource = {
            "kind": "compute#targetPool",
            "id": self.ops.new_id(),
            "creationTimestamp": timestamp(),
            "name": name,
            "region": link(scope.path(self.project)),
            "description": body.get("description", ""),
            "healthChecks": list(body.get("healthChecks") or []),
            "sessionAffinity": body.get("sessionAffinity", "NONE"),
            "selfLink": link(path),
            "_manual": [
                link(self._rel(i, "resource.instances")) for i in body.get("instances", [])
            ],
        }
        self.reserved.add(path)

        def apply() -> None:
            self.reserved.discard(path)
            self.target_pools[path] = resource

        return self._op(
            scope, "targetPools.insert", "insert", path, resource["id"], request_id, apply
        )

    def pool_health(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """``targetPools.getHealth`` of one instance of the pool."""
        if path not in self.target_pools:
            raise not_found(path)
        target = self._rel(body.get("instance"), "resource.instance")
        if link(target) not in self.pool_instances(path):
            raise invalid(f"Instance '{target}' is not in target pool '{path}'.")
        instance = self.instances.get(target)
        state = "HEALTHY" if instance is not None and instance.status == "RUNNING" else "UNHEALTHY"
        return {
            "kind": "compute#targetPoolInstanceHealth",
            "healthStatus": [{"instance": link(target), "healthState": state, "port": 80}],
        }

    # -- backend services ------------------------------------------------------------------

    def service_path(self, name: str) -> str:
        """``projects/p/global/backendServices/NAME``."""
        return f"projects/{self.project}/global/backendServices/{name}"

    def get_service(self, name: str) -> dict[str, Any]:
        """The backend service ``name`` or 404."""
        found = self.backend_services.get(name)
        if found is None:
            raise not_found(self.service_path(name))
        return found

    def _backends(self, backends: Any) -> list[dict[str, Any]]:
        if not isinstance(backends, list):
            raise invalid("Invalid value for field 'resource.backends'.")
        result = []
        for index, backend in enumerate(backends):
            group = self._rel(backend.get("group"), f"resource.backends[{index}].group")
            parts = group.split("/")
            if len(parts) != 6 or parts[4] != "instanceGroups":
                raise invalid(f"Invalid value for field 'resource.backends[{index}].group'.")
            manager = "/".join([*parts[:4], "instanceGroupManagers", parts[5]])
            if manager not in self.groups:
                raise not_found(group)
            result.append({**backend, "group": link(group)})
        groups = [b["group"] for b in result]
        if len(set(groups)) != len(groups):
            raise invalid("Duplicate backend groups in 'resource.backends'.")
        return result

    def insert_service(self, body: dict[str, Any], request_id: str | None) -> Operation:
        """Create a global backend service (tests arrange load balancers with it)."""
        again = self.ops.dedupe(self.project, request_id, "backendServices.insert")
        if again is not None:
            return again
        name = check_name(body.get("name"))
        path = self.service_path(name)
        if name in self.backend_services or path in self.reserved:
            raise already_exists(path)
        resource = {
            **body,
            "kind": "compute#backendService",
            "id": self.ops.new_id(),
            "creationTimestamp": timestamp(),
            "name": name,
            "backends": self._backends(body.get("backends") or []),
            "protocol": body.get("protocol", "HTTP"),
            "loadBalancingScheme": body.get("loadBalancingScheme", "EXTERNAL_MANAGED"),
            "fingerprint": _fingerprint(self.rng),
            "selfLink": link(path),
        }
        self.reserved.add(path)

        def apply() -> None:
            self.reserved.discard(path)
            self.backend_services[name] = resource

        return self._op(
            Scope("global", None),
            "backendServices.insert",
            "insert",
            path,
            resource["id"],
            request_id,
            apply,
        )

    def change_service(
        self, name: str, body: dict[str, Any], request_id: str | None, *, replace: bool
    ) -> Operation:
        """``patch`` (merge) or ``update`` (replace) a backend service, fingerprint-checked."""
        kind = "backendServices.update" if replace else "backendServices.patch"
        again = self.ops.dedupe(self.project, request_id, kind)
        if again is not None:
            return again
        service = self.get_service(name)
        if body.get("fingerprint") not in (None, service["fingerprint"]):
            raise condition_not_met(
                "Supplied fingerprint does not match current fingerprint of the resource."
            )
        if replace and not body.get("fingerprint"):
            raise invalid("Required field 'resource.fingerprint' not specified", reason="required")
        changes = {k: v for k, v in body.items() if k not in ("fingerprint", "id", "selfLink")}
        if "backends" in changes:
            changes["backends"] = self._backends(changes["backends"])

        def apply() -> None:
            if replace:
                keep = {k: service[k] for k in ("kind", "id", "creationTimestamp", "selfLink")}
                service.clear()
                service.update(keep)
                service.setdefault("backends", [])
            service.update(changes)
            service["name"] = name
            service["fingerprint"] = _fingerprint(self.rng)

        return self._op(
            Scope("global", None),
            kind,
            "update" if replace else "patch",
            self.service_path(name),
            service["id"],
            request_id,
            apply,
        )

    def service_health(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``backendServices.getHealth`` of one backend group."""
        service = self.get_service(name)
        group = link(self._rel(body.get("group"), "resource.group"))
        if all(b.get("group") != group for b in service.get("backends", [])):
            raise invalid(f"Instance group '{group}' is not a backend of backend service {name}.")
        parts = self._rel(group, "group").split("/")
        manager = "/".join([*parts[:4], "instanceGroupManagers", parts[5]])
        statuses = [
            {
                "instance": link(i.path),
                "ipAddress": i.address,
                "port": 80,
                "healthState": health_state(service, self.groups.get(manager), i),
            }
            for i in self.members(manager)
            if i.action != "DELETING" and i.last_error is None
        ]
        answer: dict[str, Any] = {"kind": "compute#backendServiceGroupHealth"}
        if statuses:
            answer["healthStatus"] = statuses
        return answer


def _now() -> float:
    return time.monotonic()
