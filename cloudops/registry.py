"""Plugin discovery and the catalogue of operations, activities and providers.

There is no global plugin manager: a :class:`CloudOps` object owns one, so an embedding program
or a test can hold several isolated ones. Installed plugins are found through the ``cloudops``
entry-point group; plugin objects (modules or instances) can also be passed in directly.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pluggy
from pydantic import BaseModel, ConfigDict

from cloudops import hookspecs

if TYPE_CHECKING:
    from cloudops.operation import CloudOperation

__all__ = [
    "ActivityEntry",
    "Catalogue",
    "CloudOps",
    "DeploymentMonitor",
    "MonitorEntry",
    "OperationEntry",
    "PluginInfo",
    "Provider",
    "RegistrationError",
]

LOAD_ENV = "CLOUDOPS_LOAD_PLUGINS"
DISABLED_ENV = "CLOUDOPS_DISABLED_PLUGINS"


class RegistrationError(RuntimeError):
    """A plugin registered something invalid or something another plugin already registered."""


class AccountSettings(BaseModel):
    """Default settings model for a provider that declares none: any extra key is refused."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Provider:
    """A cloud a plugin supports.

    ``accounts`` validates the provider-specific keys of an ``[accounts.NAME]`` table in
    ``cloudops.toml`` (credential source, profile, role...). ``classify`` maps the cloud SDK's
    exceptions onto :mod:`cloudops.errors`; it is informational for the core. ``warm_up``
    (optional) imports the SDK in the background when a worker starts.
    """

    name: str
    accounts: type[BaseModel] = AccountSettings
    description: str = ""
    classify: Callable[[BaseException], BaseException] | None = None
    #: Imports the cloud SDK ahead of the first activity. A worker with an account of this
    #: provider runs it in a background thread once it polls: a replacement for a killed worker
    #: then resumes the lost attempt without first paying seconds of SDK import.
    warm_up: Callable[[], None] | None = None
    #: Conservative calls per second per API family (``reads``, ``mutations``) from the cloud's
    #: published limits: what an empty ``[accounts.NAME.budget]`` table gives (cloudops.budgets).
    budget_defaults: Mapping[str, float] = field(default_factory=dict)
    #: Whether the cloud meters each region apart (AWS, Azure) or the whole account (GCP).
    budget_per_region: bool = True
    #: The provider's activities that only read; its others count as mutations.
    read_activities: frozenset[str] = frozenset()
    #: Read activities whose concurrent attempts share their calls (:mod:`cloudops.batching`):
    #: an attempt often makes no call of its own, so their attempts are not limited one for
    #: one against the reads budget (their calls are paced under it, ``cloudops.budgets``).
    shared_read_activities: frozenset[str] = frozenset()
    #: Calls one attempt of an activity is expected to make, for activities making more than
    #: one (or, for a shared read, sharing a read of several calls): the server dispatches
    #: their attempts at ``budget / calls`` a second (``cloudops.budgets.attempt_weight``).
    #: Workflows started before an activity was listed here schedule it as a plain one-call
    #: activity of its family (``cloudops.operation.BUDGET_CALLS_PATCH``).
    activity_calls: Mapping[str, float] = field(default_factory=dict)

    def family(self, activity: str) -> str:
        """The API family an activity's calls are budgeted under."""
        return "reads" if activity in self.read_activities else "mutations"


@dataclass(frozen=True)
class DeploymentMonitor:
    """A deployment monitor a deploy consults at each step (``register_deployment_monitors``).

    ``evaluate`` is a coroutine function taking the deploy's request (cloudops-deploy's
    ``MonitorRequest``) and answering its directive (``MonitorAnswer``). It runs inside an
    activity, never in workflow code: it may call anything, and its answer is recorded.
    """

    name: str
    evaluate: Callable[[Any], Awaitable[Any]]
    description: str = ""


@dataclass(frozen=True)
class MonitorEntry:
    """A deployment monitor in the catalogue, with the plugin that registered it."""

    monitor: DeploymentMonitor
    plugin: str


