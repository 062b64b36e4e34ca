"""Pure helpers a provider's activities share: no cloud SDK, no I/O.

Why here: reading a throttling answer's Retry-After, checking user data, making a blocking SDK
function an activity and naming the parts of a described group are the same on every cloud;
each provider used to carry its own copy.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from cloudops.accounts import Account, current_account
from cloudops.blocking import blocking_activity
from cloudops.errors import BusinessError, ErrorCode
from cloudops.servergroups.models import ServerGroupName

__all__ = [
    "account_of",
    "activity_maker",
    "clone_source",
    "name_parts",
    "not_settled",
    "require_ours",
    "retry_after_seconds",
    "settings_as",
    "user_data_base64",
]

SettingsT = TypeVar("SettingsT", bound=BaseModel)
InT = TypeVar("InT")
OutT = TypeVar("OutT")


def activity_maker(
    classify: Callable[[BaseException], BaseException],
) -> Callable[[str], Callable[[Callable[[InT], OutT]], Callable[[InT], Awaitable[OutT]]]]:
    """A decorator factory: ``@aws_activity("aws.x")`` makes a blocking SDK function an activity.

    It runs in a thread, heartbeats while it works and has its errors mapped by ``classify``
    (:func:`cloudops.blocking.blocking_activity`).
    """

    def named(name: str) -> Callable[[Callable[[InT], OutT]], Callable[[InT], Awaitable[OutT]]]:
        return blocking_activity(name, classify)

    return named


def retry_after_seconds(
    headers: Mapping[str, Any] | None, millisecond_headers: Iterable[str] = ()
) -> float | None:
    """Seconds to wait before a retry, from ``Retry-After`` (seconds or an HTTP date).

    ``millisecond_headers`` are the cloud's own headers counting milliseconds, read first
    (AWS ``x-amz-retry-after``, Azure ``retry-after-ms``).
    """
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    for name in millisecond_headers:
        if lowered.get(name):
            try:
                return max(0.0, float(lowered[name]) / 1000)
            except ValueError:
                pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def user_data_base64(user_data: str | None, user_data_b64: str | None) -> str | None:
    """The user data to send, base64-encoded; INVALID_INPUT if the base64 given is not."""
    if user_data_b64 is not None:
        try:
            base64.b64decode(user_data_b64, validate=True)
        except (binascii.Error, ValueError):
            raise BusinessError(
                ErrorCode.INVALID_INPUT, "user_data_base64 is not valid base64"
            ) from None
        return user_data_b64
    if user_data is not None:
        return base64.b64encode(user_data.encode()).decode()
    return None


def name_parts(name: str) -> dict[str, Any]:
    """The naming fields of a :class:`ServerGroupDescription` for the group called ``name``.

    A name that does not follow the convention is its own cluster, with no application.
    """
    parsed = ServerGroupName.try_parse(name)
    return {
        "name": name,
        "cluster": parsed.cluster if parsed else name,
        "application": parsed.application if parsed else None,
        "stack": parsed.stack if parsed else "",
        "detail": parsed.detail if parsed else "",
        "sequence": parsed.sequence if parsed else None,
    }


def account_of(name: str, provider: str, model: type[SettingsT]) -> tuple[Account, SettingsT]:
    """In an activity: the worker's account ``name`` and its settings as ``model``.

    An account of another cloud is an ``INVALID_INPUT`` business failure.
    """
    found = current_account(name)
    if found.provider != provider:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"account {name!r} is of provider {found.provider!r}, not {provider!r}",
        )
    return found, settings_as(found.settings, model)


def not_settled(
    name: str, progress: str, *, ready: int, alive: int, desired: int, leaving: Iterable[str]
) -> str | None:
    """Why a waited group has not settled (the NotReady message), or None when it has.

    Settled: ``desired`` instances ready, no more alive (a shrink has ended) and none of the
    instances the wait excludes still in the group. ``progress`` says how far it is.
    """
    leaving = list(leaving)
    if ready >= desired and alive <= desired and not leaving:
        return None
    return f"{name}: {progress}" + (
        f", waiting for {', '.join(leaving)} to leave" if leaving else ""
    )


def settings_as(settings: Any, model: type[SettingsT]) -> SettingsT:
    """An account's provider settings as the provider's model (validated when still raw)."""
    if isinstance(settings, model):
        return settings
    return model.model_validate(settings or {})


def require_ours(kind: str, name: str, owner: str | None, request_id: str, key: str) -> None:
    """CONFLICT unless the resource that already exists was made by this request.

    Why: a create retried after a lost answer finds its own resource (tagged with its request
    id) and treats it as success; a resource of that name made by anyone else is a conflict,
    never silently adopted. ``key`` names the resource in the error's details.
    """
    if owner != request_id:
        raise BusinessError(
            ErrorCode.CONFLICT,
            f"{kind} {name!r} already exists and was not created by this request",
            {key: name, "created_by_request": owner},
        )


def clone_source(name: str) -> dict[str, str]:
    """The cluster fields (application, stack, detail) of a clone's source, named ``name``.

    INVALID_INPUT when the name does not follow the convention: the copy could not be named.
    """
    parsed = ServerGroupName.try_parse(name)
    if parsed is None:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"cannot clone {name!r}: its name does not follow app-stack-detail-vNNN",
            {"errors": [{"field": "source", "reason": "not a server group name"}]},
        )
    return {"application": parsed.application, "stack": parsed.stack, "detail": parsed.detail}
