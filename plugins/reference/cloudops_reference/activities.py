"""Activities: the only code that talks to the cloud. Each may run twice, so each is idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import cloudops
from cloudops.servergroups import contract as sc
from cloudops.servergroups import models as sg
from cloudops.servergroups.translate import account_of, activity_maker, require_ours
from cloudops_reference import models as m
from cloudops_reference import translate
from reference_cloud import Cloud, database_path

reference_activity = activity_maker(translate.classify)


@contextmanager
def cloud(call: sc.CloudCall) -> Iterator[Cloud]:
    """The call's region of its account's cloud, as one transaction (peek-then-write is atomic)."""
    account, settings = account_of(call.account, "reference", m.ReferenceAccountSettings)
    with Cloud.open(database_path(account.endpoint), call.region, settings.boot_polls) as found:
        yield found


@reference_activity("reference.next_server_group_name")
def next_name(call: sc.NextNameInput) -> sc.NextNameOutput:
    """The next free ``app-stack-detail-vNNN`` name of the cluster."""
    with cloud(call) as region:
        taken = region.names()
    return sc.NextNameOutput.of(
        sg.next_server_group_name(call.application, call.stack, call.detail, taken)
    )


@reference_activity("reference.create_group")
def create_group(spec: m.GroupSpec) -> m.GroupStatus:
    """Create the group; one this request already made (a retry) is success, another's CONFLICT."""
    waits = sg.WaitSettings.model_fields
    template = spec.template.model_dump(mode="json", exclude={"capacity", "tags", *waits})
    capacity = spec.template.capacity.model_dump()
    with cloud(spec) as region:
        if (found := region.peek(spec.name)) is None:
            return translate.status(region.create(spec.name, template, spec.tags, capacity))
        owner = found["tags"].get(sc.TAG_REQUEST_ID)
        require_ours("server group", spec.name, owner, spec.request_id, "server_group")
        return translate.status(region.get(spec.name))


@reference_activity("reference.wait_for_group")
def wait_for_group(call: sc.GroupCall) -> m.GroupStatus:
    """NotReady until the group has its desired instances, all running."""
    with cloud(call) as region:
        group = region.get(call.name)
    desired = group["capacity"]["desired"]
    running = sum(i["state"] == "running" for i in group["instances"])
    if running != desired or len(group["instances"]) != desired:
        raise cloudops.NotReady(f"{call.name}: {running} of {desired} instances running")
    return translate.status(group)


@reference_activity("reference.update_group")
def update_group(call: m.UpdateInput) -> m.GroupStatus:
    """Set the capacity and/or the traffic; ``before`` is the capacity before."""
    capacity = call.capacity.model_dump() if call.capacity else None
    disabled = None if call.enabled is None else not call.enabled
    with cloud(call) as region:
        before = translate.status(region.get(call.name)).capacity
        after = translate.status(region.update(call.name, capacity, disabled))
    return after.model_copy(update={"before": before})


@reference_activity("reference.delete_group")
def delete_group(call: m.DeleteInput) -> m.GroupStatus:
    """Delete the group (with ``only_if_request_id``: if that request made it); gone: success."""
    with cloud(call) as region:
        found = region.peek(call.name)
        owner = found and found["tags"].get(sc.TAG_REQUEST_ID)
        if found is None or call.only_if_request_id not in (None, owner):
            return m.GroupStatus(found=False)
        return translate.status(region.delete(call.name))


@reference_activity("reference.terminate_instances")
def terminate_instances(call: m.TerminateInput) -> sg.TerminateInstancesOutput:
    """Terminate instances; those the group no longer has are already gone."""
    with cloud(call) as region:
        done = region.terminate(call.name, call.instance_ids, call.decrement_desired)
        after = translate.status(region.peek(call.name))
    already_gone = [i for i in call.instance_ids if i not in done]
    return sg.TerminateInstancesOutput(
        server_group=call.name, terminated=done, already_gone=already_gone, capacity=after.capacity
    )


@reference_activity("reference.describe_server_group")
def describe_server_group(call: sc.GroupCall) -> sc.ServerGroupLookup[sg.ServerGroupDescription]:
    """The group's description, or none when it does not exist."""
    with cloud(call) as region:
        found = region.get(call.name) if region.peek(call.name) else None
    return sc.ServerGroupLookup(description=found and translate.description(found, call.region))


@reference_activity("reference.list_server_groups")
def list_server_groups(call: sc.ClusterCall) -> sg.ServerGroupList:
    """The cluster's groups, oldest first."""
    cluster = sg.cluster_name(call.application, call.stack, call.detail)
    with cloud(call) as region:
        groups = [
            translate.description(region.get(name), call.region)
            for name in region.names()
            if (parsed := sg.ServerGroupName.try_parse(name)) and parsed.cluster == cluster
        ]
    return sg.ServerGroupList.oldest_first(cluster, groups)


@reference_activity("reference.read_server_group_template")
def read_server_group_template(call: sc.GroupCall) -> sg.CreateServerGroupInput:
    """The create input of a copy of the group (a clone's source)."""
    with cloud(call) as region:
        return translate.template(region.get(call.name))


ACTIVITIES = (
    next_name,
    create_group,
    wait_for_group,
    update_group,
    delete_group,
    terminate_instances,
    describe_server_group,
    list_server_groups,
    read_server_group_template,
)
