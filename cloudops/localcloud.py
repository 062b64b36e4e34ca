"""Local clouds: each provider's stand-in cloud on this machine, as a profile.

``cloudops dev``, ``cloudops demo``, the chaos harness and the test fixtures all need a cloud
that runs here (moto, the GCP and Azure emulators) behind a fault-injecting proxy, with an
account pointed at it, a sample server group, a way to read back what the cloud really holds
and an audit of it. A provider plugin describes its cloud once, as a :class:`LocalCloud`
registered through the ``register_local_clouds`` hook; everything else loops over the registered
profiles and never names a cloud.

A profile module is imported when its plugin loads, so it stays light: the emulator and the
fault proxy (cloudops-testing) are imported inside :meth:`LocalCloud.start`, never at module
level, and nothing it imports may import pytest.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from cloudops.registry import CloudOps

__all__ = [
    "Audit",
    "Expected",
    "ExpectedNetwork",
    "GroupState",
    "LocalCloud",
    "LocalClouds",
    "RegisteredLocalCloud",
    "RunningCloud",
    "audit_network",
    "check_scaling",
    "in_cluster",
    "local_clouds",
    "reported_groups",
]

#: What the operations reported, per application: server group -> {"disabled", "desired"}.
Expected = dict[str, dict[str, dict[str, Any]]]
#: What the network upserts reported, per application: kind (``load_balancer``,
#: ``security_group``) -> the names expected to exist (empty when the upsert failed).
ExpectedNetwork = dict[str, dict[str, list[str]]]


@dataclass(frozen=True)
class GroupState:
    """One server group as the cloud itself holds it (read from the cloud, not from cloudops)."""

    name: str
    capacity: int
    instances: int
    disabled: bool

    def describe(self) -> str:
        """``serving, 2 instance(s)`` or ``disabled, 0 instance(s)``."""
        return f"{'disabled' if self.disabled else 'serving'}, {self.instances} instance(s)"


def in_cluster(group: str, cluster: str) -> bool:
    """Whether ``group`` is a server group (``{cluster}-vNNN``) of ``cluster``."""
    head, _, sequence = group.rpartition("-v")
    return head == cluster and sequence.isdigit()


@dataclass
class Audit:
    """A cloud's state held against what the operations reported."""

    groups_expected: int = 0
    groups_found: int = 0
    duplicates: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    #: Autoscaling found on the audited groups that exist, by kind (policy, alarm, hook...).
    scaling: dict[str, int] = field(default_factory=dict)
    #: Load balancers and security groups the network upserts reported, and those found.
    network_expected: int = 0
    network_found: int = 0

    @classmethod
    def merged(cls, audits: list[Audit]) -> Audit:
        """One audit adding up several clouds' audits."""
        total = cls()
        for audit in audits:
            total.groups_expected += audit.groups_expected
            total.groups_found += audit.groups_found
            total.duplicates += audit.duplicates
            total.leaks += audit.leaks
            total.missing += audit.missing
            total.mismatches += audit.mismatches
            for kind, count in audit.scaling.items():
                total.scaling[kind] = total.scaling.get(kind, 0) + count
            total.network_expected += audit.network_expected
            total.network_found += audit.network_found
        return total


def reported_groups(
    audit: Audit, kind: str, found: dict[str, Any], state: dict[str, dict[str, Any]]
) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """The reported groups the cloud has, as (name, reported state, the cloud's record).

    Shared by every cloud's audit: counts expected and found groups, and records a group the
    cloud has but no operation reported as a leak, one reported but absent as missing.
    """
    audit.groups_expected += len(state)
    audit.groups_found += len(found)
    for name in sorted(set(found) - set(state)):
        audit.leaks.append(f"{kind} {name} that no operation reported")
    for name, want in sorted(state.items()):
        group = found.get(name)
        if group is None:
            audit.missing.append(f"{kind} {name} reported but absent")
            continue
        yield name, want, group


def check_scaling(
    audit: Audit, name: str, want: dict[str, Any], found: dict[str, int], policy: str
) -> None:
    """Count a group's autoscaling (``found`` by kind) and hold its ``policy`` to the report.

    One ``policy`` when the group was made autoscaled (``want["scaled"]``), else none. Only
    groups that exist are counted: some clouds (and moto) keep a deleted group's policies,
    alarms and hooks.
    """
    for kind, count in found.items():
        audit.scaling[kind] = audit.scaling.get(kind, 0) + count
    expected = 1 if want.get("scaled") else 0
    count = found.get(policy, 0)
    if count > expected:
        audit.duplicates.append(f"{count} {policy} for {name}, expected {expected}")
    elif count < expected:
        audit.missing.append(f"{policy} of {name}")


