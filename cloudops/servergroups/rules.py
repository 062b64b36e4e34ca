"""Error tables: how a provider maps its cloud's error codes onto cloudops' taxonomy.

Why a table: which answers are transient (retry) and which are the caller's problem (a business
error with a code) is the knowledge a provider carries; written as rows it can be read, reviewed
against the cloud's documentation and tested row by row. The matching logic lives here once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["RETRY", "Rule", "first_outcome"]

#: Marks a rule whose errors are retried rather than reported.
RETRY = "RETRY"


@dataclass(frozen=True)
class Rule:
    """One row: error codes (a regex matched in full, any case), optional message and statuses.

    ``outcome`` is :data:`RETRY` or an :class:`~cloudops.errors.ErrorCode`. ``message`` is a
    regex searched in the error's message; ``statuses`` a regex matched in full against the HTTP
    status (``"409"``, ``"4.."``).
    """

    codes: str
    outcome: str
    message: str | None = None
    statuses: str | None = None

    def matches(self, code: str, message: str = "", status: int = 0) -> bool:
        """Whether an error with this code, message and status falls under the rule."""
        if self.statuses is not None and not re.fullmatch(self.statuses, str(status)):
            return False
        if not re.fullmatch(self.codes, code, re.IGNORECASE):
            return False
        return self.message is None or re.search(self.message, message, re.IGNORECASE) is not None


def first_outcome(
    table: Iterable[Rule], code: str, message: str = "", status: int = 0
) -> str | None:
    """The outcome of the first row of ``table`` the error matches, or None."""
    for rule in table:
        if rule.matches(code, message, status):
            return rule.outcome
    return None
