"""ARM error answers, shaped as Azure Resource Manager sends them.

Why a module of its own: every route answers failures the same way
(``{"error": {"code", "message"[, "target"]}}`` with the ARM status), and the official client maps
them by status (404 -> ``ResourceNotFoundError``, 409 -> ``ResourceExistsError``...) and reads the
code and message from that body, so the provider's classification is exercised for real.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ArmError", "not_found", "resource_group_not_found"]


class ArmError(Exception):
    """An ARM failure: HTTP status, ARM error code, message and optional target."""

    def __init__(self, status: int, code: str, message: str, target: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target

    def body(self) -> dict[str, Any]:
        """The JSON body ARM sends with this error."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        return {"error": error}


def not_found(resource_type: str, name: str, resource_group: str) -> ArmError:
    """ARM's 404 for a missing resource (the text the real service sends)."""
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{resource_group}' was not "
        "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def resource_group_not_found(resource_group: str) -> ArmError:
    """ARM's 404 for a request into a resource group that does not exist."""
    return ArmError(
        404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found."
    )
