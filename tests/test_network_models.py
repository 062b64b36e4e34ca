"""The common load-balancer and security-group models: what they refuse, naming the field, and
how rules become permissions; every installed provider offers every network verb."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cloudops.network.contract import NETWORK_VERBS, differences
from cloudops.network.models import (
    IngressRule,
    UpsertLoadBalancerInput,
    UpsertSecurityGroupInput,
    permissions,
)
from cloudops.registry import CloudOps
from cloudops.validation import validation_details


def _fields(model: Any, data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as err:
        model.model_validate(data)
    return [item["field"] for item in validation_details(err.value)]


LB = {"application": "shop", "stack": "web", "listeners": [{"port": 80}]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"listeners": []}, "listeners"),
        ({"listeners": [{"port": 0}]}, "listeners.0.port"),
        ({"listeners": [{"port": 80, "target_port": 70000}]}, "listeners.0.target_port"),
        ({"listeners": [{"protocol": "HTTPS", "port": 443}]}, "listeners.0.certificate"),
        ({"listeners": [{"port": 80, "certificate": "arn:x"}]}, "listeners.0.certificate"),
        ({"listeners": [{"port": 80}, {"port": 80}]}, "listeners"),
        ({"type": "network", "listeners": [{"protocol": "HTTP", "port": 80}]}, "listeners"),
        ({"health_check": {"protocol": "TCP", "path": "/x"}}, "health_check.path"),
        ({"health_check": {"path": "health"}}, "health_check.path"),
        (
            {"health_check": {"interval_seconds": 5, "timeout_seconds": 5}},
            "health_check.timeout_seconds",
        ),
        ({"tags": {"cloudops:mine": "x"}}, "tags"),
        ({"application": "bad name"}, "application"),
    ],
)
def test_load_balancer_input_refuses_what_clouds_refuse(change: dict[str, Any], field: str) -> None:
    assert field in _fields(UpsertLoadBalancerInput, {**LB, **change})


def test_load_balancer_defaults() -> None:
    parsed = UpsertLoadBalancerInput.model_validate(LB)
    assert parsed.name == "shop-web"
    assert parsed.listeners[0].target == 80 and parsed.listeners[0].protocol == "HTTP"
    assert parsed.health_check.path == "/"
    tcp = UpsertLoadBalancerInput.model_validate(
        {
            **LB,
            "type": "network",
            "listeners": [{"protocol": "TCP", "port": 22}],
            "health_check": {"protocol": "TCP"},
        }
    )
    assert tcp.health_check.path is None


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"protocol": "tcp", "cidrs": ["10.0.0.0/8"]}, "ingress.0.from_port"),
        (
            {"protocol": "tcp", "from_port": 90, "to_port": 80, "cidrs": ["10.0.0.0/8"]},
            "ingress.0.to_port",
        ),
        (
            {"protocol": "udp", "from_port": 80, "to_port": 65536, "cidrs": ["10.0.0.0/8"]},
            "ingress.0.to_port",
        ),
        ({"protocol": "icmp", "from_port": 8, "cidrs": ["10.0.0.0/8"]}, "ingress.0.from_port"),
        ({"protocol": "tcp", "from_port": 80, "cidrs": ["10.0.0.1/8"]}, "ingress.0.cidrs"),
        ({"protocol": "tcp", "from_port": 80, "cidrs": ["nope"]}, "ingress.0.cidrs"),
        ({"protocol": "tcp", "from_port": 80}, "ingress.0.from_self"),
        (
            {"protocol": "tcp", "from_port": 80, "source_groups": ["a b"]},
            "ingress.0.source_groups.0",
        ),
    ],
)
def test_ingress_rules_refuse_what_clouds_refuse(rule: dict[str, Any], field: str) -> None:
    data = {"application": "shop", "stack": "web", "ingress": [rule]}
    assert field in _fields(UpsertSecurityGroupInput, data)


def test_rules_become_sorted_unique_permissions() -> None:
    rules = [
        IngressRule(protocol="tcp", from_port=80, cidrs=["10.0.0.0/8", "::/0"]),
        IngressRule(protocol="tcp", from_port=80, to_port=80, cidrs=["10.0.0.0/8"]),
        IngressRule(protocol="all", source_groups=["db"], from_self=True),
    ]
    found = [
        (p.protocol, p.from_port, p.to_port, p.kind, p.source) for p in permissions("web", rules)
    ]
    assert found == [
        ("all", None, None, "group", "db"),
        ("all", None, None, "group", "web"),
        ("tcp", 80, 80, "cidr", "10.0.0.0/8"),
        ("tcp", 80, 80, "cidr", "::/0"),
    ]


def test_differences_compare_only_what_is_declared() -> None:
    assert differences({"a": 1}, {"a": 1, "id": "x"}) == []
    assert differences({"a": 1, "b": [2]}, {"a": 1, "b": [3]}) == ["b"]
    assert differences({}, None) == ["(absent)"]  # a part with nothing to compare still exists


def test_every_installed_provider_offers_every_network_verb() -> None:
    catalogue = CloudOps(allow=["aws", "gcp", "azure"]).catalogue
    for provider in ("aws", "gcp", "azure"):
        for verb in NETWORK_VERBS:
            assert catalogue.operation(f"{provider}.{verb}") is not None, (provider, verb)
