"""Sample inputs of the load-balancer and security-group operations, the same on every cloud.

Used by the providers' tests and the local clouds' demo profiles; ``overrides`` replace fields.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_balancer_input", "security_group_input"]


def load_balancer_input(app: str, **overrides: Any) -> dict[str, Any]:
    """An upsertLoadBalancer input for ``{app}-web``: HTTP on 80 to 8080, checked on /health."""
    data: dict[str, Any] = {
        "application": app,
        "stack": "web",
        "listeners": [{"protocol": "HTTP", "port": 80, "target_port": 8080}],
        "health_check": {"path": "/health"},
    }
    data.update(overrides)
    return data


def security_group_input(app: str, **overrides: Any) -> dict[str, Any]:
    """An upsertSecurityGroup input for ``{app}-web``: port 80 from 10/8, 7000-7100 from itself."""
    data: dict[str, Any] = {
        "application": app,
        "stack": "web",
        "description": "web tier",
        "ingress": [
            {"protocol": "tcp", "from_port": 80, "cidrs": ["10.0.0.0/8"]},
            {"protocol": "tcp", "from_port": 7000, "to_port": 7100, "from_self": True},
        ],
    }
    data.update(overrides)
    return data
