"""Azure-specific models: account settings, optional Azure fields of inputs, activity arguments.

Why a module of its own: the plugin module, the workflow code and the activities all use these
models, and none of them may pull the Azure SDK in (``cloudops --help`` and the workflow sandbox
must stay light), so this module imports pydantic and cloudops only.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

import cloudops
from cloudops.servergroups import contract
from cloudops.servergroups.contract import (
    CloudCall,
    GroupCall,
    NewGroup,
    NextNameOutput,
    WaitCall,
    WaitedGroup,
)
from cloudops.servergroups.contract import ServerGroupLookup as Lookup
from cloudops.servergroups.models import (
    Capacity,
    CloneServerGroupInput,
    ClusterRef,
    CreateServerGroupInput,
    ResizeServerGroupInput,
    ServerGroupChangeInput,
    ServerGroupDescription,
    ServerGroupList,
    ServerGroupRef,
    TerminateInstancesInput,
)

__all__ = [
    "AzureAccountSettings",
    "AzureCall",
    "AzureCloneServerGroupInput",
    "AzureClusterRef",
    "AzureCreateServerGroupInput",
    "AzureResizeServerGroupInput",
    "AzureServerGroupChangeInput",
    "AzureServerGroupDescription",
    "AzureServerGroupList",
    "AzureServerGroupRef",
    "AzureTerminateInstancesInput",
    "Begun",
    "ClusterCall",
    "DeleteInstancesBegun",
    "DeleteInstancesInput",
    "DeleteScaleSetInput",
    "DeleteScaleSetOutput",
    "InstancesStatus",
    "LroKind",
    "NextNameInput",
    "NextNameOutput",
    "PollInput",
    "PollOutput",
    "ResizeBegun",
    "ResizeInput",
    "RestartBegun",
    "ScaleSetCall",
    "ScaleSetSpec",
    "ServerGroupLookup",
    "TrafficBegun",
    "TrafficInput",
    "UpgradeInstancesInput",
    "WaitForInstancesInput",
]

#: Tags cloudops writes on every scale set it creates (the reserved ``cloudops:`` prefix).
#: A scale set has one size (``sku.capacity``); min and max live in these tags.
TAG_MIN = "cloudops:capacity-min"
TAG_MAX = "cloudops:capacity-max"
#: The backend pools the group serves from when enabled (so that enable can restore them).
TAG_POOLS = "cloudops:backend-pools"
#: ``disabled`` while the group is out of its backend pools.
TAG_TRAFFIC = "cloudops:traffic"

#: Azure scale set names: 1-64 letters, digits, '.', '-' and '_', starting with a letter or digit.
SCALE_SET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_IMAGE_URN = re.compile(r"^[^:/\s]+:[^:/\s]+:[^:/\s]+:[^:/\s]+$")

#: Administrator names Azure refuses (Microsoft Learn, "What are the username requirements when
#: creating a VM?"): a create with one of them would fail at the PUT.
_DISALLOWED_USERS = re.compile(
    r"administrator|admin[12]?|user[1-5]?|test[1-3]?|1|123|a|actuser|adm|aspnet|backup|console|"
    r"david|guest|john|owner|root|server|sql|support(_388945a0)?|sys"
)


def _allowed_user(name: str) -> str:
    if _DISALLOWED_USERS.fullmatch(name):
        raise ValueError(f"Azure does not allow {name!r} as a VM's administrator name")
    return name


AdminUsername = Annotated[
    str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$"), AfterValidator(_allowed_user)
]
#: An OpenSSH public key: Linux scale sets are created with SSH authentication only.
SshPublicKey = Annotated[str, Field(min_length=16, max_length=8192)]

ResourceGroupName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=90,
        pattern=r"^[-\w._()]*[-\w_()]$",
        description="Azure resource group (default: the account's resource_group)",
    ),
]


class AzureAccountSettings(BaseModel):
    """The Azure keys of an ``[accounts.NAME]`` table in ``cloudops.toml``.

    Why these: they say where (subscription, default resource group) and as whom a worker acts,
    without a secret in the file. ``credential`` is ``default`` (azure-identity's
    DefaultAzureCredential: environment, workload or managed identity, Azure CLI...),
    ``service_principal`` (``tenant_id`` + ``client_id`` and a secret read at run time from the
    environment variable named by ``client_secret_env`` or the file named by
    ``client_secret_file``), or ``emulator`` (tests only: a fixed token over plain HTTP, refused
    unless the account's ``endpoint`` points at a local emulator). ``retry_total`` bounds the
    SDK's own retries per call: Temporal owns durable retrying, so keep it small.
    """

    model_config = ConfigDict(extra="forbid")

    subscription_id: str = Field(pattern=_GUID)
    resource_group: ResourceGroupName
    credential: Literal["default", "service_principal", "emulator"] = "default"
    tenant_id: str | None = Field(default=None, min_length=1, max_length=100)
    client_id: str | None = Field(default=None, min_length=1, max_length=100)
    client_secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    client_secret_file: str | None = Field(default=None, min_length=1)
    default_subnet: str | None = Field(
        default=None, min_length=3, description="subnet for inputs that give none"
    )
    admin_username: AdminUsername = "cloudops"
    ssh_public_key: SshPublicKey | None = Field(
        default=None, description="admin SSH key of creates that give none"
    )
    retry_total: int = Field(default=1, ge=0, le=10)
    polling_interval_seconds: float = Field(default=5.0, gt=0, le=60)
    connection_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    read_timeout_seconds: float = Field(default=60.0, gt=0, le=900)

    @model_validator(mode="after")
    def _credential_keys(self) -> Self:
        if self.credential == "service_principal":
            if not (self.tenant_id and self.client_id):
                raise ValueError("a service_principal credential needs tenant_id and client_id")
            if bool(self.client_secret_env) == bool(self.client_secret_file):
                raise ValueError(
                    "a service_principal credential reads its secret from exactly one of "
                    "client_secret_env (an environment variable name) or client_secret_file"
                )
        elif self.client_secret_env or self.client_secret_file:
            raise ValueError(
                "client_secret_env/client_secret_file need credential=service_principal"
            )
        return self


# --------------------------------------------------------------------------------------------
# Operation inputs: the common ones plus optional Azure settings
# --------------------------------------------------------------------------------------------


class InResourceGroup(BaseModel):
    """The optional resource group every Azure operation input may name."""

    model_config = ConfigDict(extra="forbid")

    resource_group: ResourceGroupName | None = None


class AzureServerGroupSettings(InResourceGroup):
    """Optional Azure settings of a new scale set, beyond the provider-agnostic ones.

    ``image`` is a marketplace URN (``publisher:offer:sku:version``) or an image resource id;
    ``subnets`` holds one subnet (id or ``vnet/subnet`` in the resource group);
    ``load_balancers`` are backend pools (ids or ``loadBalancer/pool``); ``security_groups``
    holds at most one network security group (id or name). ``ssh_public_key`` is the admin's
    public key (not a secret); ``user_data_base64`` carries binary user data.
    """

    admin_username: AdminUsername | None = None
    ssh_public_key: SshPublicKey | None = None
    user_data_base64: str | None = Field(default=None, max_length=87_384)
    upgrade_policy: Literal["Automatic", "Manual", "Rolling"] | None = Field(
        default=None, description="how model changes reach running VMs (default Automatic)"
    )
    health_probe: str | None = Field(
        default=None,
        min_length=3,
        max_length=1000,
        description="load balancer probe (id or loadBalancer/probe) that tells Azure a VM is "
        "healthy; required by the Rolling upgrade policy",
    )

    @model_validator(mode="after")
    def _azure_checks(self) -> Self:
        """Refuse what Azure cannot take (in a create or a clone), before anything changes."""
        fields = ("image", "subnets", "security_groups", "target_groups", "key_name", "user_data")
        _check_azure_fields(*(getattr(self, name, None) for name in fields), self.user_data_base64)
        return self


def _check_azure_fields(
    image: str | None,
    subnets: list[str] | None,
    security_groups: list[str] | None,
    target_groups: list[str] | None,
    key_name: str | None,
    user_data: str | None,
    user_data_base64: str | None,
) -> None:
    if image is not None and not (_IMAGE_URN.match(image) or image.startswith("/subscriptions/")):
        raise ValueError(
            "image must be a marketplace URN publisher:offer:sku:version or an image resource "
            f"id (/subscriptions/...), got {image!r}"
        )
    if subnets is not None and len(subnets) > 1:
        raise ValueError("an Azure scale set uses one subnet: give at most one in subnets")
    if security_groups is not None and len(security_groups) > 1:
        raise ValueError("an Azure scale set NIC takes one network security group")
    if target_groups:
        raise ValueError(
            "target_groups are AWS ELBv2; on Azure put backend pools in load_balancers"
        )
    if key_name is not None:
        raise ValueError("key_name names an AWS key pair; on Azure give ssh_public_key")
    if user_data is not None and user_data_base64 is not None:
        raise ValueError("give user_data or user_data_base64, not both")


class AzureCreateServerGroupInput(CreateServerGroupInput, AzureServerGroupSettings):
    """``azure.createServerGroup``: the common input plus optional Azure settings."""


class AzureCloneServerGroupInput(CloneServerGroupInput, AzureServerGroupSettings):
    """``azure.cloneServerGroup``: the common clone input plus optional Azure overrides."""


class AzureServerGroupRef(ServerGroupRef, InResourceGroup):
    """``azure.describeServerGroup``: a scale set, optionally in another resource group."""


class AzureServerGroupChangeInput(ServerGroupChangeInput, InResourceGroup):
    """Enable, disable or destroy a scale set (optionally in another resource group)."""


class AzureResizeServerGroupInput(ResizeServerGroupInput, InResourceGroup):
    """``azure.resizeServerGroup``: the common resize input, optionally in another group."""


class AzureTerminateInstancesInput(TerminateInstancesInput, InResourceGroup):
    """``azure.terminateInstances``: instance ids are VM names (``vmss_3``) or instance ids."""


class AzureClusterRef(ClusterRef, InResourceGroup):
    """``azure.listServerGroups``: a cluster, optionally in another resource group."""


class AzureServerGroupDescription(ServerGroupDescription):
    """``azure.describeServerGroup``: the common description plus what only Azure has."""

    id: str | None = None
    resource_group: str | None = None
    provisioning_state: str | None = None
    upgrade_policy: str | None = None
    backend_pools: list[str] = Field(
        default_factory=list, description="pool ids the scale set serves from when enabled"
    )
    admin_username: str | None = None


class AzureServerGroupList(ServerGroupList):
    """``azure.listServerGroups``: the cluster's scale sets, oldest first."""

    server_groups: list[AzureServerGroupDescription] = Field(  # type: ignore[assignment]
        default_factory=list
    )


# --------------------------------------------------------------------------------------------
# Activity arguments and results (one model in, one model out)
# --------------------------------------------------------------------------------------------

#: The kinds of long-running operation ``azure.poll_operation`` can resume.
LroKind = Literal["create", "update", "delete", "delete_instances", "upgrade_instances", "restart"]


class AzureCall(CloudCall):
    """Where an activity acts: a worker account name (never a credential), region, group."""

    resource_group: str | None = None


class ScaleSetCall(AzureCall, GroupCall):
    """An activity on one scale set."""


class NextNameInput(AzureCall, contract.NextNameInput):
    """Choose the next free ``app-stack-detail-vNNN`` scale set name in the resource group."""


class ClusterCall(AzureCall, contract.ClusterCall):
    """List the scale sets of one cluster (``app-stack-detail``) in the resource group."""


class ScaleSetSpec(ScaleSetCall, NewGroup):
    """Create (or find, if this request already created it) the scale set ``name``."""

    image: str
    instance_type: str
    security_groups: list[str] = Field(default_factory=list)
    user_data: str | None = None
    user_data_base64: str | None = None
    admin_username: str | None = None
    ssh_public_key: str | None = None
    upgrade_policy: str | None = None
    health_probe: str | None = None


class Begun(cloudops.Output):
    """A mutation that was sent (or found already made): how to wait for it.

    ``token`` is the SDK poller's continuation token (None when there is no operation to
    resume, e.g. a scale set this request created before a crash: then the wait reads the
    resource's own state). ``changed`` is false when nothing had to be sent.
    """

    token: str | None = None
    done: bool = False
    changed: bool = True
    resource_group: str | None = None


class UpgradeInstancesInput(ScaleSetCall):
    """Bring VMs to the scale set's model: those of ``instance_ids`` (None: every stale VM)."""

    instance_ids: list[str] | None = None


class RestartBegun(Begun):
    """A restart of VMs was sent: the ids as given."""

    instance_ids: list[str] = Field(default_factory=list)


class ResizeInput(ScaleSetCall):
    """Set a scale set's capacity (``sku.capacity``, and min/max in tags)."""

    capacity: Capacity


class ResizeBegun(Begun):
    """The resize was sent; ``before`` is the capacity to restore on rollback."""

    before: Capacity
    disabled: bool = False


class TrafficInput(ScaleSetCall):
    """Put the scale set's NICs into (enabled) or out of (disabled) its backend pools."""

    enabled: bool


class VmTrafficInput(ScaleSetCall):
    """A traffic share: the VMs named in ``out`` out of the backend pools, the others in."""

    out: list[str] = Field(default_factory=list)
    wait: bool = True


class TrafficBegun(Begun):
    """The backend pools concerned, and whether the group was disabled before."""

    pools: list[str] = Field(default_factory=list)
    was_disabled: bool = False


class DeleteScaleSetInput(ScaleSetCall):
    """Delete a scale set; "not found" is success.

    ``only_if_request_id`` guards rollbacks (a scale set not tagged with that request id is left
    alone). With ``wait_until_gone`` the call answers NotReady until the scale set no longer
    exists; the delete is sent once (not again while Azure is deleting).
    """

    only_if_request_id: str | None = None
    wait_until_gone: bool = False


class DeleteScaleSetOutput(Begun):
    """Whether a delete was sent now, and why not otherwise."""

    deleted: bool = False
    reason: str = ""
    capacity: Capacity | None = None


class DeleteInstancesInput(ScaleSetCall):
    """Delete some VMs of a scale set (its capacity drops by as many)."""

    instance_ids: list[str]


class DeleteInstancesBegun(Begun):
    """VMs being deleted now, VMs already gone, and the capacity before and after."""

    terminated: list[str] = Field(default_factory=list)
    already_gone: list[str] = Field(default_factory=list)
    before: Capacity
    after: Capacity


class PollInput(ScaleSetCall):
    """Resume waiting for a long-running operation from its continuation token.

    Without a token the wait reads the scale set's own state instead (``provisioningState``;
    gone for a delete).
    """

    kind: LroKind
    token: str | None = None


class PollOutput(cloudops.Output):
    """How the operation ended."""

    status: str
    provisioning_state: str | None = None
    capacity: int | None = None


class WaitForInstancesInput(ScaleSetCall, WaitCall):
    """Poll until the scale set runs ``desired`` running VMs and ``exclude_instances`` are gone."""


class InstancesStatus(WaitedGroup):
    """How far a scale set is from its capacity: its running VMs."""

    running: int

    @property
    def healthy(self) -> int:
        """Running VMs count as healthy (Azure reports no load balancer health here)."""
        return self.running


#: ``azure.describe_server_group``'s answer: the described scale set, or none.
ServerGroupLookup = Lookup[AzureServerGroupDescription]
