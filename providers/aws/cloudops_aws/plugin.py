"""The module the ``cloudops`` entry point names: a list of what cloudops-aws adds.

Keep it light: ``cloudops --help`` imports it. Nothing here (or in the modules it imports)
imports boto3 at module level; the activities import it when they first run.
"""

from __future__ import annotations

from cloudops.servergroups.plugin import cloud_provider, provider_hooks
from cloudops_aws.activities import ACTIVITIES
from cloudops_aws.errors import classify
from cloudops_aws.models import AwsAccountSettings
from cloudops_aws.network import NETWORK_OPERATIONS
from cloudops_aws.network_activities import NETWORK_ACTIVITIES
from cloudops_aws.operations import OPERATIONS
from cloudops_aws.optional import OPTIONAL_ACTIVITIES

#: The AWS provider: accounts of ``provider = "aws"`` in cloudops.toml are validated by
#: :class:`AwsAccountSettings`; botocore errors are classified by :func:`classify`.
AWS = cloud_provider(
    "aws",
    accounts=AwsAccountSettings,
    description=(
        "Amazon Web Services: Auto Scaling groups, launch templates, ELBv2 load balancers, "
        "security groups (boto3)"
    ),
    classify=classify,
    sdk=("boto3", "botocore.config"),
    # EC2 refills 20 non-mutating and 5 mutating request tokens per second per account and
    # region (docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html); Auto Scaling
    # (one bucket for all its calls) and ELB publish no figures. Spinnaker's default is 10/s.
    budget_defaults={"reads": 8.0, "mutations": 4.0},
    shared_reads=("wait_for_capacity", "next_server_group_name"),
    # Calls per attempt (the server dispatches ``budget / calls`` attempts a second): a naming
    # shares a listing of the groups and templates (two calls, more pages at 200+ groups);
    # creating a template resolves its image first; the group is described after its create.
    activity_calls={
        "aws.next_server_group_name": 2.0,
        "aws.create_launch_template": 2.0,
        "aws.create_auto_scaling_group": 2.0,
        "aws.create_auto_scaling_group_and_check": 2.0,
    },
)


register_operations, register_activities, register_providers = provider_hooks(
    AWS, OPERATIONS, NETWORK_OPERATIONS, ACTIVITIES, OPTIONAL_ACTIVITIES, NETWORK_ACTIVITIES
)
