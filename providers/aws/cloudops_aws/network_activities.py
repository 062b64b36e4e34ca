"""AWS load balancers and security groups: the part handlers and reads (boto3, I/O only).

The kit's converge loop calls ``aws.read_network_parts``, ``aws.ensure_network_part`` and
``aws.delete_network_part`` (made from the handlers below by
:func:`cloudops.network.parts.part_activities`); describe and list are activities of their own.
Every handler is idempotent: a create finds what an earlier attempt made (ELBv2 creates with the
same settings answer the existing resource; a duplicate security group is read back).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from cloudops import BusinessError, ErrorCode, RetryableError
from cloudops.network import contract as nc
from cloudops.network import models as nm
from cloudops.network.contract import OWNER, TAG_LOAD_BALANCER, TAG_SECURITY_GROUP, Part, PartChange
from cloudops.network.parts import PartHandler, Where, listed, part_activities
from cloudops.servergroups.contract import TAG_APPLICATION, TAG_REQUEST_ID
from cloudops.servergroups.translate import activity_maker
from cloudops_aws.clients import aws_client
from cloudops_aws.errors import classify

__all__ = ["NETWORK_ACTIVITIES", "load_balancer_target_groups", "split_load_balancers"]

aws_activity = activity_maker(classify)


def _code(err: BaseException) -> str:
    response = getattr(err, "response", None)
    return str(((response or {}).get("Error") or {}).get("Code") or "")


def _tags(items: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items or ()}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _client(where: Any, service: str) -> Any:
    return aws_client(service, where.account, where.region)


def _elb_tags(elbv2: Any, arns: list[str]) -> dict[str, dict[str, str]]:
    """Tags of ELBv2 resources by ARN (20 ARNs a call)."""
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), 20):
        answer = elbv2.describe_tags(ResourceArns=arns[start : start + 20])
        for item in answer.get("TagDescriptions", []):
            found[item["ResourceArn"]] = _tags(item.get("Tags"))
    return found


def _pages(client: Any, method: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(method).paginate(**params):
        yield from page.get(key, [])


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


def _vpc(ec2: Any, network: str | None, subnets: list[str] | None = None) -> str:
    """The VPC named (``vpc-...``), of the first subnet, or the default VPC."""
    if network:
        return network
    if subnets:
        return str(ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"])
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            "the region has no default VPC: give the network (a VPC id) or subnets",
            {"errors": [{"field": "network", "reason": "required without a default VPC"}]},
        )
    return str(vpcs[0]["VpcId"])


def _default_subnets(ec2: Any, vpc: str) -> list[str]:
    """One subnet per availability zone of the VPC (the defaults a load balancer spans)."""
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    by_zone: dict[str, str] = {}
    for subnet in sorted(subnets, key=lambda s: s["SubnetId"]):
        by_zone.setdefault(subnet["AvailabilityZone"], subnet["SubnetId"])
    return sorted(by_zone.values())


# --------------------------------------------------------------------------------------------
# Security groups
# --------------------------------------------------------------------------------------------


def _find_group(ec2: Any, name: str, vpc: str) -> dict[str, Any] | None:
    found = ec2.describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": [name]},
            {"Name": "vpc-id", "Values": [vpc]},
        ]
    )["SecurityGroups"]
    return dict(found[0]) if found else None


def _group_names(ec2: Any, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    found = ec2.describe_security_groups(GroupIds=sorted(ids))["SecurityGroups"]
    return {g["GroupId"]: g["GroupName"] for g in found}


def _permissions(ec2: Any, group: dict[str, Any]) -> list[dict[str, Any]]:
    """The group's ingress as canonical permissions (group sources by name), sorted."""
    rules = group.get("IpPermissions") or []
    names = _group_names(
        ec2, {p["GroupId"] for rule in rules for p in rule.get("UserIdGroupPairs") or []}
    )
    found: list[nm.Permission] = []
    for rule in rules:
        protocol = {"-1": "all"}.get(str(rule["IpProtocol"]), str(rule["IpProtocol"]))
        ported = protocol in ("tcp", "udp")
        ports = {
            "from_port": rule.get("FromPort") if ported else None,
            "to_port": rule.get("ToPort") if ported else None,
        }
        sources = [("cidr", r["CidrIp"]) for r in rule.get("IpRanges") or []]
        sources += [("cidr", r["CidrIpv6"]) for r in rule.get("Ipv6Ranges") or []]
        sources += [
            ("group", names.get(p["GroupId"], p["GroupId"]))
            for p in rule.get("UserIdGroupPairs") or []
        ]
        found += [
            nm.Permission(protocol=protocol, kind=kind, source=source, **ports)
            for kind, source in sources
        ]
    unique = {p.key(): p for p in found}
    return [unique[key].model_dump() for key in sorted(unique)]


