"""cloudops: cloud infrastructure operations as durable executions on Temporal.

The public API lives here; everything else is an implementation module. Importing this package is
cheap (it loads pluggy only): each name is imported on first use, so ``cloudops --help`` and a
plugin's entry-point module stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudops.hookspecs import hookimpl

if TYPE_CHECKING:
    from cloudops.accounts import Account, current_account
    from cloudops.client import CloudOpsClient, OperationHandle, connect
    from cloudops.errors import BusinessError, ErrorCode, NotReady, RetryableError
    from cloudops.models import (
        Input,
        OperationError,
        OperationRequest,
        Output,
        ProgressReport,
        WorkflowResult,
    )
    from cloudops.operation import ActivityDefaults, CloudOperation, OperationContext
    from cloudops.registry import CloudOps, DeploymentMonitor, Provider
    from cloudops.worker import CloudOpsPlugin, build_worker

__version__ = "0.1.0"

__all__ = [
    "Account",
    "ActivityDefaults",
    "BusinessError",
    "CloudOperation",
    "CloudOps",
    "CloudOpsClient",
    "CloudOpsPlugin",
    "DeploymentMonitor",
    "ErrorCode",
    "Input",
    "NotReady",
    "OperationContext",
    "OperationError",
    "OperationHandle",
    "OperationRequest",
    "Output",
    "ProgressReport",
    "Provider",
    "RetryableError",
    "WorkflowResult",
    "build_worker",
    "connect",
    "current_account",
    "hookimpl",
]

_LAZY = {
    "Account": "cloudops.accounts",
    "current_account": "cloudops.accounts",
    "connect": "cloudops.client",
    "CloudOpsClient": "cloudops.client",
    "OperationHandle": "cloudops.client",
    "BusinessError": "cloudops.errors",
    "ErrorCode": "cloudops.errors",
    "NotReady": "cloudops.errors",
    "RetryableError": "cloudops.errors",
    "Input": "cloudops.models",
    "OperationError": "cloudops.models",
    "OperationRequest": "cloudops.models",
    "Output": "cloudops.models",
    "ProgressReport": "cloudops.models",
    "WorkflowResult": "cloudops.models",
    "ActivityDefaults": "cloudops.operation",
    "CloudOperation": "cloudops.operation",
    "OperationContext": "cloudops.operation",
    "CloudOps": "cloudops.registry",
    "Provider": "cloudops.registry",
    "DeploymentMonitor": "cloudops.registry",
    "CloudOpsPlugin": "cloudops.worker",
    "build_worker": "cloudops.worker",
}


def __getattr__(name: str) -> Any:
    """Load the client and worker modules on first use, keeping ``import cloudops`` light."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cloudops' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
