"""The activity of ``upsertServerGroupTags`` / ``deleteServerGroupTags`` on Azure.

A scale set's tags change with a PATCH (a long-running operation): the activity sends it
with the whole new tag set (ARM replaces ``tags``), or nothing when the tags are already so,
and hands back the continuation token the adapter waits on (``azure.poll_operation``).
cloudops' own tags (``cloudops:*``, the capacity bounds, the traffic state) are kept.
"""

from __future__ import annotations

from cloudops.servergroups.optional import TagsCall
from cloudops_azure import lro
from cloudops_azure.activities import _require, _Where, azure_activity
from cloudops_azure.models import Begun, ScaleSetCall

__all__ = ["set_server_group_tags"]


@azure_activity("azure.set_server_group_tags")
def set_server_group_tags(arg: TagsCall) -> Begun:
    """PATCH the scale set's tags with ``upsert`` set and ``delete`` removed."""
    where = _Where(
        ScaleSetCall(
            account=arg.account,
            region=arg.region,
            name=arg.name,
            resource_group=arg.scope.get("resource_group"),
        )
    )
    tags = dict(_require(where, arg.name).get("tags") or {})
    wanted = {k: v for k, v in {**tags, **arg.upsert}.items() if k not in arg.delete}
    if wanted == tags:
        return Begun(done=True, changed=False, resource_group=where.resource_group)
    token, done = lro.begin(
        where.scale_sets.begin_update, where.resource_group, arg.name, {"tags": wanted}
    )
    return Begun(token=token, done=done, resource_group=where.resource_group)
