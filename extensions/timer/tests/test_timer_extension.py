"""TimerExtension through the real engine: what it logs, what it adds to HTTP responses, and that
nothing outlives an invocation.

Defining an app extension class registers it in the registry that is current *when the class
statement runs*. ``timer`` therefore executes a private copy of the ``extkit_timer`` module inside
the test's isolated registry: each test gets a pristine, never-configured class registered only
there, while the importable ``extkit_timer`` module (and whatever imported it) stays untouched.
Reloading the module instead would swap the class under every other importer.
"""

from __future__ import annotations

import gc
import importlib.metadata
import importlib.util
import logging
import re
import sys
import time
from types import ModuleType
from typing import Any

import pytest

import extkit
from extkit import Engine, HttpRequest, HttpResponse, Registry
from extkit.context import running_invocations
from extkit.testing import CapturedLogs

LOGGER = "extkit.extensions.TimerExtension"
SUFFIX = re.compile(r" \(TimeElapsed: \d+\.\d{6} sec\)\Z")


class FakeClock:
    """Stands in for ``perf_counter_ns`` so elapsed times are exact; functions advance ``now``
    (in seconds)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> int:
        return round(self.now * 1e9)


@pytest.fixture
def timer_module(extkit_registry: Registry) -> ModuleType:
    spec = importlib.util.find_spec("extkit_timer")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def timer(timer_module: ModuleType) -> Any:
    return timer_module.TimerExtension


@pytest.fixture
def clock(timer_module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(timer_module, "perf_counter_ns", fake)
    return fake


def request() -> HttpRequest:
    return HttpRequest("GET", "/api/HttpTrigger", params={"name": "Ada"})


def timer_messages(logs: CapturedLogs) -> list[str]:
    return logs.messages(LOGGER)


def test_registers_into_the_isolated_registry(
    timer: Any, timer_module: ModuleType, extkit_registry: Registry
) -> None:
    assert [entry.extension for entry in extkit_registry.entries()] == [timer]
    assert sys.modules.get("extkit_timer") is not timer_module  # the real module is untouched


def test_the_clock_is_monotonic(timer_module: ModuleType) -> None:
    assert timer_module.perf_counter_ns is time.perf_counter_ns


def test_logs_elapsed_time_with_invocation_id(
    timer: Any, clock: FakeClock, extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    def HttpTrigger(req: HttpRequest) -> str:  # noqa: N802 - the reference sample's name
        clock.now += 0.25
        return "ok"

    loaded = extkit_engine.load(HttpTrigger)
    context = loaded.new_context()
    assert loaded.invoke({"req": request()}, context) == "ok"

    [record] = [r for r in extkit_logs.records if r.name == LOGGER]
    assert record.getMessage() == "Time taken to execute HttpTrigger is 0.250000 sec"
    assert record.levelno == logging.INFO
    assert record.invocation_id == context.invocation_id  # type: ignore[attr-defined]
    assert record.elapsed_sec == 0.25  # type: ignore[attr-defined]


def test_elapsed_seconds_come_from_whole_nanoseconds(
    timer: Any, clock: FakeClock, extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    def work() -> None:
        clock.now += 0.000025123  # as floats, 100.000025123 - 100.0 is 2.512300000034884e-05

    extkit_engine.load(work).invoke()
    [record] = [r for r in extkit_logs.records if r.name == LOGGER]
    assert repr(record.elapsed_sec) == "2.5123e-05"  # type: ignore[attr-defined]


def test_logs_failed_invocations_with_the_exception_type(
    timer: Any, clock: FakeClock, extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    def HttpTrigger(req: HttpRequest) -> HttpResponse:  # noqa: N802
        clock.now += 0.5
        raise KeyError("missing")

    timer.configure(append_to_http_response=True, server_timing_header=True)
    loaded = extkit_engine.load(HttpTrigger)
    context = loaded.new_context()
    with pytest.raises(KeyError, match="missing"):  # the failure still propagates
        loaded.invoke({"req": request()}, context)

    [record] = extkit_logs.for_invocation(context.invocation_id)
    assert record.name == LOGGER
    assert record.getMessage() == (
        "Time taken to execute HttpTrigger is 0.500000 sec (failed: KeyError)"
    )


def test_async_functions_are_timed_too(
    timer: Any, clock: FakeClock, extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    async def handler() -> str:
        clock.now += 1.5
        return "ok"

    assert extkit_engine.load(handler).invoke() == "ok"
    assert timer_messages(extkit_logs) == ["Time taken to execute handler is 1.500000 sec"]


def test_overlapping_invocations_are_timed_independently(
    timer: Any, clock: FakeClock, extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    """An invocation that runs while another is in flight must not disturb its start time, which
    a single class attribute (or one key per function) would."""

    def inner() -> str:
        clock.now += 0.25
        return "inner"

    loaded_inner = extkit_engine.load(inner)

    def outer() -> str:
        clock.now += 1.0
        loaded_inner.invoke()
        return "outer"

    assert extkit_engine.load(outer).invoke() == "outer"
    assert timer_messages(extkit_logs) == [
        "Time taken to execute inner is 0.250000 sec",
        "Time taken to execute outer is 1.250000 sec",
    ]


def test_without_configure_http_responses_are_untouched(
    timer: Any, extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    """The reference tutorial's timer raised AttributeError here; ours just logs."""
    response = extkit_engine.load(lambda: HttpResponse("Hello")).invoke()
    assert response.get_body() == b"Hello"
    assert "Server-Timing" not in response.headers
    assert len(timer_messages(extkit_logs)) == 1