def _ip_permissions(
    ec2: Any, vpc: str, wanted: list[dict[str, Any]], own: tuple[str, str]
) -> list[dict[str, Any]]:
    """EC2 IpPermissions for canonical permissions; a group source is resolved in the VPC."""
    result = []
    for item in wanted:
        permission = nm.Permission.model_validate(item)
        rule: dict[str, Any] = {
            "IpProtocol": {"all": "-1"}.get(permission.protocol, permission.protocol)
        }
        if permission.protocol in ("tcp", "udp"):
            rule["FromPort"], rule["ToPort"] = permission.from_port, permission.to_port
        elif permission.protocol == "icmp":
            rule["FromPort"], rule["ToPort"] = -1, -1
        if permission.kind == "cidr" and ":" in permission.source:
            rule["Ipv6Ranges"] = [{"CidrIpv6": permission.source}]
        elif permission.kind == "cidr":
            rule["IpRanges"] = [{"CidrIp": permission.source}]
        else:
            if permission.source == own[0]:
                group_id = own[1]
            else:
                found = _find_group(ec2, permission.source, vpc)
                if found is None:
                    raise BusinessError(
                        ErrorCode.INVALID_INPUT,
                        f"security group {permission.source!r} does not exist in {vpc}",
                        {
                            "errors": [
                                {"field": "ingress", "reason": f"no group {permission.source!r}"}
                            ]
                        },
                    )
                group_id = found["GroupId"]
            rule["UserIdGroupPairs"] = [{"GroupId": group_id}]
        result.append(rule)
    return result


def _converge_rules(
    ec2: Any,
    vpc: str,
    name: str,
    group_id: str,
    wanted: list[dict[str, Any]],
    now: list[dict[str, Any]],
) -> None:
    add = [p for p in wanted if p not in now]
    revoke = [p for p in now if p not in wanted]
    own = (name, group_id)
    if add:
        try:
            ec2.authorize_security_group_ingress(
                GroupId=group_id, IpPermissions=_ip_permissions(ec2, vpc, add, own)
            )
        except Exception as err:
            if _code(err) != "InvalidPermission.Duplicate":  # an earlier attempt added them
                raise
    if revoke:
        try:
            ec2.revoke_security_group_ingress(
                GroupId=group_id, IpPermissions=_ip_permissions(ec2, vpc, revoke, own)
            )
        except Exception as err:
            if _code(err) != "InvalidPermission.NotFound":
                raise


class SecurityGroups(PartHandler):
    """An EC2 security group and its ingress rules."""

    def read(self, where: Where, part: Part) -> dict[str, Any] | None:
        ec2 = _client(where, "ec2")
        group = _find_group(ec2, part.name, _vpc(ec2, part.settings.get("network")))
        if group is None:
            return None
        return {
            "id": group["GroupId"],
            "ingress": _permissions(ec2, group),
            OWNER: _tags(group.get("Tags")).get(TAG_REQUEST_ID),
        }

    def create(self, where: Where, change: PartChange) -> str | None:
        ec2, part = _client(where, "ec2"), change.part
        vpc = _vpc(ec2, part.settings.get("network"))
        try:
            group_id = str(
                ec2.create_security_group(
                    GroupName=part.name,
                    Description=part.settings.get("description") or f"cloudops: {part.name}",
                    VpcId=vpc,
                    TagSpecifications=[
                        {"ResourceType": "security-group", "Tags": _tag_list(change.tags)}
                    ],
                )["GroupId"]
            )
        except Exception as err:
            if _code(err) != "InvalidGroup.Duplicate":
                raise
            found = _find_group(ec2, part.name, vpc)
            if found is None:
                raise RetryableError(
                    f"security group {part.name!r} exists but is not readable yet"
                ) from err
            group_id = str(found["GroupId"])
        _converge_rules(ec2, vpc, part.name, group_id, part.desired["ingress"], [])
        return group_id

    def update(self, where: Where, change: PartChange, current: dict[str, Any]) -> str | None:
        ec2, part = _client(where, "ec2"), change.part
        vpc = _vpc(ec2, part.settings.get("network"))
        _converge_rules(
            ec2, vpc, part.name, current["id"], part.desired["ingress"], current["ingress"]
        )
        return str(current["id"])

    def delete(self, where: Where, part: Part, current: dict[str, Any]) -> None:
        ec2 = _client(where, "ec2")
        try:
            ec2.delete_security_group(GroupId=current["id"])
        except Exception as err:
            if _code(err) == "DependencyViolation":
                raise BusinessError(
                    ErrorCode.CONFLICT,
                    f"security group {part.name!r} is still in use",
                    {"name": part.name},
                ) from None
            if _code(err) != "InvalidGroup.NotFound":
                raise


