"""The ``cloudops`` command: run a dev stack, a worker, and operations from the shell.

Only typer is imported at module level so that ``cloudops --help`` stays fast; each command
imports what it needs.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from cloudops.accounts import AccountBook
    from cloudops.client import CloudOpsClient, OperationHandle
    from cloudops.models import WorkflowResult
    from cloudops.registry import CloudOps

T = TypeVar("T")

app = typer.Typer(
    name="cloudops",
    help="Cloud infrastructure operations as durable executions on Temporal.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
operations_app = typer.Typer(
    help="List installed operations, or show one's input and output JSON schemas.",
    invoke_without_command=True,
)
app.add_typer(operations_app, name="operations")
token_app = typer.Typer(
    help="Seal tokens for other clients (docs/security.md).", no_args_is_help=True
)
app.add_typer(token_app, name="token")


@token_app.command("seal")
def token_seal(
    workflow_id: Annotated[str, typer.Option(help="The workflow id the request will use.")],
    update_id: Annotated[
        str | None,
        typer.Option(help="Seal for this one update (an approval sent with temporal's update)."),
    ] = None,
    token_file: TokenFileOpt = None,
    seal_key: Annotated[
        str | None, typer.Option(envvar="CLOUDOPS_SEAL_KEY", help="The workers' public seal key.")
    ] = None,
) -> None:
    """Print the 'cloudops-identity' header value for a request (temporal --headers)."""
    from cloudops.identity import TOKEN_ENV, seal

    token = token_file.read_text().strip() if token_file else os.environ.get(TOKEN_ENV)
    if not token or not seal_key:
        raise _fail(f"need a token (--token-file or {TOKEN_ENV}) and --seal-key")
    typer.echo(seal(token, workflow_id, seal_key, update_id))


AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address",
        envvar="TEMPORAL_ADDRESS",
        help="Temporal frontend host:port (default: envconfig, then localhost:7233).",
    ),
]
NamespaceOpt = Annotated[
    str | None, typer.Option("--namespace", envvar="TEMPORAL_NAMESPACE", help="Temporal namespace.")
]
QueueOpt = Annotated[
    str,
    typer.Option("--task-queue", envvar="CLOUDOPS_TASK_QUEUE", help="Task queue of the workers."),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", envvar="CLOUDOPS_CONFIG", help="Accounts file (default ./cloudops.toml)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only (for scripts).")]

EXIT_BUSINESS_FAILURE = 1
EXIT_USAGE = 2
EXIT_WORKFLOW_FAILED = 3

_ran_worker = False


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr)


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    from rich.markup import escape

    # one line however narrow the terminal (80 columns when piped), and the message verbatim
    _console(stderr=True).print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except ValueError as err:
        from cloudops.codec import EncryptionKeyError

        if isinstance(err, EncryptionKeyError):  # a payload key missing, wrong or malformed
            raise _fail(str(err)) from None
        raise


def _cloudops() -> CloudOps:
    from cloudops.registry import CloudOps, RegistrationError

    try:
        ops = CloudOps()
        _ = ops.catalogue
        return ops
    except RegistrationError as err:
        raise _fail(str(err)) from None


def _accounts(
    cloudops: CloudOps, config: Path | None, extra: dict[str, Any] | None = None
) -> AccountBook:
    """The config's accounts; with ``extra`` (``cloudops dev``'s local clouds) authorization off."""
    from cloudops.accounts import ConfigError, FileConfig, load_config
    from cloudops.worker import account_book

    try:
        loaded = load_config(config)
        if extra is not None:
            merged = {**extra, **{k: v.model_dump() for k, v in loaded.accounts.items()}}
            accounts = FileConfig.model_validate({"accounts": merged}).accounts
            loaded = loaded.model_copy(update={"accounts": accounts, "authorization": "off"})
        return account_book(cloudops, loaded)
    except ConfigError as err:
        raise _fail(str(err)) from None


TokenFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        envvar="CLOUDOPS_TOKEN_FILE",
        help="File holding your token (sealed with $CLOUDOPS_SEAL_KEY); see docs/security.md.",
    ),
]


def _identity(token_file: Path | None) -> Any:
    """The identity interceptor for ``--token-file`` (else ``CLOUDOPS_TOKEN``), or None."""
    from cloudops.identity import identity_interceptor_from_env

    token = (lambda: token_file.read_text().strip()) if token_file else None
    try:
        return identity_interceptor_from_env(token)
    except (OSError, ValueError) as err:
        raise _fail(str(err)) from None


async def _client(
    address: str | None, namespace: str | None, task_queue: str, **options: Any
) -> CloudOpsClient:
    from cloudops.client import CloudOpsClient, connect_client

    try:
        client = await connect_client(address, namespace=namespace, connect_timeout=5, **options)
    except ConnectionError as err:
        raise _fail(str(err)) from None
    return CloudOpsClient(client, task_queue=task_queue)


def _parse_input(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    if raw == "-":
        text = sys.stdin.read()
    elif raw.startswith("@") or (not raw.lstrip().startswith("{") and Path(raw).is_file()):
        path = Path(raw.removeprefix("@"))
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            raise _fail(f"--input {raw}: cannot read {path} ({reason})") from None
    else:
        text = raw
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise _fail(f"--input is not valid JSON ({err}); pass a JSON object, @FILE or -") from None
    if not isinstance(value, dict):
        raise _fail(f"--input must be a JSON object, got {type(value).__name__}")
    return value


def _parse_labels(labels: list[str] | None) -> dict[str, str]:
    parsed = {}
    for item in labels or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _fail(f"--label {item!r} is not KEY=VALUE")
        parsed[key] = value
    return parsed


async def _follow(
    handle: OperationHandle[Any], operation: str, *, quiet: bool
) -> WorkflowResult[Any]:
    """Wait for a result, showing live progress on stderr unless ``quiet``."""
    from temporalio.client import WorkflowFailureError

    from cloudops.render import progress_line

    task = asyncio.ensure_future(handle.result())
    if quiet:
        try:
            return await task
        except WorkflowFailureError as err:
            raise _fail(f"the workflow failed: {err.cause}", EXIT_WORKFLOW_FAILED) from None
    console = _console(stderr=True)
    with console.status(f"{operation}: starting") as status:
        while not task.done():
            try:
                report = await handle.progress()
                status.update(progress_line(operation, report))
            except Exception:
                pass
            await asyncio.wait([task], timeout=0.5)
    try:
        return task.result()
    except WorkflowFailureError as err:
        raise _fail(f"the workflow failed: {err.cause}", EXIT_WORKFLOW_FAILED) from None


def _finish(result: WorkflowResult[Any], as_json: bool) -> None:
    from cloudops.render import print_result

    print_result(_console(), result, as_json=as_json)
    if not result.ok:
        raise typer.Exit(EXIT_BUSINESS_FAILURE)


@app.command()
def run(
    operation: Annotated[str, typer.Argument(help="Operation name, e.g. aws.createServerGroup.")],
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="JSON object, @FILE, FILE or - (stdin).")
    ] = None,
    account: Annotated[str | None, typer.Option(help="Account name from cloudops.toml.")] = None,
    region: Annotated[str | None, typer.Option(help="Region the account allows.")] = None,
    request_id: Annotated[
        str | None, typer.Option(help="Idempotency key; the same id runs once.")
    ] = None,
    label: Annotated[list[str] | None, typer.Option(help="KEY=VALUE, repeatable.")] = None,
    as_json: JsonOpt = False,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    task_queue: QueueOpt = "cloudops",
    token_file: TokenFileOpt = None,
) -> None:
    """Run an operation, show its progress and print its WorkflowResult.

    Exit code 0 when the result is ok, 1 on a business failure (the error says why),
    2 on a usage error, 3 when the workflow itself failed.
    """
    payload = _parse_input(input)
    labels = _parse_labels(label)

    async def go() -> WorkflowResult[Any]:
        ops = await _client(address, namespace, task_queue, identity=_identity(token_file))
        handle = await ops.submit(
            operation,
            payload,
            account=account,
            region=region,
            request_id=request_id,
            labels=labels,
        )
        return await _follow(handle, operation, quiet=as_json)

    _finish(_run(go()), as_json)


@app.command()
def submit(
    operation: Annotated[str, typer.Argument(help="Operation name.")],
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="JSON object, @FILE, FILE or - (stdin).")
    ] = None,
    account: Annotated[str | None, typer.Option(help="Account name.")] = None,
    region: Annotated[str | None, typer.Option(help="Region.")] = None,
    request_id: Annotated[str | None, typer.Option(help="Idempotency key.")] = None,
    label: Annotated[list[str] | None, typer.Option(help="KEY=VALUE, repeatable.")] = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    task_queue: QueueOpt = "cloudops",
    token_file: TokenFileOpt = None,
) -> None:
    """Start an operation without waiting; print its id (use it with status, watch, cancel)."""
    payload = _parse_input(input)
    labels = _parse_labels(label)

    async def go() -> str:
        ops = await _client(address, namespace, task_queue, identity=_identity(token_file))
        handle = await ops.submit(
            operation,
            payload,
            account=account,
            region=region,
            request_id=request_id,
            labels=labels,
        )
        return handle.id

    typer.echo(_run(go()))


@app.command()
def status(
    workflow_id: Annotated[str, typer.Argument(metavar="ID", help="Operation (workflow) id.")],
    as_json: JsonOpt = False,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Show an operation's state: progress while it runs, its WorkflowResult once done."""

    async def go() -> None:
        from temporalio.client import WorkflowExecutionStatus
        from temporalio.service import RPCError

        from cloudops.render import print_result, progress_line

        ops = await _client(address, namespace, "cloudops")
        handle = ops.get_handle(workflow_id)
        try:
            state = await handle.status()
        except RPCError as err:
            raise _fail(f"no operation {workflow_id!r}: {err.message}") from None
        if state == WorkflowExecutionStatus.RUNNING:
            report = await handle.progress()
            if as_json:
                typer.echo(report.model_dump_json(indent=2))
            else:
                typer.echo(progress_line(workflow_id, report))
            return
        if state == WorkflowExecutionStatus.COMPLETED:
            print_result(_console(), await handle.result(), as_json=as_json)
            return
        name = state.name if state else "UNKNOWN"
        raise _fail(f"operation {workflow_id} ended as {name}", EXIT_WORKFLOW_FAILED)

    _run(go())


