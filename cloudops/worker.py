"""Building a Temporal worker (or a temporalio plugin for your own worker) from the catalogue."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.plugin import SimplePlugin
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    ReplayerConfig,
    Worker,
    WorkerConfig,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from cloudops.accounts import (
    AccountBook,
    AccountCheck,
    AccountCheckResult,
    FileConfig,
    load_config,
    using_accounts,
)
from cloudops.budgets import budget_queue, configure_budget_queue, declare_calls, watch_fleet
from cloudops.codec import PayloadCodecOption, resolve_codec, with_codec
from cloudops.heartbeat import AutoHeartbeatInterceptor
from cloudops.permissions import Authorizer, IdentityHeaderInterceptor, security_activities
from cloudops.registry import CloudOps
from cloudops.runner import CHECK_ACCOUNT_ACTIVITY, UntypedCloudOperationRunner
from cloudops.runtime import WorkerRuntime, install
from cloudops.telemetry import TelemetryInterceptor, tracing_interceptor

__all__ = ["DEFAULT_TASK_QUEUE", "CloudOpsPlugin", "build_worker", "passthrough_modules"]

DEFAULT_TASK_QUEUE = "cloudops"
log = logging.getLogger(__name__)
#: Modules the sandbox must share with the worker: the catalogue's classes live in them.
CORE_PASSTHROUGH = ("cloudops", "pluggy", "pydantic", "pydantic_core", "annotated_types")


def passthrough_modules(cloudops: CloudOps) -> list[str]:
    """Modules passed through the workflow sandbox: cloudops, pydantic, every plugin's package."""
    return sorted(set(CORE_PASSTHROUGH) | cloudops.catalogue.plugin_modules())


def _check_account_activity(book: AccountBook) -> Callable[..., Any]:
    @activity.defn(name=CHECK_ACCOUNT_ACTIVITY)
    async def check_account(request: AccountCheck) -> AccountCheckResult:
        """Check a request's account and region against this worker's ``cloudops.toml``."""
        return book.check(request)

    return check_account


class _AccountsInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, book: AccountBook) -> None:
        super().__init__(next)
        self._book = book

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        with using_accounts(self._book):
            return await self.next.execute_activity(input)


class _AccountsInterceptor(Interceptor):
    """Makes the worker's accounts readable with ``cloudops.current_account`` in activities."""

    def __init__(self, book: AccountBook) -> None:
        self._book = book

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _AccountsInbound(next, self._book)


def account_book(cloudops: CloudOps, config: FileConfig | None = None) -> AccountBook:
    """Validate ``config`` (default: ``cloudops.toml``) against the installed providers."""
    providers = cloudops.catalogue.providers
    models = {name: entry.provider.accounts for name, entry in providers.items()}
    budgets = {
        name: (entry.provider.budget_defaults, entry.provider.budget_per_region)
        for name, entry in providers.items()
    }
    return AccountBook.from_config(config if config is not None else load_config(), models, budgets)


def _interceptors(book: AccountBook, tracing: bool) -> list[Any]:
    # AutoHeartbeatInterceptor first: the activity's own heartbeats reach it through the others.
    interceptors: list[Any] = [
        AutoHeartbeatInterceptor(),
        _AccountsInterceptor(book),
        TelemetryInterceptor(),
        IdentityHeaderInterceptor(),
    ]
    if tracing:
        tracer = tracing_interceptor()
        if tracer is None:
            raise RuntimeError(
                "tracing needs OpenTelemetry: pip install 'cloudops[otel]' "
                "(opentelemetry-api and opentelemetry-sdk)"
            )
        interceptors.append(tracer)
    return interceptors