# --------------------------------------------------------------------------------------------
# Target groups, load balancers, listeners
# --------------------------------------------------------------------------------------------


def _find_target_group(elbv2: Any, name: str) -> dict[str, Any] | None:
    try:
        found = elbv2.describe_target_groups(Names=[name])["TargetGroups"]
    except Exception as err:
        if _code(err) == "TargetGroupNotFound":
            return None
        raise
    return dict(found[0]) if found else None


def _find_load_balancer(elbv2: Any, name: str) -> dict[str, Any] | None:
    try:
        found = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]
    except Exception as err:
        if _code(err) == "LoadBalancerNotFound":
            return None
        raise
    return dict(found[0]) if found else None


#: A health check's timings and thresholds: canonical key -> target group parameter.
_HEALTH_COUNTS = {
    "interval": "HealthCheckIntervalSeconds",
    "timeout": "HealthCheckTimeoutSeconds",
    "healthy": "HealthyThresholdCount",
    "unhealthy": "UnhealthyThresholdCount",
}


def _health(group: dict[str, Any]) -> dict[str, Any]:
    protocol = group.get("HealthCheckProtocol") or "HTTP"
    return {
        "protocol": protocol,
        "port": str(group.get("HealthCheckPort") or "traffic-port"),
        "path": None if protocol == "TCP" else group.get("HealthCheckPath") or "/",
        **{key: group.get(param) for key, param in _HEALTH_COUNTS.items()},
    }


def _health_params(health: dict[str, Any]) -> dict[str, Any]:
    params = {"HealthCheckProtocol": health["protocol"], "HealthCheckPort": health["port"]}
    params.update({param: health[key] for key, param in _HEALTH_COUNTS.items()})
    if health.get("path"):
        params["HealthCheckPath"] = health["path"]
    return params


def _not_changeable(kind: str, name: str, keys: list[str]) -> BusinessError:
    return BusinessError(
        ErrorCode.CONFLICT,
        f"{kind} {name!r} exists with another {', '.join(keys)}, which AWS cannot change; "
        "delete it first",
        {"name": name, "fields": keys},
    )


class TargetGroups(PartHandler):
    """An ELBv2 target group of instances, with its health check."""

    def read(self, where: Where, part: Part) -> dict[str, Any] | None:
        elbv2 = _client(where, "elbv2")
        group = _find_target_group(elbv2, part.name)
        if group is None:
            return None
        arn = group["TargetGroupArn"]
        return {
            "id": arn,
            "protocol": group.get("Protocol"),
            "port": group.get("Port"),
            "health_check": _health(group),
            OWNER: _elb_tags(elbv2, [arn]).get(arn, {}).get(TAG_REQUEST_ID),
        }

    def create(self, where: Where, change: PartChange) -> str | None:
        elbv2, ec2, part = _client(where, "elbv2"), _client(where, "ec2"), change.part
        desired, settings = part.desired, part.settings
        made = elbv2.create_target_group(
            Name=part.name,
            Protocol=desired["protocol"],
            Port=desired["port"],
            VpcId=_vpc(ec2, settings.get("network"), settings.get("subnets")),
            TargetType="instance",
            Tags=_tag_list(change.tags),
            **_health_params(desired["health_check"]),
        )
        return str(made["TargetGroups"][0]["TargetGroupArn"])

    def update(self, where: Where, change: PartChange, current: dict[str, Any]) -> str | None:
        part = change.part
        fixed = [k for k in ("protocol", "port") if current.get(k) != part.desired[k]]
        if fixed:
            raise _not_changeable("target group", part.name, fixed)
        _client(where, "elbv2").modify_target_group(
            TargetGroupArn=current["id"], **_health_params(part.desired["health_check"])
        )
        return str(current["id"])

    def delete(self, where: Where, part: Part, current: dict[str, Any]) -> None:
        try:
            _client(where, "elbv2").delete_target_group(TargetGroupArn=current["id"])
        except Exception as err:
            if _code(err) != "TargetGroupNotFound":
                raise  # ResourceInUse (a listener being deleted) is retried


