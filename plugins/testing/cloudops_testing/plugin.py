"""The module the ``cloudops`` entry point of cloudops-testing names.

It adds ``cloudops demo`` and the local clouds of the first-party providers that are installed
(moto for AWS, our emulators for GCP and Azure; :mod:`cloudops_testing.clouds`). A third-party
provider offers its own local cloud from its own plugin with the same hook.

Keep it light: the CLI imports it to list its commands. The demo itself
(:mod:`cloudops_testing.demo`) is imported when the command runs.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Annotated, Any

import typer

import cloudops

#: Exit status of a demo that ran but did not end ok, and of a demo refused before starting.
EXIT_FAILED = 1
EXIT_USAGE = 2


def demo(
    keep: Annotated[
        bool,
        typer.Option(help="Keep the server, clouds and worker running afterwards (Ctrl-C stops)."),
    ] = False,
    clouds: Annotated[
        str | None,
        typer.Option(
            help="Clouds to deploy to, comma-separated (aws,gcp,azure); default: all installed."
        ),
    ] = None,
    fault_rate: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Share of cloud API calls answered with a transient fault."
        ),
    ] = 0.2,
    kill: Annotated[
        bool,
        typer.Option("--kill/--no-kill", help="SIGKILL and replace the worker mid-deploy."),
    ] = True,
) -> None:
    """Run the main job end to end on embedded defaults: no cloud account, no network needed.

    Starts a local Temporal server (with its UI), the local cloud of every installed provider
    (moto, the GCP and Azure emulators) behind fault proxies, and a worker; deploys a sample app
    red/black twice on each cloud with live progress, kills and restarts the worker in the
    middle, and prints the final WorkflowResults and the Temporal UI link.
    """
    import asyncio

    from rich.console import Console

    from cloudops.registry import CloudOps, RegistrationError
    from cloudops_testing.demo import DemoUsageError, run_demo

    chosen = [c.strip() for c in clouds.split(",") if c.strip()] if clouds else None
    try:
        ok = asyncio.run(
            run_demo(CloudOps(), keep=keep, clouds=chosen, fault_rate=fault_rate, kill=kill)
        )
    except (DemoUsageError, RegistrationError) as err:
        Console(stderr=True).print(f"[red]error:[/red] {err}")
        raise typer.Exit(EXIT_USAGE) from None
    if not ok:
        raise typer.Exit(EXIT_FAILED)


@cloudops.hookimpl
def register_commands(cli: Any) -> None:
    """Add ``cloudops demo``."""
    cli.command()(demo)


#: The first-party local clouds: (provider package, module of its profile, profile name).
_CLOUDS = (
    ("cloudops_aws", "cloudops_testing.clouds.aws", "LOCAL_AWS"),
    ("cloudops_gcp", "cloudops_testing.clouds.gcp", "LOCAL_GCP"),
    ("cloudops_azure", "cloudops_testing.clouds.azure", "LOCAL_AZURE"),
)


@cloudops.hookimpl
def register_local_clouds(register: Callable[[Any], None]) -> None:
    """Add the local cloud of each installed first-party provider (emulator behind a proxy)."""
    for package, module, name in _CLOUDS:
        if importlib.util.find_spec(package) is not None:
            register(getattr(importlib.import_module(module), name))