@app.command()
def watch(
    workflow_id: Annotated[str, typer.Argument(metavar="ID", help="Operation (workflow) id.")],
    as_json: JsonOpt = False,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Follow a running operation's progress until it ends, then print its result."""

    async def go() -> WorkflowResult[Any]:
        ops = await _client(address, namespace, "cloudops")
        return await _follow(ops.get_handle(workflow_id), workflow_id, quiet=as_json)

    _finish(_run(go()), as_json)


@app.command()
def cancel(
    workflow_id: Annotated[str, typer.Argument(metavar="ID", help="Operation (workflow) id.")],
    wait: Annotated[bool, typer.Option(help="Wait for the rollback and print the result.")] = False,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Cancel an operation: it rolls back what it changed and ends with code CANCELLED."""

    async def go() -> WorkflowResult[Any] | None:
        ops = await _client(address, namespace, "cloudops")
        handle = ops.get_handle(workflow_id)
        await handle.cancel()
        return await handle.result() if wait else None

    result = _run(go())
    if result is None:
        typer.echo(f"cancellation requested for {workflow_id}")
    else:
        _finish(result, as_json=False)


def _judge(
    workflow_id: str,
    approved: bool,
    comment: str | None,
    user: str | None,
    address: str | None,
    namespace: str | None,
    token_file: Path | None,
) -> None:
    async def go() -> str:
        from temporalio.service import RPCError

        from cloudops.client import InputRejected

        ops = await _client(address, namespace, "cloudops", identity=_identity(token_file))
        value: dict[str, Any] = {"approved": approved}
        if comment:
            value["comment"] = comment
        try:
            return await ops.get_handle(workflow_id).send_input("judgement", value, sender=user)
        except InputRejected as err:
            raise _fail(f"not delivered: {err}") from None
        except RPCError as err:
            raise _fail(f"not delivered to {workflow_id}: {err.message}") from None

    typer.echo(_run(go()))


UserOpt = Annotated[
    str | None, typer.Option("--user", envvar="USER", help="Who decides (recorded).")
]
CommentOpt = Annotated[str | None, typer.Option(help="Why (recorded).")]


@app.command()
def approve(
    workflow_id: Annotated[str, typer.Argument(metavar="ID", help="Operation (workflow) id.")],
    comment: CommentOpt = None,
    user: UserOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    token_file: TokenFileOpt = None,
) -> None:
    """Approve an operation waiting for a manual judgement (e.g. a deploy before cut-over)."""
    _judge(workflow_id, True, comment, user, address, namespace, token_file)


@app.command()
def reject(
    workflow_id: Annotated[str, typer.Argument(metavar="ID", help="Operation (workflow) id.")],
    comment: CommentOpt = None,
    user: UserOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    token_file: TokenFileOpt = None,
) -> None:
    """Reject an operation waiting for a manual judgement: it rolls back."""
    _judge(workflow_id, False, comment, user, address, namespace, token_file)


@app.command("list")
def list_(
    operation: Annotated[str | None, typer.Option(help="Only this operation.")] = None,
    provider: Annotated[str | None, typer.Option(help="Only this provider (aws, gcp...).")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    region: Annotated[str | None, typer.Option(help="Only this region.")] = None,
    application: Annotated[
        str | None, typer.Option(help="Only this application (the request's labels).")
    ] = None,
    outcome: Annotated[
        str | None,
        typer.Option(help="running, ok, or an error code such as CANCELLED or INVALID_INPUT."),
    ] = None,
    subject: Annotated[
        str | None, typer.Option(help="Only operations run by this verified caller.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many to show.")] = 20,
    ui: Annotated[
        str, typer.Option(envvar="CLOUDOPS_UI_URL", help="Temporal UI base URL for links.")
    ] = "http://localhost:8233",
    as_json: JsonOpt = False,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """List recent operations (Temporal visibility), newest first, with links to the UI."""
    from rich.table import Table

    from cloudops import search_attributes as sa

    wanted = {
        sa.OPERATION: operation,
        sa.PROVIDER: provider,
        sa.ACCOUNT: account,
        sa.REGION: region,
        sa.APPLICATION: application,
        sa.OUTCOME: outcome,
        sa.SUBJECT: subject,
    }
    if any(value and ("'" in value or "\\" in value) for value in wanted.values()):
        raise _fail("filter values cannot contain quotes or backslashes")
    filters = [f"{key.name} = '{value}'" for key, value in wanted.items() if value]
    query = " AND ".join(filters) or None

    async def go() -> list[dict[str, Any]]:
        ops = await _client(address, namespace, "cloudops")
        rows = []
        async for execution in ops.list(query, limit=limit):
            attrs = execution.typed_search_attributes
            rows.append(
                {
                    "id": execution.id,
                    "operation": attrs.get(sa.OPERATION),
                    "outcome": attrs.get(sa.OUTCOME),
                    "account": attrs.get(sa.ACCOUNT),
                    "region": attrs.get(sa.REGION),
                    "provider": attrs.get(sa.PROVIDER),
                    "application": attrs.get(sa.APPLICATION),
                    "subject": attrs.get(sa.SUBJECT),
                    "status": execution.status.name if execution.status else None,
                    "started": execution.start_time.isoformat(),
                    "url": f"{ui}/namespaces/{ops.client.namespace}/workflows/{execution.id}",
                }
            )
        return rows

    rows = _run(go())
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "operation", "outcome", "account", "region", "started")
    for row in rows:
        table.add_row(
            f"[link={row['url']}]{row['id']}[/link]",
            row["operation"] or "",
            row["outcome"] or row["status"] or "",
            row["account"] or "",
            row["region"] or "",
            row["started"][:19],
        )
    _console().print(table)


@operations_app.callback()
def operations(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List installed operations and the plugin that provides each."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    catalogue = _cloudops().catalogue
    rows = [
        {"operation": name, "plugin": entry.plugin, "summary": entry.cls.summary()}
        for name, entry in sorted(catalogue.operations.items())
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("operation", "plugin", "summary")
    for row in rows:
        table.add_row(row["operation"], row["plugin"], row["summary"])
    _console().print(table)


@operations_app.command("show")
def operations_show(
    name: Annotated[str, typer.Argument(help="Operation name, e.g. example.echo.")],
) -> None:
    """Print an operation's input and output JSON schemas."""
    catalogue = _cloudops().catalogue
    entry = catalogue.operation(name)
    if entry is None:
        known = ", ".join(sorted(catalogue.operations)) or "none"
        raise _fail(f"unknown operation {name!r}; installed: {known}")
    doc = {
        "operation": name,
        "plugin": entry.plugin,
        "description": (entry.cls.description or entry.cls.__doc__ or "").strip(),
        "needs_account": entry.cls.provider in catalogue.providers,
        "input": entry.cls.input_model.model_json_schema(),
        "output": entry.cls.output_model.model_json_schema(),
    }
    typer.echo(json.dumps(doc, indent=2))


@app.command()
def plugins(as_json: JsonOpt = False) -> None:
    """List installed plugins with their versions and the hooks they implement."""
    from rich.table import Table

    infos = _cloudops().plugins()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "name": i.name,
                        "distribution": i.distribution,
                        "version": i.version,
                        "hooks": list(i.hooks),
                        "module": i.module,
                    }
                    for i in infos
                ],
                indent=2,
            )
        )
        return
    table = Table("plugin", "distribution", "version", "hooks")
    for info in infos:
        table.add_row(
            info.name, info.distribution or "-", info.version or "-", ", ".join(info.hooks)
        )
    _console().print(table)


