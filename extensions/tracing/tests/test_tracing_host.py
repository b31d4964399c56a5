"""End to end: a real ``extkit start`` subprocess exports OTLP/HTTP to a decoding receiver."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hostutil import HostProcess, running_host
from otlp_receiver import OTLPReceiver, ReceivedSpan, running_receiver

pytestmark = pytest.mark.slow

APPS = Path(__file__).parent / "apps"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def tracing_env(receiver: OTLPReceiver, **extra: str) -> dict[str, str]:
    """The standard variables an operator sets to send a host's telemetry to a collector."""
    return {
        "PYTHON_ENABLE_WORKER_EXTENSIONS": "1",
        "EXTKIT_DISABLED_EXTENSIONS": "timer",  # only the extension under test
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        **extra,
    }


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def traced_host(receiver: OTLPReceiver) -> Iterator[HostProcess]:
    with running_host(APPS / "traced", "--log-format", "json", env=tracing_env(receiver)) as host:
        yield host


def the_span(receiver: OTLPReceiver, name: str, **attributes: object) -> ReceivedSpan:
    """Wait for exactly one span called ``name`` with these attributes; return it."""

    def matching(r: OTLPReceiver) -> list[ReceivedSpan]:
        return [
            span
            for span in r.spans_named(name)
            if all(span.attributes.get(key) == value for key, value in attributes.items())
        ]

    assert receiver.wait_for(lambda r: bool(matching(r))), (name, attributes, receiver.spans)
    [span] = matching(receiver)
    return span


def test_http_invocation_span_parent_children_and_logs(
    traced_host: HostProcess, receiver: OTLPReceiver
) -> None:
    response = traced_host.get(
        "/api/hello?name=Ada",
        headers={
            "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
            "tracestate": "vendor=abc",
            "user-agent": "tracing-tests",
        },
    )
    assert response.status_code == 200 and response.text == "Hello, Ada"
    invocation_id = response.headers["x-invocation-id"]

    span = the_span(receiver, "hello", **{"faas.invocation_id": invocation_id})
    assert (span.trace_id, span.parent_span_id) == (TRACE_ID, PARENT_ID)
    assert span.trace_state == "vendor=abc"
    assert span.kind == "SPAN_KIND_SERVER"
    assert span.status_code == "STATUS_CODE_UNSET"
    assert span.resource["service.name"] == "traced-app"
    assert span.attributes["faas.trigger"] == "http"
    assert span.attributes["faas.name"] == "hello"
    assert span.attributes["faas.coldstart"] is True
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["url.path"] == "/api/hello"
    assert span.attributes["url.query"] == "name=Ada"
    assert span.attributes["user_agent.original"] == "tracing-tests"
    assert span.attributes["http.response.status_code"] == 200

    greeting = the_span(receiver, "load-greeting")
    in_thread = the_span(receiver, "thread-work")
    for child in (greeting, in_thread):
        assert (child.trace_id, child.parent_span_id) == (TRACE_ID, span.span_id)

    line = traced_host.wait_for_log(lambda entry: entry.get("event") == "greeting Ada")
    assert line["invocation_id"] == invocation_id
    assert (line["trace_id"], line["span_id"]) == (TRACE_ID, greeting.span_id)

    second = traced_host.get("/api/hello")
    later = the_span(receiver, "hello", **{"faas.invocation_id": second.headers["x-invocation-id"]})
    assert later.attributes["faas.coldstart"] is False
    assert later.parent_span_id == "" and later.trace_id != TRACE_ID  # a new root


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_function_keys_are_never_recorded(receiver: OTLPReceiver, log_format: str) -> None:
    """A key in ``?code=`` is redacted in ``url.query`` (as the HTTP conventions ask for signed-URL
    parameters), and no key, right or wrong, in the query or the ``x-functions-key`` header, is in
    any export or any line the host writes: not even where a function logs its request, or fails
    with its URL in the message."""
    key = "k3y-0f-the-0wner-7f3a"
    env = tracing_env(receiver, EXTKIT_FUNCTION_KEY=key)
    with running_host(APPS / "traced", "--log-format", log_format, env=env) as host:
        assert host.get("/api/keyed?name=Ada").status_code == 401
        in_query = host.get(f"/api/keyed?name=Ada&code={key}")
        in_header = host.get("/api/keyed?name=Bo", headers={"x-functions-key": key})
        assert (in_query.status_code, in_header.status_code) == (200, 200)
        wrong = [
            host.get(f"/api/keyed?code={key}-old"),
            host.get("/api/keyed", headers={"x-functions-key": f"{key}-old"}),
        ]
        assert [response.status_code for response in wrong] == [401, 401]
        assert host.get(f"/api/nowhere?code={key}").status_code == 404
        careless = [
            host.get(f"/api/careless?name=Cy&code={key}"),
            host.get("/api/careless?name=Di", headers={"x-functions-key": key}),
        ]
        assert [response.status_code for response in careless] == [500, 500]
        by_query = the_span(
            receiver, "keyed", **{"faas.invocation_id": in_query.headers["x-invocation-id"]}
        )
        by_header = the_span(
            receiver, "keyed", **{"faas.invocation_id": in_header.headers["x-invocation-id"]}
        )
        failed = the_span(
            receiver, "careless", **{"faas.invocation_id": careless[0].headers["x-invocation-id"]}
        )
        host.wait_for_output("the upstream call for")
    assert by_query.attributes["url.query"] == "name=Ada&code=REDACTED"
    assert by_header.attributes["url.query"] == "name=Bo"
    assert failed.status_code == "STATUS_CODE_ERROR"
    assert receiver.bodies and not [body for body in receiver.bodies if key.encode() in body]
    output = host.output() + host.errors()
    assert "handling http://" in output and "code=REDACTED" in output
    assert key not in output