@dataclass(frozen=True)
class OperationEntry:
    """An operation in the catalogue, with the plugin that registered it."""

    name: str
    cls: type[CloudOperation[Any, Any]]
    plugin: str


@dataclass(frozen=True)
class ActivityEntry:
    """An activity in the catalogue, with its Temporal name and declared return type."""

    name: str
    fn: Callable[..., Any]
    plugin: str
    result_type: type[Any] | None


@dataclass(frozen=True)
class ProviderEntry:
    """A provider in the catalogue, with the plugin that registered it."""

    provider: Provider
    plugin: str


@dataclass(frozen=True)
class PluginInfo:
    """What ``cloudops plugins`` shows about one plugin."""

    name: str
    version: str | None
    distribution: str | None
    hooks: tuple[str, ...]
    module: str


@dataclass
class Catalogue:
    """Everything the plugins registered, keyed by full name."""

    operations: dict[str, OperationEntry] = field(default_factory=dict)
    activities: dict[str, ActivityEntry] = field(default_factory=dict)
    providers: dict[str, ProviderEntry] = field(default_factory=dict)
    monitors: dict[str, MonitorEntry] = field(default_factory=dict)

    def operation(self, name: str) -> OperationEntry | None:
        """Return the operation called ``name``, or None."""
        return self.operations.get(name)

    def activity(self, name: str) -> ActivityEntry | None:
        """Return the activity called ``name``, or None."""
        return self.activities.get(name)

    def plugin_modules(self) -> set[str]:
        """Top-level modules of every registered item: passed through the workflow sandbox."""
        modules = {entry.cls.__module__ for entry in self.operations.values()}
        modules |= {entry.fn.__module__ for entry in self.activities.values()}
        return {m.split(".")[0] for m in modules}


