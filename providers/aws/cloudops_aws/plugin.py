"""The module the ``cloudops`` entry point names: a list of what cloudops-aws adds.

Keep it light: ``cloudops --help`` imports it. Nothing here (or in the modules it imports)
imports boto3 at module level; the activities import it when they first run.
"""

from __future__ import annotations

import cloudops
from cloudops.servergroups.plugin import import_later, provider_hooks
from cloudops_aws.activities import ACTIVITIES
from cloudops_aws.errors import classify
from cloudops_aws.models import AwsAccountSettings
from cloudops_aws.operations import OPERATIONS
from cloudops_aws.optional import OPTIONAL_ACTIVITIES

#: The AWS provider: accounts of ``provider = "aws"`` in cloudops.toml are validated by
#: :class:`AwsAccountSettings`; botocore errors are classified by :func:`classify`.
AWS = cloudops.Provider(
    name="aws",
    accounts=AwsAccountSettings,
    description="Amazon Web Services: Auto Scaling groups, launch templates, ELBv2 (boto3)",
    classify=classify,
    warm_up=import_later("boto3", "botocore.config"),
)


register_operations, register_activities, register_providers = provider_hooks(
    AWS, OPERATIONS, ACTIVITIES + OPTIONAL_ACTIVITIES
)
