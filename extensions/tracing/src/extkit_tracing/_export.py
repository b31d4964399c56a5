"""Where spans and metrics go: the providers, exporters and processors behind the extension.

Settings resolve the way every extkit setting does: a value given to ``configure(...)`` beats the
standard ``OTEL_*`` environment variable, which beats the default. Only the official
OpenTelemetry exporters are used (OTLP over HTTP/protobuf or gRPC, console), always behind batch
processing, so an invocation never waits for the network.

An app that already installed its own global tracer (or meter) provider keeps it: the extension
then only creates spans through it and never installs a second one.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from opentelemetry import metrics, trace
from opentelemetry.metrics import Histogram, NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace import Tracer

from . import _conventions as conv

__all__ = [
    "ExporterChoice",
    "MetricExporterChoice",
    "Options",
    "Pipeline",
    "build_pipeline",
    "exporter_names",
    "metric_exporter_names",
    "otlp_protocol",
]

ExporterChoice = Literal["otlp", "console", "none"] | SpanExporter
MetricExporterChoice = Literal["otlp", "console", "none"] | MetricExporter | MetricReader

EXPORTER_NAMES: Final = ("otlp", "console", "none")
PROTOCOLS: Final = ("http/protobuf", "grpc")
DEFAULT_PROTOCOL: Final = "http/protobuf"
INSTRUMENTATION_NAME: Final = "extkit_tracing"
#: The semantic-conventions version the attribute names follow.
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.37.0"

_log: Final = logging.getLogger("extkit.extensions.TracingExtension")


@dataclass(frozen=True)
class Options:
    """What the app owner chose in ``configure(...)``; ``None`` means "ask the environment"."""

    service_name: str | None = None
    exporter: ExporterChoice | None = None
    metric_exporter: MetricExporterChoice | None = None
    protocol: str | None = None
    endpoint: str | None = None
    sampler: Sampler | None = None
    record_exception: bool = True
    metrics: bool = True


def _names(raw: str, where: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip().lower() for part in raw.split(",") if part.strip()))
    unknown = [name for name in names if name not in EXPORTER_NAMES]
    if unknown:
        raise ValueError(
            f"{where}: unsupported exporter {', '.join(map(repr, unknown))}; "
            f"expected a comma-separated list of {', '.join(EXPORTER_NAMES)}"
        )
    if "none" in names:
        return ()
    return names


def exporter_names(options: Options, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The span exporters to build, by name (explicit > ``OTEL_TRACES_EXPORTER`` > default).

    With nothing chosen, OTLP is used when an OTLP endpoint variable is set; otherwise spans are
    created (so they nest and reach the logs) but not exported, rather than sent to a collector
    that may not exist.
    """
    choice = options.exporter
    if isinstance(choice, str):
        return _names(choice, "TracingExtension.configure(exporter=...)")
    if choice is not None:
        return ()  # an exporter instance: built by the caller, no names
    raw = environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if raw:
        return _names(raw, "OTEL_TRACES_EXPORTER")
    if environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    ):
        return ("otlp",)
    return ()


def metric_exporter_names(
    options: Options, environ: Mapping[str, str], span_names: tuple[str, ...]
) -> tuple[str, ...]:
    """Metric exporters by name: explicit > ``OTEL_METRICS_EXPORTER`` > the same as for spans."""
    choice = options.metric_exporter
    if isinstance(choice, str):
        return _names(choice, "TracingExtension.configure(metric_exporter=...)")
    if choice is not None:
        return ()
    raw = environ.get("OTEL_METRICS_EXPORTER", "").strip()
    if raw:
        return _names(raw, "OTEL_METRICS_EXPORTER")
    return span_names


