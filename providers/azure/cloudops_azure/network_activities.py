"""Azure load balancers and security groups: the part handlers and reads (azure-mgmt-network).

Each part is one Microsoft.Network resource written with a PUT of its whole body (so a rule no
longer declared is gone after the PUT) and read back into the canonical state the plan uses.
PUTs are idempotent: a retried activity sends the same body again. Network changes are short,
so the handlers wait for them (the SDK's poller) inside the activity, which heartbeats.
"""

from __future__ import annotations

from typing import Any

from cloudops import BusinessError, ErrorCode
from cloudops.network import contract as nc
from cloudops.network import models as nm
from cloudops.network.contract import TAG_LOAD_BALANCER, TAG_SECURITY_GROUP, Part, PartChange
from cloudops.network.parts import PartHandler, ResourceHandler, Where, listed, part_activities
from cloudops.servergroups.contract import TAG_REQUEST_ID
from cloudops.servergroups.translate import activity_maker
from cloudops_azure.arm import subnet_id
from cloudops_azure.clients import (
    account_settings,
    compute_client,
    network_client,
    resource_group_of,
)
from cloudops_azure.errors import classify
from cloudops_azure.models import TAG_POOLS

__all__ = ["NETWORK_ACTIVITIES", "application_security_groups"]

azure_activity = activity_maker(classify)

#: The SDK operation group of each part kind.
_GROUPS = {
    "public_ip": "public_ip_addresses",
    "load_balancer": "load_balancers",
    "security_group": "network_security_groups",
    "application_security_group": "application_security_groups",
}


class Net:
    """One account's network client, in the call's resource group."""

    def __init__(self, where: Any) -> None:
        self.account = where.account
        self.client = network_client(where.account)
        self.resource_group = resource_group_of(where.account, where.scope.get("resource_group"))
        self.subscription = account_settings(where.account).subscription_id

    def id(self, kind: str, name: str) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Network/{kind}/{name}"
        )

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            found = getattr(self.client, _GROUPS[kind]).get(self.resource_group, name)
        except ResourceNotFoundError:
            return None
        data: dict[str, Any] = found.as_dict()
        return data

    def list(self, kind: str) -> list[dict[str, Any]]:
        found = getattr(self.client, _GROUPS[kind]).list(self.resource_group)
        return [item.as_dict() for item in found]

    def put(self, kind: str, name: str, body: dict[str, Any]) -> str:
        poller = getattr(self.client, _GROUPS[kind]).begin_create_or_update(
            self.resource_group, name, body
        )
        return str(poller.result().id)

    def delete(self, kind: str, name: str) -> None:
        getattr(self.client, _GROUPS[kind]).begin_delete(self.resource_group, name).result()


def _last(ref: str | None) -> str:
    return (ref or "").rstrip("/").rsplit("/", 1)[-1]


class Resource(ResourceHandler[Net]):
    """A part that is one Microsoft.Network resource, written whole with PUT."""

    def client(self, where: Where) -> Net:
        return Net(where)

    def get(self, client: Net, name: str) -> dict[str, Any] | None:
        return client.get(self.kind, name)

    def identity(self, resource: dict[str, Any]) -> tuple[Any, Any]:
        return resource.get("id"), (resource.get("tags") or {}).get(TAG_REQUEST_ID)

    def _put(self, where: Where, change: PartChange, tags: dict[str, str]) -> str:
        net, part = Net(where), change.part
        body = {
            **self.body(net, part),
            "location": part.settings.get("location") or where.region,
            "tags": tags,
        }
        return net.put(self.kind, part.name, body)

    def create(self, where: Where, change: PartChange) -> str | None:
        return self._put(where, change, change.tags)

    def update(self, where: Where, change: PartChange, current: dict[str, Any]) -> str | None:
        found = Net(where).get(self.kind, change.part.name) or {}
        tags = dict(found.get("tags") or {})
        if not change.restore:
            tags.update(change.tags)
        return self._put(where, change, tags)

    def delete(self, where: Where, part: Part, current: dict[str, Any]) -> None:
        Net(where).delete(self.kind, part.name)


class PublicIps(Resource):
    kind = "public_ip"

    def state(self, net: Net, resource: dict[str, Any]) -> dict[str, Any]:
        return {
            "sku": (resource.get("sku") or {}).get("name"),
            "allocation": (resource.get("properties") or {}).get("publicIPAllocationMethod"),
            "address": (resource.get("properties") or {}).get("ipAddress"),
        }

    def body(self, net: Net, part: Part) -> dict[str, Any]:
        return {
            "sku": {"name": part.desired["sku"]},
            "properties": {"publicIPAllocationMethod": part.desired["allocation"]},
        }


