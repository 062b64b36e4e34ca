"""Accounts: which clouds a worker may act on, and with which credentials.

The worker reads ``cloudops.toml``; requests carry only an account *name*. Credentials are
resolved inside activities on the worker, so no secret ever enters a workflow input or history.

.. code-block:: toml

    [accounts.prod-aws]
    provider = "aws"
    regions = ["us-east-1", "eu-west-1"]
    profile = "prod"            # provider-specific, validated by the provider plugin
"""

from __future__ import annotations

import contextvars
import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloudops.budgets import BudgetError, BudgetPolicy, parse_budget
from cloudops.errors import BusinessError, ErrorCode
from cloudops.models import Input, Output
from cloudops.permissions import SecurityConfig
from cloudops.validation import validation_details

__all__ = [
    "Account",
    "AccountBook",
    "AccountConfig",
    "ConfigError",
    "current_account",
    "current_account_names",
    "load_config",
]

CONFIG_ENV = "CLOUDOPS_CONFIG"
DEFAULT_CONFIG = Path("cloudops.toml")


class ConfigError(ValueError):
    """``cloudops.toml`` is unreadable or invalid; the message says which key and why."""


class TrafficGuard(BaseModel):
    """A protected cluster: a deploy never leaves it without an enabled, healthy group."""

    model_config = ConfigDict(extra="forbid")

    cluster: str = Field(min_length=1, description="app-stack-detail")
    regions: list[str] = Field(default_factory=list, description="empty: every region")


class AccountConfig(BaseModel):
    """One ``[accounts.NAME]`` table. Keys beyond these are the provider's own settings."""

    model_config = ConfigDict(extra="allow")

    provider: str
    regions: list[str] = Field(default_factory=list, description="allowed regions; empty: any")
    endpoint: str | None = Field(default=None, description="API endpoint override (emulators)")
    traffic_guards: list[TrafficGuard] = Field(default_factory=list)
    budget: dict[str, Any] | None = Field(
        default=None, description="calls per second per family and region (cloudops.budgets)"
    )


class FileConfig(SecurityConfig):
    """The whole ``cloudops.toml``: accounts, and who may use them (:mod:`cloudops.permissions`)."""

    model_config = ConfigDict(extra="forbid")

    accounts: dict[str, AccountConfig] = Field(default_factory=dict)


class Account(BaseModel):
    """An account as activities see it: common keys plus the provider's validated settings."""

    name: str
    provider: str
    regions: list[str]
    endpoint: str | None = None
    settings: Any = None
    traffic_guards: list[TrafficGuard] = Field(default_factory=list)
    budget: BudgetPolicy | None = None

    def allows(self, region: str) -> bool:
        """True when the account may act in ``region``."""
        return not self.regions or region in self.regions


class AccountCheck(Input):
    """Argument of the ``cloudops.check_account`` local activity."""

    operation: str
    provider: str
    needs_account: bool
    account: str | None = None
    region: str | None = None


class AccountCheckResult(Output):
    """What the account check learnt (no secrets)."""

    account: str | None = None
    provider: str | None = None
    #: Family -> calls per second, when the account has a budget (``cloudops.budgets``).
    budget: dict[str, float] | None = None
    #: The region the budget's fairness key names (None: the cloud meters the whole account).
    budget_region: str | None = None


def load_config(path: str | os.PathLike[str] | None = None) -> FileConfig:
    """Read ``cloudops.toml`` from ``path``, ``$CLOUDOPS_CONFIG`` or ``./cloudops.toml``.

    A missing default file means "no accounts"; a missing file that was asked for is an error.
    """
    explicit = path or os.environ.get(CONFIG_ENV)
    file = Path(explicit) if explicit else DEFAULT_CONFIG
    if not file.exists():
        if explicit:
            raise ConfigError(
                f"config file {file} does not exist (set by --config or {CONFIG_ENV})"
            )
        return FileConfig()
    try:
        data = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{file}: not valid TOML: {err}") from None
    try:
        return FileConfig.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{d['field']}: {d['reason']}" for d in validation_details(err))
        raise ConfigError(f"{file}: {problems}") from None


