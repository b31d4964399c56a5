"""The direct attribute path (``_direct``): taken where it is provably the same, never elsewhere.

With the default configuration the extension must take it, so an SDK release that changes the
internals it relies on fails here rather than silently costing every invocation ~10 µs; with a
sampler or span processor that could look at the attributes it must not, and they must see them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import opentelemetry.attributes
import pytest
from extkit_tracing import TracingExtension
from extkit_tracing._direct import direct_attributes
from opentelemetry import trace
from opentelemetry.context import Context as OtelContext
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes
from tracing_support import Collected

from extkit import Engine, HttpRequest, HttpResponse

URL = "http://127.0.0.1:7071/api/items/7?verbose=1"


class RecordingSampler(Sampler):
    """Samples everything, keeping the attributes each span was started with."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def should_sample(
        self,
        parent_context: OtelContext | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        self.seen.append(dict(attributes or {}))
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "RecordingSampler"


class StartRecorder(SpanProcessor):
    """A processor that reads the attributes as a span starts."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def on_start(self, span: Span, parent_context: OtelContext | None = None) -> None:
        self.seen.append(dict(span.attributes or {}))


@pytest.fixture
def cleanings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every value the SDK's attribute validation looks at (the normal path's cost)."""
    seen: list[object] = []
    clean = opentelemetry.attributes._clean_attribute_value

    def counting(value: Any, limit: int | None) -> Any:
        seen.append(value)
        return clean(value, limit)

    monkeypatch.setattr(opentelemetry.attributes, "_clean_attribute_value", counting)
    yield seen


def invoke_http(engine: Engine, name: str = "Items") -> dict[str, Any]:
    def items(req: HttpRequest) -> HttpResponse:
        return HttpResponse("ok", status_code=201)

    loaded = engine.load(items, name=name, trigger="http")
    context = loaded.new_context()
    request = HttpRequest("GET", URL, headers={"User-Agent": "tests"})
    loaded.invoke({"req": request}, context)
    return {
        "faas.trigger": "http",
        "faas.invocation_id": context.invocation_id,
        "faas.name": name,
        "faas.coldstart": True,
        "http.request.method": "GET",
        "url.scheme": "http",
        "url.path": "/api/items/7",
        "url.query": "verbose=1",
        "user_agent.original": "tests",
        "http.response.status_code": 201,
    }


def test_the_default_configuration_takes_the_direct_path(
    engine: Engine, cleanings: list[object]
) -> None:
    exporter = InMemorySpanExporter()
    TracingExtension.configure(exporter=exporter, metrics=False)  # a histogram validates its own
    assert TracingExtension._runtime.started().direct is not None, (
        "the direct attribute path no longer applies to this opentelemetry-sdk: see _direct.py"
    )
    cleanings.clear()  # building the pipeline (its resource) validates attributes once
    expected = invoke_http(engine)
    TracingExtension.shutdown_app_level()
    assert cleanings == []  # no attribute went through the SDK's validation
    [span] = exporter.get_finished_spans()
    assert span.attributes is not None
    assert list(span.attributes.items()) == list(expected.items())
    assert type(span._attributes) is opentelemetry.attributes.BoundedAttributes  # type: ignore[attr-defined]
    assert span.dropped_attributes == 0


def test_a_custom_sampler_sees_the_attributes(engine: Engine, cleanings: list[object]) -> None:
    sampler = RecordingSampler()
    exporter = InMemorySpanExporter()
    TracingExtension.configure(exporter=exporter, sampler=sampler, metrics=False)
    assert TracingExtension._runtime.started().direct is None
    expected = invoke_http(engine)
    TracingExtension.shutdown_app_level()
    start = {key: value for key, value in expected.items() if key != "http.response.status_code"}
    assert sampler.seen == [start]
    [span] = exporter.get_finished_spans()
    assert span.attributes is not None
    assert list(span.attributes.items()) == list(expected.items())
    assert cleanings  # the SDK validated them, as for any caller


def test_a_processor_added_later_that_reads_starting_spans_sees_the_attributes(
    engine: Engine, collected: Collected
) -> None:
    assert TracingExtension._runtime.started().direct is not None
    invoke_http(engine, "Before")
    recorder = StartRecorder()
    provider: Any = trace.get_tracer_provider()
    provider.add_span_processor(recorder)
    expected = {**invoke_http(engine, "After"), "faas.coldstart": False}
    start = {key: value for key, value in expected.items() if key != "http.response.status_code"}
    assert recorder.seen == [start]
    after = collected.span("After")
    assert after.attributes is not None
    assert list(after.attributes.items()) == list(expected.items())


def tracer_with(**settings: Any) -> trace.Tracer:
    provider = TracerProvider(resource=Resource.get_empty(), shutdown_on_exit=False, **settings)
    return provider.get_tracer("tests")


@pytest.mark.parametrize(
    ("settings", "direct"),
    [
        ({}, True),
        ({"sampler": ALWAYS_ON}, True),
        ({"sampler": ParentBased(ALWAYS_ON)}, True),
        ({"sampler": RecordingSampler()}, False),
        ({"sampler": ParentBased(RecordingSampler())}, False),
        ({"span_limits": SpanLimits(max_span_attribute_length=8)}, False),
        ({"span_limits": SpanLimits(max_span_attributes=4)}, False),
        ({"span_limits": SpanLimits(max_span_attributes=64)}, True),
    ],
)
def test_when_the_direct_path_applies(settings: dict[str, Any], direct: bool) -> None:
    assert (direct_attributes(tracer_with(**settings)) is not None) is direct


def test_other_tracers_take_the_normal_path() -> None:
    assert direct_attributes(trace.NoOpTracer()) is None