def audit_network(
    audit: Audit, found: dict[str, list[str]], expected: ExpectedNetwork, *, prefix: str
) -> None:
    """Hold the load balancers and security groups a cloud has against the upserts' reports.

    ``found``: kind -> the name of every load balancer or security group the cloud holds (read
    from the cloud, a name once per resource). For each application of ``expected``, those named
    ``{application}{prefix}...`` must be exactly the reported ones, each once: another is a leak
    (two of one name, a duplicate), a reported one absent is missing.
    """
    for app, kinds in sorted(expected.items()):
        for kind, names in sorted(kinds.items()):
            label = kind.replace("_", " ")
            mine = [n for n in found.get(kind, []) if n.startswith(f"{app}{prefix}")]
            audit.network_expected += len(names)
            audit.network_found += len(mine)
            for name in sorted(set(mine)):
                count = mine.count(name)
                if name not in names:
                    audit.leaks.append(f"{label} {name} that no upsert reported")
                elif count > 1:
                    audit.duplicates.append(f"{count} of {label} {name}")
            for name in sorted(set(names) - set(mine)):
                audit.missing.append(f"{label} {name} reported but absent")


class RunningCloud(ABC):
    """A started local cloud: its emulator, the fault proxy in front of it, its account.

    ``emulator`` and ``proxy`` are objects with ``url`` and ``stop()`` (the proxy is a
    ``cloudops_testing.faults.FaultProxy``: its ``rules`` set the faults, its ``counts`` are
    the stats). Clients go through the proxy (:meth:`accounts`); arranging and reading back go
    straight to the emulator, without faults.
    """

    def __init__(
        self,
        profile: LocalCloud,
        emulator: Any,
        proxy: Any,
        *,
        env: Mapping[str, str] | None = None,
        fidelity: Iterable[Callable[..., Any]] = (),
    ) -> None:
        self.profile = profile
        self.emulator = emulator
        self.proxy = proxy
        #: Environment a worker process of this cloud needs (dummy credentials...).
        self.env = dict(env or {})
        #: Fidelity rules every proxy in front of this emulator needs (where it is laxer).
        self.fidelity = list(fidelity)

    @property
    def name(self) -> str:
        """The provider's name."""
        return self.profile.name

    @property
    def account(self) -> str:
        """The account name the local cloud's operations use."""
        return self.profile.account

    @property
    def region(self) -> str:
        """The region the local cloud's operations use."""
        return self.profile.region

    @property
    def upstream(self) -> str:
        """The emulator's own URL (no proxy, no faults)."""
        return str(self.emulator.url)

    def accounts(self) -> dict[str, dict[str, Any]]:
        """``{account: settings}`` for ``cloudops.toml``, the endpoint being the proxy."""
        return {self.account: self.account_settings(self.proxy.url)}

    def fault_counts(self) -> dict[str, int]:
        """What the proxy did: requests ``forwarded`` and faults injected per kind."""
        return dict(self.proxy.counts)

    def server_group(
        self, app: str, *, capacity: dict[str, int], tags: dict[str, str], small: bool = False
    ) -> dict[str, Any]:
        """A createServerGroup input for the cluster ``{app}-web`` of this cloud."""
        return {
            "application": app,
            "stack": "web",
            **self.placement(app, small=small),
            "capacity": capacity,
            "tags": tags,
        }

    @abstractmethod
    def account_settings(self, endpoint: str) -> dict[str, Any]:
        """The ``[accounts.NAME]`` table of an account whose API is at ``endpoint``."""

    @abstractmethod
    def placement(self, app: str, *, small: bool = False) -> dict[str, Any]:
        """The cloud's part of a createServerGroup input for ``{app}-web``.

        Image, instance type, zones, load balancers...; ``small``: one zone and the fewest
        load balancers (the chaos harness's groups), else two zones.
        """

    def network_inputs(self, app: str) -> dict[str, dict[str, Any]]:
        """The inputs of ``{app}-web``'s ``load_balancer`` and ``security_group``, if any.

        The demo makes them through the provider's ``upsertLoadBalancer`` and
        ``upsertSecurityGroup`` before it deploys, and :meth:`placement` (not ``small``) names
        them. Empty by default: a cloud whose sample group joins neither.
        """
        return {}

    def prepare_application(self, app: str, *, small: bool = False) -> None:
        """Arrange what ``{app}-web`` needs before a deploy (its load balancer...), directly.

        Nothing by default (a cloud whose sample group needs nothing made beforehand).
        """
        return None

    @abstractmethod
    def cluster_state(self, cluster: str) -> list[GroupState]:
        """Each server group of ``cluster`` as the emulator holds it, sorted by name."""

    @abstractmethod
    def audit(self, expected: Expected) -> Audit:
        """The emulator's state held against what the operations reported.

        For every application of ``expected``: each reported group exists once, with its
        reported capacity and traffic state; nothing else carries the application; no request
        made two groups.
        """

    def network_names(self) -> dict[str, list[str]] | None:
        """Every ``load_balancer`` and ``security_group`` the emulator holds, by kind, by name.

        Read from the emulator itself (a name once per resource), for :func:`audit_network`.
        None by default: a cloud without network operations is not audited for them.
        """
        return None

    @abstractmethod
    def is_group_creation(self, request: Any) -> bool:
        """Whether a proxied request (``ProxyRequest``) is the call that creates a group."""

    def stop(self) -> None:
        """Stop the proxy, then the emulator."""
        self.proxy.stop()
        self.emulator.stop()