class LoadBalancers(Resource):
    """The load balancer: frontend, the pool, the probe and the rules, in one body."""

    kind = "load_balancer"

    def state(self, net: Net, resource: dict[str, Any]) -> dict[str, Any]:
        props = resource.get("properties") or {}
        frontends = props.get("frontendIPConfigurations") or [{}]
        front = frontends[0].get("properties") or {}
        subnet = (front.get("subnet") or {}).get("id")
        probes = props.get("probes") or [{}]
        probe = probes[0].get("properties") or {}
        pools = props.get("backendAddressPools") or []
        return {
            "frontend": "internal" if subnet else "public",
            "subnet": "/".join(subnet.split("/")[-3::2]) if subnet else None,
            "public_ip": _last((front.get("publicIPAddress") or {}).get("id")) or None,
            "pool": pools[0].get("name") if pools else None,
            "probe": {
                "protocol": probe.get("protocol"),
                "port": probe.get("port"),
                "path": probe.get("requestPath"),
                "interval": probe.get("intervalInSeconds"),
                "count": probe.get("numberOfProbes"),
            },
            "rules": sorted(
                (
                    {
                        "protocol": (r.get("properties") or {}).get("protocol"),
                        "frontend_port": (r.get("properties") or {}).get("frontendPort"),
                        "backend_port": (r.get("properties") or {}).get("backendPort"),
                    }
                    for r in props.get("loadBalancingRules") or []
                ),
                key=lambda r: int(r["frontend_port"] or 0),
            ),
        }

    def body(self, net: Net, part: Part) -> dict[str, Any]:
        d, me = part.desired, net.id("loadBalancers", part.name)
        if d["frontend"] == "internal":
            subnet = d.get("subnet") or account_settings(net.account).default_subnet
            if not subnet:
                raise BusinessError(
                    ErrorCode.INVALID_INPUT,
                    "an internal load balancer needs a subnet: give subnets or set the "
                    "account's default_subnet",
                    {"errors": [{"field": "subnets", "reason": "required when internal"}]},
                )
            ref = subnet_id(subnet, net.subscription, net.resource_group)
            front: dict[str, Any] = {"subnet": {"id": ref}}
        else:
            front = {"publicIPAddress": {"id": net.id("publicIPAddresses", d["public_ip"])}}
        probe = d["probe"]
        probe_body: dict[str, Any] = {
            "protocol": probe["protocol"],
            "port": probe["port"],
            "intervalInSeconds": probe["interval"],
            "numberOfProbes": probe["count"],
        }
        if probe.get("path"):
            probe_body["requestPath"] = probe["path"]
        return {
            "sku": {"name": "Standard"},
            "properties": {
                "frontendIPConfigurations": [{"name": "frontend", "properties": front}],
                "backendAddressPools": [{"name": d["pool"]}],
                "probes": [{"name": "probe", "properties": probe_body}],
                "loadBalancingRules": [
                    {
                        "name": f"{rule['protocol'].lower()}-{rule['frontend_port']}",
                        "properties": {
                            "protocol": rule["protocol"],
                            "frontendPort": rule["frontend_port"],
                            "backendPort": rule["backend_port"],
                            "frontendIPConfiguration": {
                                "id": f"{me}/frontendIPConfigurations/frontend"
                            },
                            "backendAddressPool": {"id": f"{me}/backendAddressPools/{d['pool']}"},
                            "probe": {"id": f"{me}/probes/probe"},
                        },
                    }
                    for rule in d["rules"]
                ],
            },
        }


class ApplicationSecurityGroups(Resource):
    kind = "application_security_group"

    def state(self, net: Net, resource: dict[str, Any]) -> dict[str, Any]:
        return {}

    def body(self, net: Net, part: Part) -> dict[str, Any]:
        return {"properties": {}}


_PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "all": "*"}


