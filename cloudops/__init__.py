"""cloudops: cloud infrastructure operations as durable executions on Temporal.

The public API lives here; everything else is an implementation module. Importing this package is
cheap: no cloud SDK is imported, and the client is loaded only when it is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudops.accounts import Account, current_account
from cloudops.errors import BusinessError, ErrorCode, NotReady, RetryableError
from cloudops.hookspecs import hookimpl
from cloudops.models import (
    Input,
    OperationError,
    OperationRequest,
    Output,
    ProgressReport,
    WorkflowResult,
)
from cloudops.operation import ActivityDefaults, CloudOperation, OperationContext
from cloudops.registry import CloudOps, Provider

if TYPE_CHECKING:
    from cloudops.client import CloudOpsClient, OperationHandle, connect
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
    "connect": "cloudops.client",
    "CloudOpsClient": "cloudops.client",
    "OperationHandle": "cloudops.client",
    "CloudOpsPlugin": "cloudops.worker",
    "build_worker": "cloudops.worker",
}


def __getattr__(name: str) -> Any:
    """Load the client and worker modules on first use, keeping ``import cloudops`` light."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cloudops' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
