"""The reference cloud's account settings and the wire models of its activities."""

from __future__ import annotations

from pydantic import Field

from cloudops.models import Output
from cloudops.registry import AccountSettings
from cloudops.servergroups.contract import GroupCall
from cloudops.servergroups.models import Capacity, CreateServerGroupInput


class ReferenceAccountSettings(AccountSettings):
    """``[accounts.NAME]`` keys of a reference account, beyond ``endpoint = "sqlite:///PATH"``."""

    boot_polls: int = Field(default=1, ge=0, le=1000, description="reads before an instance runs")


class GroupSpec(GroupCall):
    """Create group ``name`` from ``template``, tagged with ``tags`` (ownership tags included)."""

    request_id: str
    template: CreateServerGroupInput
    tags: dict[str, str]


class UpdateInput(GroupCall):
    """Set a group's capacity, and/or put it into traffic (``enabled``) or take it out."""

    capacity: Capacity | None = None
    enabled: bool | None = None


class DeleteInput(GroupCall):
    """Delete a group; with ``only_if_request_id``, only if that request made it (a rollback)."""

    only_if_request_id: str | None = None


class TerminateInput(GroupCall):
    """Terminate some instances; with ``decrement_desired`` the group shrinks by as many."""

    instance_ids: list[str]
    decrement_desired: bool = False


class GroupStatus(Output):
    """A group's state after an activity (``found`` false: none; ``before``: the old capacity)."""

    found: bool = True
    capacity: Capacity | None = None
    before: Capacity | None = None
    disabled: bool = False
    instances: int = 0
    healthy: int = 0
