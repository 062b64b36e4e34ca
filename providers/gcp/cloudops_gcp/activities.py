"""Activities: the only code of cloudops-gcp that calls Compute Engine (google-cloud-compute).

Every activity takes one model and returns one, runs its blocking client calls in a worker
thread, and turns google-api-core's exceptions into cloudops' taxonomy through
:func:`cloudops_gcp.errors.classify`.

Mutations follow one pattern: the activity *starts* the change and returns the Operation's name
(:class:`~cloudops_gcp.models.Started`); ``gcp.wait_operations`` polls those Operations with our
own ``ZoneOperationsClient`` / ``RegionOperationsClient`` / ``GlobalOperationsClient`` (never
``ExtendedOperation.result()``, which polls the real Google endpoint). Each mutation carries the
``requestId`` chosen by the workflow, so a retried activity is deduplicated by the API (it answers
the first Operation and applies nothing again); creates look for the resource first and accept
one recorded as made by this cloudops request; deletes treat "not found" as success.

``google.cloud.compute_v1`` takes seconds to import, so it is imported on first use
(:func:`_v1`), never when the plugin module registers these activities.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from temporalio import activity

from cloudops import BusinessError, ErrorCode, NotReady, RetryableError
from cloudops.servergroups.models import (
    Capacity,
    ServerGroupInstance,
    ServerGroupName,
    TerminateInstancesOutput,
    cluster_name,
    next_server_group_name,
)
from cloudops.servergroups.translate import activity_maker, clone_source, name_parts, require_ours
from cloudops_gcp.clients import GcpClients, gcp_clients
from cloudops_gcp.errors import RETRY, classify, classify_operation_error
from cloudops_gcp.models import (
    META_BACKEND_SERVICES,
    META_REQUEST_ID,
    META_SERVER_GROUP,
    META_STARTUP_SCRIPT,
    META_TARGET_POOLS,
    AutoscalerChange,
    AutoscalerSpec,
    ClusterCall,
    DeleteAutoscalerInput,
    DeleteGroupInput,
    DeleteTemplateInput,
    GcpAutoHealing,
    GcpAutoscalingPolicy,
    GcpCall,
    GcpCreateServerGroupInput,
    GcpServerGroupDescription,
    GcpServerGroupList,
    GroupRef,
    GroupSpec,
    GroupStatus,
    NextNameInput,
    NextNameOutput,
    OperationFailure,
    OperationOutcome,
    OperationRef,
    ResizeInput,
    ServerGroupLookup,
    Started,
    TemplateSpec,
    TerminateInput,
    TerminateStarted,
    TrafficInput,
    WaitGroupInput,
    WaitOperationsInput,
)
from cloudops_gcp.resources import (
    copied_from,
    group_description,
    instance_health,
    last,
    owner_of,
    pool_link,
    relative,
    same_resource,
    template_link,
    zone_region,
)

__all__ = ["ACTIVITIES"]

#: Pause between two reads of an operation within one polling attempt.
_SETTLE_STEP = 0.25

InT = TypeVar("InT")
OutT = TypeVar("OutT")


gcp_activity = activity_maker(classify)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _v1() -> Any:
    from google.cloud import compute_v1

    return compute_v1


def _not_found_type() -> type[Exception]:
    from google.api_core.exceptions import NotFound

    return NotFound


def _bad_request_type() -> type[Exception]:
    from google.api_core.exceptions import BadRequest

    return BadRequest


def _conflict_type() -> type[Exception]:
    from google.api_core.exceptions import Conflict

    return Conflict


def _being_created(name: str) -> RetryableError:
    """409 for a resource not readable yet: someone's insert is still running; look again."""
    return RetryableError(f"{name} already exists but cannot be read yet (being created)")


def _or_none(call: Callable[[], Any]) -> Any:
    """The answer of a get, or None when it is 404."""
    try:
        return call()
    except _not_found_type():
        return None


def _sub_request_id(base: str, key: str) -> str:
    """A distinct, stable ``requestId`` for each of several mutations of one activity."""
    return str(uuid.uuid5(uuid.UUID(base), key))


def _op_ref(op: Any) -> OperationRef:
    if op.zone:
        return OperationRef(
            name=op.name, scope="zone", location=last(op.zone), target=op.target_link
        )
    if op.region:
        return OperationRef(
            name=op.name, scope="region", location=last(op.region), target=op.target_link
        )
    return OperationRef(name=op.name, scope="global", target=op.target_link)


def _metadata(template: Any) -> dict[str, str]:
    items = template.properties.metadata.items if template is not None else []
    return {item.key: item.value for item in items}


def _names(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part]


