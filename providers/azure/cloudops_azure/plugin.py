"""The module the ``cloudops`` entry point names: a list of what cloudops-azure adds.

Keep it light: ``cloudops --help`` imports it. Nothing here (or in the modules it imports)
imports the Azure SDK at module level; the activities import it when they first run.
"""

from __future__ import annotations

from cloudops.servergroups.plugin import cloud_provider, provider_hooks
from cloudops_azure.activities import ACTIVITIES
from cloudops_azure.autoscale import AUTOSCALE_ACTIVITIES
from cloudops_azure.errors import classify
from cloudops_azure.models import AzureAccountSettings
from cloudops_azure.network import NETWORK_OPERATIONS
from cloudops_azure.network_activities import NETWORK_ACTIVITIES
from cloudops_azure.operations import OPERATIONS
from cloudops_azure.optional import OPTIONAL_ACTIVITIES
from cloudops_azure.tags import set_server_group_tags

#: The Azure provider: accounts of ``provider = "azure"`` in cloudops.toml are validated by
#: :class:`AzureAccountSettings`; azure-core errors are classified by :func:`classify`.
AZURE = cloud_provider(
    "azure",
    accounts=AzureAccountSettings,
    description="Microsoft Azure: VM scale sets, load balancers and network security groups "
    "(azure-mgmt-compute, azure-mgmt-network)",
    classify=classify,
    sdk=("azure.mgmt.compute", "azure.mgmt.network", "azure.identity", "azure.core.exceptions"),
    # Resource Manager refills about 25 reads and 10 writes per second per subscription,
    # principal and region (learn.microsoft.com/azure/azure-resource-manager/management/
    # request-limits-and-throttling): half of each, as other principals share them.
    budget_defaults={"reads": 12.0, "mutations": 5.0},
    shared_reads=("wait_for_instances",),
    reads=("poll_operation", "read_launch_template"),
)


register_operations, register_activities, register_providers = provider_hooks(
    AZURE,
    OPERATIONS,
    NETWORK_OPERATIONS,
    ACTIVITIES,
    AUTOSCALE_ACTIVITIES,
    [set_server_group_tags],
    OPTIONAL_ACTIVITIES,
    NETWORK_ACTIVITIES,
)