def _warn_if_unprotected(book: AccountBook, authorizer: Authorizer | None) -> None:
    """One warning at start when accounts are reachable by any client of the task queue."""
    if authorizer is not None or not book.accounts:
        return
    if book.security.authorization == "off":
        log.info('authorization is off (authorization = "off" in cloudops.toml)')
        return
    log.warning(
        "authorization is off: cloudops.toml configures account(s) %s but no [identity] table, "
        "so any client of the task queue may run any operation on them; configure [identity] "
        'and [[permissions]] (docs/security.md), or set authorization = "off" if intended',
        ", ".join(sorted(book.accounts)),
    )


def _authorization_options(authorizer: Authorizer | None) -> dict[str, Any]:
    if authorizer is None or authorizer.config.identity is None:
        return {}
    seconds = authorizer.config.identity.verify_timeout_seconds
    return {"authorization": True, "identity_timeout": timedelta(seconds=seconds)}


class CloudOpsPlugin(SimplePlugin):
    """A temporalio plugin that adds cloudops to any Temporal client and worker.

    It sets the pydantic data converter, registers ``UntypedCloudOperationRunner`` and every
    installed plugin's activities, passes cloudops and the plugins through the workflow sandbox
    makes the worker's accounts available to activities, heartbeats every activity that has a
    heartbeat timeout while it runs (:mod:`cloudops.heartbeat`), carries the operation context to
    activities for logs and metrics, and with ``tracing`` adds OpenTelemetry tracing. Payloads
    are encrypted with ``CLOUDOPS_PAYLOAD_KEY`` when it is set (:mod:`cloudops.codec`), or with
    ``payload_codec`` (``None``: no codec)::

        plugin = CloudOpsPlugin()
        client = await Client.connect("localhost:7233", plugins=[plugin])
        worker = Worker(client, task_queue="cloudops")   # workflows and activities come from it
    """

    def __init__(
        self,
        cloudops: CloudOps | None = None,
        *,
        accounts: AccountBook | None = None,
        search_attributes: bool = True,
        tracing: bool = False,
        payload_codec: PayloadCodecOption = "env",
    ) -> None:
        self.cloudops = cloudops or CloudOps()
        self.payload_codec = resolve_codec(payload_codec)
        self._keep_codec = payload_codec == "env"
        self.accounts = accounts if accounts is not None else account_book(self.cloudops)
        # Identity and permissions: from the same cloudops.toml; off when it configures none.
        self.authorizer = Authorizer.build(
            self.accounts.security, self.cloudops, self.accounts.accounts
        )
        _warn_if_unprotected(self.accounts, self.authorizer)
        self.runtime = WorkerRuntime(
            self.cloudops.catalogue,
            search_attributes=search_attributes,
            **_authorization_options(self.authorizer),
        )
        catalogue = self.cloudops.catalogue
        restrictions = SandboxRestrictions.default.with_passthrough_modules(
            *passthrough_modules(self.cloudops)
        )
        super().__init__(
            "cloudops.CloudOpsPlugin",
            data_converter=self.data_converter_for,
            workflows=[UntypedCloudOperationRunner],
            activities=[
                *(entry.fn for entry in catalogue.activities.values()),
                _check_account_activity(self.accounts),
                *security_activities(self.authorizer),
            ],
            workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
            interceptors=_interceptors(self.accounts, tracing),
        )
        self._activity_interceptors = _interceptors(self.accounts, tracing)

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        """Run the worker, and a second one on its budget queue when accounts have budgets.

        The budgeted activities of this queue's workflows are scheduled on the budget queue
        (:mod:`cloudops.budgets`); its per-key rate limit is set here, at every start.
        """
        queue = budget_queue(worker.task_queue)
        if worker.task_queue.endswith("-budgeted") or not any(
            account.budget for account in self.accounts.accounts.values()
        ):
            await super().run_worker(worker, next)
            return
        await configure_budget_queue(worker.client, queue)
        for entry in self.cloudops.catalogue.providers.values():
            declare_calls(entry.provider.activity_calls)
        import pyrate_limiter  # noqa: F401  (imported now, not by the first paced call)

        config = worker.config()
        deployment = config.get("deployment_config")
        versioning: dict[str, Any] = (
            {"deployment_config": deployment}
            if deployment
            else {"build_id": config.get("build_id") or "cloudops-budgeted"}
        )
        budgeted = Worker(
            worker.client,
            task_queue=queue,
            activities=[entry.fn for entry in self.cloudops.catalogue.activities.values()],
            interceptors=self._activity_interceptors,
            activity_executor=config.get("activity_executor"),
            max_concurrent_activities=config.get("max_concurrent_activities"),
            graceful_shutdown_timeout=config.get("graceful_shutdown_timeout") or timedelta(0),
            identity=f"{worker.client.identity}-budgeted",
            **versioning,
        )
        async with budgeted:
            watching = asyncio.create_task(watch_fleet(worker.client, queue))
            try:
                await super().run_worker(worker, next)
            finally:
                watching.cancel()

    def data_converter_for(self, existing: DataConverter | None) -> DataConverter:
        """The pydantic data converter with this plugin's payload codec.

        With the default ``payload_codec="env"`` and no key in the environment, a codec that
        ``existing`` already has is kept.
        """
        return with_codec(self.payload_codec, existing=existing, keep_codec=self._keep_codec)

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """Add cloudops to the worker and install its catalogue for the worker's task queue."""
        config = super().configure_worker(config)
        install(config["task_queue"], self.runtime)
        if config.get("activity_executor") is None and any(
            not _is_async(fn) for fn in config.get("activities") or ()
        ):
            # A plugin's plain ``def`` activity runs in a thread (heartbeated like the others).
            config["activity_executor"] = ThreadPoolExecutor(
                max_workers=config.get("max_concurrent_activities") or 100,
                thread_name_prefix="cloudops-activity",
            )
        return config

    def configure_replayer(self, config: ReplayerConfig) -> ReplayerConfig:
        """Add cloudops to a Replayer, so recorded histories replay against this catalogue."""
        config = super().configure_replayer(config)
        install("__replayer__", self.runtime)
        return config


