"""Fixtures for the tracing extension's tests: a fresh OpenTelemetry world and engine per test."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from extkit_tracing import TracingExtension
from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once
from tracing_support import Collected

from extkit import Engine, Registry

# extkit's own test helpers (``hostutil``: a real ``extkit start`` subprocess). Appended, so this
# folder's modules win any name clash.
sys.path.append(str(Path(__file__).resolve().parents[3] / "tests"))

OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
)


def reset_otel_globals() -> None:
    """Forget the installed global providers. OpenTelemetry allows installing them once per
    process; tests need a fresh start each (the same reset OpenTelemetry's own tests do)."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    trace._PROXY_TRACER_PROVIDER = trace.ProxyTracerProvider()
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None
    metrics_internal._PROXY_METER_PROVIDER = metrics_internal._ProxyMeterProvider()
    assert isinstance(metrics.get_meter_provider(), metrics_internal._ProxyMeterProvider)


@pytest.fixture(autouse=True)
def clean_otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No OTEL_* variable of the developer's shell leaks in; globals and the extension's state are
    fresh before and after each test."""
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    reset_otel_globals()
    TracingExtension.configure(exporter="none")
    TracingExtension._runtime.invocations = itertools.count()  # each test is a fresh "process"
    yield
    TracingExtension.shutdown_app_level()
    TracingExtension.configure(exporter="none")
    reset_otel_globals()


@pytest.fixture
def collected() -> Collected:
    """Configure the extension with in-memory exporters (still behind batch processing)."""
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    TracingExtension.configure(service_name="tests", exporter=exporter, metric_exporter=reader)
    return Collected(exporter, reader)


@pytest.fixture
def engine(extkit_registry: Registry) -> Engine:
    """An engine (gate on) whose registry holds the tracing extension, as the host loads it."""
    extkit_registry.register(
        TracingExtension,
        scope="app",
        key="extkit_tracing.TracingExtension",
        name="TracingExtension",
    )
    return Engine(registry=extkit_registry, enabled=True)
