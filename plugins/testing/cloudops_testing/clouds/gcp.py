"""The local GCP: the Compute Engine emulator behind a fault proxy (demo, dev, chaos, tests).

Light at import (the plugin registers it): the emulator (cloudops-testing) is imported when the
local cloud starts.
"""

from __future__ import annotations

import json
from collections import Counter
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
from cloudops.servergroups.contract import TAG_REQUEST_ID

__all__ = ["LOCAL_GCP", "LocalGcp", "RunningGcp"]

IMAGE = "projects/debian-cloud/global/images/family/debian-12"


class LocalGcp(LocalCloud):
    """The Compute Engine emulator (managed instance groups, backend services, target pools)."""

    name = "gcp"
    label = "the GCP emulator"
    account = "local-gcp"
    region = "us-central1"
    flavor = "gcp"
    app_prefix = "gchaos"

    def start(self, faults: Any = None) -> RunningGcp:
        """Start the emulator (fast operations and boots) and its proxy."""
        from cloudops_testing.gcp_stack import new_gcp_emulator
        from cloudops_testing.stack import behind_proxy

        emulator = new_gcp_emulator()
        return RunningGcp(self, emulator, behind_proxy(emulator, faults, self.flavor))


class RunningGcp(RunningCloud):
    """A started local GCP; the emulator object answers reads without going over HTTP."""

    #: What chaos's autoscaled clusters get (``gcp.upsertScalingPolicy``: the autoscaler).
    scaling_policy = {"target_tracking": {"target": 60}}

    def account_settings(self, endpoint: str) -> dict[str, Any]:
        """A GCP account of the emulator's project, anonymous credentials, on ``endpoint``."""
        from cloudops_testing.gcp_stack import gcp_account_config

        config = gcp_account_config(endpoint, name=self.account, regions=(self.region,))
        table: dict[str, Any] = config["accounts"][self.account]
        return table

    def placement(self, app: str, *, small: bool = False) -> dict[str, Any]:
        """Behind the backend service ``{app}-web`` (and the target pool ``{app}-pool``).

        Not ``small`` (the demo): the backend service is the load balancer ``{app}-web`` made
        by upsertLoadBalancer, and the instances carry the security group's tag ``{app}-web``.
        """
        zones = [f"{self.region}-a"] if small else [f"{self.region}-a", f"{self.region}-b"]
        extra = (
            {} if small else {"target_pools": [f"{app}-pool"], "security_groups": [f"{app}-web"]}
        )
        return {
            "image": IMAGE,
            "instance_type": "e2-small",
            "zones": zones,
            "load_balancers": [f"{app}-web"],
            **extra,
        }

    def network_inputs(self, app: str) -> dict[str, dict[str, Any]]:
        """An external HTTP load balancer (80 to 8080) and firewall rules for ``{app}-web``."""
        from cloudops_testing.network_inputs import load_balancer_input, security_group_input

        return {
            "load_balancer": load_balancer_input(app),
            "security_group": security_group_input(app),
        }

    def prepare_application(self, app: str, *, small: bool = False) -> None:
        """The target pool ``{app}-pool`` (the demo), or the backend service (``small``).

        The demo's backend service is its load balancer, made by upsertLoadBalancer.
        """
        if small:
            self.emulator.add_backend_service(f"{app}-web")
        else:
            self.emulator.add_target_pool(self.region, f"{app}-pool")

    def network_names(self) -> dict[str, list[str]]:
        """Backend services and target pools (load balancers); firewall markers (groups).

        A security group is a deny-all marker firewall named after it (its rules are firewalls
        ``{name}-...`` that allow).
        """
        from cloudops_testing.gcp_emulator.network import network_resources

        state = self.emulator.state
        with state.lock:
            balancers = [
                *state.backend_services,
                *(path.rsplit("/", 1)[-1] for path in state.target_pools),
            ]
            groups = [
                r["name"]
                for path, r in network_resources(state).items()
                if "/firewalls/" in path and r.get("denied")
            ]
        return {"load_balancer": balancers, "security_group": groups}

    def cluster_state(self, cluster: str) -> list[GroupState]:
        """The cluster's managed instance groups; disabled: not a backend of ``{cluster}``."""
        service = self.emulator.backend_service(cluster) or {}
        backends = {b["group"].rsplit("/", 1)[-1] for b in service.get("backends", [])}
        states = [
            GroupState(
                group["name"],
                group["targetSize"],
                len(self.emulator.instances(group["name"])),
                group["name"] not in backends,
            )
            for group in self.emulator.groups()
            if in_cluster(group["name"], cluster)
        ]
        return sorted(states, key=lambda state: state.name)

    def is_group_creation(self, request: Any) -> bool:
        """instanceGroupManagers.insert."""
        return bool(request.method == "POST" and request.path.endswith("/instanceGroupManagers"))

    def audit(self, expected: Expected) -> Audit:
        """The emulator's groups, templates, instances and backends against the reports.

        Also: each group has exactly one instance template and is in its backend service
        (enabled) or out of it (disabled); no other group, template, instance or backend
        carries an application's name; no request made two groups.
        """
        emulator = self.emulator
        audit = Audit()
        groups = [g for g in emulator.groups() if _app_of(g["name"], expected)]
        templates = [t for t in emulator.templates() if _app_of(t["name"], expected)]
        instances = [i for i in emulator.instances() if _app_of(i["name"], expected)]
        group_names = {g["name"] for g in groups}
        scalers = emulator.autoscalers()
        per_request: Counter[str] = Counter()
        for group in groups:
            try:
                request = json.loads(group.get("description") or "{}").get(TAG_REQUEST_ID, "?")
            except ValueError:
                request = "?"
            per_request[request] += 1
        for request, count in per_request.items():
            if count > 1:
                audit.duplicates.append(f"request {request} made {count} managed instance groups")
        template_names: Counter[str] = Counter()
        for template in templates:
            metadata = {
                item["key"]: item.get("value", "")
                for item in template.get("properties", {}).get("metadata", {}).get("items", [])
            }
            name = metadata.get("cloudops-server-group", template["name"])
            template_names[name] += 1
            app = _app_of(template["name"], expected)
            if app is None or name not in expected[app]:
                audit.leaks.append(f"instance template {template['name']} of no group")
        for instance in instances:
            if instance.get("group") not in group_names:
                audit.leaks.append(
                    f"instance {instance['name']} belongs to no managed instance group"
                )
        for app, state in expected.items():
            found = {g["name"]: g for g in groups if _app_of(g["name"], expected) == app}
            service = emulator.backend_service(f"{app}-web") or {}
            backends = [b["group"].rsplit("/", 1)[-1] for b in service.get("backends", [])]
            for name in sorted(set(backends) - set(found)):
                audit.leaks.append(f"backend service {app}-web still serves deleted group {name}")
            for name, want, group in _reported_groups(
                audit, "managed instance group", found, state
            ):
                if template_names[name] > 1:
                    audit.duplicates.append(f"{template_names[name]} instance templates for {name}")
                elif template_names[name] == 0:
                    audit.missing.append(f"instance template of {name}")
                disabled = name not in backends
                if disabled != want["disabled"]:
                    audit.mismatches.append(f"{name}: disabled={disabled}, reported {want}")
                if backends.count(name) > 1:
                    audit.duplicates.append(
                        f"{name} is {backends.count(name)} backends of {app}-web"
                    )
                if group["targetSize"] != want["desired"]:
                    audit.mismatches.append(
                        f"{name}: target size {group['targetSize']}, reported {want['desired']}"
                    )
                mine = f"/instanceGroupManagers/{name}"
                count = sum(1 for a in scalers if str(a.get("target", "")).endswith(mine))
                check_scaling(audit, name, want, {"autoscaler": count}, "autoscaler")
        return audit


def _app_of(name: str, apps: dict[str, Any]) -> str | None:
    """The run's application a resource name (``{app}-web-v001...``) belongs to, if any."""
    app = name.split("-", 1)[0]
    return app if app in apps else None


#: The profile the plugin registers.
LOCAL_GCP = LocalGcp()
