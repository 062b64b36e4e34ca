"""The emulator's in-memory ARM state and its long-running operations.

Why separate from HTTP: the rules (what a PUT creates, when an operation completes, which
instances a scale-in removes, what conflicts) are easier to read and to inspect from tests
without the wire format around them. Every request takes the lock and first lets time pass
(``advance``), so operations complete lazily: by elapsed time (``lro_seconds``), by the number
of status polls (``lro_polls``), never while the scale set is held (``hold``).

Keys are lower-cased because ARM names and ids are case-insensitive.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from cloudops_testing.azure_emulator.checks import DEFAULT_IMAGES, ArmChecks
from cloudops_testing.azure_emulator.errors import ArmError, not_found
from cloudops_testing.azure_emulator.resources import (
    VMSS_TYPE,
    EmulatorSettings,
    Instance,
    LoadBalancer,
    Operation,
    ScaleSet,
    merge_patch,
)
from cloudops_testing.azure_emulator.resources import (
    now as utc_now,
)
from cloudops_testing.azure_emulator.rolling import check_rolling, is_rolling, roll

__all__ = ["ArmState"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEEP_ON_PATCH = ("orchestrationMode",)


class ArmState(ArmChecks):
    """All resources of the emulator, guarded by one lock."""

    def __init__(
        self, settings: EmulatorSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        """Forget every resource, operation, hold, failure and request count."""
        self.resource_groups: dict[tuple[str, str], tuple[str, str]] = {}
        self.subnets: dict[str, str] = {}
        self.load_balancers: dict[tuple[str, str, str], LoadBalancer] = {}
        self.images: set[str] = {image.lower() for image in DEFAULT_IMAGES}
        self.scale_sets: dict[tuple[str, str, str], ScaleSet] = {}
        # Microsoft.Insights/autoscalesettings as ARM renders them (see .autoscale).
        self.autoscale_settings: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.operations: dict[str, Operation] = {}
        self.holds: set[str] = set()
        self.pending_failures: dict[str, tuple[str, str]] = {}
        self.unavailable_skus: set[str] = set()
        self.requests: Counter[tuple[str, str]] = Counter()
        #: Exchanges that broke the vendored API spec (see cloudops_testing.specs).
        self.spec_violations: list[str] = []

    # -- time ----------------------------------------------------------------------------------

    def advance(self) -> None:
        """Complete every operation whose time (and polls) have come and that is not held."""
        with self.lock:
            now = self.clock()
            for op in list(self.operations.values()):
                if op.status != "InProgress" or op.name.lower() in self.holds:
                    continue
                if now - op.started >= self.settings.lro_seconds and (
                    op.polls >= self.settings.lro_polls
                ):
                    self._complete(op)
            for scale_set in self.scale_sets.values():
                roll(scale_set, now, self.settings.lro_seconds)

    def _complete(self, op: Operation) -> None:
        op.end_time = utc_now()
        scale_set = self.scale_sets.get(op.key)
        op.status = "Succeeded"
        if op.fail is not None:
            code, message = op.fail
            op.status, op.error = "Failed", {"code": code, "message": message}
        if scale_set is None:
            return
        if scale_set.operation == op.id:
            scale_set.operation = None
        if op.kind == "delete":
            if op.status == "Succeeded":
                del self.scale_sets[op.key]
            else:
                scale_set.provisioning_state = "Failed"
            return
        if op.kind == "updateInstance":
            return  # applied when requested (a GET shows the VM's new model at once)
        if op.kind == "restart":
            for instance_id in op.instance_ids:
                instance = scale_set.instances.get(instance_id)
                if instance is not None and instance.state != "Deleting":
                    instance.restarts += 1
                    instance.running_at = self.clock() + self.settings.boot_seconds
            return
        if op.kind == "upgradeInstances":
            for instance_id in op.instance_ids:
                instance = scale_set.instances.get(instance_id)
                if instance is not None and instance.state != "Deleting":
                    instance.network = copy.deepcopy(scale_set.network)
                    instance.model_version = scale_set.model_version
            return
        for instance_id in op.instance_ids:
            scale_set.instances.pop(instance_id, None)
        if op.kind == "deleteInstances":
            return  # a VM-level operation: the scale set's own state is untouched
        now = self.clock()
        for instance in scale_set.instances.values():
            if instance.state != "Creating":
                continue
            if op.status == "Succeeded":
                instance.state = "Succeeded"
                instance.running_at = now + self.settings.boot_seconds
            else:
                instance.state = "Failed"
        if op.status == "Succeeded" and scale_set.automatic_upgrades():
            for instance in scale_set.instances.values():
                instance.network = copy.deepcopy(scale_set.network)
                instance.model_version = scale_set.model_version
        elif op.status == "Succeeded" and is_rolling(scale_set.properties):
            scale_set.rolling_at = self.clock()  # the first batch after one more step
        scale_set.provisioning_state = "Succeeded" if op.status == "Succeeded" else "Failed"

    def _start(
        self, kind: str, subscription: str, resource_group: str, name: str, location: str
    ) -> Operation:
        op = Operation(
            id=str(uuid.uuid4()),
            kind=kind,
            subscription=subscription,
            resource_group=resource_group,
            name=name,
            location=location,
            started=self.clock(),
            start_time=utc_now(),
        )
        if kind in ("create", "update"):
            op.fail = self.pending_failures.pop(name.lower(), None)
        self.operations[op.id] = op
        return op

    # -- scale sets ----------------------------------------------------------------------------

    def get(self, subscription: str, resource_group: str, name: str) -> ScaleSet:
        """The scale set, or ARM's 404."""
        self.require_group(subscription, resource_group)
        found = self.scale_sets.get((subscription.lower(), resource_group.lower(), name.lower()))
        if found is None:
            raise not_found(VMSS_TYPE, name, resource_group)
        return found

    def list_scale_sets(self, subscription: str, resource_group: str) -> list[ScaleSet]:
        """Scale sets of a resource group, by name."""
        self.require_group(subscription, resource_group)
        key = (subscription.lower(), resource_group.lower())
        return sorted(
            (s for k, s in self.scale_sets.items() if k[:2] == key), key=lambda s: s.name.lower()
        )

    def _busy(self, scale_set: ScaleSet, action: str) -> None:
        """Refuse ``action`` while another operation runs, as Compute does, or preempt it.

        Compute answers 409 ``OperationNotAllowed`` while a scale set is being created or
        deleted, or for an action beside a running model update; a new PUT or PATCH instead
        preempts a running *update*, which then ends Canceled with ``OperationPreempted``
        (Microsoft Learn, "Troubleshoot common Azure deployment errors", OperationPreempted;
        ``AnotherOperationInProgress`` is Microsoft.Network's code, not Compute's).
        """
        op = self.operations.get(scale_set.operation or "")
        if op is None or op.status != "InProgress":
            return
        if op.kind == "update" and action in ("PUT", "PATCH"):
            for instance_id in op.instance_ids:  # its scale-in is done; the new one goes on
                scale_set.instances.pop(instance_id, None)
            op.status, op.end_time = "Canceled", utc_now()
            op.error = {
                "code": "OperationPreempted",
                "message": "Operation execution has been preempted by a more recent operation.",
            }
            return
        state = {"delete": "being deleted", "create": "being created"}.get(
            op.kind, f"in the middle of operation '{op.id}'"
        )
        raise ArmError(
            409,
            "OperationNotAllowed",
            f"Operation '{action}' is not allowed on VM scale set '{scale_set.name}' since "
            f"the VM scale set is {state}.",
        )

    def check_etag(
        self, subscription: str, resource_group: str, name: str, headers: dict[str, str]
    ) -> None:
        """412 ``PreconditionFailed`` for a stale ``If-Match`` or an ``If-None-Match: *`` hit.

        azure-rest-api-specs: VirtualMachineScaleSets_CreateOrUpdate and _Update take
        ``If-Match`` / ``If-None-Match`` and the resource carries ``etag``.
        """
        found = self.scale_sets.get((subscription.lower(), resource_group.lower(), name.lower()))
        wanted, absent = headers.get("if-match"), headers.get("if-none-match")
        current = f'"{found.etag}"' if found else None
        if (wanted and wanted != "*" and wanted != current) or (absent == "*" and found):
            raise ArmError(
                412,
                "PreconditionFailed",
                f"The specified precondition for VM scale set '{name}' is not met: etag "
                f"{current or 'none'}.",
            )

    def put(
        self, subscription: str, resource_group: str, name: str, body: dict[str, Any]
    ) -> tuple[bool, ScaleSet, Operation]:
        """Create or replace a scale set; returns (created, scale set, operation)."""
        self.require_group(subscription, resource_group)
        if not _NAME.match(name):
            raise ArmError(
                400,
                "InvalidResourceName",
                f"Resource name {name} is invalid. The name can be up to 64 characters long and "
                "can contain letters, digits, '.', '-' and '_'; it must start with a letter or "
                "a digit.",
            )
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise ArmError(
                400, "LocationRequired", "The location property is required for this definition."
            )
        location = location.replace(" ", "").lower()
        sku = body.get("sku")
        self._check_sku(sku, location)
        assert isinstance(sku, dict)
        properties = copy.deepcopy(body.get("properties") or {})
        profile = properties.get("virtualMachineProfile")
        if not isinstance(profile, dict):
            raise ArmError(
                400,
                "InvalidParameter",
                "Required parameter 'virtualMachineProfile' is missing (null).",
                "virtualMachineProfile",
            )
        os_profile = profile.get("osProfile") or {}
        for field_name in ("computerNamePrefix", "adminUsername"):
            if not os_profile.get(field_name):
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"Required parameter 'osProfile.{field_name}' is missing (null).",
                    f"osProfile.{field_name}",
                )
        self._check_os_profile(os_profile)
        self._check_image(profile)
        zones = [str(z) for z in body.get("zones") or []]
        if any(z not in ("1", "2", "3") for z in zones):
            raise ArmError(
                400, "InvalidParameter", f"The zones {zones} are not valid in {location}.", "zones"
            )
        tags = self._check_tags(body.get("tags"))
        key = (subscription.lower(), resource_group.lower(), name.lower())
        existing = self.scale_sets.get(key)
        network = list(
            (profile.get("networkProfile") or {}).get("networkInterfaceConfigurations") or []
        )
        if not network:
            raise ArmError(
                400,
                "InvalidParameter",
                "Required parameter 'networkProfile.networkInterfaceConfigurations' is missing.",
                "networkInterfaceConfigurations",
            )
        scale_id = (
            f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
            f"{VMSS_TYPE}/{name}"
        )
        self._check_references(scale_id, network)
        check_rolling(properties, self.probe_ids(), scale_id)
        properties.pop("provisioningState", None)
        properties.setdefault("orchestrationMode", "Uniform")
        if existing is not None:
            self._busy(existing, "PUT")
            if existing.location != location:
                raise ArmError(
                    409,
                    "InvalidResourceLocation",
                    f"The resource '{name}' already exists in location '{existing.location}' in "
                    f"resource group '{resource_group}'. A resource with the same name cannot be "
                    f"created in location '{location}'. Please select a new resource name.",
                )
            if existing.properties.get("orchestrationMode") != properties["orchestrationMode"]:
                raise ArmError(
                    409,
                    "PropertyChangeNotAllowed",
                    "Changing property 'orchestrationMode' is not allowed.",
                    "orchestrationMode",
                )
            self._check_quota(existing, int(sku["capacity"]))
            op = self._start("update", subscription, resource_group, existing.name, location)
            if existing.properties.get("virtualMachineProfile") != profile:
                existing.model_version += 1
            existing.properties, existing.tags, existing.zones = properties, tags, zones
            existing.sku = copy.deepcopy(sku)
            existing.provisioning_state = "Updating"
            existing.operation = op.id
            existing.etag += 1
            self._scale(existing, int(sku["capacity"]), op)
            return False, existing, op
        scale_set = ScaleSet(
            subscription=subscription,
            resource_group=self.resource_groups[(subscription.lower(), resource_group.lower())][0],
            name=name,
            location=location,
            tags=tags,
            sku=copy.deepcopy(sku),
            zones=zones,
            properties=properties,
            provisioning_state="Creating",
            unique_id=str(uuid.uuid4()),
            time_created=utc_now(),
        )
        self._check_quota(scale_set, int(sku["capacity"]))
        op = self._start("create", subscription, resource_group, name, location)
        scale_set.operation = op.id
        self.scale_sets[key] = scale_set
        self._scale(scale_set, int(sku["capacity"]), op)
        return True, scale_set, op

    def patch(
        self, subscription: str, resource_group: str, name: str, body: dict[str, Any]
    ) -> tuple[ScaleSet, Operation]:
        """Update a scale set with ARM PATCH semantics."""
        scale_set = self.get(subscription, resource_group, name)
        self._busy(scale_set, "PATCH")
        sku = merge_patch(scale_set.sku, body["sku"]) if body.get("sku") else scale_set.sku
        self._check_sku(sku, scale_set.location)
        tags = self._check_tags(body["tags"]) if "tags" in body else scale_set.tags
        patch = copy.deepcopy(body.get("properties") or {})
        for field_name in ("provisioningState", *_KEEP_ON_PATCH):
            patch.pop(field_name, None)
        properties = merge_patch(scale_set.properties, patch)
        profile = properties.get("virtualMachineProfile") or {}
        network = list(
            (profile.get("networkProfile") or {}).get("networkInterfaceConfigurations") or []
        )
        self._check_references(scale_set.id, network)
        if "storageProfile" in (patch.get("virtualMachineProfile") or {}):
            # A new image reference is resolved as on a PUT (400 InvalidParameter, "The
            # following list of images ... are not found").
            self._check_image(profile)
        check_rolling(properties, self.probe_ids(), scale_set.id)
        self._check_quota(scale_set, int(sku["capacity"]))
        op = self._start("update", subscription, resource_group, scale_set.name, scale_set.location)
        if profile != scale_set.properties.get("virtualMachineProfile"):
            scale_set.model_version += 1
        scale_set.properties, scale_set.tags, scale_set.sku = properties, tags, sku
        scale_set.provisioning_state = "Updating"
        scale_set.operation = op.id
        scale_set.etag += 1
        self._scale(scale_set, int(sku["capacity"]), op)
        return scale_set, op

    def _scale(self, scale_set: ScaleSet, capacity: int, op: Operation) -> None:
        alive = scale_set.alive()
        if capacity < len(alive):
            # Azure's default scale-in policy: keep zones balanced, then remove the highest ids.
            victims: list[Instance] = []
            remaining = list(alive)
            while len(remaining) > capacity:
                by_zone: dict[str | None, list[Instance]] = {}
                for instance in remaining:
                    by_zone.setdefault(instance.zone, []).append(instance)
                fullest = max(
                    by_zone.values(), key=lambda group: (len(group), int(group[-1].instance_id))
                )
                victim = fullest[-1]
                remaining.remove(victim)
                victims.append(victim)
            for victim in victims:
                victim.state = "Deleting"
                op.instance_ids.append(victim.instance_id)
            return
        zones: list[str | None] = [*scale_set.zones] or [None]
        counts = Counter(i.zone for i in alive)
        for _ in range(capacity - len(alive)):
            zone = min(zones, key=lambda z: (counts[z], zones.index(z)))
            counts[zone] += 1
            instance_id = str(scale_set.next_instance)
            scale_set.next_instance += 1
            scale_set.instances[instance_id] = Instance(
                instance_id=instance_id,
                zone=zone,
                state="Creating",
                vm_id=str(uuid.uuid4()),
                created=utc_now(),
                model_version=scale_set.model_version,
                network=copy.deepcopy(scale_set.network),
            )

    def delete(self, subscription: str, resource_group: str, name: str) -> Operation | None:
        """Start deleting a scale set; None when it does not exist (ARM answers 204)."""
        self.require_group(subscription, resource_group)
        key = (subscription.lower(), resource_group.lower(), name.lower())
        scale_set = self.scale_sets.get(key)
        if scale_set is None:
            return None
        current = self.operations.get(scale_set.operation or "")
        if current is not None and current.status == "InProgress":
            if current.kind == "delete":
                return current
            self._busy(scale_set, "DELETE")
        op = self._start("delete", subscription, resource_group, scale_set.name, scale_set.location)
        scale_set.provisioning_state = "Deleting"
        scale_set.operation = op.id
        for instance in scale_set.instances.values():
            instance.state = "Deleting"
        return op

    def delete_instances(
        self, subscription: str, resource_group: str, name: str, instance_ids: list[str]
    ) -> Operation:
        """Start deleting some VMs of a scale set; its capacity drops by as many."""
        scale_set = self.get(subscription, resource_group, name)
        current = self.operations.get(scale_set.operation or "")
        if current is not None and current.status == "InProgress" and current.kind == "delete":
            self._busy(scale_set, "POST delete")  # VM-level deletes run beside model updates
        if not instance_ids:
            raise ArmError(
                400,
                "InvalidParameter",
                "Required parameter 'instanceIds' is missing (null).",
                "instanceIds",
            )
        inactive = [
            i
            for i in instance_ids
            if i not in scale_set.instances or scale_set.instances[i].state == "Deleting"
        ]
        if inactive:
            # What Compute answers for an id that is gone or going (not 404).
            raise ArmError(
                400,
                "InvalidParameter",
                f"The provided instanceId {inactive[0]} is not an active Virtual Machine Scale "
                "Set VM instanceId.",
                "instanceIds",
            )
        op = self._start(
            "deleteInstances", subscription, resource_group, scale_set.name, scale_set.location
        )
        for instance_id in instance_ids:
            instance = scale_set.instances[instance_id]
            if instance.state != "Deleting":
                instance.state = "Deleting"
            op.instance_ids.append(instance_id)
        scale_set.sku["capacity"] = len(scale_set.alive())
        return op

    def upgrade_instances(
        self, subscription: str, resource_group: str, name: str, instance_ids: list[str]
    ) -> Operation:
        """Start bringing VMs to the scale set's latest model (``manualupgrade``)."""
        return self._instances_action(
            "upgradeInstances", subscription, resource_group, name, instance_ids
        )

    def restart_instances(
        self, subscription: str, resource_group: str, name: str, instance_ids: list[str] | None
    ) -> Operation:
        """Start restarting VMs (``restart``; no ``instanceIds``: every VM of the scale set).

        The VMs report ``PowerState/starting`` until the operation completes; each completed
        restart is counted on the VM (the emulator's record, :meth:`AzureEmulator.restarts`).
        """
        if instance_ids is None:
            scale_set = self.get(subscription, resource_group, name)
            instance_ids = [i.instance_id for i in scale_set.alive()]
        op = self._instances_action("restart", subscription, resource_group, name, instance_ids)
        scale_set = self.get(subscription, resource_group, name)
        for instance_id in op.instance_ids:
            scale_set.instances[instance_id].running_at = None
        return op

    def _instances_action(
        self,
        kind: str,
        subscription: str,
        resource_group: str,
        name: str,
        instance_ids: list[str],
    ) -> Operation:
        scale_set = self.get(subscription, resource_group, name)
        current = self.operations.get(scale_set.operation or "")
        if current is not None and current.status == "InProgress":
            action = "manualupgrade" if kind == "upgradeInstances" else kind
            self._busy(scale_set, f"POST {action}")
        unknown = [i for i in instance_ids if i not in scale_set.instances]
        if not instance_ids or unknown:
            raise ArmError(
                400,
                "InvalidParameter",
                f"The instance ids {unknown or instance_ids} are not valid for VM scale set "
                f"'{scale_set.name}'.",
                "instanceIds",
            )
        op = self._start(kind, subscription, resource_group, scale_set.name, scale_set.location)
        op.instance_ids = list(instance_ids)
        return op

    def update_instance(
        self, subscription: str, resource_group: str, name: str, instance_id: str, body: Any
    ) -> tuple[ScaleSet, Instance, Operation]:
        """PUT one VM of a scale set: its own NIC configurations (backend pools per VM).

        As the ``VirtualMachineScaleSetVMs_Update`` operation: the VM's
        ``networkProfileConfiguration`` replaces its NIC configurations; the scale set's model
        is untouched (a later model upgrade of the VM replaces them again).
        """
        scale_set = self.get(subscription, resource_group, name)
        instance = scale_set.instances.get(instance_id)
        if instance is None or instance.state == "Deleting":
            raise not_found(f"{VMSS_TYPE}/virtualMachines", f"{name}/{instance_id}", resource_group)
        profile = ((body or {}).get("properties") or {}).get("networkProfileConfiguration")
        if profile is not None:
            network = list(profile.get("networkInterfaceConfigurations") or [])
            self._check_references(scale_set.id, network)
            instance.network = copy.deepcopy(network)
        op = self._start(
            "updateInstance", subscription, resource_group, scale_set.name, scale_set.location
        )
        return scale_set, instance, op

    def poll(self, subscription: str, operation_id: str) -> Operation:
        """One status poll of an operation (counts towards ``lro_polls``)."""
        op = self.operations.get(operation_id)
        if op is None or op.subscription.lower() != subscription.lower():
            raise ArmError(
                404, "NotFound", f"The operation '{operation_id}' was not found.", operation_id
            )
        op.polls += 1
        self.advance()
        return op

    # -- network -------------------------------------------------------------------------------

    def load_balancer(self, subscription: str, resource_group: str, name: str) -> LoadBalancer:
        """The load balancer, or ARM's 404."""
        self.require_group(subscription, resource_group)
        found = self.load_balancers.get(
            (subscription.lower(), resource_group.lower(), name.lower())
        )
        if found is None:
            raise not_found("Microsoft.Network/loadBalancers", name, resource_group)
        return found

    def probe_ids(self) -> dict[str, LoadBalancer]:
        """Lower-cased ids of every load balancer probe, with their load balancer."""
        return {
            f"{lb.id}/probes/{name}".lower(): lb
            for lb in self.load_balancers.values()
            for name in lb.probes.values()
        }

    def pool_members(self, pool_id: str) -> list[tuple[ScaleSet, Instance, str, str]]:
        """(scale set, VM, NIC name, IP configuration name) of every VM NIC in a backend pool."""
        wanted = pool_id.lower()
        members = []
        for scale_set in sorted(self.scale_sets.values(), key=lambda s: s.name.lower()):
            for instance in scale_set.alive():
                for nic in instance.network:
                    for ipc in (nic.get("properties") or {}).get("ipConfigurations") or []:
                        pools = (ipc.get("properties") or {}).get(
                            "loadBalancerBackendAddressPools"
                        ) or []
                        if any(str(p.get("id", "")).lower() == wanted for p in pools):
                            members.append(
                                (scale_set, instance, str(nic.get("name")), str(ipc.get("name")))
                            )
        return members
