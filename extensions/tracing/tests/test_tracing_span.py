"""The invocation's span as users meet it: what is exported, field by field, and what samplers,
span processors and the function itself see of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from extkit_tracing import TracingExtension
from opentelemetry import trace
from opentelemetry.context import Context as OtelContext
from opentelemetry.sdk.trace import Span, SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import Link, SpanContext, SpanKind, StatusCode, TraceFlags, TraceState
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

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # nothing queued (older SDKs' base class answers None, which fails a flush)


def invoke_http(engine: Engine, name: str = "Items", coldstart: bool = True) -> dict[str, Any]:
    """One HTTP invocation answering 201; returns the attributes its span must end with."""

    def items(req: HttpRequest) -> HttpResponse:
        return HttpResponse("ok", status_code=201)

    loaded = engine.load(items, name=name, trigger="http")
    context = loaded.new_context()
    loaded.invoke({"req": HttpRequest("GET", URL, headers={"User-Agent": "tests"})}, context)
    return {
        "faas.trigger": "http",
        "faas.invocation_id": context.invocation_id,
        "faas.name": name,
        "faas.coldstart": coldstart,
        "http.request.method": "GET",
        "url.scheme": "http",
        "url.path": "/api/items/7",
        "url.query": "verbose=1",
        "user_agent.original": "tests",
        "http.response.status_code": 201,
    }


def at_start(attributes: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if key != "http.response.status_code"}


def test_the_exported_span_field_by_field(engine: Engine, collected: Collected) -> None:
    expected = invoke_http(engine)
    [span] = collected.spans()
    assert span.name == "Items"
    assert span.kind is SpanKind.SERVER
    assert span.parent is None
    assert span.context is not None and span.context.trace_flags.sampled
    assert list((span.attributes or {}).items()) == list(expected.items())
    assert (span.events, span.links) == ((), ())
    assert (span.status.status_code, span.status.description) == (StatusCode.UNSET, None)
    assert (span.dropped_attributes, span.dropped_events, span.dropped_links) == (0, 0, 0)
    assert span.start_time is not None and span.end_time is not None
    assert span.start_time <= span.end_time
    assert span.resource.attributes["service.name"] == "tests"
    scope = span.instrumentation_scope
    assert scope is not None
    assert (scope.name, scope.schema_url) == (
        "extkit_tracing",
        "https://opentelemetry.io/schemas/1.37.0",
    )


def test_a_custom_sampler_sees_the_attributes_at_the_start(engine: Engine) -> None:
    sampler = RecordingSampler()
    exporter = InMemorySpanExporter()
    TracingExtension.configure(exporter=exporter, sampler=sampler, metrics=False)
    expected = invoke_http(engine)
    TracingExtension.shutdown_app_level()
    assert sampler.seen == [at_start(expected)]
    [span] = exporter.get_finished_spans()
    assert list((span.attributes or {}).items()) == list(expected.items())


def test_a_sampler_that_drops_the_span_leaves_it_unrecorded_and_unexported(
    engine: Engine,
) -> None:
    exporter = InMemorySpanExporter()
    TracingExtension.configure(exporter=exporter, sampler=TraceIdRatioBased(0.0), metrics=False)
    seen: list[bool] = []

    def items(req: HttpRequest) -> str:
        seen.append(trace.get_current_span().is_recording())
        return "ok"

    loaded = engine.load(items, name="Items", trigger="http")
    loaded.invoke({"req": HttpRequest("GET", URL)}, loaded.new_context())
    TracingExtension.shutdown_app_level()
    assert seen == [False]
    assert exporter.get_finished_spans() == ()


def test_a_processor_added_later_sees_the_attributes_as_the_span_starts(
    engine: Engine, collected: Collected
) -> None:
    invoke_http(engine, "Before")
    recorder = StartRecorder()
    provider: Any = trace.get_tracer_provider()
    provider.add_span_processor(recorder)
    expected = invoke_http(engine, "After", coldstart=False)
    assert recorder.seen == [at_start(expected)]
    after = collected.span("After")
    assert list((after.attributes or {}).items()) == list(expected.items())


def test_what_the_function_does_with_its_span_is_exported(
    engine: Engine, collected: Collected
) -> None:
    linked = SpanContext(0xAB, 0xCD, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))

    def items(req: HttpRequest) -> HttpResponse:
        span = trace.get_current_span()
        span.set_attribute("app.user", "ada")
        span.set_attributes({"app.items": 3, "app.tags": ["a", "b"]})
        span.add_event("validated", {"items": 3})
        span.add_link(linked, {"why": "batch"})
        span.record_exception(ValueError("soft"), {"handled": True})
        span.update_name("Items renamed")
        return HttpResponse("ok", status_code=201)

    loaded = engine.load(items, name="Items", trigger="http")
    loaded.invoke({"req": HttpRequest("GET", URL)}, loaded.new_context())
    span = collected.span("Items renamed")
    assert list((span.attributes or {}).items())[-4:] == [
        ("app.user", "ada"),
        ("app.items", 3),
        ("app.tags", ("a", "b")),
        ("http.response.status_code", 201),
    ]
    validated, exception = span.events
    assert (validated.name, dict(validated.attributes or {})) == ("validated", {"items": 3})
    assert exception.name == "exception" and exception.attributes is not None
    assert exception.attributes["handled"] is True
    assert [(link.context, dict(link.attributes or {})) for link in span.links] == [
        (linked, {"why": "batch"})
    ]
    assert span.status.status_code is StatusCode.UNSET  # a handled exception is no failure
