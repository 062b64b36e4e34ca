"""The module the ``cloudops`` entry point names: what cloudops-reference adds."""

from __future__ import annotations

import cloudops
from cloudops.servergroups.plugin import provider_hooks
from cloudops_reference.activities import ACTIVITIES
from cloudops_reference.models import ReferenceAccountSettings
from cloudops_reference.operations import OPERATIONS
from cloudops_reference.translate import classify

#: Accounts of ``provider = "reference"`` name their cloud by ``endpoint = "sqlite:///PATH"``.
REFERENCE = cloudops.Provider(
    name="reference",
    accounts=ReferenceAccountSettings,
    description="The reference cloud: server groups in a SQLite file (the provider kit's example)",
    classify=classify,
)

register_operations, register_activities, register_providers = provider_hooks(
    REFERENCE, OPERATIONS, ACTIVITIES
)
