"""Turning pydantic validation errors into the field-and-reason list users read."""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["validation_details"]

MAX_VALUE_CHARS = 80


def validation_details(err: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """One ``{"field", "reason"}`` per problem; the offending value is shown, truncated."""
    details = []
    for item in err.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"])
        field = f"{prefix}.{path}" if prefix and path else (prefix or path or "(root)")
        reason = item["msg"]
        if item["type"] != "missing" and "input" in item:
            shown = repr(item["input"])
            if len(shown) > MAX_VALUE_CHARS:
                shown = shown[: MAX_VALUE_CHARS - 3] + "..."
            reason = f"{reason} (got {shown})"
        details.append({"field": field, "reason": reason})
    return details
