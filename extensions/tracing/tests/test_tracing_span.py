"""The one-step span start (``_span``): taken where it is provably the same, never elsewhere.

With the default configuration the extension must take it, so an SDK release that changes the
internals it relies on fails here rather than silently costing every invocation a third of its
span; with a sampler that could look at the attributes it must not, and the sampler must see
them. Spans started this way must behave as the SDK's own for everything a user does with them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import opentelemetry.attributes
import pytest
from conftest import reset_otel_globals
from extkit_tracing import TracingExtension, _span
from extkit_tracing._span import span_starter
from opentelemetry import trace
from opentelemetry.context import Context as OtelContext
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
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


def test_the_default_configuration_takes_the_one_step_start(
    engine: Engine, cleanings: list[object]
) -> None:
    exporter = InMemorySpanExporter()
    TracingExtension.configure(exporter=exporter, metrics=False)  # a histogram validates its own
    assert TracingExtension._runtime.started().starter is not None, (
        "the one-step span start no longer applies to this opentelemetry-sdk: see _span.py"
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
    assert (span.events, span.links, span.dropped_events, span.dropped_links) == ((), (), 0, 0)


def test_a_custom_sampler_sees_the_attributes(engine: Engine, cleanings: list[object]) -> None:
    sampler = RecordingSampler()
    exporter = InMemorySpanExporter()
    TracingExtension.configure(exporter=exporter, sampler=sampler, metrics=False)
    assert TracingExtension._runtime.started().starter is None
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
    assert TracingExtension._runtime.started().starter is not None
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
    ("settings", "one_step"),
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
def test_when_the_one_step_start_applies(settings: dict[str, Any], one_step: bool) -> None:
    assert (span_starter(tracer_with(**settings)) is not None) is one_step


def test_other_tracers_take_the_normal_path() -> None:
    assert span_starter(trace.NoOpTracer()) is None


def test_an_sdk_span_with_a_field_the_starter_does_not_set_takes_the_normal_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A release whose span constructor sets one more field must not get spans missing it."""
    monkeypatch.setattr(_span, "_FIELDS", _span._FIELDS - {"_trace_config"})
    assert span_starter(tracer_with()) is None


def test_a_span_field_the_starter_sets_otherwise_takes_the_normal_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A release whose spans start with another value in a field must not get spans without it."""
    init = _span.InvocationSpan.__init__

    def differing(self: _span.InvocationSpan, *args: Any) -> None:
        init(self, *args)
        self._record_exception = True

    monkeypatch.setattr(_span.InvocationSpan, "__init__", differing)
    assert span_starter(tracer_with()) is None


def what_a_user_did(span: ReadableSpan) -> tuple[Any, ...]:
    """An exported span as a backend reads it, minus ids, times and the per-invocation id."""
    attributes = dict(span.attributes or {})
    attributes.pop("faas.invocation_id")
    attributes.pop("faas.coldstart")
    return (
        span.name,
        span.kind,
        list(attributes.items()),
        [(e.name, dict(e.attributes or {})) for e in span.events],
        [(link.context, dict(link.attributes or {})) for link in span.links],
        (span.status.status_code, span.status.description),
        (span.dropped_attributes, span.dropped_events, span.dropped_links),
        span.resource,
        span.instrumentation_scope,
    )


def test_a_user_calls_on_the_invocation_span_give_what_the_sdk_gives(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attributes, events and links past their limits, an exception, a status and a new name:
    the same exported span whichever way it was started (events and links made on first use
    keep the SDK's limits)."""
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "2")
    monkeypatch.setenv("OTEL_SPAN_LINK_COUNT_LIMIT", "1")
    linked = SpanContext(0xAB, 0xCD, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))

    def items(req: HttpRequest) -> HttpResponse:
        span = trace.get_current_span()
        assert span.is_recording()
        span.set_attribute("app.user", "ada")
        span.set_attributes({"app.items": 3, "app.tags": ["a", "b"]})
        span.add_event("validated", {"items": 3})
        span.add_link(linked, {"why": "first"})
        span.add_link(linked, {"why": "second"})
        span.record_exception(ValueError("soft"), {"handled": True})
        span.add_event("answered")
        span.set_status(Status(StatusCode.ERROR, "soft failure"))
        span.update_name("Items renamed")
        return HttpResponse("ok", status_code=201)

    spans: list[ReadableSpan] = []
    one_step: list[bool] = []
    # A sampler the starter does not know sends the span the normal way, which is the SDK's.
    for sampler in (ParentBased(ALWAYS_ON), ParentBased(RecordingSampler())):
        reset_otel_globals()
        exporter = InMemorySpanExporter()
        TracingExtension.configure(exporter=exporter, sampler=sampler, metrics=False)
        one_step.append(TracingExtension._runtime.started().starter is not None)
        loaded = engine.load(items, name="Items", trigger="http")
        request = HttpRequest("GET", URL, headers={"User-Agent": "tests"})
        loaded.invoke({"req": request}, loaded.new_context())
        TracingExtension.shutdown_app_level()
        spans.extend(exporter.get_finished_spans())
    assert one_step == [True, False]
    [started_in_one_step, started_normally] = spans
    assert type(started_in_one_step) is type(started_normally) is ReadableSpan
    assert what_a_user_did(started_in_one_step) == what_a_user_did(started_normally)
    name, kind, attributes, events, links, status, dropped, _, _ = what_a_user_did(spans[0])
    assert (name, kind, status, dropped) == (
        "Items renamed",
        SpanKind.SERVER,
        (StatusCode.ERROR, "soft failure"),
        (0, 1, 1),
    )
    assert attributes[-4:] == [
        ("app.user", "ada"),
        ("app.items", 3),
        ("app.tags", ("a", "b")),
        ("http.response.status_code", 201),
    ]
    assert [event[0] for event in events] == ["exception", "answered"]
    assert events[0][1]["handled"] is True
    assert links == [(linked, {"why": "second"})]  # a full list drops its oldest


