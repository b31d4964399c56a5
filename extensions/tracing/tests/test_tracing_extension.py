"""TracingExtension through a real engine: span shape, nesting, logs, failures, metrics."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest
from extkit_tracing import TracingExtension
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tracing_support import Collected

import extkit
from extkit import AppExtensionBase, Engine, HttpRequest, HttpResponse, Out, RejectInvocation
from extkit.testing import capture_logs

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def user_tracer() -> trace.Tracer:
    """Looked up per use, as app code does: tests reinstall providers, and a module-level proxy
    tracer would stay bound to the first one."""
    return trace.get_tracer("tests.user")


def hex_ids(span: Any) -> tuple[str, str]:
    ctx = span.get_span_context() if hasattr(span, "get_span_context") else span.context
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def test_one_server_span_with_faas_attributes(engine: Engine, collected: Collected) -> None:
    def work() -> str:
        return "done"

    loaded = engine.load(work, name="Work")
    first = loaded.new_context()
    assert loaded.invoke({}, first) == "done"
    loaded.invoke({}, loaded.new_context())

    spans = collected.spans()
    assert [span.name for span in spans] == ["Work", "Work"]
    span = spans[0]
    assert span.kind is SpanKind.SERVER
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes is not None
    assert dict(span.attributes) == {
        "faas.trigger": "other",
        "faas.invocation_id": first.invocation_id,
        "faas.name": "Work",
        "faas.coldstart": True,
    }
    assert spans[1].attributes is not None and spans[1].attributes["faas.coldstart"] is False
    assert span.resource.attributes["service.name"] == "tests"
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "extkit_tracing"


def test_parent_comes_from_incoming_traceparent(engine: Engine, collected: Collected) -> None:
    loaded = engine.load(lambda: None, name="Child")
    context = loaded.new_context()
    context.trace_context.trace_parent = TRACEPARENT
    context.trace_context.trace_state = "vendor=abc"
    loaded.invoke({}, context)

    span = collected.span("Child")
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and span.parent.is_remote
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert span.context.trace_state.get("vendor") == "abc"


def test_invalid_traceparent_starts_a_new_root(engine: Engine, collected: Collected) -> None:
    loaded = engine.load(lambda: None, name="Root")
    context = loaded.new_context()
    context.trace_context.trace_parent = "00-not-a-trace-01"
    loaded.invoke({}, context)
    span = collected.span("Root")
    assert span.parent is None


def test_user_spans_nest_in_sync_functions_and_extkit_threads(
    engine: Engine, collected: Collected
) -> None:
    def fan_out(context: extkit.Context) -> None:
        with user_tracer().start_as_current_span("direct"):
            pass
        with context.tracer.start_as_current_span("via-context-tracer"):  # type: ignore[attr-defined]
            pass
        thread = extkit.Thread(target=lambda: user_tracer().start_span("in-thread").end())
        thread.start()
        thread.join()
        with extkit.ContextThreadPoolExecutor(max_workers=2) as pool:
            pool.submit(lambda: user_tracer().start_span("in-pool").end()).result()

    loaded = engine.load(fan_out, name="FanOut")
    loaded.invoke({}, loaded.new_context())

    invocation = collected.span("FanOut")
    for name in ("direct", "via-context-tracer", "in-thread", "in-pool"):
        child = collected.span(name)
        assert child.parent is not None, name
        assert child.parent.span_id == invocation.context.span_id, name
        assert child.context.trace_id == invocation.context.trace_id, name


def test_span_is_current_on_the_host_path_for_sync_and_async_functions(
    engine: Engine, collected: Collected
) -> None:
    """``invoke_async`` as the host calls it: sync functions on an executor, async on the loop."""

    def sync_work() -> None:
        user_tracer().start_span("sync-child").end()

    async def async_work() -> None:
        await asyncio.sleep(0)
        user_tracer().start_span("async-child").end()
        await asyncio.to_thread(lambda: user_tracer().start_span("to-thread-child").end())

    sync_loaded = engine.load(sync_work, name="SyncWork")
    async_loaded = engine.load(async_work, name="AsyncWork")

    async def host() -> None:
        with ThreadPoolExecutor(max_workers=2) as pool:
            await sync_loaded.invoke_async({}, executor=pool)
            await async_loaded.invoke_async({})

    asyncio.run(host())
    pairs = [
        ("SyncWork", "sync-child"),
        ("AsyncWork", "async-child"),
        ("AsyncWork", "to-thread-child"),
    ]
    for parent_name, child_name in pairs:
        parent, child = collected.span(parent_name), collected.span(child_name)
        assert child.parent is not None and child.parent.span_id == parent.context.span_id


def test_log_records_carry_the_invocation_span_ids(engine: Engine, collected: Collected) -> None:
    log = logging.getLogger("tests.app")

    def logs() -> None:
        log.info("inside the function")

    loaded = engine.load(logs, name="Logs")
    with capture_logs() as captured:
        loaded.invoke({}, loaded.new_context())
        log.info("outside any invocation")
    span = collected.span("Logs")
    trace_id, span_id = hex_ids(span)
    inside = next(r for r in captured.records if r.getMessage() == "inside the function")
    outside = next(r for r in captured.records if r.getMessage() == "outside any invocation")
    assert (inside.trace_id, inside.span_id) == (trace_id, span_id)  # type: ignore[attr-defined]
    assert outside.trace_id is None  # type: ignore[attr-defined]


def test_the_span_encloses_other_extensions_hooks(
    engine: Engine, collected: Collected, extkit_registry: extkit.Registry
) -> None:
    seen: list[str | None] = []

    class Inner(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            seen.append("pre" if trace.get_current_span().get_span_context().is_valid else None)

        @classmethod
        def post_invocation_app_level(cls) -> None:
            seen.append("post" if trace.get_current_span().get_span_context().is_valid else None)

    loaded = engine.load(lambda: None, name="Wrapped")
    loaded.invoke({}, loaded.new_context())
    assert seen == ["pre", "post"]
    assert not trace.get_current_span().get_span_context().is_valid  # detached afterwards


def test_the_span_is_outermost_even_for_extensions_registered_before_it(
    collected: Collected,
) -> None:
    seen: list[bool] = []
    registry = extkit.Registry()
    with extkit.isolated_registry(registry):

        class Earlier(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls) -> None:
                seen.append(trace.get_current_span().get_span_context().is_valid)

    registry.register(
        TracingExtension, scope="app", key="extkit_tracing.TracingExtension", name="Tracing"
    )
    loaded = Engine(registry=registry, enabled=True).load(lambda: None, name="Outermost")
    loaded.invoke({}, loaded.new_context())
    assert seen == [True]
    assert [entry.name for entry in registry.entries()] == ["Tracing", "Earlier"]


def test_exception_marks_error_and_reaches_the_caller_unchanged(
    engine: Engine, collected: Collected
) -> None:
    boom = ValueError("bad input")

    def fails() -> None:
        raise boom

    loaded = engine.load(fails, name="Fails")
    with pytest.raises(ValueError) as raised:
        loaded.invoke({}, loaded.new_context())
    assert raised.value is boom

    span = collected.span("Fails")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "bad input"
    assert span.attributes is not None and span.attributes["error.type"] == "ValueError"
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad input"
    assert "raise boom" in str(event.attributes["exception.stacktrace"])


def test_record_exception_can_be_switched_off(engine: Engine) -> None:
    exporter = InMemorySpanExporter()
    TracingExtension.configure(exporter=exporter, record_exception=False, metrics=False)

    def fails() -> None:
        raise KeyError("k")

    loaded = engine.load(fails, name="Quiet")
    with pytest.raises(KeyError):
        loaded.invoke({}, loaded.new_context())
    TracingExtension.shutdown_app_level()
    [span] = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR and span.events == ()


def http_request(url: str = "http://127.0.0.1:7071/api/items/7?verbose=1") -> HttpRequest:
    return HttpRequest("GET", url, headers={"User-Agent": "tests/1"}, route_params={"id": 7})


def test_http_trigger_attributes(engine: Engine, collected: Collected) -> None:
    def item(req: HttpRequest) -> HttpResponse:
        return HttpResponse("ok", status_code=201)

    loaded = engine.load(item, name="Item", trigger="http")
    loaded.invoke({"req": http_request()}, loaded.new_context())
    span = collected.span("Item")
    assert span.kind is SpanKind.SERVER
    assert span.attributes is not None
    attributes = dict(span.attributes)
    assert attributes["faas.trigger"] == "http"
    assert attributes["http.request.method"] == "GET"
    assert attributes["url.path"] == "/api/items/7"
    assert attributes["url.query"] == "verbose=1"
    assert attributes["url.scheme"] == "http"
    assert attributes["user_agent.original"] == "tests/1"
    assert attributes["http.response.status_code"] == 201
    assert span.status.status_code is StatusCode.UNSET


def test_http_route_template_from_the_function_info(engine: Engine, collected: Collected) -> None:
    loaded = engine.load(lambda req: "ok", name="Routed", trigger="http")
    context = loaded.new_context()
    context.function_info = SimpleNamespace(route="/api/items/{id:int}")  # type: ignore[attr-defined]
    loaded.invoke({"req": http_request()}, context)
    attributes = collected.span("Routed").attributes
    assert attributes is not None and attributes["http.route"] == "/api/items/{id:int}"


@pytest.mark.parametrize(
    ("returned", "status"),
    [("text", 200), ({"a": 1}, 200), (HttpResponse(status_code=404), 404)],
)
def test_http_status_of_returned_values(
    engine: Engine, collected: Collected, returned: object, status: int
) -> None:
    loaded = engine.load(lambda req: returned, name="Returns", trigger="http")
    loaded.invoke({"req": http_request()}, loaded.new_context())
    span = collected.span("Returns")
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == status
    assert span.status.status_code is StatusCode.UNSET  # 4xx is the client's error


def test_http_status_from_an_out_binding(engine: Engine, collected: Collected) -> None:
    def handler(req: HttpRequest, res: Out[HttpResponse]) -> None:
        res.set(HttpResponse("made", status_code=202))

    loaded = engine.load(handler, name="OutBinding", trigger="http")
    loaded.invoke({"req": http_request(), "res": Out()}, loaded.new_context())
    attributes = collected.span("OutBinding").attributes
    assert attributes is not None and attributes["http.response.status_code"] == 202


def test_http_5xx_response_is_an_error(engine: Engine, collected: Collected) -> None:
    loaded = engine.load(
        lambda req: HttpResponse("down", status_code=503), name="Down", trigger="http"
    )
    loaded.invoke({"req": http_request()}, loaded.new_context())
    span = collected.span("Down")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "503"
    assert span.attributes["http.response.status_code"] == 503


def test_http_exception_is_a_500_error(engine: Engine, collected: Collected) -> None:
    def broken(req: HttpRequest) -> None:
        raise RuntimeError("db down")

    loaded = engine.load(broken, name="Broken", trigger="http")
    with pytest.raises(RuntimeError):
        loaded.invoke({"req": http_request()}, loaded.new_context())
    span = collected.span("Broken")
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 500
    assert span.attributes["error.type"] == "RuntimeError"
    assert [event.name for event in span.events] == ["exception"]


def test_deliberate_4xx_rejection_is_not_a_server_error(
    engine: Engine, collected: Collected, extkit_registry: extkit.Registry
) -> None:
    class Auth(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            raise RejectInvocation("no key", status_code=401)

    loaded = engine.load(lambda req: "never", name="Guarded", trigger="http")
    with pytest.raises(RejectInvocation):
        loaded.invoke({"req": http_request()}, loaded.new_context())
    span = collected.span("Guarded")
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 401
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in span.attributes


def test_timer_trigger_attributes(engine: Engine, collected: Collected) -> None:
    timer = SimpleNamespace(past_due=False, schedule_expression="0 */5 * * * *")
    loaded = engine.load(lambda timer: None, name="Tick", trigger="timer")
    loaded.invoke({"timer": timer}, loaded.new_context())
    span = collected.span("Tick")
    assert span.kind is SpanKind.SERVER
    assert span.attributes is not None
    assert span.attributes["faas.trigger"] == "timer"
    assert span.attributes["faas.cron"] == "0 */5 * * * *"
    assert str(span.attributes["faas.time"]).endswith("Z")


def test_pubsub_trigger_is_a_consumer_span(engine: Engine, collected: Collected) -> None:
    loaded = engine.load(lambda: None, name="OnMessage", trigger="pubsub")
    loaded.invoke({}, loaded.new_context())
    assert collected.span("OnMessage").kind is SpanKind.CONSUMER


def test_duration_histogram_per_trigger_and_error_type(
    engine: Engine, collected: Collected
) -> None:
    def maybe_fail(fail: bool) -> None:
        if fail:
            raise TimeoutError("slow")

    loaded = engine.load(maybe_fail, name="Maybe")
    loaded.invoke({"fail": False}, loaded.new_context())
    loaded.invoke({"fail": False}, loaded.new_context())
    with pytest.raises(TimeoutError):
        loaded.invoke({"fail": True}, loaded.new_context())

    points = {
        tuple(sorted(point.attributes.items())): point for point in collected.duration_points()
    }
    ok = points[(("faas.trigger", "other"),)]
    failed = points[(("error.type", "TimeoutError"), ("faas.trigger", "other"))]
    assert (ok.count, failed.count) == (2, 1)
    assert ok.sum >= 0 and list(ok.explicit_bounds)[:3] == [0.005, 0.01, 0.025]


def test_an_app_provider_is_used_instead_of_installing_a_second(engine: Engine) -> None:
    exporter = InMemorySpanExporter()
    app_provider = TracerProvider()
    app_provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(app_provider)
    TracingExtension.configure(metrics=False)

    loaded = engine.load(lambda: None, name="AppOwned")
    loaded.invoke({}, loaded.new_context())
    assert trace.get_tracer_provider() is app_provider
    assert [span.name for span in exporter.get_finished_spans()] == ["AppOwned"]
    TracingExtension.shutdown_app_level()  # flushes the app's provider but leaves it running
    loaded.invoke({}, loaded.new_context())
    assert len(exporter.get_finished_spans()) == 2


def test_an_app_meter_provider_records_the_duration(engine: Engine) -> None:
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader], shutdown_on_exit=False))
    TracingExtension.configure(exporter="none")  # no metric exporter of the extension's own

    loaded = engine.load(lambda: None, name="AppMeters")
    loaded.invoke({}, loaded.new_context())
    TracingExtension.shutdown_app_level()  # flushes the app's provider but leaves it running
    loaded.invoke({}, loaded.new_context())
    points = Collected(InMemorySpanExporter(), reader).duration_points()
    assert [point.count for point in points] == [2]


def test_configure_again_after_the_first_invocation_switches_exporters(engine: Engine) -> None:
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    TracingExtension.configure(exporter=first, metrics=False)
    loaded = engine.load(lambda: None, name="Switched")
    loaded.invoke({}, loaded.new_context())
    provider = trace.get_tracer_provider()

    TracingExtension.configure(exporter=second, metrics=False)  # flushes the first
    assert len(first.get_finished_spans()) == 1
    loaded.invoke({}, loaded.new_context())
    TracingExtension.shutdown_app_level()
    assert trace.get_tracer_provider() is provider  # OpenTelemetry allows one per process
    assert (len(first.get_finished_spans()), len(second.get_finished_spans())) == (1, 1)
    [later] = second.get_finished_spans()
    assert later.attributes is not None
    assert later.attributes["faas.coldstart"] is False  # a new configuration is no new process


def test_sampler_from_environment(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    exporter = InMemorySpanExporter()
    TracingExtension.configure(exporter=exporter, metrics=False)
    seen: list[bool] = []

    def work() -> str:
        seen.append(trace.get_current_span().is_recording())
        return "still runs"

    loaded = engine.load(work, name="Sampled")
    assert loaded.invoke({}, loaded.new_context()) == "still runs"
    TracingExtension.shutdown_app_level()
    assert seen == [False] and exporter.get_finished_spans() == ()


def test_shutdown_flushes_batched_spans(engine: Engine) -> None:
    exporter = InMemorySpanExporter()
    TracingExtension.configure(exporter=exporter, metrics=False)
    loaded = engine.load(lambda: None, name="Queued")
    for _ in range(50):
        loaded.invoke({}, loaded.new_context())
    TracingExtension.shutdown_app_level()
    assert len(exporter.get_finished_spans()) == 50


def test_service_name_from_environment(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    exporter = InMemorySpanExporter()
    TracingExtension.configure(exporter=exporter, metrics=False)
    loaded = engine.load(lambda: None, name="Named")
    loaded.invoke({}, loaded.new_context())
    TracingExtension.shutdown_app_level()
    [span] = exporter.get_finished_spans()
    assert span.resource.attributes["service.name"] == "from-env"


def test_unknown_configure_options_and_values_are_named() -> None:
    with pytest.raises(TypeError, match="accepted: service_name, exporter"):
        TracingExtension.configure(exporter_name="otlp")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=r"exporter='zipkin'.*'otlp', 'console', 'none'"):
        TracingExtension.configure(exporter="zipkin")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"protocol.*'http/json'.*http/protobuf, grpc"):
        TracingExtension.configure(protocol="http/json")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/api/hello", {"url.path": "/api/hello"}),
        ("/api/hello?name=Ada#top", {"url.path": "/api/hello", "url.query": "name=Ada"}),
        ("https://example.test", {"url.path": "/", "url.scheme": "https"}),
        (
            "http://example.test:8080/api/x?y=1",
            {"url.path": "/api/x", "url.query": "y=1", "url.scheme": "http"},
        ),
        # Function keys and signed-URL credentials are redacted, whatever their case or encoding.
        ("/api/x?code=k1", {"url.path": "/api/x", "url.query": "code=REDACTED"}),
        (
            "/api/x?name=Ada&CODE=k1&co%64e=k2&sig=s&Signature=s&AWSAccessKeyId=a"
            "&X-Goog-Signature=g&y=1",
            {
                "url.path": "/api/x",
                "url.query": "name=Ada&CODE=REDACTED&co%64e=REDACTED&sig=REDACTED"
                "&Signature=REDACTED&AWSAccessKeyId=REDACTED&X-Goog-Signature=REDACTED&y=1",
            },
        ),
        (
            "/api/x?codes=k1&code&zip=code",
            {"url.path": "/api/x", "url.query": "codes=k1&code&zip=code"},
        ),
    ],
)
def test_url_attributes(url: str, expected: dict[str, str]) -> None:
    from extkit_tracing._conventions import add_http_request_attributes

    attributes: dict[str, object] = {}
    add_http_request_attributes(attributes, HttpRequest("PURGE", url), None)
    assert attributes.pop("http.request.method") == "_OTHER"  # not a method HTTP knows
    assert attributes == expected


def test_timeout_is_a_504_error(engine: Engine, collected: Collected) -> None:
    import threading

    release = threading.Event()

    def slow(req: HttpRequest) -> str:
        release.wait(10)
        return "late"

    loaded = engine.load(slow, name="Slow", trigger="http")

    async def host() -> None:
        with ThreadPoolExecutor(max_workers=1) as pool:
            try:
                with pytest.raises(extkit.InvocationTimeout):
                    await loaded.invoke_async({"req": http_request()}, executor=pool, timeout=0.05)
            finally:
                release.set()

    asyncio.run(host())
    span = collected.span("Slow")
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 504
    assert span.attributes["error.type"] == "extkit.errors.InvocationTimeout"
    assert span.status.status_code is StatusCode.ERROR


def test_timer_request_of_the_host(engine: Engine, collected: Collected) -> None:
    from extkit.schedule import TimerRequest, parse_schedule

    timer = TimerRequest(schedule=parse_schedule("0 */5 * * * *"))
    loaded = engine.load(lambda timer: None, name="HostTimer", trigger="timer")
    loaded.invoke({"timer": timer}, loaded.new_context())
    attributes = collected.span("HostTimer").attributes
    assert attributes is not None and attributes["faas.cron"] == "0 */5 * * * *"