def test_appends_time_elapsed_to_http_responses(timer: Any, extkit_engine: Engine) -> None:
    timer.configure(append_to_http_response=True)

    def HttpTrigger(req: HttpRequest) -> HttpResponse:  # noqa: N802
        return HttpResponse(f"Hello, {req.params['name']}.")

    response = extkit_engine.load(HttpTrigger).invoke({"req": request()})
    body = response.get_body().decode()
    assert body.startswith("Hello, Ada.")
    assert SUFFIX.search(body), body
    assert SUFFIX.sub("", body) == "Hello, Ada."
    assert "Server-Timing" not in response.headers


def test_time_elapsed_matches_the_logged_time(
    timer: Any, clock: FakeClock, extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    timer.configure(append_to_http_response=True)

    def handler() -> HttpResponse:
        clock.now += 0.125
        return HttpResponse("Hello")

    response = extkit_engine.load(handler).invoke()
    assert response.get_body() == b"Hello (TimeElapsed: 0.125000 sec)"
    assert timer_messages(extkit_logs) == ["Time taken to execute handler is 0.125000 sec"]


@pytest.mark.parametrize("result", ["Hello", b"Hello", {"greeting": "Hello"}, None])
def test_only_http_responses_get_the_suffix(timer: Any, extkit_engine: Engine, result: Any) -> None:
    timer.configure(append_to_http_response=True, server_timing_header=True)
    assert extkit_engine.load(lambda: result).invoke() == result


def test_server_timing_header(timer: Any, clock: FakeClock, extkit_engine: Engine) -> None:
    timer.configure(server_timing_header=True)

    def handler() -> HttpResponse:
        clock.now += 0.25
        return HttpResponse("Hello")

    response = extkit_engine.load(handler).invoke()
    assert response.headers["Server-Timing"] == "total;dur=250.000"
    assert response.get_body() == b"Hello"  # the header alone leaves the body alone


def test_server_timing_keeps_the_functions_own_metrics(
    timer: Any, clock: FakeClock, extkit_engine: Engine
) -> None:
    timer.configure(server_timing_header=True)

    def handler() -> HttpResponse:
        clock.now += 0.002
        return HttpResponse("Hello", headers={"server-timing": "db;dur=1.2"})

    response = extkit_engine.load(handler).invoke()
    assert response.headers["Server-Timing"] == "db;dur=1.2, total;dur=2.000"


def test_each_configure_call_sets_every_option(timer: Any, extkit_engine: Engine) -> None:
    timer.configure(append_to_http_response=True, server_timing_header=True)
    timer.configure(server_timing_header=True)
    response = extkit_engine.load(lambda: HttpResponse("Hello")).invoke()
    assert response.get_body() == b"Hello"
    assert "Server-Timing" in response.headers


def test_unknown_configure_option_names_the_accepted_ones(timer: Any) -> None:
    with pytest.raises(TypeError, match="append_to_response") as raised:
        timer.configure(append_to_response=True)
    assert str(raised.value).endswith("accepted: append_to_http_response, server_timing_header")


def test_options_are_keywords(timer: Any) -> None:
    with pytest.raises(TypeError, match="accepted: append_to_http_response"):
        timer.configure(True)


def test_options_must_be_booleans(timer: Any) -> None:
    with pytest.raises(TypeError, match="append_to_http_response must be True or False"):
        timer.configure(append_to_http_response="false")


def test_a_million_invocations_leave_nothing_behind(timer: Any, extkit_engine: Engine) -> None:
    """Per-invocation state lives on the context, so it goes when the invocation does.

    Every code path of the extension runs: success and failure (one in a hundred), body suffix and
    header, each invocation with its own id. A structure that kept an entry per invocation would
    grow by about a million objects; the allowances below are four orders of magnitude smaller.
    The first 10,000 invocations also build and handle their log records; the rest leave the
    timer's logger at its default level, because building a record costs more than the rest of
    an invocation and holds nothing of the extension's once handled.
    """
    timer.configure(append_to_http_response=True, server_timing_header=True)
    handled = 0

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            nonlocal handled
            handled += 1

    def handler(fail: bool) -> HttpResponse:
        if fail:
            raise ValueError("one invocation in a hundred fails")
        return HttpResponse("ok")

    loaded = extkit_engine.load(handler)
    invoke, new_context = loaded.invoke, loaded.new_context
    succeeding, failing = {"fail": False}, {"fail": True}
    failures = 0

    def run(first: int, stop: int) -> None:
        nonlocal failures
        for i in range(first, stop):
            context = new_context(invocation_id=str(i))  # a uuid4 per call would double the time
            if i % 100:
                invoke(succeeding, context)
            else:
                try:
                    invoke(failing, context)
                except ValueError:
                    failures += 1

    logger = logging.getLogger(LOGGER)
    counter = Count()
    saved = logger.level, logger.propagate
    logger.addHandler(counter)
    logger.propagate = False  # records are counted, not kept by pytest's capturing handlers
    try:
        logger.setLevel(logging.INFO)
        run(-100, 0)  # warm up: the plan and any lazily created caches exist before measuring
        gc.collect()
        class_dict = dict(vars(timer))
        registered = len(extkit_engine.registry)
        objects = len(gc.get_objects())
        blocks = sys.getallocatedblocks()
        run(0, 10_000)
        logger.setLevel(logging.WARNING)
        run(10_000, 1_000_000)
        gc.collect()
        growth = {
            "gc objects": len(gc.get_objects()) - objects,
            "allocated blocks": sys.getallocatedblocks() - blocks,
        }
        assert handled == 100 + 10_000
        assert failures == 1 + 10_000
        assert dict(vars(timer)) == class_dict
        assert len(running_invocations) == 0
        assert len(extkit_engine.registry) == registered
        assert extkit_engine.functions == {"handler": loaded}
        assert growth["gc objects"] < 100, growth
        assert growth["allocated blocks"] < 1_000, growth
    finally:
        logger.removeHandler(counter)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def test_exports_its_documented_names(timer_module: ModuleType) -> None:
    assert timer_module.__all__ == ["TimerExtension", "__version__"]
    assert issubclass(timer_module.TimerExtension, extkit.AppExtensionBase)
    assert timer_module.__version__ == importlib.metadata.version("extkit-timer")
