"""Observability: operation context on every activity, metrics, traces and structured logs.

Why one module: the same three facts (operation, account, region, plus the workflow id) label a
log line, a metric and a span, so they are carried once, as a Temporal header the runner sets on
every activity it schedules, and read back on the worker into a context variable.

- Logs: :class:`ContextFilter` adds ``cloudops_operation``, ``cloudops_account``,
  ``cloudops_region`` and ``cloudops_workflow_id`` to every record (``cloudops worker
  --log-format json`` prints them).
- Metrics: counters and histograms through Temporal's own meter, exported with the SDK's
  metrics by :func:`runtime_with_prometheus` (``cloudops worker --metrics-port``).
- Traces: temporalio's OpenTelemetry interceptor (one trace per operation, a span per workflow
  and activity) when ``opentelemetry`` is installed.
- Cloud API calls: every HTTP attempt the providers' SDK clients make is one span
  ``{provider}.{service}.{api}`` (a child of the activity's span) and one sample of the
  ``cloudops_cloud_api_latency`` histogram. The providers hook their SDK's own extension point
  (botocore events, an azure-core pipeline policy, a ``requests`` transport adapter under
  google-cloud-compute) and call :func:`begin_cloud_call` / :meth:`CloudCall.end`;
  :func:`cloud_call` wraps a call made any other way.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import MetricMeter
from temporalio.converter import default as default_converter
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

__all__ = [
    "CLOUD_API_LATENCY",
    "CONTEXT_HEADER",
    "CloudCall",
    "ContextFilter",
    "JsonFormatter",
    "TelemetryInterceptor",
    "begin_cloud_call",
    "cloud_call",
    "current_context",
    "export_traces",
    "runtime_with_prometheus",
    "tracing_interceptor",
]

CONTEXT_HEADER = "cloudops-context"
CONTEXT_FIELDS = ("operation", "account", "region", "workflow_id")

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "cloudops_context", default=None
)


def current_context() -> dict[str, str]:
    """Operation, account, region and workflow id of the activity running now (or empty)."""
    return dict(_context.get() or {})


@contextmanager
def operation_context(values: Mapping[str, str]) -> Iterator[None]:
    """Make ``values`` the current context (used by the activity interceptor and tests)."""
    token = _context.set(dict(values))
    try:
        yield
    finally:
        _context.reset(token)


def _meter() -> MetricMeter | None:
    if workflow.in_workflow():
        return workflow.metric_meter()
    if activity.in_activity():
        return activity.metric_meter()
    return None


# --- workflow side: put the context on every activity --------------------------------------
def _workflow_context() -> dict[str, str] | None:
    instance = workflow.instance()
    getter = getattr(instance, "telemetry_context", None)
    return getter() if callable(getter) else None


def _with_context_header(headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
    values = _workflow_context()
    if not values:
        return headers
    payload = default_converter().payload_converter.to_payloads([values])[0]
    return {**headers, CONTEXT_HEADER: payload}


class _Outbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = _with_context_header(input.headers)
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = _with_context_header(input.headers)
        return super().start_local_activity(input)


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


# --- activity side: read it back, count failures and retries ---------------------------------
class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        values: dict[str, str] = {}
        header = input.headers.get(CONTEXT_HEADER)
        if header is not None:
            try:
                decoded = default_converter().payload_converter.from_payloads([header])[0]
                if isinstance(decoded, dict):
                    values = {k: str(v) for k, v in decoded.items() if k in CONTEXT_FIELDS}
            except Exception:
                values = {}
        info = activity.info()
        meter = activity.metric_meter().with_additional_attributes(
            {"activity": info.activity_type, "operation": values.get("operation", "")}
        )
        if info.attempt > 1:
            meter.create_counter(
                "cloudops_activity_retries", "activity attempts after the first"
            ).add(1)
        with operation_context(values):
            try:
                return await self.next.execute_activity(input)
            except BaseException as err:
                from temporalio.exceptions import ApplicationError

                kind = (
                    err.type
                    if isinstance(err, ApplicationError) and err.type
                    else type(err).__name__
                )
                final = isinstance(err, ApplicationError) and err.non_retryable
                meter.create_counter(
                    "cloudops_activity_failures", "activity attempts that failed, by error class"
                ).add(1, {"error_type": kind, "retryable": "false" if final else "true"})
                raise


class TelemetryInterceptor(Interceptor):
    """Carries the operation context from workflows to activities; counts failures and retries."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        """Wrap every workflow so that its activities carry the context header."""
        return _Inbound

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Read the context header back and count failures and retries."""
        return _ActivityInbound(next)