def _split_env(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {item.strip() for item in value.split(",") if item.strip()}


def _activity_name(fn: Callable[..., Any]) -> tuple[str, type[Any] | None]:
    from temporalio.activity import _Definition

    defn = _Definition.from_callable(fn)
    if defn is None or defn.name is None or "." not in defn.name:
        raise RegistrationError(
            f"{getattr(fn, '__qualname__', fn)!r} is not a Temporal activity with a namespaced "
            "name: decorate it with @temporalio.activity.defn(name='provider.verb') so that "
            "plugins cannot collide"
        )
    ret = defn.ret_type if isinstance(defn.ret_type, type) else None
    return defn.name, ret


class CloudOps:
    """Owns one plugin manager and the catalogue built from its plugins.

    ``plugins`` are extra plugin objects (modules, classes or instances with hook implementations).
    With ``load_entrypoints`` (the default) installed plugins are loaded too, filtered by
    ``CLOUDOPS_LOAD_PLUGINS`` (comma-separated allow-list of entry-point names; empty loads none)
    and ``CLOUDOPS_DISABLED_PLUGINS`` (comma-separated block-list).
    """

    def __init__(
        self,
        plugins: Sequence[object] = (),
        *,
        load_entrypoints: bool = True,
        allow: Iterable[str] | None = None,
        disabled: Iterable[str] | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._dists: dict[str, importlib.metadata.Distribution] = {}
        allowed = set(allow) if allow is not None else _split_env(LOAD_ENV)
        blocked = set(disabled) if disabled is not None else (_split_env(DISABLED_ENV) or set())
        if load_entrypoints:
            self._load_entrypoints(allowed, blocked)
        for plugin in plugins:
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            if self.pm.is_registered(plugin):
                continue
            self.pm.register(plugin, name=name if self.pm.get_plugin(name) is None else None)
        self.pm.check_pending()

    def _load_entrypoints(self, allowed: set[str] | None, blocked: set[str]) -> None:
        for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT):
            if ep.name in blocked or (allowed is not None and ep.name not in allowed):
                continue
            if self.pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except Exception as err:
                dist = f" ({ep.dist.name} {ep.dist.version})" if ep.dist else ""
                raise RegistrationError(
                    f"plugin {ep.name!r}{dist} failed to load: {type(err).__name__}: {err}. "
                    f"Fix or uninstall it, or skip it with {DISABLED_ENV}={ep.name}"
                ) from err
            self.pm.register(plugin, name=ep.name)
            if ep.dist is not None:
                self._dists[ep.name] = ep.dist

    @cached_property
    def catalogue(self) -> Catalogue:
        """The catalogue, built once from every registered plugin's hooks."""
        from cloudops.operation import CloudOperation

        catalogue = Catalogue()

        for impl in self.pm.hook.register_operations.get_hookimpls():
            plugin = impl.plugin_name

            def add_operation(cls: type[Any], plugin: str = plugin) -> None:
                if not (isinstance(cls, type) and issubclass(cls, CloudOperation)):
                    raise RegistrationError(
                        f"plugin {plugin!r} registered {cls!r}, which is not a CloudOperation class"
                    )
                name = cls.full_name()
                known = catalogue.operations.get(name)
                if known is not None and known.cls is not cls:
                    raise RegistrationError(
                        f"operation {name!r} is registered by both plugin {known.plugin!r} "
                        f"and plugin {plugin!r}; uninstall or disable one "
                        f"(e.g. {DISABLED_ENV}={plugin})"
                    )
                catalogue.operations[name] = OperationEntry(name, cls, plugin)

            impl.function(register=add_operation)

        for impl in self.pm.hook.register_activities.get_hookimpls():
            plugin = impl.plugin_name

            def add_activity(fn: Callable[..., Any], plugin: str = plugin) -> None:
                name, ret = _activity_name(fn)
                known = catalogue.activities.get(name)
                if known is not None and known.fn is not fn:
                    raise RegistrationError(
                        f"activity {name!r} is registered by both plugin {known.plugin!r} "
                        f"and plugin {plugin!r}"
                    )
                catalogue.activities[name] = ActivityEntry(name, fn, plugin, ret)

            impl.function(register=add_activity)

        for impl in self.pm.hook.register_providers.get_hookimpls():
            plugin = impl.plugin_name

            def add_provider(provider: Any, plugin: str = plugin) -> None:
                if not isinstance(provider, Provider):
                    raise RegistrationError(
                        f"plugin {plugin!r} registered {provider!r}, which is not a Provider"
                    )
                known = catalogue.providers.get(provider.name)
                if known is not None and known.provider is not provider:
                    raise RegistrationError(
                        f"provider {provider.name!r} is registered by both plugin "
                        f"{known.plugin!r} and plugin {plugin!r}"
                    )
                catalogue.providers[provider.name] = ProviderEntry(provider, plugin)

            impl.function(register=add_provider)

        for impl in self.pm.hook.register_deployment_monitors.get_hookimpls():
            plugin = impl.plugin_name

            def add_monitor(monitor: Any, plugin: str = plugin) -> None:
                if not isinstance(monitor, DeploymentMonitor):
                    raise RegistrationError(
                        f"plugin {plugin!r} registered {monitor!r}, which is not a "
                        "DeploymentMonitor"
                    )
                known = catalogue.monitors.get(monitor.name)
                if known is not None and known.monitor is not monitor:
                    raise RegistrationError(
                        f"deployment monitor {monitor.name!r} is registered by both plugin "
                        f"{known.plugin!r} and plugin {plugin!r}"
                    )
                catalogue.monitors[monitor.name] = MonitorEntry(monitor, plugin)

            impl.function(register=add_monitor)

        return catalogue

    def plugins(self) -> list[PluginInfo]:
        """Describe every registered plugin: name, distribution, version and hooks."""
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(
                sorted(
                    caller.name
                    for caller in self.pm.get_hookcallers(plugin) or []
                    if caller.name.startswith("register_")
                )
            )
            dist = self._dists.get(name)
            infos.append(
                PluginInfo(
                    name=name,
                    version=dist.version if dist else None,
                    distribution=dist.metadata["Name"] if dist else None,
                    hooks=hooks,
                    module=getattr(plugin, "__name__", type(plugin).__module__),
                )
            )
        return sorted(infos, key=lambda info: info.name)
