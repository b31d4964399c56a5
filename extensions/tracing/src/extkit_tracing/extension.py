"""``TracingExtension``: one OpenTelemetry span around every invocation.

It is an around hook, the outermost layer (``tryfirst``), so the span covers the function and every
other extension's hooks, and it is the current span while they run: spans the function makes with
``opentelemetry.trace.get_tracer(...)`` nest under it, and extkit stamps its ids on log records.
The span's context is attached in the hook's own context; extkit runs a sync function in a copy
of that context (and asyncio tasks, ``extkit.Thread`` and ``extkit.ContextThreadPoolExecutor``
copy it again), which is how the span reaches the function wherever it runs.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import traceback
from collections.abc import Generator
from logging import Logger
from typing import Any, ClassVar, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import extkit
from extkit import AppExtensionBase, Context, RejectInvocation
from extkit.redaction import redact

from . import _conventions as conv
from ._export import EXPORTER_NAMES, ExporterChoice, MetricExporterChoice, Options, Pipeline
from ._export import build_pipeline as _build_pipeline

__all__ = ["TracingExtension"]

_W3C: Final = TraceContextTextMapPropagator()


class _Runtime:
    """Process-wide state of the extension: the pipeline and the cold-start flag.

    Kept in one object (not spread over module globals) so ``configure`` and tests can replace it
    whole, and so a forked worker process starts cold again.
    """

    __slots__ = ("invocations", "lock", "options", "pipeline")

    def __init__(self, options: Options) -> None:
        self.options = options
        self.pipeline: Pipeline | None = None
        self.lock = threading.Lock()
        #: ``next()`` on a count is atomic in CPython: the first caller alone sees 0 (cold start).
        self.invocations = itertools.count()

    def started(self) -> Pipeline:
        """The pipeline, built on first use (after the app's ``configure`` call and after an app
        that installs its own providers has done so at import time)."""
        pipeline = self.pipeline
        if pipeline is None:
            with self.lock:
                pipeline = self.pipeline
                if pipeline is None:
                    try:
                        pipeline = self.pipeline = _build_pipeline(self.options)
                    except Exception:
                        # Reported once (the engine logs it, naming this extension); after
                        # that invocations run untraced instead of failing setup again.
                        self.pipeline = Pipeline(trace.NoOpTracer(), None)
                        raise
        return pipeline

    def close(self) -> None:
        with self.lock:
            pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None:
            pipeline.close()


class TracingExtension(AppExtensionBase):
    """Traces every invocation with OpenTelemetry (FaaS and HTTP semantic conventions).

    Install ``extkit-tracing`` and it runs; call :meth:`configure` in function code to choose the
    exporter and service name, or let the standard ``OTEL_*`` environment variables decide.
    """

    _runtime: ClassVar[_Runtime] = _Runtime(Options())

    @classmethod
    def configure(
        cls,
        *,
        service_name: str | None = None,
        exporter: ExporterChoice | None = None,
        metric_exporter: MetricExporterChoice | None = None,
        protocol: str | None = None,
        endpoint: str | None = None,
        sampler: Sampler | None = None,
        record_exception: bool = True,
        metrics: bool = True,
    ) -> None:
        """Choose where spans and metrics go. Every option left out falls back to its ``OTEL_*``
        variable, then to the default; see the README for each.

        Call it before the first invocation (function code runs at load time, which is before).
        Called again later, it flushes the previous exporters and switches to the new ones; the
        service name and sampler of the first configuration stay (one tracer provider per
        process, as OpenTelemetry allows).
        """
        _check_choice("exporter", exporter, "a SpanExporter")
        _check_choice("metric_exporter", metric_exporter, "a MetricExporter or MetricReader")
        options = Options(
            service_name=service_name,
            exporter=exporter,
            metric_exporter=metric_exporter,
            protocol=protocol,
            endpoint=endpoint,
            sampler=sampler,
            record_exception=record_exception,
            metrics=metrics,
        )
        if protocol is not None:
            from ._export import otlp_protocol

            otlp_protocol(options, {}, "traces")  # reject a bad value now, naming the option
        previous = cls._runtime
        cls._runtime = _Runtime(options)
        cls._runtime.invocations = previous.invocations  # still the same process: not cold
        previous.close()

    @classmethod
    def post_function_load_app_level(cls, function_name: str) -> None:
        """Build the pipeline before the first request, so a bad setting fails at startup."""
        cls._runtime.started()

    @classmethod
    @extkit.hookimpl(tryfirst=True)
    def around_invocation_app_level(
        cls, logger: Logger, context: Context, func_args: dict[str, Any]
    ) -> Generator[None, Any, Any]:
        runtime = cls._runtime
        pipeline = runtime.pipeline or runtime.started()
        trigger = context.trigger
        attributes: dict[str, Any] = {
            conv.FAAS_TRIGGER: trigger,
            conv.FAAS_INVOCATION_ID: context.invocation_id,
            conv.FAAS_NAME: context.function_name,
            conv.FAAS_COLDSTART: next(runtime.invocations) == 0,
        }
        if trigger == "http":
            request = conv.find_http_request(func_args)
            if request is not None:
                conv.add_http_request_attributes(attributes, request, _route_of(context))
        elif trigger == "timer":
            attributes.update(conv.timer_attributes(func_args, time.time()))
        caller = context.trace_context
        parent = (
            _W3C.extract({"traceparent": caller.trace_parent,
                          "tracestate": caller.trace_state or ""})
            if caller.trace_parent
            else None
        )  # fmt: skip
        span = pipeline.tracer.start_span(
            context.function_name,
            parent,
            conv.span_kind(trigger),
            attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        context.tracer = pipeline.tracer  # type: ignore[attr-defined]
        token = otel_context.attach(trace.set_span_in_context(span))
        started = time.perf_counter()
        try:
            result = yield
        except GeneratorExit:  # never resumed (the engine dropped us): close the span quietly
            otel_context.detach(token)
            span.end()
            raise
        except BaseException as error:
            _finish(runtime, pipeline, span, token, started, trigger, None, error, func_args)
            raise
        _finish(runtime, pipeline, span, token, started, trigger, result, None, func_args)
        return result

    @classmethod
    def shutdown_app_level(cls) -> None:
        """Flush every span and metric point still queued, then shut the exporters down.

        The host calls this from its shutdown path (after in-flight invocations finished), which
        also runs on SIGTERM, unlike ``atexit`` handlers.
        """
        cls._runtime.close()


def _redacted_exception(error: BaseException, message: str) -> dict[str, str]:
    """The exception event's attributes when its message quotes a key (a URL with ``?code=``):
    the message and the stack trace, redacted, in place of what the SDK would record."""
    trace_text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return {"exception.message": message, "exception.stacktrace": redact(trace_text)}


def _finish(
    runtime: _Runtime,
    pipeline: Pipeline,
    span: Span,
    token: object,
    started: float,
    trigger: str,
    result: Any,
    error: BaseException | None,
    func_args: dict[str, Any],
) -> None:
    """Record the outcome on the span and the duration histogram, end the span, detach it."""
    try:
        failed: str | None = None
        status = conv.response_status(result, error, func_args) if trigger == "http" else None
        if status is not None:
            span.set_attribute(conv.HTTP_RESPONSE_STATUS_CODE, status)
        if error is not None:
            # A deliberate 4xx rejection is the client's error, not the server's (HTTP rules).
            if not (isinstance(error, RejectInvocation) and status is not None and status < 500):
                failed = conv.error_type(error)
                message = str(error)
                redacted = redact(message)
                span.set_status(Status(StatusCode.ERROR, redacted or failed))
                if runtime.options.record_exception:
                    span.record_exception(
                        error,
                        attributes=(
                            None if redacted == message else _redacted_exception(error, redacted)
                        ),
                        escaped=True,
                    )
        elif status is not None and status >= 500:
            failed = str(status)
            span.set_status(Status(StatusCode.ERROR))
        if failed is not None:
            span.set_attribute(conv.ERROR_TYPE, failed)
        span.end()
    finally:
        otel_context.detach(token)  # type: ignore[arg-type]
    # Recorded once the span is no longer current: inside it, the SDK's default (trace-based)
    # exemplar filter would offer an exemplar on every measurement of a sampled invocation.
    histogram = pipeline.histogram
    if histogram is not None:
        histogram.record(time.perf_counter() - started, conv.metric_attributes(trigger, failed))


def _route_of(context: Context) -> str | None:
    """The function's full route template (``/api/items/{id:int}``), when the host tells it:
    ``context.function_info.route``."""
    info = getattr(context, "function_info", None)
    route = getattr(info, "route", None) if info is not None else None
    return route if isinstance(route, str) else None


def _check_choice(option: str, value: Any, instance: str) -> None:
    if value is None or not isinstance(value, str):
        return
    for part in value.split(","):
        if part.strip().lower() not in EXPORTER_NAMES:
            raise ValueError(
                f"TracingExtension.configure({option}={value!r}): expected one of "
                f"{', '.join(map(repr, EXPORTER_NAMES))} or {instance} instance"
            )


def _after_fork_in_child() -> None:
    """A forked worker is a new process: its first invocation is a cold start. (The pipeline
    carries over: OpenTelemetry's batch processors and metric readers restart their threads in
    the child themselves.)"""
    TracingExtension._runtime.invocations = itertools.count()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