class LocalCloud(ABC):
    """A provider's local cloud profile: what to start, and how its account and groups look."""

    #: The provider's name (``aws``), as in ``register_providers``.
    name: ClassVar[str]
    #: What runs locally, for people (``moto``, ``the GCP emulator``).
    label: ClassVar[str]
    #: Account name and region the local cloud's operations use.
    account: ClassVar[str]
    region: ClassVar[str]
    #: The fault proxy's flavour: the shape of its injected errors (``cloudops_testing.faults``).
    flavor: ClassVar[str]
    #: Prefix of the chaos harness's application names on this cloud (unique per cloud).
    app_prefix: ClassVar[str]
    #: Modules :meth:`start` needs; the profile is unavailable without them.
    requires: ClassVar[tuple[str, ...]] = ("cloudops_testing",)

    def missing(self) -> list[str]:
        """The required modules that are not installed here."""
        return [module for module in self.requires if importlib.util.find_spec(module) is None]

    @abstractmethod
    def start(self, faults: Any = None) -> RunningCloud:
        """Start the emulator and a fault proxy in front of it.

        ``faults`` are ``cloudops_testing.faults.FaultRules`` (no faults by default); the
        proxy answers in this profile's :attr:`flavor`.
        """


@dataclass(frozen=True)
class RegisteredLocalCloud:
    """A local cloud profile, with the plugin that registered it."""

    profile: LocalCloud
    plugin: str


def local_clouds(cloudops: CloudOps) -> dict[str, LocalCloud]:
    """The local clouds the plugins registered, by provider name (sorted)."""
    from cloudops.registry import RegistrationError

    found: dict[str, RegisteredLocalCloud] = {}
    for impl in cloudops.pm.hook.register_local_clouds.get_hookimpls():
        plugin = impl.plugin_name

        def add(profile: Any, plugin: str = plugin) -> None:
            if not isinstance(profile, LocalCloud):
                raise RegistrationError(
                    f"plugin {plugin!r} registered {profile!r}, which is not a LocalCloud"
                )
            known = found.get(profile.name)
            if known is not None and known.profile is not profile:
                raise RegistrationError(
                    f"local cloud {profile.name!r} is registered by both plugin "
                    f"{known.plugin!r} and plugin {plugin!r}"
                )
            found[profile.name] = RegisteredLocalCloud(profile, plugin)

        impl.function(register=add)
    return {name: found[name].profile for name in sorted(found)}


class LocalClouds:
    """Several local clouds started together, each behind its own fault proxy.

    ``faults`` (``FaultRules``) go to every proxy, each in its cloud's flavour.
    """

    def __init__(self, profiles: Iterable[LocalCloud], faults: Any = None) -> None:
        self.profiles = list(profiles)
        self.faults = faults
        self.running: dict[str, RunningCloud] = {}

    def start(self) -> LocalClouds:
        """Start every cloud (stopping those started if one fails)."""
        try:
            for profile in self.profiles:
                self.running[profile.name] = profile.start(self.faults)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every started cloud."""
        while self.running:
            _, cloud = self.running.popitem()
            cloud.stop()

    def __getitem__(self, name: str) -> RunningCloud:
        return self.running[name]

    def __iter__(self) -> Iterator[RunningCloud]:
        return iter(list(self.running.values()))

    def accounts(self) -> dict[str, dict[str, Any]]:
        """Every started cloud's account, ``{name: settings}`` as in ``cloudops.toml``."""
        return {name: table for cloud in self for name, table in cloud.accounts().items()}

    @property
    def env(self) -> dict[str, str]:
        """The environment a worker of every started cloud needs."""
        return {key: value for cloud in self for key, value in cloud.env.items()}

    def __enter__(self) -> LocalClouds:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
