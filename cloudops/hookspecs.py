"""The plugin contract: the hooks a cloudops plugin may implement.

Each hook receives a ``register`` callback, so a plugin reads as a list of what it adds::

    import cloudops

    @cloudops.hookimpl
    def register_operations(register):
        register(CreateServerGroup)

The catalogue built from these hooks is fixed when a worker starts and must be the same on every
worker of a task queue, because workflow code looks operations up in it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["PROJECT", "hookimpl", "hookspec"]

#: pluggy project name and the entry-point group plugins are published under.
PROJECT = "cloudops"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_operations(register: Callable[[type[Any]], None]) -> None:
    """Register :class:`cloudops.CloudOperation` subclasses.

    Call ``register(OperationClass)`` once per operation. Its full name is
    ``f"{cls.provider}.{cls.name}"`` (e.g. ``aws.createServerGroup``); registering a name another
    plugin already registered stops the worker at start-up with an error naming both plugins.
    """


@hookspec
def register_activities(register: Callable[[Callable[..., Any]], None]) -> None:
    """Register Temporal activities (``@temporalio.activity.defn`` functions) the operations call.

    Name activities ``"<provider>.<verb>"`` (``@activity.defn(name="aws.create_launch_template")``)
    so that operations can call them by name without importing the cloud SDK into workflow code.
    """


@hookspec(firstresult=True)
def authorize(request: Any) -> Any:
    """Decide whether a verified caller may run one operation (a policy engine's hook).

    ``request`` is a :class:`cloudops.permissions.AuthorizationRequest` (subject, issuer, groups,
    operation, provider, account, region, application, access ``READ`` or ``WRITE``). Return a
    :class:`cloudops.permissions.AuthorizationDecision` to allow or deny, or ``None`` to leave
    the decision to the next plugin and finally to the ``[[permissions]]`` table of
    ``cloudops.toml``. It runs on the worker in a local activity (I/O such as asking OPA is
    fine; raise :class:`cloudops.RetryableError` when the policy service is unreachable: the
    request then fails closed). Only called when authorization is on.
    """


@hookspec
def register_providers(register: Callable[[Any], None]) -> None:
    """Register cloud providers as :class:`cloudops.Provider` objects.

    A provider names the cloud (``aws``), the pydantic model that validates its accounts'
    settings in ``cloudops.toml``, and optionally a function that classifies its SDK's exceptions.
    Operations whose ``provider`` is a registered provider need an ``account`` of that provider.
    """


@hookspec
def register_local_clouds(register: Callable[[Any], None]) -> None:
    """Register local cloud profiles as :class:`cloudops.localcloud.LocalCloud` objects.

    A provider offers the cloud that stands in for its own on this machine (an emulator behind
    a fault proxy): ``cloudops dev``, ``cloudops demo``, the chaos harness and the test fixtures
    loop over the registered profiles. Import the emulator inside ``start()``, never at module
    level: the plugin module is imported by every ``cloudops`` command.
    """


@hookspec
def register_deployment_monitors(register: Callable[[Any], None]) -> None:
    """Register deployment monitors as :class:`cloudops.DeploymentMonitor` objects.

    A monitor has a ``name`` and an ``evaluate`` coroutine function that a deploy consults at
    each step (``monitor.name`` in a deploy's input). ``evaluate`` runs inside an activity
    (``deploy.consult_monitor`` of cloudops-deploy), so it may do I/O and its answer is
    recorded in the workflow's history: a replay never asks the monitor again.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``cloudops`` command line.

    ``cli`` is its ``typer.Typer`` application: ``@cli.command()`` adds one. The hook runs only
    when the command line asks for something that is not a built-in command (or for the list
    of commands), so a plugin's commands cost nothing to the others.
    """
