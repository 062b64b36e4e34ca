"""The module the ``cloudops`` entry point names: a list of what cloudops-gcp adds.

Keep it light: ``cloudops --help`` imports it. Nothing here (or in the modules it imports)
imports google-cloud-compute at module level (it takes seconds); the activities import it when
they first run.
"""

from __future__ import annotations

from cloudops.servergroups.plugin import cloud_provider, provider_hooks
from cloudops_gcp.activities import ACTIVITIES
from cloudops_gcp.errors import classify
from cloudops_gcp.models import GcpAccountSettings
from cloudops_gcp.network import NETWORK_OPERATIONS
from cloudops_gcp.network_activities import NETWORK_ACTIVITIES
from cloudops_gcp.operations import OPERATIONS
from cloudops_gcp.optional import OPTIONAL_ACTIVITIES

#: The GCP provider: accounts of ``provider = "gcp"`` in cloudops.toml are validated by
#: :class:`GcpAccountSettings`; google-api-core errors are classified by :func:`classify`.
GCP = cloud_provider(
    "gcp",
    accounts=GcpAccountSettings,
    description="Google Cloud: managed instance groups, instance templates, load balancing "
    "and firewalls (google-cloud-compute)",
    classify=classify,
    sdk=("google.cloud.compute_v1", "google.auth", "google.api_core.exceptions"),
    # Compute Engine meters API requests per project per minute (read and write quotas apart),
    # not per region: a conservative share of the default quotas.
    budget_defaults={"reads": 10.0, "mutations": 5.0},
    budget_per_region=False,
    shared_reads=("wait_for_group",),
    reads=("wait_operations",),
)


register_operations, register_activities, register_providers = provider_hooks(
    GCP, OPERATIONS, NETWORK_OPERATIONS, ACTIVITIES, OPTIONAL_ACTIVITIES, NETWORK_ACTIVITIES
)