def _group_ids(ec2: Any, names: list[str], vpc: str) -> list[str]:
    ids = []
    for name in names:
        found = _find_group(ec2, name, vpc)
        if found is None:
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                f"security group {name!r} does not exist",
                {"errors": [{"field": "security_groups", "reason": f"no group {name!r}"}]},
            )
        ids.append(str(found["GroupId"]))
    return sorted(ids)


class LoadBalancers(PartHandler):
    """An ELBv2 application or network load balancer (no listeners)."""

    def read(self, where: Where, part: Part) -> dict[str, Any] | None:
        elbv2, ec2 = _client(where, "elbv2"), _client(where, "ec2")
        found = _find_load_balancer(elbv2, part.name)
        if found is None:
            return None
        arn = found["LoadBalancerArn"]
        groups = _group_names(ec2, set(found.get("SecurityGroups") or []))
        return {
            "id": arn,
            "type": found.get("Type"),
            "internal": found.get("Scheme") == "internal",
            "subnets": sorted(z["SubnetId"] for z in found.get("AvailabilityZones") or []),
            "security_groups": sorted(groups.values()),
            "address": found.get("DNSName"),
            "vpc": found.get("VpcId"),
            OWNER: _elb_tags(elbv2, [arn]).get(arn, {}).get(TAG_REQUEST_ID),
        }

    def create(self, where: Where, change: PartChange) -> str | None:
        elbv2, ec2, part = _client(where, "elbv2"), _client(where, "ec2"), change.part
        desired, settings = part.desired, part.settings
        vpc = _vpc(ec2, settings.get("network"), settings.get("subnets"))
        params: dict[str, Any] = {
            "Name": part.name,
            "Subnets": desired.get("subnets") or _default_subnets(ec2, vpc),
            "Scheme": "internal" if desired["internal"] else "internet-facing",
            "Type": desired["type"],
            "Tags": _tag_list(change.tags),
        }
        if desired.get("security_groups"):
            params["SecurityGroups"] = _group_ids(ec2, desired["security_groups"], vpc)
        made = elbv2.create_load_balancer(**params)
        return str(made["LoadBalancers"][0]["LoadBalancerArn"])

    def update(self, where: Where, change: PartChange, current: dict[str, Any]) -> str | None:
        elbv2, ec2, part = _client(where, "elbv2"), _client(where, "ec2"), change.part
        fixed = [k for k in ("type", "internal") if current.get(k) != part.desired[k]]
        if fixed:
            raise _not_changeable("load balancer", part.name, fixed)
        arn = current["id"]
        wanted = part.desired
        if "subnets" in wanted and wanted["subnets"] != current["subnets"]:
            elbv2.set_subnets(LoadBalancerArn=arn, Subnets=wanted["subnets"])
        if "security_groups" in wanted and wanted["security_groups"] != current["security_groups"]:
            ids = _group_ids(ec2, wanted["security_groups"], current["vpc"])
            elbv2.set_security_groups(LoadBalancerArn=arn, SecurityGroups=ids)
        return str(arn)

    def delete(self, where: Where, part: Part, current: dict[str, Any]) -> None:
        try:
            _client(where, "elbv2").delete_load_balancer(LoadBalancerArn=current["id"])
        except Exception as err:
            if _code(err) != "LoadBalancerNotFound":
                raise


def _tg_name(arn: str) -> str:
    """``app-web-8080`` from ``arn:...:targetgroup/app-web-8080/0123abcd``."""
    return arn.split(":targetgroup/", 1)[-1].split("/", 1)[0]


def _listener_state(listener: dict[str, Any]) -> dict[str, Any]:
    forward = [a for a in listener.get("DefaultActions") or [] if a.get("Type") == "forward"]
    certificates = listener.get("Certificates") or []
    return {
        "protocol": listener.get("Protocol"),
        "port": listener.get("Port"),
        "target_group": _tg_name(forward[0]["TargetGroupArn"]) if forward else None,
        "certificate": certificates[0]["CertificateArn"] if certificates else None,
        "arn": listener["ListenerArn"],
    }