def test_a_span_the_sampler_drops_is_not_recorded_and_not_exported(engine: Engine) -> None:
    exporter = InMemorySpanExporter()
    TracingExtension.configure(exporter=exporter, sampler=TraceIdRatioBased(0.0), metrics=False)
    assert TracingExtension._runtime.started().starter is not None
    seen: list[bool] = []

    def items(req: HttpRequest) -> str:
        seen.append(trace.get_current_span().is_recording())
        return "ok"

    loaded = engine.load(items, name="Items", trigger="http")
    loaded.invoke({"req": HttpRequest("GET", URL)}, loaded.new_context())
    TracingExtension.shutdown_app_level()
    assert seen == [False]
    assert exporter.get_finished_spans() == ()


class FixedIds(IdGenerator):
    """One trace id for every span, so a trace-id ratio decides each start alike."""

    def generate_span_id(self) -> int:
        return 0x2A

    def generate_trace_id(self) -> int:
        return 0xB000_0000_0000_0000  # its low 64 bits are 0.69 of their range: 0.5 drops it

    def is_trace_id_random(self) -> bool:
        return True


BUILT_IN_SAMPLERS = [
    ALWAYS_ON,
    ALWAYS_OFF,
    ParentBased(ALWAYS_ON),
    ParentBased(ALWAYS_OFF),
    TraceIdRatioBased(0.5),
    TraceIdRatioBased(0.9),
    ParentBasedTraceIdRatio(0.5),
]


def parents() -> list[OtelContext | None]:
    """No parent, then remote and local parents, sampled and not, with a trace state."""
    state = TraceState([("vendor", "abc")])
    return [None] + [
        trace.set_span_in_context(
            NonRecordingSpan(
                SpanContext(0x1F, 0x2F, remote, TraceFlags(TraceFlags.SAMPLED * sampled), state)
            )
        )
        for remote in (True, False)
        for sampled in (True, False)
    ]


@pytest.mark.parametrize("sampler", BUILT_IN_SAMPLERS, ids=lambda s: s.get_description())
def test_the_starter_decides_as_each_built_in_sampler(sampler: Sampler) -> None:
    """Where a built-in sampler's decision follows from the parent alone the starter makes it
    without the sampler; either way the span records, is sampled and carries the trace state
    exactly as ``start_span`` makes it, under every kind of parent."""
    provider = TracerProvider(
        sampler=sampler,
        resource=Resource.get_empty(),
        shutdown_on_exit=False,
        id_generator=FixedIds(),
    )
    tracer = provider.get_tracer("tests")
    starter = span_starter(tracer)
    assert starter is not None
    for parent in parents():
        normal = tracer.start_span("s", parent, SpanKind.SERVER, {"faas.trigger": "http"})
        one_step = starter.start("s", parent, SpanKind.SERVER, {"faas.trigger": "http"})
        assert one_step is not None
        for span in (normal, one_step):
            span.end()
        assert (one_step.is_recording(), one_step.get_span_context()) == (
            normal.is_recording(),
            normal.get_span_context(),
        )


def test_a_decision_table_that_disagrees_with_the_sampler_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        _span, "_decisions", lambda sampler: dict.fromkeys(_span._PARENTS, Decision.DROP)
    )
    assert span_starter(tracer_with(sampler=ParentBased(ALWAYS_ON))) is None


def test_a_sampler_replaced_after_the_verdict_is_asked_through_start_span() -> None:
    tracer: Any = tracer_with()
    starter = span_starter(tracer)
    assert starter is not None
    tracer.sampler = RecordingSampler()
    assert starter.start("s", None, SpanKind.SERVER, {"faas.trigger": "http"}) is None
