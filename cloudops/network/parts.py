"""A provider's generic part activities, made from a table of per-kind handlers (I/O only).

Why: reading a part, making it match its desired state (create, or change what differs) and
deleting it only if this request made it is the same on every cloud; what differs is how one
kind of part is read, created, updated and deleted. A provider writes a :class:`PartHandler` per
kind and gets three activities, ``{provider}.read_network_parts``,
``{provider}.ensure_network_part`` and ``{provider}.delete_network_part``, from
:func:`part_activities`. Handlers run in an activity's thread; they may call the cloud's SDK.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from cloudops.errors import BusinessError, ErrorCode
from cloudops.network.contract import (
    OWNER,
    Part,
    PartChange,
    PartDelete,
    PartResult,
    PartsCall,
    PartsState,
    differences,
)
from cloudops.servergroups.contract import TAG_APPLICATION, CloudCall
from cloudops.servergroups.translate import activity_maker

__all__ = ["PartHandler", "ResourceHandler", "Where", "listed", "part_activities"]

ClientT = TypeVar("ClientT")


class Where(CloudCall):
    """Account, region and the cloud's scope (Azure: the resource group) of a part."""

    scope: dict[str, str] = {}


class PartHandler:
    """One kind of part on one cloud.

    :meth:`read` answers the part's canonical state (the keys a plan's ``desired`` uses, plus
    :data:`~cloudops.network.contract.OWNER`: the request id that made it) or None. :meth:`create`
    makes it with the change's tags and returns its id; if it already exists (a retry after a
    lost answer) it must not make a second one. :meth:`update` changes what differs.
    """

    def read(self, where: Where, part: Part) -> dict[str, Any] | None:
        """The part's canonical state, or None when it does not exist."""
        raise NotImplementedError

    def create(self, where: Where, change: PartChange) -> str | None:
        """Make the part; its id."""
        raise NotImplementedError

    def update(self, where: Where, change: PartChange, current: dict[str, Any]) -> str | None:
        """Change the part to ``change.part.desired``; its id."""
        raise NotImplementedError

    def delete(self, where: Where, part: Part, current: dict[str, Any]) -> None:
        """Delete the part (gone already is fine)."""
        raise NotImplementedError


class ResourceHandler(PartHandler, Generic[ClientT]):
    """A part that is one cloud resource of ``kind``, read and written through a client.

    A subclass translates between the resource's body and the part's state (:meth:`state`,
    :meth:`body`); the cloud's base says how a resource is reached (:meth:`client`, :meth:`get`)
    and where its id and owner are (:meth:`identity`).
    """

    kind: str

    def client(self, where: Where) -> ClientT:
        """The client of this kind of resource in ``where``."""
        raise NotImplementedError

    def get(self, client: ClientT, name: str) -> dict[str, Any] | None:
        """The resource ``name`` as JSON, or None when it does not exist."""
        raise NotImplementedError

    def identity(self, resource: dict[str, Any]) -> tuple[Any, Any]:
        """The resource's id and the request id that made it (its owner)."""
        raise NotImplementedError

    def state(self, client: ClientT, resource: dict[str, Any]) -> dict[str, Any]:
        """The part's canonical state read from the resource."""
        raise NotImplementedError

    def body(self, client: ClientT, part: Part) -> dict[str, Any]:
        """The resource's body for the part's desired state."""
        raise NotImplementedError

    def read(self, where: Where, part: Part) -> dict[str, Any] | None:
        """The part's canonical state with its ``id`` and owner, or None when it is absent."""
        client = self.client(where)
        found = self.get(client, part.name)
        if found is None:
            return None
        resource_id, owner = self.identity(found)
        return {**self.state(client, found), "id": resource_id, OWNER: owner}


def listed(tags: Mapping[str, str], key: str, application: str | None) -> bool:
    """Whether the list activities keep a resource with ``tags``.

    It must be one cloudops made (its ``key`` tag is set) and, with ``application``, belong to
    that application.
    """
    if key not in tags:
        return False
    return application is None or tags.get(TAG_APPLICATION) == application


def _handler(handlers: Mapping[str, PartHandler], part: Part) -> PartHandler:
    handler = handlers.get(part.kind)
    if handler is None:
        raise BusinessError(ErrorCode.INTERNAL, f"no handler for parts of kind {part.kind!r}")
    return handler


def part_activities(
    provider: str,
    classify: Callable[[BaseException], BaseException],
    handlers: Mapping[str, PartHandler],
) -> tuple[Callable[[Any], Awaitable[Any]], ...]:
    """The read, ensure and delete activities of ``provider``'s parts."""
    activity = activity_maker(classify)

    def where(call: Any) -> Where:
        return Where(account=call.account, region=call.region, scope=call.scope)

    @activity(f"{provider}.read_network_parts")
    def read_network_parts(call: PartsCall) -> PartsState:
        """Read each part's canonical state (None for a part that does not exist)."""
        place = where(call)
        return PartsState(
            states={part.key: _handler(handlers, part).read(place, part) for part in call.parts}
        )

    @activity(f"{provider}.ensure_network_part")
    def ensure_network_part(change: PartChange) -> PartResult:
        """Make a part match its desired state: create it, change what differs, or nothing."""
        place, part = where(change), change.part
        handler = _handler(handlers, part)
        current = handler.read(place, part)
        if current is None:
            made = handler.create(place, change)
            return PartResult(key=part.key, changed=True, created=True, id=made)
        if not differences(part.desired, current):
            return PartResult(key=part.key, id=current.get("id"))
        return PartResult(key=part.key, changed=True, id=handler.update(place, change, current))

    @activity(f"{provider}.delete_network_part")
    def delete_network_part(call: PartDelete) -> PartResult:
        """Delete a part (only if ``only_if_request_id`` made it); "not found" is success."""
        place, part = where(call), call.part
        handler = _handler(handlers, part)
        current = handler.read(place, part)
        if current is None:
            return PartResult(key=part.key)
        if call.only_if_request_id is not None and current.get(OWNER) != call.only_if_request_id:
            return PartResult(key=part.key, id=current.get("id"))
        handler.delete(place, part, current)
        return PartResult(key=part.key, changed=True, deleted=True, id=current.get("id"))

    return read_network_parts, ensure_network_part, delete_network_part
