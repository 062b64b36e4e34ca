"""Compute Engine's JSON error bodies, as the emulator answers them.

Why faithful bodies: ``google.api_core.exceptions.from_http_response`` picks the exception class
by HTTP status and copies ``error.errors`` (with their ``reason``) onto it, and the provider's
error table reads those reasons (``alreadyExists``, ``notFound``, ``quotaExceeded``...).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "already_exists",
    "condition_not_met",
    "invalid",
    "not_found",
    "resource_in_use",
]

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_HTTP_MESSAGES = {
    400: "BAD REQUEST",
    403: "FORBIDDEN",
    404: "NOT FOUND",
    409: "CONFLICT",
    412: "PRECONDITION FAILED",
    429: "TOO MANY REQUESTS",
    500: "INTERNAL SERVER ERROR",
    503: "SERVICE UNAVAILABLE",
}


class ApiError(Exception):
    """An error the API answers with: an HTTP status, a ``reason`` and a message.

    ``operation_code`` is the upper-case code used when the same failure ends an Operation
    (``RESOURCE_NOT_FOUND``, ``QUOTA_EXCEEDED``...), since operations report errors differently
    from synchronous answers.
    """

    def __init__(
        self, status: int, reason: str, message: str, operation_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.operation_code = operation_code or _STATUS_NAMES.get(status, "INTERNAL_ERROR")

    def body(self) -> dict[str, Any]:
        """The ``{"error": {...}}`` body of a synchronous error answer."""
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
                "status": _STATUS_NAMES.get(self.status, "UNKNOWN"),
            }
        }

    def operation_fields(self) -> dict[str, Any]:
        """The fields a DONE Operation carries when this error ended it."""
        return {
            "error": {"errors": [{"code": self.operation_code, "message": self.message}]},
            "httpErrorStatusCode": self.status,
            "httpErrorMessage": _HTTP_MESSAGES.get(self.status, "ERROR"),
        }


def not_found(path: str) -> ApiError:
    """404 ``notFound`` for ``projects/p/...`` (the real message quotes the relative path)."""
    return ApiError(404, "notFound", f"The resource '{path}' was not found", "RESOURCE_NOT_FOUND")


def already_exists(path: str) -> ApiError:
    """409 ``alreadyExists``."""
    return ApiError(
        409, "alreadyExists", f"The resource '{path}' already exists", "RESOURCE_ALREADY_EXISTS"
    )


def invalid(message: str, reason: str = "invalid") -> ApiError:
    """400 for a malformed or invalid request."""
    return ApiError(400, reason, message, "INVALID_FIELD_VALUE")


def resource_in_use(path: str, user: str) -> ApiError:
    """400 ``resourceInUseByAnotherResource``: e.g. deleting a template a group still uses."""
    return ApiError(
        400,
        "resourceInUseByAnotherResource",
        f"The resource '{path}' is already being used by '{user}'",
        "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE",
    )


def condition_not_met(message: str) -> ApiError:
    """412 ``conditionNotMet``: a stale fingerprint."""
    return ApiError(412, "conditionNotMet", message, "CONDITION_NOT_MET")
