"""The module the ``cloudops`` entry point names: a list of what cloudops-azure adds.

Keep it light: ``cloudops --help`` imports it. Nothing here (or in the modules it imports)
imports the Azure SDK at module level; the activities import it when they first run.
"""

from __future__ import annotations

import cloudops
from cloudops.servergroups.plugin import import_later, provider_hooks
from cloudops_azure.activities import ACTIVITIES
from cloudops_azure.errors import classify
from cloudops_azure.models import AzureAccountSettings
from cloudops_azure.operations import OPERATIONS

#: The Azure provider: accounts of ``provider = "azure"`` in cloudops.toml are validated by
#: :class:`AzureAccountSettings`; azure-core errors are classified by :func:`classify`.
AZURE = cloudops.Provider(
    name="azure",
    accounts=AzureAccountSettings,
    description="Microsoft Azure: VM scale sets and load balancer backend pools "
    "(azure-mgmt-compute)",
    classify=classify,
    warm_up=import_later("azure.mgmt.compute", "azure.identity", "azure.core.exceptions"),
    # Resource Manager refills about 25 reads and 10 writes per second per subscription,
    # principal and region (learn.microsoft.com/azure/azure-resource-manager/management/
    # request-limits-and-throttling): half of each, as other principals share them.
    budget_defaults={"reads": 12.0, "mutations": 5.0},
    shared_read_activities=frozenset({"azure.wait_for_instances"}),
    read_activities=frozenset(
        {
            "azure.next_server_group_name",
            "azure.poll_operation",
            "azure.wait_for_instances",
            "azure.describe_server_group",
            "azure.list_server_groups",
            "azure.read_server_group_template",
        }
    ),
)


register_operations, register_activities, register_providers = provider_hooks(
    AZURE, OPERATIONS, ACTIVITIES
)
