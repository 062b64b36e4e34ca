"""The local Azure: the ARM emulator behind a fault proxy (demo, dev, chaos, tests).

Light at import (the plugin registers it): the emulator (cloudops-testing) is imported when the
local cloud starts.
"""

from __future__ import annotations

from collections import Counter
from types import ModuleType
from typing import Any

from cloudops.localcloud import (
    Audit,
    Expected,
    GroupState,
    LocalCloud,
    RunningCloud,
    check_scaling,
    in_cluster,
)
from cloudops.localcloud import reported_groups as _reported_groups
from cloudops.servergroups.contract import TAG_APPLICATION, TAG_REQUEST_ID
from cloudops_azure.models import TAG_TRAFFIC

__all__ = ["LOCAL_AZURE", "LocalAzure", "RunningAzure"]


class LocalAzure(LocalCloud):
    """The ARM emulator with a resource group, a subnet and a load balancer (pools web, api)."""

    name = "azure"
    label = "the Azure emulator"
    account = "local-azure"
    region = "eastus"
    flavor = "azure"
    app_prefix = "zchaos"

    def start(self, faults: Any = None) -> RunningAzure:
        """Start the emulator and its proxy."""
        from cloudops_testing.azure_stack import new_azure_emulator
        from cloudops_testing.stack import behind_proxy

        emulator = new_azure_emulator()
        return RunningAzure(self, emulator, behind_proxy(emulator, faults, self.flavor))


class RunningAzure(RunningCloud):
    """A started local Azure; the emulator object answers reads without going over HTTP."""

    #: What chaos's autoscaled clusters get (``azure.upsertScalingPolicy``: a profile).
    scaling_policy = {
        "step": {
            "steps": [{"adjustment": 1}],
            "alarm": {
                "metric": "Percentage CPU",
                "comparison": "GreaterThanThreshold",
                "threshold": 75,
            },
        }
    }

    @property
    def _stack(self) -> ModuleType:
        """The emulator's resource group, load balancer and image (cloudops-testing)."""
        from cloudops_testing import azure_stack

        return azure_stack

    def account_settings(self, endpoint: str) -> dict[str, Any]:
        """An Azure account of the emulator's subscription and resource group, on ``endpoint``."""
        config = self._stack.azure_account_config(
            endpoint, name=self.account, regions=(self.region,)
        )
        table: dict[str, Any] = config["accounts"][self.account]
        return table

    def placement(self, app: str, *, small: bool = False) -> dict[str, Any]:
        """Behind the load balancer ``{app}-web``, in the security group ``{app}-web``.

        ``small`` (the chaos harness's groups): in the ``web`` pool of the emulator's load
        balancer, in no security group.
        """
        if small:
            balancing: dict[str, Any] = {
                "load_balancers": [f"{self._stack.AZURE_LOAD_BALANCER}/web"]
            }
        else:
            balancing = {"load_balancers": [f"{app}-web"], "security_groups": [f"{app}-web"]}
        return {
            "image": self._stack.AZURE_IMAGE,
            "instance_type": "Standard_B1s",
            "zones": ["1"] if small else ["1", "2"],
            **balancing,
        }

    def network_inputs(self, app: str) -> dict[str, dict[str, Any]]:
        """A public load balancer (TCP 80 to 8080, HTTP probe) and a network security group."""
        from cloudops_testing.network_inputs import load_balancer_input, security_group_input

        listeners = [{"protocol": "TCP", "port": 80, "target_port": 8080}]
        return {
            "load_balancer": load_balancer_input(app, type="network", listeners=listeners),
            "security_group": security_group_input(app),
        }

    def _scale_sets(self) -> list[dict[str, Any]]:
        sets: list[dict[str, Any]] = self.emulator.scale_sets(self._stack.AZURE_RESOURCE_GROUP)
        return sets

    def network_names(self) -> dict[str, list[str]]:
        """The emulator's load balancers and network security groups, by name."""
        from cloudops_testing.azure_emulator.network import network_bodies

        kinds = {"loadbalancers": "load_balancer", "networksecuritygroups": "security_group"}
        found: dict[str, list[str]] = {"load_balancer": [], "security_group": []}
        with self.emulator.state.lock:
            for key, body in network_bodies(self.emulator.state).items():
                kind = kinds.get(key.rsplit("/", 2)[-2])
                if kind is not None:
                    found[kind].append(str(body.get("name") or key.rsplit("/", 1)[-1]))
        return found

    def cluster_state(self, cluster: str) -> list[GroupState]:
        """The cluster's scale sets; disabled: in no backend pool."""
        states = [
            GroupState(
                scale_set["name"],
                scale_set["sku"]["capacity"],
                len(self.emulator.instances(self._stack.AZURE_RESOURCE_GROUP, scale_set["name"])),
                not _pools(scale_set),
            )
            for scale_set in self._scale_sets()
            if in_cluster(scale_set["name"], cluster)
        ]
        return sorted(states, key=lambda state: state.name)

    def is_group_creation(self, request: Any) -> bool:
        """virtualMachineScaleSets.createOrUpdate."""
        return bool(request.method == "PUT" and "/virtualMachineScaleSets/" in request.path)

    def audit(self, expected: Expected) -> Audit:
        """The emulator's scale sets against the reports.

        Also: disabled ones carry the ``cloudops:traffic=disabled`` tag and no backend pool,
        enabled ones are in their pools; no other scale set carries an application's tag; no
        request made two scale sets.
        """
        audit = Audit()
        scale_sets = [
            s for s in self._scale_sets() if (s.get("tags") or {}).get(TAG_APPLICATION) in expected
        ]
        per_request = Counter((s["tags"].get(TAG_REQUEST_ID, "?")) for s in scale_sets)
        with self.emulator.state.lock:  # Microsoft.Insights/autoscalesettings
            settings = list(self.emulator.state.autoscale_settings.values())
        for request, count in per_request.items():
            if count > 1:
                audit.duplicates.append(f"request {request} made {count} scale sets")
        for app, state in expected.items():
            found = {s["name"]: s for s in scale_sets if s["tags"][TAG_APPLICATION] == app}
            for name, want, scale_set in _reported_groups(audit, "scale set", found, state):
                disabled = scale_set["tags"].get(TAG_TRAFFIC) == "disabled"
                pools = _pools(scale_set)
                if disabled != want["disabled"] or disabled == bool(pools):
                    audit.mismatches.append(
                        f"{name}: disabled={disabled} with {len(pools)} backend pools, "
                        f"reported {want}"
                    )
                if scale_set["sku"]["capacity"] != want["desired"]:
                    audit.mismatches.append(
                        f"{name}: capacity {scale_set['sku']['capacity']}, "
                        f"reported {want['desired']}"
                    )
                targeting = [
                    s
                    for s in settings
                    if s["properties"]["targetResourceUri"].lower().endswith(f"/{name.lower()}")
                ]
                found = {
                    "autoscale_setting": len(targeting),
                    "autoscale_profile": sum(len(s["properties"]["profiles"]) for s in targeting),
                }
                check_scaling(audit, name, want, found, "autoscale_setting")
        return audit


def _pools(scale_set: dict[str, Any]) -> list[Any]:
    """The backend pools of every IP configuration of the scale set's NICs."""
    nics = scale_set["properties"]["virtualMachineProfile"]["networkProfile"]
    return [
        pool
        for nic in nics["networkInterfaceConfigurations"]
        for ip in nic["properties"]["ipConfigurations"]
        for pool in ip["properties"].get("loadBalancerBackendAddressPools") or []
    ]


#: The profile the plugin registers.
LOCAL_AZURE = LocalAzure()
