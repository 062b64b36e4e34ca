"""``workflow.patched`` decided at the start of a run, so a replay takes the branch the run took.

Why: the Temporal core tells replaying workflow code which patch markers the history holds one
workflow task at a time. When a local activity (the runner's account check) resolves and the
worker ends the workflow task right there (seen under load, with a client querying progress),
the recorded history puts the local activity's marker in one task and the code that ran next in
the following one. On replay both run in one activation, before the core has read the next
task's markers, so a ``workflow.patched`` call straight after the local activity answers
``False`` where the run got ``True`` and the replay fails with "Non-deprecated patch marker
encountered ... but there is no corresponding change command" (TMPRL1100). A live worker that
replays such a history (after a restart or a cache eviction) would fail the same way.

So every run records one marker, :data:`BASELINE`, in its first activation, where the core has
always told the code about the first task's markers. :func:`patched` answers ``True`` for a run
that has it, without asking again; runs recorded before it ask ``workflow.patched`` as before.
It covers the patch ids passed to it that existed when the baseline was introduced: a patch added
later must use ``workflow.patched`` itself (or a new baseline), since a history with this
baseline but recorded before such a patch existed must not take its branch.
"""

from __future__ import annotations

from temporalio import workflow

__all__ = ["BASELINE", "begin", "patched"]

#: The marker every run records first; it stands for every patch id older than itself.
BASELINE = "cloudops-patch-baseline-1"


def begin() -> None:
    """Record (or, replaying, read) the baseline: call first thing in the workflow's run."""
    workflow.patched(BASELINE)


def patched(patch_id: str) -> bool:
    """``workflow.patched(patch_id)``, ``True`` without a marker in runs started with the baseline.

    ``workflow.patched`` memoises per run, so the baseline is answered as it was in
    :func:`begin` wherever this is called.
    """
    return workflow.patched(BASELINE) or workflow.patched(patch_id)
