"""Rich rendering of results, progress and listings for the ``cloudops`` command."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from cloudops.models import ProgressReport, WorkflowResult

__all__ = ["print_result", "progress_line", "result_json"]


def result_json(result: WorkflowResult[Any]) -> str:
    """The WorkflowResult as indented JSON (what scripts parse)."""
    return json.dumps(result.model_dump(mode="json"), indent=2)


def progress_line(operation: str, report: ProgressReport | None) -> str:
    """One status line: current step, attempt and the last failure being retried."""
    if report is None:
        return f"{operation}: starting"
    done = len(report.steps_done)
    line = f"{report.operation or operation}: {report.status}"
    if report.current_step:
        line += f" - {report.current_step}"
    if report.current_attempt and report.current_attempt > 1:
        line += f" (attempt {report.current_attempt}"
        if report.last_failure:
            line += f", last error: {report.last_failure[:80]}"
        line += ")"
    if done:
        line += f" [{done} step(s) done]"
    return line


def print_result(
    console: Console, result: WorkflowResult[Any], *, as_json: bool, full: bool = True
) -> None:
    """Print a result for humans (summary, steps, then JSON) or, with ``as_json``, JSON only.

    Without ``full`` the JSON holds only the value (or the error), not the metadata.
    """
    if as_json:
        console.print_json(result_json(result))
        return
    meta = result.metadata
    if result.ok:
        console.print(f"[green]ok[/green] {meta.operation if meta else ''}")
    elif result.error is not None:
        console.print(f"[red]{result.error.code}[/red] {result.error.message}")
        for problem in result.error.details.get("errors", []) if result.error.details else []:
            if isinstance(problem, dict):
                console.print(f"  - {problem.get('field')}: {problem.get('reason')}")
        for rollback in result.error.rollbacks:
            state = (
                "[green]undone[/green]" if rollback.ok else f"[red]failed[/red] {rollback.error}"
            )
            console.print(f"  rollback {rollback.step}: {state}")
    if meta and meta.steps:
        table = Table("step", "took", box=None, pad_edge=False)
        for step in meta.steps:
            took = (
                f"{(step.ended_at - step.started_at).total_seconds():.1f}s"
                if step.ended_at
                else "-"
            )
            table.add_row(step.name, took)
        console.print(table)
    if full:
        console.print_json(result_json(result))
    else:
        console.print_json(json.dumps(result.model_dump(mode="json", include={"value", "error"})))