def test_async_function_children_nest(traced_host: HostProcess, receiver: OTLPReceiver) -> None:
    response = traced_host.get("/api/async-hello")
    assert response.status_code == 200
    span = the_span(
        receiver, "async_hello", **{"faas.invocation_id": response.headers["x-invocation-id"]}
    )
    child = the_span(receiver, "async-work")
    assert (child.trace_id, child.parent_span_id) == (span.trace_id, span.span_id)


def test_failures_are_errors_and_reach_the_client(
    traced_host: HostProcess, receiver: OTLPReceiver
) -> None:
    failed = traced_host.get("/api/fail")
    assert failed.status_code == 500
    span = the_span(receiver, "fail")
    assert span.status_code == "STATUS_CODE_ERROR"
    assert span.status_message == "the database is down"
    assert span.attributes["error.type"] == "ValueError"
    assert span.attributes["http.response.status_code"] == 500
    [(event, details)] = span.events
    assert event == "exception"
    assert details["exception.type"] == "ValueError"
    assert details["exception.message"] == "the database is down"
    assert "raise ValueError" in details["exception.stacktrace"]
    # The exception reached the host unchanged: it logged it with its own traceback.
    logged = traced_host.wait_for_log(lambda entry: "the database is down" in str(entry))
    assert (
        logged["level"] == "error"
        and logged["invocation_id"] == span.attributes["faas.invocation_id"]
    )

    down = traced_host.get("/api/down")
    assert down.status_code == 503
    span = the_span(receiver, "down")
    assert span.status_code == "STATUS_CODE_ERROR"
    assert span.attributes["error.type"] == "503"
    assert span.attributes["http.response.status_code"] == 503


def test_duration_metric_is_flushed_at_shutdown(
    traced_host: HostProcess, receiver: OTLPReceiver
) -> None:
    assert traced_host.get("/api/hello").status_code == 200
    assert traced_host.get("/api/fail").status_code == 500
    assert traced_host.stop() == 0
    wanted = {
        (("faas.trigger", "http"),),
        (("error.type", "ValueError"), ("faas.trigger", "http")),
    }

    def arrived(r: OTLPReceiver) -> bool:
        seen = {
            tuple(sorted(p.attributes.items()))
            for p in r.histograms
            if p.name == "faas.invoke_duration" and p.unit == "s" and p.count >= 1
        }
        return wanted <= seen

    assert receiver.wait_for(arrived), receiver.histograms


def test_http_route_is_the_template(traced_host: HostProcess, receiver: OTLPReceiver) -> None:
    assert traced_host.get("/api/items/7").status_code == 200
    span = the_span(receiver, "item")
    assert span.attributes["url.path"] == "/api/items/7"
    assert span.attributes.get("http.route") == "/api/items/{id:int}"


@pytest.mark.parametrize("workers", [1, 2])
def test_no_span_is_lost_on_sigterm_under_load(receiver: OTLPReceiver, workers: int) -> None:
    """Spans wait in the batch queue (a long export delay); SIGTERM arrives while clients are
    still sending; every request that got an answer has its span at the receiver afterwards,
    also from every worker process of a multi-process host."""
    env = tracing_env(receiver, OTEL_BSP_SCHEDULE_DELAY="600000", OTEL_METRICS_EXPORTER="none")
    answered: list[str] = []
    lock = threading.Lock()
    stop_sending = threading.Event()
    with running_host(APPS / "traced", "--workers", str(workers), env=env) as host:

        def client() -> None:
            with httpx.Client(base_url=host.base_url, timeout=10.0) as http:
                for _ in range(200):  # bounded: at most 200 requests per client
                    if stop_sending.is_set():
                        return
                    try:
                        response = http.get("/api/items/1")
                    except httpx.TransportError:
                        return  # the server stopped accepting
                    assert response.status_code == 200
                    with lock:
                        answered.append(response.headers["x-invocation-id"])

        clients = [threading.Thread(target=client) for _ in range(6)]
        for thread in clients:
            thread.start()
        try:
            assert wait_for_count(answered, lock, 150), "the host answered too few requests"
            host.signal(signal.SIGTERM)  # while the clients keep sending
            assert host.process.wait(30) == 0, host.describe()
        finally:
            stop_sending.set()
            for thread in clients:
                thread.join(30)
        assert receiver.requests >= 1
    ids = set(answered)
    assert len(ids) == len(answered) >= 150

    def all_arrived(r: OTLPReceiver) -> bool:
        return ids <= {span.attributes.get("faas.invocation_id") for span in r.spans}

    assert receiver.wait_for(all_arrived, timeout=5), len(
        ids - {span.attributes.get("faas.invocation_id") for span in receiver.spans}
    )


def wait_for_count(items: list[str], lock: threading.Lock, count: int) -> bool:
    """Poll (bounded) until ``items`` holds ``count`` entries."""
    event = threading.Event()
    for _ in range(600):
        with lock:
            if len(items) >= count:
                return True
        event.wait(0.05)
    return False


def test_timer_invocations_are_timer_spans(receiver: OTLPReceiver) -> None:
    with running_host(APPS / "traced_timer", env=tracing_env(receiver)):
        span = receiver.wait_for(lambda r: bool(r.spans_named("tick")), timeout=20)
        assert span, "no timer span arrived"
    tick = receiver.spans_named("tick")[0]
    assert tick.kind == "SPAN_KIND_SERVER"
    assert tick.attributes["faas.trigger"] == "timer"
    assert tick.attributes["faas.cron"] == "*/1 * * * * *"
    assert tick.attributes["faas.time"].endswith("Z")
    assert tick.attributes["faas.coldstart"] is True
    assert "http.request.method" not in tick.attributes