def _created(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        return None


class _Groups:
    """One managed instance group through the zonal or the regional client.

    Why a class: zonal and regional groups have the same operations under different clients,
    request classes and body field names; callers should not care which one they hold.
    """

    def __init__(self, clients: GcpClients, ref: GroupRef) -> None:
        self.clients = clients
        self.ref = ref
        self.zonal = ref.zone is not None
        self.client = clients.get(
            "InstanceGroupManagersClient" if self.zonal else "RegionInstanceGroupManagersClient"
        )
        where: dict[str, Any] = {"project": clients.project}
        where.update({"zone": ref.zone} if self.zonal else {"region": ref.region})
        self.where = where

    def _read(self) -> dict[str, Any]:
        return {"retry": self.clients.read_retry, "timeout": self.clients.timeout}

    def _write(self) -> dict[str, Any]:
        return {"retry": None, "timeout": self.clients.timeout}

    def get(self) -> Any:
        """The group, or None."""
        return _or_none(
            lambda: self.client.get(
                **self.where, instance_group_manager=self.ref.name, **self._read()
            )
        )

    def managed(self) -> list[Any]:
        """Every managed instance (``listManagedInstances``, all pages)."""
        pager = self.client.list_managed_instances(
            **self.where, instance_group_manager=self.ref.name, **self._read()
        )
        return list(pager)

    def _request(self, zonal: str, regional: str, **fields: Any) -> Any:
        v1 = _v1()
        name = zonal if self.zonal else regional
        return getattr(v1, name)(**self.where, **fields)

    def insert(self, body: Any, request_id: str) -> Any:
        """Start the creation of the group."""
        request = self._request(
            "InsertInstanceGroupManagerRequest",
            "InsertRegionInstanceGroupManagerRequest",
            instance_group_manager_resource=body,
            request_id=request_id,
        )
        return self.client.insert_unary(request=request, **self._write())

    def delete(self, request_id: str) -> Any:
        """Start the deletion of the group and its instances."""
        request = self._request(
            "DeleteInstanceGroupManagerRequest",
            "DeleteRegionInstanceGroupManagerRequest",
            instance_group_manager=self.ref.name,
            request_id=request_id,
        )
        return self.client.delete_unary(request=request, **self._write())

    def resize(self, size: int, request_id: str) -> Any:
        """Start a change of the target size."""
        request = self._request(
            "ResizeInstanceGroupManagerRequest",
            "ResizeRegionInstanceGroupManagerRequest",
            instance_group_manager=self.ref.name,
            size=size,
            request_id=request_id,
        )
        return self.client.resize_unary(request=request, **self._write())

    def set_target_pools(self, pools: list[str], fingerprint: str, request_id: str) -> Any:
        """Start ``setTargetPools`` (an empty list takes the instances out of every pool)."""
        v1 = _v1()
        if self.zonal:
            body = v1.InstanceGroupManagersSetTargetPoolsRequest(
                target_pools=pools, fingerprint=fingerprint
            )
            request = v1.SetTargetPoolsInstanceGroupManagerRequest(
                **self.where,
                instance_group_manager=self.ref.name,
                instance_group_managers_set_target_pools_request_resource=body,
                request_id=request_id,
            )
        else:
            body = v1.RegionInstanceGroupManagersSetTargetPoolsRequest(
                target_pools=pools, fingerprint=fingerprint
            )
            request = v1.SetTargetPoolsRegionInstanceGroupManagerRequest(
                **self.where,
                instance_group_manager=self.ref.name,
                region_instance_group_managers_set_target_pools_request_resource=body,
                request_id=request_id,
            )
        return self.client.set_target_pools_unary(request=request, **self._write())

    def change_instances(self, verb: str, urls: list[str], request_id: str) -> Any:
        """Start ``deleteInstances``, ``abandonInstances`` or ``recreateInstances``."""
        v1 = _v1()
        zonal = {
            "delete": ("DeleteInstances", "InstanceGroupManagersDeleteInstancesRequest"),
            "abandon": ("AbandonInstances", "InstanceGroupManagersAbandonInstancesRequest"),
            "recreate": ("RecreateInstances", "InstanceGroupManagersRecreateInstancesRequest"),
        }
        regional = {
            "delete": "RegionInstanceGroupManagersDeleteInstancesRequest",
            "abandon": "RegionInstanceGroupManagersAbandonInstancesRequest",
            "recreate": "RegionInstanceGroupManagersRecreateRequest",
        }
        method, body_class = zonal[verb]
        if self.zonal:
            field = _snake(body_class) + "_resource"
            request_class = f"{method}InstanceGroupManagerRequest"
        else:
            body_class = regional[verb]
            field = _snake(body_class) + "_resource"
            request_class = f"{method}RegionInstanceGroupManagerRequest"
        body = getattr(v1, body_class)(instances=urls)
        request = getattr(v1, request_class)(
            **self.where,
            instance_group_manager=self.ref.name,
            request_id=request_id,
            **{field: body},
        )
        call = getattr(self.client, f"{_snake(method)}_unary")
        return call(request=request, **self._write())


def _snake(name: str) -> str:
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


class _Autoscalers:
    """The autoscalers of one managed instance group's zone or region.

    Zonal groups have zonal ``autoscalers``, regional groups ``regionAutoscalers``; the two
    clients take the same request fields apart from ``zone`` / ``region``. cloudops names a
    group's autoscaler as the group (as Spinnaker does), but an autoscaler made elsewhere may
    have any name: it points at its group only through its ``target``.
    """

    def __init__(self, clients: GcpClients, ref: GroupRef) -> None:
        self.clients = clients
        self.ref = ref
        self.zonal = ref.zone is not None
        self.client = clients.get("AutoscalersClient" if self.zonal else "RegionAutoscalersClient")
        where: dict[str, Any] = {"project": clients.project}
        where.update({"zone": ref.zone} if self.zonal else {"region": ref.region})
        self.where = where

    def get(self, name: str | None = None) -> Any:
        """The autoscaler ``name`` (default: named as the group), or None."""
        return _or_none(
            lambda: self.client.get(
                **self.where,
                autoscaler=name or self.ref.name,
                retry=self.clients.read_retry,
                timeout=self.clients.timeout,
            )
        )

    def list_all(self) -> list[Any]:
        """Every autoscaler of the zone or region (all pages)."""
        request = self._request("List", max_results=500)
        pager = self.client.list(
            request=request, retry=self.clients.read_retry, timeout=self.clients.timeout
        )
        return list(pager)

    def of_group(self, link: str, listed: list[Any] | None = None) -> Any:
        """The autoscaler whose ``target`` is the group ``link``, or None.

        The one named as the group first (one ``get``: how cloudops names them); otherwise
        the zone's or region's autoscalers are listed (or ``listed`` is used) and matched on
        ``target`` here, since a list ``filter`` on a URL field is not portable (the same
        group has several spellings: host, API version, partial path).
        """
        if listed is None:
            found = self.get()
            if found is not None and same_resource(found.target, link):
                return found
            listed = self.list_all()
        return next((a for a in listed if same_resource(a.target, link)), None)

    def _request(self, verb: str, **fields: Any) -> Any:
        name = f"{verb}Autoscaler" if self.zonal else f"{verb}RegionAutoscaler"
        if verb == "List":
            name = f"{name}s"
        return getattr(_v1(), f"{name}Request")(**self.where, **fields)

    def insert(self, body: Any, request_id: str) -> Any:
        """Start creating the autoscaler."""
        request = self._request("Insert", autoscaler_resource=body, request_id=request_id)
        return self.client.insert_unary(request=request, retry=None, timeout=self.clients.timeout)

    def patch(self, name: str, body: Any, request_id: str) -> Any:
        """Start a JSON merge patch of the autoscaler ``name`` (``?autoscaler=NAME``)."""
        request = self._request(
            "Patch", autoscaler=name, autoscaler_resource=body, request_id=request_id
        )
        return self.client.patch_unary(request=request, retry=None, timeout=self.clients.timeout)

    def delete(self, name: str, request_id: str) -> Any:
        """Start deleting the autoscaler ``name``."""
        request = self._request("Delete", autoscaler=name, request_id=request_id)
        return self.client.delete_unary(request=request, retry=None, timeout=self.clients.timeout)


def _group_link(clients: GcpClients, ref: GroupRef) -> str:
    where = f"zones/{ref.zone}" if ref.zone else f"regions/{ref.region}"
    return f"projects/{clients.project}/{where}/instanceGroupManagers/{ref.name}"


def _policy_of(autoscaler: Any) -> GcpAutoscalingPolicy:
    """The cloudops view of an autoscaler's policy (CPU target 0.6 when it scales on none)."""
    policy = autoscaler.autoscaling_policy
    target = policy.cpu_utilization.utilization_target if policy.cpu_utilization else 0.0
    mode = policy.mode if policy.mode in ("ON", "OFF", "ONLY_SCALE_OUT") else "ON"
    return GcpAutoscalingPolicy(
        min_replicas=policy.min_num_replicas,
        max_replicas=max(policy.max_num_replicas, policy.min_num_replicas),
        cpu_utilization_target=target if 0 < target <= 1 else 0.6,
        cool_down_period_seconds=min(max(policy.cool_down_period_sec, 0), 3600),
        mode=mode,
    )


def _group_autoscaling(
    clients: GcpClients, ref: GroupRef, group: Any, listed: list[Any] | None = None
) -> GcpAutoscalingPolicy | None:
    """The policy of the group's autoscaler (whatever its name), or None."""
    found = _Autoscalers(clients, ref).of_group(group.self_link, listed)
    return _policy_of(found) if found is not None else None


def _capacity(size: int, autoscaling: GcpAutoscalingPolicy | None) -> Capacity:
    """A group's capacity at target size ``size``: min/max are its autoscaler's bounds."""
    if autoscaling is None:
        return Capacity.fixed(size)
    low, high = autoscaling.bounds(Capacity.fixed(size))
    return Capacity(min=min(low, size), max=max(high, size), desired=size)


def _region_groups(
    clients: GcpClients, region: str, name: str | None = None
) -> Iterator[tuple[Any, str | None]]:
    """(group, zone or None) of every group in the region (named ``name``, if given)."""
    v1 = _v1()
    request = v1.AggregatedListInstanceGroupManagersRequest(
        project=clients.project, max_results=500
    )
    if name is not None:
        request.filter = f'name = "{name}"'
    client = clients.get("InstanceGroupManagersClient")
    pager = client.aggregated_list(
        request=request, retry=clients.read_retry, timeout=clients.timeout
    )
    for scope, scoped in pager:
        kind, _, location = scope.partition("/")
        in_region = (kind == "regions" and location == region) or (
            kind == "zones" and zone_region(location) == region
        )
        if not in_region:
            continue
        for group in scoped.instance_group_managers:
            if name is None or group.name == name:
                yield group, (location if kind == "zones" else None)


def _locate(clients: GcpClients, call: GcpCall, name: str) -> tuple[Any, str | None] | None:
    """The group ``name`` in the call's region, with its zone (None: regional), or None."""
    found: list[tuple[Any, str | None]] = list(_region_groups(clients, call.region, name))
    if not found:
        return None
    if len(found) > 1:
        zones = sorted(zone or "(regional)" for _, zone in found)
        raise BusinessError(
            ErrorCode.CONFLICT,
            f"server group {name!r} exists more than once in {call.region} ({', '.join(zones)})",
            {"server_group": name, "zones": zones},
        )
    return found[0]


def _template_api(ref: str) -> tuple[str, dict[str, str]]:
    """The client and request fields of a template (a name, or ``regions/r/.../NAME``).

    Regional templates (regionInstanceTemplates) serve only groups of their region.
    """
    parts = ref.split("/")
    if "regions" in parts:
        where = {"region": parts[parts.index("regions") + 1], "instance_template": parts[-1]}
        return "RegionInstanceTemplatesClient", where
    return "InstanceTemplatesClient", {"instance_template": parts[-1]}


def _template_ref(link: str) -> str:
    """A group's template as ``_template_api`` takes it (and describe reports it)."""
    rel = relative(link)
    return last(rel) if "/global/" in rel else rel.split("/", 2)[-1]


def _get_template(clients: GcpClients, ref: str) -> Any:
    client, where = _template_api(ref)
    return _or_none(lambda: clients.read(client, "get", **where))


def _find_service(clients: GcpClients, name: str) -> Any:
    """The global backend service ``name``, or None."""
    return _or_none(lambda: clients.read("BackendServicesClient", "get", backend_service=name))


def _get_service(clients: GcpClients, name: str) -> Any:
    """The global backend service ``name``, or NOT_FOUND."""
    found = _find_service(clients, name)
    if found is None:
        raise BusinessError(
            ErrorCode.NOT_FOUND,
            f"backend service {name!r} does not exist",
            {"backend_service": name},
        )
    return found


def _service_health(clients: GcpClients, service: str, group_link: str) -> dict[str, str]:
    """Instance link (relative) -> HEALTHY/UNHEALTHY in one backend service."""
    v1 = _v1()
    answer = clients.read(
        "BackendServicesClient",
        "get_health",
        backend_service=service,
        resource_group_reference_resource=v1.ResourceGroupReference(group=group_link),
    )
    return {relative(s.instance): s.health_state for s in answer.health_status}


# --------------------------------------------------------------------------------------------
# Naming and operations
# --------------------------------------------------------------------------------------------


@gcp_activity("gcp.next_server_group_name")
def next_name(arg: NextNameInput) -> NextNameOutput:
    """Choose the next free ``app-stack-detail-vNNN`` among the region's managed groups.

    Zonal and regional groups of the region count as taken. Read-only: running it twice is
    harmless, and the workflow records the first answer.
    """
    clients = gcp_clients(arg.account)
    existing = [
        (group.name, _created(group.creation_timestamp))
        for group, _ in _region_groups(clients, arg.region)
    ]
    chosen = next_server_group_name(arg.application, arg.stack, arg.detail, existing)
    assert chosen.sequence is not None
    return NextNameOutput.of(chosen)


def _settled(check: Callable[[], OutT], seconds: float) -> OutT:
    """``check()`` until it stops raising NotReady, for at most ``seconds``; then NotReady.

    Why: a first polling attempt that re-reads for a second saves a Temporal retry (whose timer
    fires a second or more later) for the many operations that finish that quickly. Retries
    (attempt 2 and later) check once: the poll interval paces them.
    """
    if activity.in_activity() and activity.info().attempt > 1:
        seconds = 0.0
    deadline = time.monotonic() + seconds
    while True:
        try:
            return check()
        except NotReady:
            if time.monotonic() + _SETTLE_STEP > deadline:
                raise
        time.sleep(_SETTLE_STEP)


@gcp_activity("gcp.wait_operations")
def wait_operations(arg: WaitOperationsInput) -> OperationOutcome:
    """Answer once every Operation is DONE (NotReady until then), with the failed ones.

    Only reads: polling never re-issues a mutation, so it resumes safely on any worker after a
    crash. A failed Operation is reported (classified), not raised, so that the workflow can
    retry a transient failure with a new request id or fail with the right code.
    """
    clients = gcp_clients(arg.account)
    v1 = _v1()
    finished: dict[str, Any] = {}

    def check() -> OperationOutcome:
        pending = []
        for ref in arg.operations:
            if ref.name not in finished:
                op = _get_operation(clients, ref)
                if op.status == v1.Operation.Status.DONE:
                    finished[ref.name] = op
                else:
                    pending.append(f"{ref.name} ({v1.Operation.Status(op.status).name})")
        if pending:
            raise NotReady(f"waiting for operation(s) {', '.join(pending)}")
        return OperationOutcome(
            failures=[
                OperationFailure(
                    operation=op.name,
                    target=op.target_link,
                    code=error.code,
                    message=error.message,
                    http_status=op.http_error_status_code or None,
                    outcome=classify_operation_error(error.code, op.http_error_status_code or None),
                )
                for op in finished.values()
                for error in (op.error.errors if op.error else [])
            ]
        )

    return _settled(check, arg.settle_seconds)


def _get_operation(clients: GcpClients, ref: OperationRef) -> Any:
    scope = {ref.scope: ref.location} if ref.scope in ("zone", "region") else {}
    client = {"zone": "ZoneOperationsClient", "region": "RegionOperationsClient"}
    try:
        return clients.read(
            client.get(ref.scope, "GlobalOperationsClient"), "get", operation=ref.name, **scope
        )
    except _not_found_type():
        raise BusinessError(
            ErrorCode.NOT_FOUND,
            f"operation {ref.name} no longer exists (operations are kept for a limited time)",
            {"operation": ref.name, "target": ref.target},
        ) from None


# --------------------------------------------------------------------------------------------
# Instance templates
# --------------------------------------------------------------------------------------------


def _image(image: str, project: str) -> str:
    if "/" in image:
        return image
    return f"projects/{project}/global/images/{image}"


def _template_body(spec: TemplateSpec, project: str) -> Any:
    v1 = _v1()
    metadata = {
        META_REQUEST_ID: spec.request_id,
        META_SERVER_GROUP: spec.server_group,
    }
    if spec.backend_services:
        metadata[META_BACKEND_SERVICES] = ",".join(spec.backend_services)
    if spec.target_pools:
        metadata[META_TARGET_POOLS] = ",".join(spec.target_pools)
    if spec.startup_script is not None:
        metadata[META_STARTUP_SCRIPT] = spec.startup_script
    network = spec.network or "default"
    interface = v1.NetworkInterface(
        network=network if "/" in network else f"projects/{project}/global/networks/{network}"
    )
    if spec.subnetwork:
        interface.subnetwork = (
            spec.subnetwork
            if "/" in spec.subnetwork
            else f"projects/{project}/regions/{spec.region}/subnetworks/{spec.subnetwork}"
        )
    params = v1.AttachedDiskInitializeParams(source_image=_image(spec.image, project))
    if spec.disk_size_gb:
        params.disk_size_gb = spec.disk_size_gb
    if spec.disk_type:
        params.disk_type = spec.disk_type
    properties = v1.InstanceProperties(
        machine_type=last(spec.machine_type),  # a name: a URL here is an INTERNAL_ERROR on GCE
        disks=[
            v1.AttachedDisk(
                boot=True, auto_delete=True, type_="PERSISTENT", initialize_params=params
            )
        ],
        network_interfaces=[interface],
        metadata=v1.Metadata(items=[v1.Items(key=k, value=v) for k, v in metadata.items()]),
        labels=spec.labels,
        tags=v1.Tags(items=spec.network_tags),
    )
    if spec.service_account_email:
        properties.service_accounts = [
            v1.ServiceAccount(
                email=spec.service_account_email,
                scopes=["https://www.googleapis.com/auth/cloud-platform"],
            )
        ]
    return v1.InstanceTemplate(
        name=spec.name,
        description=f"cloudops server group {spec.server_group}",
        properties=properties,
    )


def _own_template(template: Any, spec: TemplateSpec) -> Started:
    owner = _metadata(template).get(META_REQUEST_ID)
    require_ours("instance template", spec.name, owner, spec.request_id, "instance_template")
    return Started(changed=False, reason="already created by this request")


@gcp_activity("gcp.insert_instance_template")
def insert_instance_template(spec: TemplateSpec) -> Started:
    """Start creating the instance template of a new server group, or find this request's.

    Idempotent twice over: the insert carries the workflow's ``requestId`` (a retry answers the
    first Operation), and a template that exists and records this cloudops request in its
    metadata is the answer. A template of that name made by anyone else is a ``CONFLICT``.
    """
    clients = gcp_clients(spec.account)
    existing = _get_template(clients, spec.name)
    if existing is not None:
        return _own_template(existing, spec)
    v1 = _v1()
    request = v1.InsertInstanceTemplateRequest(
        project=clients.project,
        instance_template_resource=_template_body(spec, clients.project),
        request_id=spec.gcp_request_id,
    )
    client = clients.get("InstanceTemplatesClient")
    try:
        op = client.insert_unary(request=request, retry=None, timeout=clients.timeout)
    except _conflict_type():
        existing = _get_template(clients, spec.name)
        if existing is None:
            raise _being_created(spec.name) from None
        return _own_template(existing, spec)
    return Started(operations=[_op_ref(op)])


@gcp_activity("gcp.delete_instance_template")
def delete_instance_template(arg: DeleteTemplateInput) -> Started:
    """Start deleting an instance template; "not found" is success (``changed=False``).

    Guards: with ``only_if_request_id`` a template not recorded as made by that request is
    kept (a rollback must not delete someone else's); with ``only_if_server_group`` only a
    template made for, or named after, that server group is deleted.
    """
    clients = gcp_clients(arg.account)
    found = _get_template(clients, arg.name)
    if found is None:
        return Started(changed=False, reason="not found")
    meta = _metadata(found)
    if arg.only_if_request_id is not None and meta.get(META_REQUEST_ID) != arg.only_if_request_id:
        return Started(changed=False, reason="not created by this request")
    group, name = arg.only_if_server_group, last(arg.name)
    ours = group is None or group in (meta.get(META_SERVER_GROUP), name)
    if not ours and not name.startswith(f"{group}-"):
        return Started(changed=False, reason="belongs to another server group")
    client, where = _template_api(arg.name)
    kind = "Region" if "region" in where else ""
    request = getattr(_v1(), f"Delete{kind}InstanceTemplateRequest")(
        project=clients.project, **where, request_id=arg.gcp_request_id
    )
    try:
        op = clients.get(client).delete_unary(request=request, retry=None, timeout=clients.timeout)
    except _not_found_type():
        return Started(changed=False, reason="not found")
    return Started(operations=[_op_ref(op), *_delete_sources(clients, found, meta, arg)])


def _delete_sources(
    clients: GcpClients, template: Any, meta: dict[str, str], arg: Any
) -> list[OperationRef]:
    """Start deleting the templates a copied one was copied from, of the same server group.

    ``updateLaunchTemplate`` and the tag verbs leave the template they replaced (a later
    failure of a composing operation goes back to it); the group's destroy takes them along.
    One still in use (another group's), or gone, is left alone.
    """
    seen, source = {last(arg.name)}, copied_from(template.description)
    gone, started = (_not_found_type(), _bad_request_type()), []
    client = clients.get("InstanceTemplatesClient")
    while source and source not in seen and "/" not in source:
        seen.add(source)
        older = _get_template(clients, source)
        if older is None or _metadata(older).get(META_SERVER_GROUP) != meta.get(META_SERVER_GROUP):
            break
        request = _v1().DeleteInstanceTemplateRequest(
            project=clients.project,
            instance_template=source,
            request_id=_sub_request_id(arg.gcp_request_id, f"source:{source}"),
        )
        try:
            op = client.delete_unary(request=request, retry=None, timeout=clients.timeout)
        except gone:
            op = None  # in use by another group, or gone already
        if op is not None:
            started.append(_op_ref(op))
        source = copied_from(older.description)
    return started


# --------------------------------------------------------------------------------------------
# Managed instance groups
# --------------------------------------------------------------------------------------------


@gcp_activity("gcp.insert_instance_group_manager")
def insert_instance_group_manager(spec: GroupSpec) -> Started:
    """Start creating the managed instance group of a new server group, or find this request's.

    The insert carries the workflow's ``requestId``; a group that exists and records this
    cloudops request in its description is the answer; anyone else's is a ``CONFLICT``.
    A missing target pool is ``NOT_FOUND``.
    """
    clients = gcp_clients(spec.account)
    groups = _Groups(clients, spec)
    existing = groups.get()
    if existing is not None:
        return _own_group(existing, spec)
    v1 = _v1()
    body = v1.InstanceGroupManager(
        name=spec.name,
        description=group_description(spec.request_id, spec.name),
        instance_template=template_link(clients.project, spec.instance_template),
        base_instance_name=spec.name,
        target_size=spec.target_size,
        target_pools=[pool_link(clients.project, spec.region, p) for p in spec.target_pools],
    )
    if spec.auto_healing is not None:
        check = spec.auto_healing.health_check
        if "/" not in check:
            check = f"projects/{clients.project}/global/healthChecks/{check}"
        body.auto_healing_policies = [
            v1.InstanceGroupManagerAutoHealingPolicy(
                health_check=check, initial_delay_sec=spec.auto_healing.initial_delay_seconds
            )
        ]
    if spec.zone is None and spec.zones:
        body.distribution_policy = v1.DistributionPolicy(
            zones=[
                v1.DistributionPolicyZoneConfiguration(zone=f"projects/{clients.project}/zones/{z}")
                for z in spec.zones
            ]
        )
    try:
        op = groups.insert(body, spec.gcp_request_id)
    except _conflict_type():
        existing = groups.get()
        if existing is None:
            raise _being_created(spec.name) from None
        return _own_group(existing, spec)
    return Started(operations=[_op_ref(op)])


def _own_group(group: Any, spec: GroupSpec) -> Started:
    owner = owner_of(group.description)
    if owner != spec.request_id:
        raise BusinessError(
            ErrorCode.CONFLICT,
            f"managed instance group {spec.name!r} already exists and was not created by this "
            "request",
            {"server_group": spec.name, "created_by_request": owner},
        )
    return Started(changed=False, reason="already created by this request")


@gcp_activity("gcp.delete_instance_group_manager")
def delete_instance_group_manager(arg: DeleteGroupInput) -> Started:
    """Start deleting a group (its instances go with it); "not found" is success.

    With ``only_if_request_id`` a group not recorded as made by that request is kept.
    """
    clients = gcp_clients(arg.account)
    groups = _Groups(clients, arg)
    found = groups.get()
    if found is None:
        return Started(changed=False, reason="not found")
    if arg.only_if_request_id is not None and owner_of(found.description) != arg.only_if_request_id:
        return Started(changed=False, reason="not created by this request")
    try:
        op = groups.delete(arg.gcp_request_id)
    except _not_found_type():
        return Started(changed=False, reason="not found")
    return Started(operations=[_op_ref(op)])


@gcp_activity("gcp.resize_instance_group_manager")
def resize_instance_group_manager(arg: ResizeInput) -> Started:
    """Start setting a group's target size (``resize?size=N`` with the workflow's requestId)."""
    clients = gcp_clients(arg.account)
    groups = _Groups(clients, arg)
    if groups.get() is None:
        raise _group_not_found(arg.name)
    return Started(operations=[_op_ref(groups.resize(arg.size, arg.gcp_request_id))])


# --------------------------------------------------------------------------------------------
# Autoscalers
# --------------------------------------------------------------------------------------------


def _own_autoscaler(found: Any, spec: AutoscalerSpec) -> Started:
    owner = owner_of(found.description)
    require_ours("autoscaler", spec.name, owner, spec.request_id, "autoscaler")
    return Started(changed=False, reason="already created by this request")


@gcp_activity("gcp.insert_autoscaler")
def insert_autoscaler(spec: AutoscalerSpec) -> Started:
    """Start creating a group's autoscaler (named as the group), or find this request's.

    Idempotent as the other creates: the insert carries the workflow's ``requestId``, and an
    autoscaler that records this cloudops request in its description is the answer; anyone
    else's is a ``CONFLICT``. A missing group is ``NOT_FOUND``.
    """
    clients = gcp_clients(spec.account)
    scalers = _Autoscalers(clients, spec)
    existing = scalers.get()
    if existing is not None:
        return _own_autoscaler(existing, spec)
    if _Groups(clients, spec).get() is None:
        raise _group_not_found(spec.name)
    v1 = _v1()
    body = v1.Autoscaler(
        name=spec.name,
        description=group_description(spec.request_id, spec.name),
        target=_group_link(clients, spec),
        autoscaling_policy=v1.AutoscalingPolicy(
            min_num_replicas=spec.min_replicas,
            max_num_replicas=spec.max_replicas,
            cool_down_period_sec=spec.cool_down_period_seconds,
            cpu_utilization=v1.AutoscalingPolicyCpuUtilization(
                utilization_target=spec.cpu_utilization_target
            ),
            mode=spec.mode,
        ),
    )
    try:
        op = scalers.insert(body, spec.gcp_request_id)
    except _conflict_type():
        existing = scalers.get()
        if existing is None:
            raise _being_created(spec.name) from None
        return _own_autoscaler(existing, spec)
    return Started(operations=[_op_ref(op)])


@gcp_activity("gcp.update_autoscaler")
def update_autoscaler(arg: AutoscalerChange) -> Started:
    """Start setting the bounds of a group's autoscaler (the one targeting it, any name).

    The patch sends the current policy with the new ``minNumReplicas`` / ``maxNumReplicas``,
    so the other settings are kept whichever way the API merges nested fields. Bounds that are
    already set change nothing; a group without an autoscaler is ``NOT_FOUND``.
    """
    clients = gcp_clients(arg.account)
    scalers = _Autoscalers(clients, arg)
    found = scalers.of_group(_group_link(clients, arg))
    if found is None:
        raise BusinessError(
            ErrorCode.NOT_FOUND,
            f"server group {arg.name!r} has no autoscaler",
            {"server_group": arg.name},
        )
    policy = found.autoscaling_policy
    if (policy.min_num_replicas, policy.max_num_replicas) == (arg.min_replicas, arg.max_replicas):
        return Started(changed=False, reason="already set")
    v1 = _v1()
    # The whole policy, so that a merge patch keeps what is set whichever way it merges.
    changed = v1.AutoscalingPolicy.deserialize(v1.AutoscalingPolicy.serialize(policy))
    changed.min_num_replicas = arg.min_replicas
    changed.max_num_replicas = arg.max_replicas
    body = v1.Autoscaler(name=found.name, autoscaling_policy=changed)
    return Started(operations=[_op_ref(scalers.patch(found.name, body, arg.gcp_request_id))])


@gcp_activity("gcp.delete_autoscaler")
def delete_autoscaler(arg: DeleteAutoscalerInput) -> Started:
    """Start deleting a group's autoscaler; "not found" is success (``changed=False``).

    The autoscaler is the one that targets the group, whatever its name (Compute will not
    delete a group while one does). With ``only_if_request_id`` an autoscaler not recorded as
    made by that request is kept.
    """
    clients = gcp_clients(arg.account)
    scalers = _Autoscalers(clients, arg)
    found = scalers.of_group(_group_link(clients, arg))
    if found is None:
        return Started(changed=False, reason="not found")
    if arg.only_if_request_id is not None and owner_of(found.description) != arg.only_if_request_id:
        return Started(changed=False, reason="not created by this request")
    try:
        op = scalers.delete(found.name, arg.gcp_request_id)
    except _not_found_type():
        return Started(changed=False, reason="not found")
    return Started(operations=[_op_ref(op)])


def _group_not_found(name: str) -> BusinessError:
    return BusinessError(
        ErrorCode.NOT_FOUND, f"server group {name!r} does not exist", {"server_group": name}
    )


@gcp_activity("gcp.set_traffic")
def set_traffic(arg: TrafficInput) -> Started:
    """Add the group to (or remove it from) its backend services and target pools.

    Spinnaker's enable and disable on GCE: a backend service gets (or loses) the group's
    instance group as a backend (an ``update`` with the service's fingerprint; with
    ``capacity_scaler``, a traffic share, the backend's scaler is set to it), and the group's
    ``setTargetPools`` is set to its pools (or none). Only what is not yet in the wanted state is
    touched, so a rerun does nothing; each change has its own requestId derived from the
    workflow's, so a retried call is deduplicated.
    """
    clients = gcp_clients(arg.account)
    groups = _Groups(clients, arg)
    group = groups.get()
    if group is None:
        raise _group_not_found(arg.name)
    v1 = _v1()
    services = clients.get("BackendServicesClient")
    operations: list[OperationRef] = []
    found = [(name, _get_service(clients, name)) for name in arg.backend_services]
    # A service reaches (and health-checks) the group on its portName, which must be a named
    # port of the instance group (the manager's namedPorts are output only): set them first.
    named = {p.name for p in group.named_ports}
    missing = {s.port_name or "http" for _, s in found} - named if arg.enabled else set()
    if missing:
        ports = {port: arg.named_ports.get(port, 80) for port in missing}
        operations.append(_op_ref(_named_ports(clients, groups, ports, arg)))
    scaler = 1.0 if arg.capacity_scaler is None else arg.capacity_scaler
    share = "" if arg.capacity_scaler is None else f":{scaler}"
    for name, service in found:
        mine = [b for b in service.backends if same_resource(b.group, group.instance_group)]
        if bool(mine) == arg.enabled and (not mine or mine[0].capacity_scaler == scaler):
            continue
        backends = [b for b in service.backends if not same_resource(b.group, group.instance_group)]
        if arg.enabled:
            backends.append(
                v1.Backend(
                    group=group.instance_group,
                    balancing_mode="UTILIZATION",
                    capacity_scaler=scaler,
                    max_utilization=0.8,
                )
            )
        # ``update`` (PUT), not ``patch``: an emptied backends list is left out of the JSON,
        # which a merge patch would read as "no change".
        service.backends = backends
        request = v1.UpdateBackendServiceRequest(
            project=clients.project,
            backend_service=name,
            backend_service_resource=service,
            request_id=_sub_request_id(arg.gcp_request_id, f"backend:{name}:{arg.enabled}{share}"),
        )
        op = services.update_unary(request=request, retry=None, timeout=clients.timeout)
        operations.append(_op_ref(op))
    wanted = [pool_link(clients.project, arg.region, p) for p in arg.target_pools]
    wanted = wanted if arg.enabled else []
    current = sorted(relative(p) for p in group.target_pools)
    if current != sorted(relative(p) for p in wanted) and (arg.target_pools or current):
        op = groups.set_target_pools(
            wanted,
            group.fingerprint,
            _sub_request_id(arg.gcp_request_id, f"pools:{arg.enabled}"),
        )
        operations.append(_op_ref(op))
    return Started(operations=operations, changed=bool(operations))


def _named_ports(clients: GcpClients, groups: _Groups, ports: dict[str, int], arg: Any) -> Any:
    """Start ``instanceGroups.setNamedPorts`` (the whole list) on the group's instance group."""
    v1, kind = _v1(), "" if groups.zonal else "Region"
    client = clients.get(f"{kind}InstanceGroupsClient")
    where = {**groups.where, "instance_group": arg.name}
    current = client.get(**where, retry=clients.read_retry, timeout=clients.timeout)
    ports = {**{p.name: p.port for p in current.named_ports}, **ports}
    body = getattr(v1, f"{kind}InstanceGroupsSetNamedPortsRequest")(
        named_ports=[v1.NamedPort(name=k, port=v) for k, v in sorted(ports.items())],
        fingerprint=current.fingerprint,
    )
    request = getattr(v1, f"SetNamedPorts{kind}InstanceGroupRequest")(
        **where,
        request_id=_sub_request_id(arg.gcp_request_id, f"ports:{','.join(sorted(ports))}"),
        **{f"{_snake(kind + 'InstanceGroups')}_set_named_ports_request_resource": body},
    )
    return client.set_named_ports_unary(request=request, retry=None, timeout=clients.timeout)


@gcp_activity("gcp.set_named_ports")
def set_named_ports(arg: TrafficInput) -> Started:
    """Start adding ``named_ports`` to the group's instance group; nothing if it has them.

    A clone (or a deploy from a source) gives its new group the source's named ports, as
    Clouddriver's Google provider copies them; the group's other named ports are kept.
    """
    clients = gcp_clients(arg.account)
    groups = _Groups(clients, arg)
    group = groups.get()
    if group is None:
        raise _group_not_found(arg.name)
    have = {p.name: p.port for p in group.named_ports}
    if all(have.get(name) == port for name, port in arg.named_ports.items()):
        return Started(changed=False, reason="already set")
    return Started(operations=[_op_ref(_named_ports(clients, groups, arg.named_ports, arg))])


@gcp_activity("gcp.wait_for_group")
def wait_for_group(arg: WaitGroupInput) -> GroupStatus:
    """Answer once the group is stable with its desired instances RUNNING; NotReady until then.

    With ``require_health``, instances must also be HEALTHY in every backend service the group
    is a backend of. A group that is gone is a business failure, not a reason to keep waiting.
    """
    clients = gcp_clients(arg.account)
    groups = _SharedGroups(clients, arg)
    return _settled(lambda: _group_ready(clients, groups, arg), arg.settle_seconds)


class _SharedGroups(_Groups):
    """A group whose reads concurrent waits share (:mod:`cloudops_gcp.shared_reads`)."""

    def get(self) -> Any:
        from cloudops_gcp.shared_reads import shared_group

        return shared_group(self.ref)

    def managed(self) -> list[Any]:
        from cloudops_gcp.shared_reads import shared_managed

        return shared_managed(self.ref)


def _group_ready(clients: GcpClients, groups: _Groups, arg: WaitGroupInput) -> GroupStatus:
    group = groups.get()
    if group is None:
        raise _group_not_found(arg.name)
    managed = groups.managed()
    alive = [m for m in managed if m.current_action not in ("DELETING", "ABANDONING")]
    _creation_errors(arg.name, alive)
    running = [m for m in alive if m.instance_status == "RUNNING" and m.current_action == "NONE"]
    healthy = len(running)
    if arg.require_health and running:
        states = _lb_states(clients, group)
        healthy = sum(
            1
            for m in running
            if all(by_instance.get(relative(m.instance)) == "HEALTHY" for by_instance in states)
        )
    desired = arg.desired if arg.desired is not None else group.target_size
    status = GroupStatus(
        name=arg.name,
        target_size=group.target_size,
        instances=len(alive),
        running=len(running),
        healthy=healthy,
        stable=group.status.is_stable,
    )
    low, high = arg.bounds or (0, group.target_size)
    if status.stable and healthy >= desired and len(alive) <= desired:
        if low <= group.target_size <= high:
            return status
        raise NotReady(f"{arg.name}: the autoscaler has not yet sized it to {low}..{high}")
    raise NotReady(
        f"{arg.name}: {len(running)} of {desired} instances running, {healthy} healthy, "
        f"{len(alive)} in the group, stable={status.stable}"
    )


def _creation_errors(name: str, managed: list[Any]) -> None:
    """Fail fast when the group cannot create instances (quota, stockout...).

    GCE does not fail the group's Operation: the instance stays CREATING while the group
    retries, and the error is in ``ManagedInstance.lastAttempt.errors``. Errors the table
    calls transient keep the wait going; the others end it with their code.
    """
    for m in managed:
        errors = m.last_attempt.errors.errors if m.current_action == "CREATING" else []
        for error in errors:
            outcome = classify_operation_error(error.code, None)
            if outcome != RETRY:
                raise BusinessError(
                    outcome,
                    f"{name} cannot create instance {m.name}: {error.code}: {error.message}",
                    {"gcp_code": error.code, "instance": m.name, "server_group": name},
                )


def _lb_states(clients: GcpClients, group: Any) -> list[dict[str, str]]:
    """For each backend service the group is in: instance link -> health state."""
    template = _get_template(clients, _template_ref(group.instance_template))
    states = []
    for name in _names(_metadata(template).get(META_BACKEND_SERVICES)):
        service = _find_service(clients, name)
        if service is None:
            continue
        if any(same_resource(b.group, group.instance_group) for b in service.backends):
            states.append(_service_health(clients, name, group.instance_group))
    return states


# --------------------------------------------------------------------------------------------
# Describe, clone source, terminate
# --------------------------------------------------------------------------------------------


def _describe(
    clients: GcpClients,
    call: GcpCall,
    group: Any,
    zone: str | None,
    autoscalers: list[Any] | None = None,
) -> tuple[GcpServerGroupDescription, Any]:
    """The description of ``group`` (and its template); ``autoscalers``: its scope's, if listed."""
    name = group.name
    template = _get_template(clients, _template_ref(group.instance_template))
    meta = _metadata(template)
    backend_services = _names(meta.get(META_BACKEND_SERVICES))
    pools = _names(meta.get(META_TARGET_POOLS))
    active_services: list[str] = []
    health: dict[str, dict[str, str]] = {}
    for service_name in backend_services:
        service = _find_service(clients, service_name)
        if service is None:
            continue
        if any(same_resource(b.group, group.instance_group) for b in service.backends):
            active_services.append(service_name)
            health[service_name] = _service_health(clients, service_name, group.instance_group)
    active_pools = [last(p) for p in group.target_pools]
    disabled = bool(backend_services or pools) and not active_services and not active_pools
    ref = GroupRef(account=call.account, region=call.region, name=name, zone=zone)
    autoscaling = _group_autoscaling(clients, ref, group, autoscalers)
    capacity = _capacity(group.target_size, autoscaling)
    instances = []
    for managed in _Groups(clients, ref).managed():
        key = relative(managed.instance)
        states = {svc: by_instance.get(key, "UNKNOWN") for svc, by_instance in health.items()}
        instances.append(
            ServerGroupInstance(
                id=managed.name or last(managed.instance),
                zone=_instance_zone(managed.instance),
                state=managed.instance_status or managed.current_action,
                health=instance_health(
                    managed.instance_status,
                    managed.current_action,
                    disabled=disabled,
                    lb_states=list(states.values()),
                ),
                load_balancer_health=states,
            )
        )
    properties = template.properties if template is not None else None
    disks = list(properties.disks) if properties is not None else []
    boot = next((d for d in disks if d.boot), None)
    zones = [zone] if zone else [last(z.zone) for z in group.distribution_policy.zones]
    interfaces = list(properties.network_interfaces) if properties is not None else []
    return GcpServerGroupDescription(
        **name_parts(name),
        region=call.region,
        capacity=capacity,
        instances=instances,
        zones=zones,
        subnets=[last(i.subnetwork) for i in interfaces if i.subnetwork],
        load_balancers=backend_services,
        security_groups=list(properties.tags.items) if properties is not None else [],
        image=boot.initialize_params.source_image if boot is not None else None,
        instance_type=properties.machine_type if properties is not None else None,
        disabled=disabled,
        created_at=_created(group.creation_timestamp),
        tags=dict(properties.labels) if properties is not None else {},
        zone=zone,
        regional=zone is None,
        instance_template=_template_ref(group.instance_template),
        target_pools=pools,
        active_target_pools=active_pools,
        active_backend_services=active_services,
        is_stable=group.status.is_stable,
        current_actions={
            key: int(getattr(group.current_actions, key))
            for key in ("creating", "deleting", "none", "recreating", "abandoning", "verifying")
        },
        network=last(interfaces[0].network) if interfaces and interfaces[0].network else None,
        named_ports={p.name: p.port for p in group.named_ports},
        request_id=owner_of(group.description) or meta.get(META_REQUEST_ID),
        self_link=group.self_link,
        autoscaling=autoscaling,
        auto_healing=_auto_healing(group),
    ), template


def _auto_healing(group: Any) -> GcpAutoHealing | None:
    """The group's (first) auto-healing policy, with the health check's relative path."""
    for policy in group.auto_healing_policies:
        if policy.health_check:
            return GcpAutoHealing(
                health_check=relative(policy.health_check),
                initial_delay_seconds=min(max(policy.initial_delay_sec, 0), 3600),
            )
    return None


def _instance_zone(url: str) -> str | None:
    parts = relative(url).split("/")
    return parts[3] if len(parts) > 3 and parts[2] == "zones" else None


@gcp_activity("gcp.describe_server_group")
def describe_server_group(arg: GroupRef) -> ServerGroupLookup:
    """Describe a group: where it is, capacity, instances and their health, template, traffic.

    The group is looked up by name among the region's zonal and regional groups. A missing group
    is ``description=None`` rather than an error, so callers decide whether that is a failure
    (describe) or success (destroy).
    """
    clients = gcp_clients(arg.account)
    found = _locate(clients, arg, arg.name)
    if found is None:
        return ServerGroupLookup()
    description, _ = _describe(clients, arg, *found)
    return ServerGroupLookup(description=description)


#: The counters of a group's ``currentActions`` (``InstanceGroupManagerActionsSummary``).
_ACTIONS = (
    "abandoning",
    "creating",
    "creating_without_retries",
    "deleting",
    "none",
    "recreating",
    "refreshing",
    "restarting",
    "resuming",
    "starting",
    "stopping",
    "suspending",
    "verifying",
)


def _being_deleted(group: Any) -> bool:
    """Whether Compute is deleting the whole group (not just scaling it in).

    A managed instance group has no "deleting" status of its own: while its deletion runs,
    every one of its instances is DELETING although its target size is unchanged. A group
    resized to fewer instances keeps ``targetSize`` of them out of DELETING, and a group
    resized to 0 (whose instances all leave too) is kept: it is not being deleted.
    """
    actions = group.current_actions
    deleting = int(getattr(actions, "deleting", 0) or 0)
    total = sum(int(getattr(actions, key, 0) or 0) for key in _ACTIONS)
    return group.target_size > 0 and deleting > 0 and deleting == total


@gcp_activity("gcp.list_server_groups")
def list_server_groups(arg: ClusterCall) -> GcpServerGroupList:
    """The zonal and regional groups of a cluster in the region, oldest first.

    Each is described as ``describe_server_group`` does; groups being deleted are left out, so
    a deploy neither enables nor counts them. Order: creation time, then sequence.
    """
    clients = gcp_clients(arg.account)
    cluster = cluster_name(arg.application, arg.stack, arg.detail)
    found = []
    autoscalers: dict[str | None, list[Any]] = {}  # by zone (None: the region), listed once
    for group, zone in _region_groups(clients, arg.region):
        parsed = ServerGroupName.try_parse(group.name)
        if parsed is None or parsed.cluster != cluster or parsed.sequence is None:
            continue
        if _being_deleted(group):
            continue
        if zone not in autoscalers:
            ref = GroupRef(account=arg.account, region=arg.region, name=group.name, zone=zone)
            autoscalers[zone] = _Autoscalers(clients, ref).list_all()
        description, _ = _describe(clients, arg, group, zone, autoscalers[zone])
        found.append(description)
    return GcpServerGroupList.oldest_first(cluster, found)


@gcp_activity("gcp.read_server_group_template")
def read_server_group_template(arg: GroupRef) -> GcpCreateServerGroupInput:
    """The create input that would make a copy of a group: the source of ``cloneServerGroup``."""
    clients = gcp_clients(arg.account)
    found = _locate(clients, arg, arg.name)
    if found is None:
        raise _group_not_found(arg.name)
    cluster = clone_source(arg.name)
    description, template = _describe(clients, arg, *found)
    if template is None or not description.image or not description.instance_type:
        raise BusinessError(
            ErrorCode.INVALID_INPUT,
            f"cannot clone {arg.name!r}: its instance template could not be read",
            {"server_group": arg.name},
        )
    properties = template.properties
    boot = next(d for d in properties.disks if d.boot)
    emails = [s.email for s in properties.service_accounts]
    meta = _metadata(template)
    autoscaling = description.autoscaling
    if autoscaling is not None:
        # The bounds follow the copy's capacity (min/max are the autoscaler's), so that a clone
        # that changes its capacity moves its autoscaler's bounds with it.
        autoscaling = autoscaling.model_copy(update={"min_replicas": None, "max_replicas": None})
    return GcpCreateServerGroupInput(
        **cluster,
        image=description.image,
        instance_type=description.instance_type,
        capacity=description.capacity,
        zones=description.zones,
        subnets=description.subnets,
        load_balancers=description.load_balancers,
        security_groups=description.security_groups,
        user_data=meta.get(META_STARTUP_SCRIPT),
        tags=description.tags,
        regional=description.regional,
        target_pools=description.target_pools or None,
        network=description.network,
        disk_size_gb=int(boot.initialize_params.disk_size_gb) or None,
        disk_type=last(boot.initialize_params.disk_type) or None,
        service_account_email=emails[0] if emails else None,
        autoscaling=autoscaling,
        named_ports=description.named_ports or None,
        auto_healing=description.auto_healing,
    )


@gcp_activity("gcp.terminate_instances")
def terminate_instances(arg: TerminateInput) -> TerminateStarted:
    """Start recreating, deleting (``decrement_desired``) or abandoning instances of a group.

    Instances are named as GCE names them. Every name is checked before anything changes: an
    instance of another group is ``INVALID_INPUT``, an unknown one ``NOT_FOUND``. Instances the
    group is already deleting, and deleted ones named after the group, count as already gone,
    so a rerun neither fails nor shrinks the group twice.
    """
    clients = gcp_clients(arg.account)
    groups = _Groups(clients, arg)
    group = groups.get()
    if group is None:
        raise _group_not_found(arg.name)
    autoscaling = _group_autoscaling(clients, arg, group)  # before any change: a rerun is safe
    members = {m.name or last(m.instance): m for m in groups.managed()}
    gone = [i for i in arg.instance_ids if i in members and members[i].current_action == "DELETING"]
    todo = [i for i in arg.instance_ids if i in members and i not in gone]
    for name in (i for i in arg.instance_ids if i not in members):
        gone.append(_outsider(clients, arg, group, name))
    capacity = _capacity(group.target_size, autoscaling)
    operations: list[OperationRef] = []
    if todo:
        verb = "abandon" if arg.abandon else "delete" if arg.decrement_desired else "recreate"
        urls = [members[i].instance for i in todo]
        operations.append(_op_ref(groups.change_instances(verb, urls, arg.gcp_request_id)))
        if verb != "recreate":
            capacity = _capacity(max(0, group.target_size - len(todo)), autoscaling)
    return TerminateStarted(
        operations=operations,
        changed=bool(todo),
        result=TerminateInstancesOutput(
            server_group=arg.name, terminated=todo, already_gone=sorted(gone), capacity=capacity
        ),
    )


def _outsider(clients: GcpClients, arg: TerminateInput, group: Any, name: str) -> str:
    """An id that is not a member: already gone (ours), another group's, or unknown."""
    zones = [arg.zone] if arg.zone else [last(z.zone) for z in group.distribution_policy.zones]
    for zone in zones:
        found = _or_none(
            functools.partial(clients.read, "InstancesClient", "get", zone=zone, instance=name)
        )
        if found is not None:
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                f"instance {name} is not in server group {arg.name}",
                {"instance": name, "zone": zone},
            )
    if name.startswith(f"{group.base_instance_name}-"):
        return name
    raise BusinessError(
        ErrorCode.NOT_FOUND,
        f"instance {name} does not exist in server group {arg.name}",
        {"instance": name, "server_group": arg.name},
    )


#: Every activity of the plugin, in the order ``register_activities`` adds them.
ACTIVITIES = (
    next_name,
    wait_operations,
    insert_instance_template,
    delete_instance_template,
    insert_instance_group_manager,
    delete_instance_group_manager,
    resize_instance_group_manager,
    insert_autoscaler,
    update_autoscaler,
    delete_autoscaler,
    set_traffic,
    wait_for_group,
    describe_server_group,
    read_server_group_template,
    terminate_instances,
    list_server_groups,
    set_named_ports,
)