def _listeners(elbv2: Any, lb_arn: str) -> list[dict[str, Any]]:
    found = elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    return sorted((_listener_state(item) for item in found), key=lambda item: item["port"])


def _public(listener: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in listener.items() if k != "arn"}


class Listeners(PartHandler):
    """The set of listeners of a load balancer, each forwarding to a target group."""

    def read(self, where: Where, part: Part) -> dict[str, Any] | None:
        elbv2 = _client(where, "elbv2")
        found = _find_load_balancer(elbv2, part.name)
        if found is None:
            return None
        arn = found["LoadBalancerArn"]
        return {
            "id": arn,
            "listeners": [_public(item) for item in _listeners(elbv2, arn)],
            OWNER: _elb_tags(elbv2, [arn]).get(arn, {}).get(TAG_REQUEST_ID),
        }

    def create(self, where: Where, change: PartChange) -> str | None:
        elbv2 = _client(where, "elbv2")
        found = _find_load_balancer(elbv2, change.part.name)
        if found is None:
            raise BusinessError(
                ErrorCode.NOT_FOUND, f"load balancer {change.part.name!r} does not exist"
            )
        return self._converge(elbv2, found["LoadBalancerArn"], change.part)

    def update(self, where: Where, change: PartChange, current: dict[str, Any]) -> str | None:
        return self._converge(_client(where, "elbv2"), current["id"], change.part)

    def _converge(self, elbv2: Any, lb_arn: str, part: Part) -> str:
        existing = {item["port"]: item for item in _listeners(elbv2, lb_arn)}
        wanted = {item["port"]: item for item in part.desired["listeners"]}
        for port in sorted(set(existing) - set(wanted)):
            elbv2.delete_listener(ListenerArn=existing[port]["arn"])
        for port, want in sorted(wanted.items()):
            have = existing.get(port)
            if have is not None and _public(have) == want:
                continue
            group = _find_target_group(elbv2, want["target_group"])
            if group is None:
                raise BusinessError(
                    ErrorCode.NOT_FOUND, f"target group {want['target_group']!r} does not exist"
                )
            params: dict[str, Any] = {
                "Protocol": want["protocol"],
                "Port": port,
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
            }
            if want.get("certificate"):
                params["Certificates"] = [{"CertificateArn": want["certificate"]}]
            if have is None:
                elbv2.create_listener(LoadBalancerArn=lb_arn, **params)
            else:
                elbv2.modify_listener(ListenerArn=have["arn"], **params)
        return lb_arn

    def delete(self, where: Where, part: Part, current: dict[str, Any]) -> None:
        elbv2 = _client(where, "elbv2")
        for item in _listeners(elbv2, current["id"]):
            try:
                elbv2.delete_listener(ListenerArn=item["arn"])
            except Exception as err:
                if _code(err) != "ListenerNotFound":
                    raise


def _tagged_target_groups(elbv2: Any, load_balancer: str) -> dict[str, str]:
    """Target groups cloudops made for ``load_balancer``: name -> ARN."""
    groups = {
        g["TargetGroupArn"]: g["TargetGroupName"]
        for g in _pages(elbv2, "describe_target_groups", "TargetGroups")
    }
    tags = _elb_tags(elbv2, sorted(groups))
    return {
        name: arn
        for arn, name in groups.items()
        if tags.get(arn, {}).get(TAG_LOAD_BALANCER) == load_balancer
    }


class StaleTargetGroups(PartHandler):
    """The last step of an upsert: delete the load balancer's target groups no listener uses."""

    def read(self, where: Where, part: Part) -> dict[str, Any] | None:
        tagged = _tagged_target_groups(_client(where, "elbv2"), part.name)
        return {"target_groups": sorted(tagged), OWNER: None}

    def create(self, where: Where, change: PartChange) -> str | None:
        return self.update(where, change, {})

    def update(self, where: Where, change: PartChange, current: dict[str, Any]) -> str | None:
        elbv2 = _client(where, "elbv2")
        keep = set(change.part.desired["target_groups"])
        for name, arn in sorted(_tagged_target_groups(elbv2, change.part.name).items()):
            if name not in keep:
                TargetGroups().delete(where, Part(kind="target_group", name=name), {"id": arn})
        return None

    def delete(self, where: Where, part: Part, current: dict[str, Any]) -> None:
        return None


