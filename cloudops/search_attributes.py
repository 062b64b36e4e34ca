"""Search attributes: every operation is findable in the Temporal UI and ``cloudops list``."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

__all__ = ["ACCOUNT", "ALL", "APPLICATION", "OPERATION", "OUTCOME", "PROVIDER", "REGION", "SUBJECT"]

OPERATION = SearchAttributeKey.for_keyword("CloudOpsOperation")
PROVIDER = SearchAttributeKey.for_keyword("CloudOpsProvider")
ACCOUNT = SearchAttributeKey.for_keyword("CloudOpsAccount")
REGION = SearchAttributeKey.for_keyword("CloudOpsRegion")
APPLICATION = SearchAttributeKey.for_keyword("CloudOpsApplication")
#: ``running``, ``ok``, or the error code (``CANCELLED``, ``INVALID_INPUT``...). A cancelled
#: operation *completes* (after its rollback), so this is how to list cancellations.
OUTCOME = SearchAttributeKey.for_keyword("CloudOpsOutcome")
#: The verified caller (the token's ``sub``), set when authorization is on.
SUBJECT = SearchAttributeKey.for_keyword("CloudOpsSubject")

ALL = (OPERATION, PROVIDER, ACCOUNT, REGION, APPLICATION, OUTCOME, SUBJECT)


def dev_server_flags() -> list[str]:
    """``temporal server start-dev`` flags that register every cloudops search attribute."""
    flags = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}=Keyword"]
    return flags