def otlp_protocol(options: Options, environ: Mapping[str, str], signal: str) -> str:
    """``http/protobuf`` or ``grpc``: explicit > per-signal variable > general one > default."""
    if options.protocol is not None:
        value, where = options.protocol, "TracingExtension.configure(protocol=...)"
    else:
        variable = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
        if not environ.get(variable):
            variable = "OTEL_EXPORTER_OTLP_PROTOCOL"
        value, where = environ.get(variable) or DEFAULT_PROTOCOL, variable
    value = value.strip().lower()
    if value not in PROTOCOLS:
        raise ValueError(
            f"{where}: unsupported OTLP protocol {value!r}; expected one of {', '.join(PROTOCOLS)}"
        )
    return value


def _endpoint(options: Options, protocol: str, signal: str) -> str | None:
    """An explicit endpoint is a base URL like ``OTEL_EXPORTER_OTLP_ENDPOINT``: the HTTP exporter
    gets the signal's path appended, gRPC takes it as it is. ``None`` lets the exporter read
    the environment itself."""
    if options.endpoint is None:
        return None
    if protocol == "grpc":
        return options.endpoint
    return options.endpoint.rstrip("/") + f"/v1/{signal}"


def _grpc_missing(exc: ImportError) -> ImportError:
    return ImportError(
        "OTLP over gRPC needs the gRPC exporter: pip install 'extkit-tracing[grpc]' "
        f"(or use OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf); {exc}"
    )


def _span_exporter(name: str, options: Options, environ: Mapping[str, str]) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(service_name=options.service_name, out=sys.stdout)
    protocol = otlp_protocol(options, environ, "traces")
    endpoint = _endpoint(options, protocol, "traces")
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcSpanExporter,
            )
        except ImportError as exc:
            raise _grpc_missing(exc) from exc
        return GrpcSpanExporter(endpoint=endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint)


def _metric_reader(name: str, options: Options, environ: Mapping[str, str]) -> MetricReader:
    exporter: MetricExporter
    if name == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        exporter = ConsoleMetricExporter(out=sys.stdout)
    else:
        protocol = otlp_protocol(options, environ, "metrics")
        endpoint = _endpoint(options, protocol, "metrics")
        if protocol == "grpc":
            try:
                from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                    OTLPMetricExporter as GrpcMetricExporter,
                )
            except ImportError as exc:
                raise _grpc_missing(exc) from exc
            exporter = GrpcMetricExporter(endpoint=endpoint)
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )

            exporter = OTLPMetricExporter(endpoint=endpoint)
    # OTEL_METRIC_EXPORT_INTERVAL / _TIMEOUT are read by the reader itself.
    return PeriodicExportingMetricReader(exporter)


def _resource(options: Options) -> Resource:
    """``service.name`` from configure() beats OTEL_SERVICE_NAME (which Resource.create reads,
    with OTEL_RESOURCE_ATTRIBUTES)."""
    extra: dict[str, Any] = {}
    if options.service_name is not None:
        extra[SERVICE_NAME] = options.service_name
    return Resource.create(extra)


def _app_meter_provider() -> Any:
    """The global meter provider, when the app (or anyone) installed one: the SDK's (or a
    subclass of it) or the API's no-op one. Until then the API hands out a stand-in of its own,
    which is neither."""
    provider = metrics.get_meter_provider()
    return provider if isinstance(provider, (MeterProvider, NoOpMeterProvider)) else None


@dataclass
class Pipeline:
    """The tracer and duration histogram the extension uses, and what it must flush
    (``borrowed``: the app's providers) or shut down (``owned``: its span processors and meter
    provider) when the host stops."""

    tracer: Tracer
    #: ``None`` when metrics are off or nothing would export them.
    histogram: Histogram | None
    owned: list[Any] = field(default_factory=list)
    borrowed: list[Any] = field(default_factory=list)

    def close(self) -> None:
        """Flush everything (spans first, then metrics) and shut down what is ours."""
        for provider in self.borrowed:
            flush = getattr(provider, "force_flush", None)
            if flush is not None:
                flush()
        for part in self.owned:
            part.shutdown()