HANDLERS: dict[str, PartHandler] = {
    "security_group": SecurityGroups(),
    "target_group": TargetGroups(),
    "load_balancer": LoadBalancers(),
    "listeners": Listeners(),
    "stale_target_groups": StaleTargetGroups(),
}


# --------------------------------------------------------------------------------------------
# Describe and list
# --------------------------------------------------------------------------------------------


def load_balancer_target_groups(elbv2: Any, name: str) -> list[str] | None:
    """The target group ARNs of the ELBv2 load balancer ``name``, or None without one.

    Those its listeners forward to and those cloudops tagged for it.
    """
    found = _find_load_balancer(elbv2, name)
    if found is None:
        return None
    arns = {
        a["TargetGroupArn"]
        for listener in elbv2.describe_listeners(LoadBalancerArn=found["LoadBalancerArn"])[
            "Listeners"
        ]
        for a in listener.get("DefaultActions") or []
        if a.get("TargetGroupArn")
    }
    arns |= set(_tagged_target_groups(elbv2, name).values())
    return sorted(arns)


def split_load_balancers(elbv2: Any, names: list[str]) -> tuple[list[str], list[str]]:
    """Target group ARNs of the ELBv2 load balancers among ``names``, and the other names.

    The others are classic load balancers (a server group joins those by name).
    """
    arns: list[str] = []
    classic: list[str] = []
    for name in names:
        found = load_balancer_target_groups(elbv2, name)
        if found is None:
            classic.append(name)
        else:
            arns += [arn for arn in found if arn not in arns]
    return arns, classic


def _describe_load_balancer(
    where: Any, found: dict[str, Any], tags: dict[str, str]
) -> nm.LoadBalancerDescription:
    elbv2, asg = _client(where, "elbv2"), _client(where, "autoscaling")
    name, arn = found["LoadBalancerName"], found["LoadBalancerArn"]
    listeners = _listeners(elbv2, arn)
    tagged = _tagged_target_groups(elbv2, name)
    used = {item["target_group"] for item in listeners if item["target_group"]}
    groups = {}
    for group_name in sorted(used | set(tagged)):
        group = _find_target_group(elbv2, group_name)
        if group is not None:
            groups[group_name] = group
    arns = {g["TargetGroupArn"] for g in groups.values()}
    server_groups = sorted(
        g["AutoScalingGroupName"]
        for g in _pages(asg, "describe_auto_scaling_groups", "AutoScalingGroups")
        if arns & set(g.get("TargetGroupARNs") or [])
    )
    first = next(iter(groups.values()), None)
    health = None
    if first is not None:
        state = _health(first)
        health = nm.HealthCheck(
            protocol=state["protocol"],
            port=None if state["port"] == "traffic-port" else int(state["port"]),
            path=state["path"],
            interval_seconds=state["interval"],
            timeout_seconds=state["timeout"],
            healthy_threshold=state["healthy"],
            unhealthy_threshold=state["unhealthy"],
        )
    by_name = dict(groups)
    return nm.LoadBalancerDescription(
        name=name,
        type=str(found.get("Type")),
        internal=found.get("Scheme") == "internal",
        address=found.get("DNSName"),
        listeners=[
            nm.Listener(
                protocol=item["protocol"],
                port=item["port"],
                target_port=(by_name.get(item["target_group"]) or {}).get("Port"),
                certificate=item["certificate"],
            )
            for item in listeners
        ],
        health_check=health,
        server_groups=server_groups,
        resources={
            "load_balancer_arn": arn,
            **{f"target_group/{n}": g["TargetGroupArn"] for n, g in groups.items()},
        },
        parts=[f"target_group/{n}" for n in sorted(groups)]
        + [f"load_balancer/{name}", f"listeners/{name}"],
        tags=dict(tags),
    )


@aws_activity("aws.describe_load_balancer")
def describe_load_balancer(call: nc.NetworkCall) -> nc.LoadBalancerLookup:
    """The ELBv2 load balancer ``name``: listeners, target groups, the server groups behind it."""
    elbv2 = _client(call, "elbv2")
    found = _find_load_balancer(elbv2, call.name)
    if found is None:
        return nc.LoadBalancerLookup()
    tags = _elb_tags(elbv2, [found["LoadBalancerArn"]]).get(found["LoadBalancerArn"], {})
    return nc.LoadBalancerLookup(description=_describe_load_balancer(call, found, tags))