@app.command()
def worker(
    config: ConfigOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    task_queue: QueueOpt = "cloudops",
    search_attributes: Annotated[
        bool,
        typer.Option(help="Register and set the cloudops search attributes (needs admin rights)."),
    ] = True,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics on http://HOST:PORT/metrics."),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics server binds.")] = (
        "127.0.0.1"
    ),
    tracing: Annotated[
        bool, typer.Option(help="OpenTelemetry tracing (needs cloudops\\[otel]).")
    ] = False,
    otlp_endpoint: Annotated[
        str | None,
        typer.Option(
            help="Send spans over OTLP/HTTP to this traces URL (e.g. "
            "http://localhost:4318/v1/traces); implies --tracing. Without it, --tracing exports "
            "where OTEL_EXPORTER_OTLP_ENDPOINT says, or wherever opentelemetry-instrument does."
        ),
    ] = None,
    log_format: Annotated[
        str, typer.Option(help="text or json (one object per line, with operation context).")
    ] = "text",
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    max_cached_workflows: Annotated[
        int,
        typer.Option(
            help="Operations kept in memory between steps (about 0.1 MB each); set it above the "
            "operations in flight per worker, or evicted ones are replayed at every step."
        ),
    ] = 1000,
    grace_period: Annotated[
        float,
        typer.Option(
            "--grace-period",
            envvar="CLOUDOPS_GRACE_PERIOD",
            help="On SIGTERM or Ctrl-C, seconds running activities get to finish before they are "
            "cancelled and retried on another worker (keep it under Kubernetes' "
            "terminationGracePeriodSeconds).",
        ),
    ] = 20.0,
) -> None:
    """Run a stateless worker with every installed plugin against any Temporal server.

    Connection settings come from Temporal's envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
    TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE). Run as many workers as you like.
    On SIGTERM it stops taking work at once and stops within the grace period.
    """
    from cloudops.serve import SearchAttributesError, serve
    from cloudops.telemetry import configure_logging, runtime_with_prometheus

    global _ran_worker
    if log_format not in ("text", "json"):
        raise _fail("--log-format must be text or json")
    if grace_period < 0:
        raise _fail("--grace-period must be 0 or more seconds")
    import logging

    if not isinstance(logging.getLevelName(log_level.upper()), int):
        raise _fail(f"--log-level {log_level!r}: use DEBUG, INFO, WARNING or ERROR")
    configure_logging(log_format, log_level)
    cloudops = _cloudops()
    book = _accounts(cloudops, config)
    exporter: Any = None
    tracing = tracing or otlp_endpoint is not None
    if tracing and (
        otlp_endpoint
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        from cloudops.telemetry import export_traces

        try:
            exporter = export_traces(otlp_endpoint)
        except RuntimeError as err:
            raise _fail(str(err)) from None

    async def go() -> None:
        options: dict[str, Any] = {}
        if metrics_port is not None:
            try:
                options["runtime"] = runtime_with_prometheus(f"{metrics_host}:{metrics_port}")
            except ValueError as err:  # a bad address, or the port is taken
                raise _fail(
                    f"cannot serve metrics on {metrics_host}:{metrics_port} ({err}); "
                    "check --metrics-host and --metrics-port"
                ) from None
        ops = await _client(address, namespace, task_queue, **options)

        def ready() -> None:
            where = (
                f" on {ops.client.service_client.config.target_host}, "
                f"{len(cloudops.catalogue.operations)} operation(s), "
                f"{len(book.accounts)} account(s); Ctrl-C to stop"
            )
            if log_format == "json":  # one JSON object per line, this one too, at any level
                import logging

                message = f"worker ready: task queue {task_queue}{where}"
                record = logging.makeLogRecord(
                    {"name": "cloudops.worker", "levelno": 20, "levelname": "INFO", "msg": message}
                )
                for handler in logging.getLogger().handlers:
                    handler.handle(record)
                return
            _console(stderr=True).print(
                f"worker ready: task queue [bold]{task_queue}[/bold]{where}"
            )

        try:
            await serve(
                ops.client,
                cloudops,
                task_queue=task_queue,
                accounts=book,
                search_attributes=search_attributes,
                on_ready=ready,
                tracing=tracing,
                max_cached_workflows=max_cached_workflows,
                graceful_shutdown_timeout=timedelta(seconds=grace_period),
            )
        except SearchAttributesError as err:
            raise _fail(str(err)) from None
        finally:
            if exporter is not None:  # the process ends with os._exit: flush spans first
                await asyncio.to_thread(exporter.shutdown)

    _ran_worker = True
    _run(go())


@app.command("codec-server")
def codec_server(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8234,
    host: Annotated[
        str, typer.Option(help="Address to bind; anyone who reaches it can decrypt.")
    ] = "127.0.0.1",
    origin: Annotated[
        list[str] | None,
        typer.Option(help="Temporal UI origin allowed by CORS, repeatable.", show_default=False),
    ] = None,
    auth: Annotated[
        str | None,
        typer.Option(
            envvar="CLOUDOPS_CODEC_AUTH",
            help="Require this exact Authorization header (temporal --codec-auth).",
        ),
    ] = None,
) -> None:
    """Serve /decode and /encode with CLOUDOPS_PAYLOAD_KEY, for the Temporal UI and CLI.

    Point the UI's codec server setting, or `temporal workflow show --codec-endpoint`, at
    http://HOST:PORT to read encrypted payloads in clear (default UI origin: localhost:8233).
    """
    from cloudops.codec import EncryptionCodec, EncryptionKeyError
    from cloudops.codec import codec_server as make_server

    try:
        codec = EncryptionCodec.from_env()
    except EncryptionKeyError as err:
        raise _fail(str(err)) from None
    if not codec.key_ids:
        raise _fail("set CLOUDOPS_PAYLOAD_KEY (and CLOUDOPS_PAYLOAD_OLD_KEYS) to the workers' keys")
    try:
        server = make_server(
            codec,
            host=host,
            port=port,
            origins=origin or ["http://localhost:8233"],
            authorization=auth,
        )
    except OSError as err:  # the port is taken, or the host is not this machine's
        raise _fail(
            f"cannot listen on {host}:{port} ({err.strerror or err}); "
            "choose another --port or --host"
        ) from None
    bound_host, bound_port = server.server_address[:2]
    _console(stderr=True).print(
        f"codec server on http://{bound_host!s}:{bound_port} with key id(s) "
        f"{', '.join(codec.key_ids)}; Ctrl-C to stop"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="Temporal frontend port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal web UI port.")] = 8233,
    db: Annotated[Path, typer.Option(help="SQLite file: workflows survive a restart.")] = Path(
        ".cloudops/temporal.sqlite"
    ),
    config: ConfigOpt = None,
    task_queue: QueueOpt = "cloudops",
    emulators: Annotated[
        bool,
        typer.Option(
            help="Also start the local cloud of every installed provider (moto, the GCP and "
            "Azure emulators: cloudops-testing) with accounts local-aws, local-gcp, local-azure."
        ),
    ] = True,
) -> None:
    """Start a local Temporal dev server (persisted, with the UI) and a worker; Ctrl-C stops both.

    A workflow started before a stop finishes after the next start (the emulators' own state
    is in memory and starts empty each time).
    """
    from cloudops.localcloud import LocalClouds, local_clouds
    from cloudops.serve import serve
    from cloudops.server import DevServer, DevServerError, DevServerPathError

    global _ran_worker
    cloudops = _cloudops()
    providers = cloudops.catalogue.providers
    cloud = LocalClouds(
        profile
        for name, profile in local_clouds(cloudops).items()
        if emulators and name in providers and not profile.missing()
    ).start()
    extra = cloud.accounts()
    book = _accounts(cloudops, config, extra)
    server = DevServer(
        port=port, ui=True, ui_port=ui_port, db_file=db, log_file=db.with_suffix(".log")
    )
    try:
        server.start()
    except DevServerError as err:
        cloud.stop()
        if isinstance(err, DevServerPathError):
            raise _fail(f"{err}; choose a writable location with --db") from None
        raise _fail(str(err)) from None

    async def go() -> None:
        ops = await _client(server.address, None, task_queue)

        def ready() -> None:
            console = _console(stderr=True)
            console.print(f"Temporal server: {server.address} (data in {db})")
            console.print(f"Temporal UI:     {server.ui_url}")
            if extra:
                console.print(f"local cloud accounts: {', '.join(sorted(extra))}")
            console.print(
                "authorization: off (local development: any client may run any operation; "
                "production workers configure [identity], see docs/security.md)"
            )
            console.print(
                f"worker ready on task queue [bold]{task_queue}[/bold] with "
                f"{len(cloudops.catalogue.operations)} operation(s). "
                f"Try: TEMPORAL_ADDRESS={server.address} cloudops run example.echo "
                '--input \'{"message": "hello"}\''
            )

        await serve(ops.client, cloudops, task_queue=task_queue, accounts=book, on_ready=ready)

    _ran_worker = True
    try:
        _run(go())
    finally:
        server.stop()
        cloud.stop()
        _console(stderr=True).print("stopped the worker and the Temporal server")