# --- metrics recorded by the runner ---------------------------------------------------------
def record_operation_started(operation: str, provider: str) -> None:
    """Count an operation start (workflow side; not re-counted on replay)."""
    meter = _meter()
    if meter is not None:
        meter.create_counter("cloudops_operations_started", "operations started").add(
            1, {"operation": operation, "provider": provider}
        )


def record_operation_finished(operation: str, provider: str, outcome: str) -> None:
    """Count an operation's end by outcome: ``ok`` or the error code."""
    meter = _meter()
    if meter is not None:
        name = "cloudops_operations_succeeded" if outcome == "ok" else "cloudops_operations_failed"
        meter.create_counter(name, "operations ended, by outcome").add(
            1, {"operation": operation, "provider": provider, "code": outcome}
        )


# --- cloud API calls ----------------------------------------------------------------------------
#: Name of the latency histogram every cloud API call records (one sample per HTTP attempt).
CLOUD_API_LATENCY = "cloudops_cloud_api_latency"


class CloudCall:
    """One cloud API call in flight: its span (when tracing is on) and its start time.

    Made by :func:`begin_cloud_call` from an SDK's own hooks (a botocore event, an azure-core
    policy, a ``requests`` transport adapter) and finished with :meth:`end` when the answer (or
    the failure) arrives. :meth:`end` records one sample of ``cloudops_cloud_api_latency``
    labelled ``provider``, ``service``, ``api``, ``outcome`` and ``http_status`` when it runs
    inside an activity (outside one, e.g. a test calling the SDK directly, nothing is recorded)
    and ends the span. Ending twice is harmless: the second call does nothing.
    """

    __slots__ = ("_ended", "_meter", "_span", "_started", "api", "provider", "service")

    def __init__(
        self, provider: str, service: str, api: str, span: Any, meter: MetricMeter | None
    ) -> None:
        self.provider = provider
        self.service = service
        self.api = api
        self._span = span
        self._meter = meter
        self._started = time.monotonic()
        self._ended = False

    @property
    def span(self) -> Any:
        """The OpenTelemetry span of the call, or None when tracing is off."""
        return self._span

    def end(
        self,
        outcome: str = "ok",
        *,
        http_status: int | None = None,
        error: BaseException | None = None,
        error_code: str | None = None,
    ) -> None:
        """Record the latency sample and end the span.

        ``outcome`` is ``ok``, ``error`` (an error answer) or ``no_response`` (connection
        failure, timeout); ``http_status`` the answer's status code; ``error`` the exception
        raised instead of an answer; ``error_code`` the cloud's error code when there is one
        (a span attribute only: the metric keeps few labels).
        """
        if self._ended:
            return
        self._ended = True
        elapsed = time.monotonic() - self._started
        if self._meter is not None:
            try:
                self._meter.create_histogram_timedelta(
                    CLOUD_API_LATENCY, "cloud API call latency (one sample per HTTP attempt)", "ms"
                ).record(
                    timedelta(seconds=elapsed),
                    {
                        "provider": self.provider,
                        "service": self.service,
                        "api": self.api,
                        "outcome": outcome,
                        "http_status": "" if http_status is None else str(http_status),
                    },
                )
            except Exception:  # telemetry never breaks a cloud call
                logging.getLogger(__name__).debug("cannot record a cloud API sample", exc_info=True)
        span = self._span
        if span is None:
            return
        try:
            from opentelemetry.trace import Status, StatusCode

            span.set_attribute("cloudops.outcome", outcome)
            if http_status is not None:
                span.set_attribute("http.response.status_code", http_status)
            if error_code:
                span.set_attribute("cloudops.error_code", error_code)
            if error is not None:
                span.record_exception(error)
                span.set_attribute("error.type", type(error).__name__)
            elif outcome != "ok":
                span.set_attribute("error.type", error_code or str(http_status or outcome))
            if outcome != "ok":
                span.set_status(Status(StatusCode.ERROR, error_code or outcome))
        finally:
            span.end()