@aws_activity("aws.list_load_balancers")
def list_load_balancers(call: nc.NetworkListCall) -> nm.LoadBalancerList:
    """The ELBv2 load balancers cloudops made (of one application), each described."""
    elbv2 = _client(call, "elbv2")
    balancers = list(_pages(elbv2, "describe_load_balancers", "LoadBalancers"))
    tags = _elb_tags(elbv2, [b["LoadBalancerArn"] for b in balancers])
    found = []
    for balancer in sorted(balancers, key=lambda b: b["LoadBalancerName"]):
        mine = tags.get(balancer["LoadBalancerArn"], {})
        if not listed(mine, TAG_LOAD_BALANCER, call.application):
            continue
        found.append(_describe_load_balancer(call, balancer, mine))
    return nm.LoadBalancerList(load_balancers=found)


def _describe_group(where: Any, ec2: Any, group: dict[str, Any]) -> nm.SecurityGroupDescription:
    group_id = group["GroupId"]
    users = []
    interfaces = ec2.describe_network_interfaces(
        Filters=[{"Name": "group-id", "Values": [group_id]}]
    )["NetworkInterfaces"]
    instances = {(i.get("Attachment") or {}).get("InstanceId") for i in interfaces} - {None}
    gone = set()
    if instances:
        for reservation in ec2.describe_instances(InstanceIds=sorted(instances))["Reservations"]:
            for instance in reservation["Instances"]:
                if instance["State"]["Name"] == "terminated":
                    gone.add(instance["InstanceId"])
    for interface in interfaces:
        attached = (interface.get("Attachment") or {}).get("InstanceId")
        if attached in gone:
            continue  # AWS deletes a terminated instance's interfaces (moto keeps them)
        users.append(
            f"instance {attached}"
            if attached
            else f"network interface {interface['NetworkInterfaceId']}"
        )
    others = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [group["VpcId"]]}])[
        "SecurityGroups"
    ]
    for other in others:
        if other["GroupId"] == group_id:
            continue
        pairs = [
            p
            for rule in other.get("IpPermissions") or []
            for p in rule.get("UserIdGroupPairs") or []
        ]
        if any(p["GroupId"] == group_id for p in pairs):
            users.append(f"rules of security group {other['GroupName']}")
    elbv2 = _client(where, "elbv2")
    for balancer in _pages(elbv2, "describe_load_balancers", "LoadBalancers"):
        if group_id in (balancer.get("SecurityGroups") or []):
            users.append(f"load balancer {balancer['LoadBalancerName']}")
    return nm.SecurityGroupDescription(
        name=group["GroupName"],
        id=group_id,
        network=group.get("VpcId"),
        description=group.get("Description") or "",
        ingress=[nm.Permission.model_validate(p) for p in _permissions(ec2, group)],
        in_use_by=sorted(set(users)),
        parts=[f"security_group/{group['GroupName']}"],
        tags=_tags(group.get("Tags")),
    )


@aws_activity("aws.describe_security_group")
def describe_security_group(call: nc.NetworkCall) -> nc.SecurityGroupLookup:
    """The security group ``name`` of the default VPC (or the one whose id is the name)."""
    ec2 = _client(call, "ec2")
    if call.name.startswith("sg-"):
        found = ec2.describe_security_groups(GroupIds=[call.name])["SecurityGroups"]
        group = dict(found[0]) if found else None
    else:
        group = _find_group(ec2, call.name, _vpc(ec2, call.scope.get("network")))
    if group is None:
        return nc.SecurityGroupLookup()
    return nc.SecurityGroupLookup(description=_describe_group(call, ec2, group))


@aws_activity("aws.list_security_groups")
def list_security_groups(call: nc.NetworkListCall) -> nm.SecurityGroupList:
    """The security groups cloudops made (of one application), each described."""
    ec2 = _client(call, "ec2")
    filters = [{"Name": "tag-key", "Values": [TAG_SECURITY_GROUP]}]
    if call.application is not None:
        filters.append({"Name": f"tag:{TAG_APPLICATION}", "Values": [call.application]})
    groups = list(_pages(ec2, "describe_security_groups", "SecurityGroups", Filters=filters))
    return nm.SecurityGroupList(
        security_groups=[
            _describe_group(call, ec2, g) for g in sorted(groups, key=lambda g: g["GroupName"])
        ]
    )


#: Every network activity of the plugin.
NETWORK_ACTIVITIES = (
    *part_activities("aws", classify, HANDLERS),
    describe_load_balancer,
    list_load_balancers,
    describe_security_group,
    list_security_groups,
)