class AccountBook:
    """The accounts a worker knows, validated against the installed providers' settings models."""

    def __init__(
        self, accounts: Mapping[str, Account] | None = None, security: SecurityConfig | None = None
    ) -> None:
        self.accounts: dict[str, Account] = dict(accounts or {})
        #: ``authorization``, ``[identity]`` and ``[[permissions]]`` of the same file.
        self.security = security or SecurityConfig()

    @classmethod
    def from_config(
        cls,
        config: FileConfig,
        settings_models: Mapping[str, type[BaseModel]],
        budget_defaults: Mapping[str, tuple[Mapping[str, float], bool]] | None = None,
    ) -> AccountBook:
        """Validate every account; an unknown provider or bad setting is a :class:`ConfigError`.

        ``budget_defaults``: provider -> (default calls per second per family, whether the
        cloud meters each region apart), for ``[accounts.NAME.budget]`` tables.
        """
        accounts = {}
        for name, table in config.accounts.items():
            model = settings_models.get(table.provider)
            if model is None:
                known = ", ".join(sorted(settings_models)) or "none installed"
                raise ConfigError(
                    f"account {name!r}: provider {table.provider!r} is not installed "
                    f"(installed providers: {known})"
                )
            extra = dict(table.model_extra or {})
            try:
                settings = model.model_validate(extra)
            except ValidationError as err:
                problems = "; ".join(
                    f"{d['field']}: {d['reason']}" for d in validation_details(err)
                )
                raise ConfigError(f"account {name!r}: {problems}") from None
            budget = None
            if table.budget is not None:
                defaults, per_region = (budget_defaults or {}).get(table.provider, ({}, True))
                try:
                    budget = parse_budget(name, table.budget, defaults, per_region=per_region)
                except BudgetError as err:
                    raise ConfigError(str(err)) from None
            accounts[name] = Account(
                name=name,
                provider=table.provider,
                regions=table.regions,
                endpoint=table.endpoint,
                settings=settings,
                traffic_guards=table.traffic_guards,
                budget=budget,
            )
        return cls(
            accounts,
            SecurityConfig.model_validate(
                config.model_dump(include={"authorization", "identity", "permissions"})
            ),
        )

    def check(self, request: AccountCheck) -> AccountCheckResult:
        """Check a request may use its account and region; raise INVALID_INPUT if not."""
        if request.account is None:
            if request.needs_account:
                raise BusinessError(
                    ErrorCode.INVALID_INPUT,
                    f"{request.operation} needs an account of provider {request.provider!r}",
                    {
                        "errors": [{"field": "account", "reason": "required"}],
                        "accounts": self.names(request.provider),
                    },
                )
            return AccountCheckResult()
        account = self.accounts.get(request.account)
        if account is None:
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                f"unknown account {request.account!r}",
                {
                    "errors": [{"field": "account", "reason": "not configured on the worker"}],
                    "accounts": self.names(request.provider if request.needs_account else None),
                },
            )
        if request.needs_account and account.provider != request.provider:
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                f"account {account.name!r} is a {account.provider} account, "
                f"but {request.operation} needs a {request.provider} account",
                {
                    "errors": [{"field": "account", "reason": f"not a {request.provider} account"}],
                    "accounts": self.names(request.provider),
                },
            )
        if request.needs_account and request.region is None and account.regions:
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                f"{request.operation} needs a region; account {account.name!r} allows "
                f"{', '.join(account.regions)}",
                {"errors": [{"field": "region", "reason": "required"}]},
            )
        if request.region is not None and not account.allows(request.region):
            raise BusinessError(
                ErrorCode.INVALID_INPUT,
                f"account {account.name!r} does not allow region {request.region!r} "
                f"(allowed: {', '.join(account.regions)})",
                {"errors": [{"field": "region", "reason": "not allowed for this account"}]},
            )
        if account.budget is None:
            return AccountCheckResult(account=account.name, provider=account.provider)
        return AccountCheckResult(
            account=account.name,
            provider=account.provider,
            budget=account.budget.for_region(request.region),
            budget_region=account.budget.scope(request.region),
        )

    def names(self, provider: str | None = None) -> list[str]:
        """Account names, optionally of one provider."""
        return sorted(n for n, a in self.accounts.items() if provider in (None, a.provider))

    def get(self, name: str) -> Account:
        """The account ``name``, or a NOT_FOUND business error."""
        account = self.accounts.get(name)
        if account is None:
            raise BusinessError(ErrorCode.INVALID_INPUT, f"unknown account {name!r}")
        return account


_current_book: contextvars.ContextVar[AccountBook] = contextvars.ContextVar("cloudops_accounts")


@contextmanager
def using_accounts(book: AccountBook) -> Iterator[None]:
    """Make ``book`` the one :func:`current_account` reads (set per activity by the worker)."""
    token = _current_book.set(book)
    try:
        yield
    finally:
        _current_book.reset(token)


def _book() -> AccountBook:
    try:
        return _current_book.get()
    except LookupError:
        raise RuntimeError(
            "no account book is active: call current_account() inside an activity run by a "
            "cloudops worker, or wrap the call in cloudops.accounts.using_accounts(book)"
        ) from None


def current_account(name: str) -> Account:
    """In an activity: the worker's account ``name`` with its provider settings."""
    return _book().get(name)


def current_account_names(provider: str | None = None) -> list[str]:
    """In an activity: the names of the worker's accounts (of ``provider``)."""
    return _book().names(provider)