def begin_cloud_call(provider: str, service: str, api: str) -> CloudCall:
    """Start timing one cloud API call, and its span ``{provider}.{service}.{api}``.

    The span is a child of the current OpenTelemetry context (an activity's span: activities
    run their SDK calls in a thread that carries the activity's context variables) and carries
    the operation context as ``cloudops.operation``, ``cloudops.account`` ... attributes. It is
    not made current: SDK hooks begin and end calls in separate callbacks.
    """
    span = None
    tracer = _tracer()
    if tracer is not None:
        from opentelemetry.trace import SpanKind

        span = tracer.start_span(
            f"{provider}.{service}.{api}",
            kind=SpanKind.CLIENT,
            attributes={
                "cloudops.provider": provider,
                "cloudops.service": service,
                "cloudops.api": api,
                **{f"cloudops.{k}": v for k, v in current_context().items()},
            },
        )
    return CloudCall(provider, service, api, span, _activity_meter())


@contextmanager
def cloud_call(provider: str, service: str, operation: str) -> Iterator[CloudCall]:
    """Wrap one cloud API call made without an SDK hook: a span and a latency sample.

    The provider's SDK clients are instrumented already (their calls need no wrapping); this is
    for plugins calling an API through something else. The span is current inside the block.
    """
    call = begin_cloud_call(provider, service, operation)
    span_cm = contextlib.nullcontext() if call.span is None else _use_span(call.span)
    with span_cm:
        try:
            yield call
        except BaseException as err:
            call.end("error", error=err)
            raise
        call.end("ok")


def _use_span(span: Any) -> Any:
    from opentelemetry import trace

    return trace.use_span(span, end_on_exit=False)


def _activity_meter() -> MetricMeter | None:
    """The running activity's meter; None outside an activity (nothing is recorded)."""
    try:
        return activity.metric_meter() if activity.in_activity() else None
    except RuntimeError:
        return None


_tracers: list[Any] = []  # [tracer or None], resolved once


def _tracer() -> Any:
    """The ``cloudops`` tracer, or None when opentelemetry is not installed (looked up once)."""
    if not _tracers:
        try:
            from opentelemetry import trace
        except ImportError:
            _tracers.append(None)
        else:
            # A proxy until an SDK provider is set, then the provider's: safe to keep.
            _tracers.append(trace.get_tracer("cloudops"))
    return _tracers[0]


def export_traces(endpoint: str | None = None, service_name: str = "cloudops-worker") -> Any:
    """Send this process's spans over OTLP/HTTP, unless a tracer provider is already set.

    Why: ``cloudops worker --tracing`` should not need ``opentelemetry-instrument`` to get its
    spans somewhere. ``endpoint`` is the collector's traces URL (for example
    ``http://localhost:4318/v1/traces``); without it the exporter reads the standard
    ``OTEL_EXPORTER_OTLP_*`` variables. Returns the provider (call ``shutdown()`` to flush), or
    None when one was already configured (by ``opentelemetry-instrument`` or the embedder).
    """
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as err:
        raise RuntimeError(
            "exporting traces needs OpenTelemetry's SDK and OTLP exporter: "
            "pip install 'cloudops[otel]'"
        ) from err
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return provider


def tracing_interceptor() -> Interceptor | None:
    """Temporalio's OpenTelemetry interceptor, or None when opentelemetry is not installed."""
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError:
        return None
    return TracingInterceptor()


def runtime_with_prometheus(bind_address: str) -> Any:
    """A Temporal runtime exporting SDK and cloudops metrics on ``http://ADDRESS/metrics``."""
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=bind_address, counters_total_suffix=True)
        )
    )


# --- logs -------------------------------------------------------------------------------------
def configure_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Log to stderr as text or JSON lines, every record carrying the operation context."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class ContextFilter(logging.Filter):
    """Adds the operation context to every log record (``cloudops_operation`` etc.)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the context fields; never drops a record."""
        values = current_context()
        if workflow.in_workflow() and not workflow.unsafe.is_replaying():
            values = _workflow_context() or values
        for field in CONTEXT_FIELDS:
            setattr(record, f"cloudops_{field}", values.get(field, ""))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the operation context as fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one JSON line."""
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, f"cloudops_{field}", "")
            if value:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