class SecurityGroups(Resource):
    """The network security group: its inbound rules, by protocol, ports and kind of source."""

    kind = "security_group"

    def state(self, net: Net, resource: dict[str, Any]) -> dict[str, Any]:
        found: dict[tuple[Any, ...], nm.Permission] = {}
        for rule in (resource.get("properties") or {}).get("securityRules") or []:
            p = rule.get("properties") or {}
            if p.get("direction") != "Inbound" or p.get("access") != "Allow":
                continue
            protocol = {v: k for k, v in _PROTOCOLS.items()}.get(p.get("protocol"), "all")
            ports = str(p.get("destinationPortRange") or "*")
            start = end = None
            if protocol in ("tcp", "udp") and ports != "*":
                low, _, high = ports.partition("-")
                start, end = int(low), int(high or low)
            sources = [("cidr", c) for c in p.get("sourceAddressPrefixes") or []]
            if p.get("sourceAddressPrefix"):
                sources.append(("cidr", p["sourceAddressPrefix"]))
            sources += [
                ("group", _last(g.get("id")))
                for g in p.get("sourceApplicationSecurityGroups") or []
            ]
            for kind, source in sources:
                permission = nm.Permission(
                    protocol=protocol,
                    from_port=start,
                    to_port=end,
                    kind=kind,
                    source=source,  # type: ignore[arg-type]
                )
                found[permission.key()] = permission
        return {"ingress": [found[k].model_dump() for k in sorted(found)]}

    def body(self, net: Net, part: Part) -> dict[str, Any]:
        buckets: dict[tuple[Any, ...], list[str]] = {}
        for item in part.desired["ingress"]:
            p = nm.Permission.model_validate(item)
            buckets.setdefault((p.protocol, p.from_port, p.to_port, p.kind), []).append(p.source)
        rules = []
        for index, ((protocol, start, end, kind), sources) in enumerate(
            sorted(buckets.items(), key=str)
        ):
            ports = "*" if start is None else str(start) if start == end else f"{start}-{end}"
            props: dict[str, Any] = {
                "protocol": _PROTOCOLS[protocol],
                "sourcePortRange": "*",
                "destinationPortRange": ports,
                "destinationAddressPrefix": "*",
                "access": "Allow",
                "direction": "Inbound",
                "priority": 100 + index * 10,
            }
            if kind == "cidr":
                props["sourceAddressPrefixes"] = sorted(sources)
            else:
                props["sourceApplicationSecurityGroups"] = [
                    {"id": net.id("applicationSecurityGroups", g)} for g in sorted(sources)
                ]
            name = f"{kind}-{protocol}-{ports.replace('*', 'any')}"
            rules.append({"name": name, "properties": props})
        return {"properties": {"securityRules": rules}}


HANDLERS: dict[str, PartHandler] = {
    "public_ip": PublicIps(),
    "load_balancer": LoadBalancers(),
    "application_security_group": ApplicationSecurityGroups(),
    "security_group": SecurityGroups(),
}


def application_security_groups(account: str, resource_group: str, names: list[str]) -> list[str]:
    """Those of the security groups ``names`` that have an application security group.

    upsertSecurityGroup makes one per group; a scale set's instances join it so that rules
    naming the group (or ``from_self``) match them. Ids and groups made elsewhere are skipped.
    """
    from azure.core.exceptions import ResourceNotFoundError

    found = []
    groups = network_client(account).application_security_groups
    for name in names:
        if "/" in name:
            continue
        try:
            groups.get(resource_group, name)
        except ResourceNotFoundError:
            continue
        found.append(name)
    return found


# --------------------------------------------------------------------------------------------
# Describe and list
# --------------------------------------------------------------------------------------------


def _scale_sets(net: Net) -> list[dict[str, Any]]:
    client = compute_client(net.account)
    return [s.as_dict() for s in client.virtual_machine_scale_sets.list(net.resource_group)]


def _describe_load_balancer(net: Net, found: dict[str, Any]) -> nm.LoadBalancerDescription:
    name = found["name"]
    state = LoadBalancers().state(net, found)
    props = found.get("properties") or {}
    members = {
        ref["id"].split("/virtualMachineScaleSets/", 1)[1].split("/", 1)[0]
        for pool in props.get("backendAddressPools") or []
        for ref in (pool.get("properties") or {}).get("backendIPConfigurations") or []
        if "/virtualMachineScaleSets/" in ref.get("id", "")
    }
    for scale_set in _scale_sets(net):  # disabled groups are out of the pool, still attached
        pools = ((scale_set.get("tags") or {}).get(TAG_POOLS) or "").split(",")
        if any(p.split("/")[0] == name or f"/loadBalancers/{name}/" in p for p in pools if p):
            members.add(scale_set["name"])
    address = None
    parts = [f"load_balancer/{name}"]
    if state["public_ip"]:
        ip = net.get("public_ip", state["public_ip"])
        address = ((ip or {}).get("properties") or {}).get("ipAddress")
        if ip is not None and TAG_LOAD_BALANCER in (ip.get("tags") or {}):
            parts.insert(0, f"public_ip/{state['public_ip']}")
    else:
        frontends = props.get("frontendIPConfigurations") or [{}]
        address = (frontends[0].get("properties") or {}).get("privateIPAddress")
    probe = state["probe"]
    try:
        check = nm.HealthCheck(
            protocol=str(probe["protocol"] or "Tcp").upper(),  # type: ignore[arg-type]
            port=probe["port"],
            path=probe["path"],
            interval_seconds=probe["interval"] or 15,
            timeout_seconds=min(5, (probe["interval"] or 15) - 1),
            unhealthy_threshold=max(2, min(10, probe["count"] or 2)),
        )
    except ValueError:
        check = None
    return nm.LoadBalancerDescription(
        name=name,
        type="network",
        internal=state["frontend"] == "internal",
        address=address,
        listeners=[
            nm.Listener(
                protocol="UDP" if r["protocol"] == "Udp" else "TCP",
                port=r["frontend_port"],
                target_port=r["backend_port"],
            )
            for r in state["rules"]
        ],
        health_check=check,
        server_groups=sorted(members),
        resources={"load_balancer": found.get("id", "")},
        parts=parts,
        tags=dict(found.get("tags") or {}),
    )