def _is_async(fn: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    return not inspect.isfunction(fn) and inspect.iscoroutinefunction(type(fn).__call__)


def default_build_id(cloudops: CloudOps) -> str:
    """A build id naming cloudops' version and every plugin's distribution and version."""
    from cloudops import __version__

    parts = [f"cloudops=={__version__}"]
    parts += sorted(f"{p.distribution or p.name}=={p.version or '?'}" for p in cloudops.plugins())
    digest = hashlib.sha256(";".join(parts).encode()).hexdigest()[:16]
    return f"cloudops-{__version__}-{digest}"


def build_worker(
    client: Client,
    cloudops: CloudOps | None = None,
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    accounts: AccountBook | None = None,
    plugins: Sequence[Any] = (),
    search_attributes: bool = True,
    tracing: bool = False,
    payload_codec: PayloadCodecOption = "env",
    **worker_options: Any,
) -> Worker:
    """A Temporal worker running every operation of ``cloudops`` on ``task_queue``.

    ``client`` may be any Temporal client; it is re-created with the pydantic data converter
    and the payload codec (``CLOUDOPS_PAYLOAD_KEY``, or ``payload_codec``) if it does not use
    them already.
    """
    plugin = CloudOpsPlugin(
        cloudops,
        accounts=accounts,
        search_attributes=search_attributes,
        tracing=tracing,
        payload_codec=payload_codec,
    )
    # temporalio's default build id hashes the bytecode of every loaded module (0.2 s with a
    # bytecode cache, over 1 s without one): name the build by what is installed instead.
    if "deployment_config" not in worker_options:  # exclusive with build_id
        worker_options.setdefault("build_id", default_build_id(plugin.cloudops))
    converter = plugin.data_converter_for(client.data_converter)
    if client.data_converter is not converter:
        config = client.config()
        config["data_converter"] = converter
        client = Client(**config)
    return Worker(
        client,
        task_queue=task_queue,
        plugins=[plugin, *plugins],
        **worker_options,
    )