#: The global tracer provider this extension installed, if it did. OpenTelemetry lets a process
#: install one only once, so a later ``configure`` adds new exporters to it instead.
_installed: list[TracerProvider] = []


def build_pipeline(options: Options, environ: Mapping[str, str] | None = None) -> Pipeline:
    """Create (or adopt) the providers for ``options`` and return the tracer and histogram."""
    env = os.environ if environ is None else environ
    from . import __version__

    owned: list[Any] = []
    borrowed: list[Any] = []
    tracer_provider: Any = trace.get_tracer_provider()
    ours = _installed[-1] if _installed and _installed[-1] is tracer_provider else None
    if not isinstance(tracer_provider, trace.ProxyTracerProvider) and ours is None:
        if options.exporter is not None or options.sampler is not None:
            _log.warning(
                "the app already installed a tracer provider (%s); TracingExtension uses it, so "
                "its exporter/sampler options are ignored",
                type(tracer_provider).__name__,
            )
        borrowed.append(tracer_provider)
    else:
        if ours is None:
            # Flushed by the host's shutdown hook, not atexit: a server's signal handling may
            # end the process before atexit runs, and a second shutdown at exit would only warn.
            ours = TracerProvider(
                resource=_resource(options), sampler=options.sampler, shutdown_on_exit=False
            )
            trace.set_tracer_provider(ours)
            if trace.get_tracer_provider() is not ours:  # lost a race: use the winner's
                return build_pipeline(options, environ)
            _installed[:] = [ours]
        elif options.sampler is not None or options.service_name is not None:
            _log.warning(
                "TracingExtension.configure() after the first invocation: the new exporters "
                "apply, the service name and sampler of the first configuration stay"
            )
        names = exporter_names(options, env)
        exporters = [_span_exporter(name, options, env) for name in names]
        if options.exporter is not None and not isinstance(options.exporter, str):
            exporters.append(options.exporter)
        for exporter in exporters:
            processor = BatchSpanProcessor(exporter)
            ours.add_span_processor(processor)
            owned.append(processor)
        tracer_provider = ours
    tracer = tracer_provider.get_tracer(INSTRUMENTATION_NAME, __version__, schema_url=SCHEMA_URL)

    histogram: Histogram | None = None
    if options.metrics:
        meter_provider = _meter_provider(options, env, owned, borrowed)
        if meter_provider is not None:
            meter = meter_provider.get_meter(
                INSTRUMENTATION_NAME, __version__, schema_url=SCHEMA_URL
            )
            histogram = meter.create_histogram(
                conv.INVOKE_DURATION,
                unit="s",
                description="Measures the duration of the function's logic execution",
                explicit_bucket_boundaries_advisory=list(conv.INVOKE_DURATION_BUCKETS),
            )
    return Pipeline(tracer, histogram, owned, borrowed)


def _meter_provider(
    options: Options, env: Mapping[str, str], owned: list[Any], borrowed: list[Any]
) -> Any:
    """The meter provider to record the duration histogram on: the app's global one if it
    installed one, else a private one of the extension's (metrics need no global provider, and
    a private one can be replaced by a later ``configure``); ``None`` when nothing would export
    the histogram (then it is not recorded at all)."""
    global_meters = _app_meter_provider()
    if global_meters is not None:
        borrowed.append(global_meters)
        return global_meters
    names = metric_exporter_names(options, env, exporter_names(options, env))
    readers = [_metric_reader(name, options, env) for name in names]
    choice = options.metric_exporter
    if isinstance(choice, MetricReader):
        readers.append(choice)
    elif choice is not None and not isinstance(choice, str):
        readers.append(PeriodicExportingMetricReader(choice))
    if not readers:
        return None
    provider = MeterProvider(
        metric_readers=readers, resource=_resource(options), shutdown_on_exit=False
    )
    owned.append(provider)
    return provider