@azure_activity("azure.describe_load_balancer")
def describe_load_balancer(call: nc.NetworkCall) -> nc.LoadBalancerLookup:
    """The load balancer ``name`` of the resource group, with the scale sets in its pool."""
    net = Net(call)
    found = net.get("load_balancer", call.name)
    if found is None:
        return nc.LoadBalancerLookup()
    return nc.LoadBalancerLookup(description=_describe_load_balancer(net, found))


@azure_activity("azure.list_load_balancers")
def list_load_balancers(call: nc.NetworkListCall) -> nm.LoadBalancerList:
    """The load balancers cloudops made in the resource group (of one application)."""
    net = Net(call)
    found = []
    for balancer in net.list("load_balancer"):
        if not listed(balancer.get("tags") or {}, TAG_LOAD_BALANCER, call.application):
            continue
        found.append(_describe_load_balancer(net, balancer))
    return nm.LoadBalancerList(load_balancers=sorted(found, key=lambda d: d.name))


def _describe_group(
    net: Net, group: dict[str, Any], groups: list[dict[str, Any]]
) -> nm.SecurityGroupDescription:
    name = group["name"]
    users = set()
    for scale_set in _scale_sets(net):
        profile = (scale_set.get("properties") or {}).get("virtualMachineProfile") or {}
        nics = (profile.get("networkProfile") or {}).get("networkInterfaceConfigurations") or []
        for nic in nics:
            nsg = ((nic.get("properties") or {}).get("networkSecurityGroup") or {}).get("id")
            if _last(nsg).lower() == name.lower():
                users.add(f"server group {scale_set['name']}")
    asg = net.id("applicationSecurityGroups", name).lower()
    for other in groups:
        if other["name"] == name:
            continue
        rules = (other.get("properties") or {}).get("securityRules") or []
        refs = [
            g.get("id", "").lower()
            for r in rules
            for g in (r.get("properties") or {}).get("sourceApplicationSecurityGroups") or []
        ]
        if asg in refs:
            users.add(f"rules of security group {other['name']}")
    parts = [f"security_group/{name}"]
    if net.get("application_security_group", name) is not None:
        parts.insert(0, f"application_security_group/{name}")
    state = SecurityGroups().state(net, group)
    return nm.SecurityGroupDescription(
        name=name,
        id=group.get("id"),
        network=net.resource_group,
        ingress=[nm.Permission.model_validate(p) for p in state["ingress"]],
        in_use_by=sorted(users),
        parts=parts,
        tags=dict(group.get("tags") or {}),
    )


@azure_activity("azure.describe_security_group")
def describe_security_group(call: nc.NetworkCall) -> nc.SecurityGroupLookup:
    """The network security group ``name``, its inbound rules and what uses it."""
    net = Net(call)
    found = net.get("security_group", call.name)
    if found is None:
        return nc.SecurityGroupLookup()
    groups = net.list("security_group")
    return nc.SecurityGroupLookup(description=_describe_group(net, found, groups))


@azure_activity("azure.list_security_groups")
def list_security_groups(call: nc.NetworkListCall) -> nm.SecurityGroupList:
    """The network security groups cloudops made in the resource group (of one application)."""
    net = Net(call)
    groups = net.list("security_group")
    found = []
    for group in sorted(groups, key=lambda g: g["name"]):
        if not listed(group.get("tags") or {}, TAG_SECURITY_GROUP, call.application):
            continue
        found.append(_describe_group(net, group, groups))
    return nm.SecurityGroupList(security_groups=found)


#: Every network activity of the plugin.
NETWORK_ACTIVITIES = (
    *part_activities("azure", classify, HANDLERS),
    describe_load_balancer,
    list_load_balancers,
    describe_security_group,
    list_security_groups,
)