def _add_plugin_commands(argv: list[str]) -> None:
    """Let plugins add commands (``register_commands``), unless a built-in one was asked for.

    A built-in command does not pay for loading every plugin; ``cloudops --help`` and unknown
    names do. A plugin that fails to load is reported by the commands that use plugins.
    """
    import contextlib

    from cloudops.registry import CloudOps, RegistrationError

    built_in = {
        command.name or getattr(command.callback, "__name__", "").replace("_", "-")
        for command in app.registered_commands
    } | {group.name for group in app.registered_groups}
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    if first in built_in:
        return
    with contextlib.suppress(RegistrationError):
        CloudOps().pm.hook.register_commands(cli=app)


def main() -> None:
    """Console-script entry point.

    After a command that used Temporal (a worker or a client), the process ends with
    :func:`cloudops.shutdown.hard_exit` so that the SDK's occasional abort at interpreter exit
    (sdk-python#300) cannot change the exit status.
    """
    from cloudops.shutdown import hard_exit, used_temporal

    status = 0
    _add_plugin_commands(sys.argv[1:])
    try:
        # Standalone mode: typer itself turns its (vendored) click's usage errors into the usage
        # message, a hint and exit 2, typer.Exit into its code, Ctrl-C into 130. Whatever click
        # classes the installed typer uses, it catches its own.
        app(standalone_mode=True)
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            status = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
            status = 1
    except KeyboardInterrupt:
        status = 130
    if _ran_worker or used_temporal():
        hard_exit(status)  # sdk-python#300: an abort at interpreter exit would change the status
    sys.exit(status)


if __name__ == "__main__":
    main()
