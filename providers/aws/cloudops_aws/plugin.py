"""The module the ``cloudops`` entry point names: a list of what cloudops-aws adds.

Keep it light: ``cloudops --help`` imports it. Nothing here (or in the modules it imports)
imports boto3 at module level; the activities import it when they first run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import cloudops
from cloudops_aws.activities import ACTIVITIES
from cloudops_aws.errors import classify
from cloudops_aws.models import AwsAccountSettings
from cloudops_aws.operations import OPERATIONS


def warm_up() -> None:
    """Import the SDK modules the activities use (a worker runs this in a background thread)."""
    for module in ("boto3", "botocore.config"):
        importlib.import_module(module)


#: The AWS provider: accounts of ``provider = "aws"`` in cloudops.toml are validated by
#: :class:`AwsAccountSettings`; botocore errors are classified by :func:`classify`.
AWS = cloudops.Provider(
    name="aws",
    accounts=AwsAccountSettings,
    description="Amazon Web Services: Auto Scaling groups, launch templates, ELBv2 (boto3)",
    classify=classify,
    warm_up=warm_up,
)


@cloudops.hookimpl
def register_operations(register: Callable[[type[Any]], None]) -> None:
    """Add the eight server-group operations (``aws.createServerGroup`` ...)."""
    for operation in OPERATIONS:
        register(operation)


@cloudops.hookimpl
def register_activities(register: Callable[[Any], None]) -> None:
    """Add the activities the operations call by name (``aws.create_launch_template`` ...)."""
    for activity in ACTIVITIES:
        register(activity)


@cloudops.hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    """Add the ``aws`` provider and its account settings."""
    register(AWS)


@cloudops.hookimpl
def register_local_clouds(register: Callable[[Any], None]) -> None:
    """Add the local cloud (emulator behind a fault proxy) for dev, the demo, chaos and tests."""
    from cloudops_aws.local import LOCAL_AWS

    register(LOCAL_AWS)
