"""Structured logs: JSON lines and console lines with the correlation fields, from stdlib logging
and structlog alike."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from extkit import Engine
from extkit.logs import configure_logging, get_logger

pytestmark = pytest.mark.usefixtures("restore_logging", "no_invocation_outlives_the_test")

REQUIRED = ("timestamp", "level", "logger", "event", "invocation_id", "function_name")


def _json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _by_event(lines: list[dict[str, Any]], event: str) -> dict[str, Any]:
    found = [line for line in lines if line["event"] == event]
    assert len(found) == 1, lines
    return found[0]


def test_json_lines_from_stdlib_logging_carry_the_correlation_fields(
    extkit_engine: Engine,
) -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)

    def work() -> None:
        logging.getLogger("app.stdlib").warning("hello %s", "stdlib")

    loaded = extkit_engine.load(work)
    context = loaded.new_context()
    loaded.invoke(context=context)
    line = _by_event(_json_lines(stream), "hello stdlib")
    assert set(REQUIRED) <= set(line)
    assert line["level"] == "warning"
    assert line["logger"] == "app.stdlib"
    assert (line["invocation_id"], line["function_name"]) == (context.invocation_id, "work")
    assert line["timestamp"].endswith("+00:00")
    assert "trace_id" not in line  # no span current: no trace fields


def test_json_lines_from_structlog_carry_the_correlation_fields(extkit_engine: Engine) -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)

    def work() -> None:
        get_logger("app.structlog").info("order placed", order_id=7)

    loaded = extkit_engine.load(work)
    context = loaded.new_context()
    loaded.invoke(context=context)
    line = _by_event(_json_lines(stream), "order placed")
    assert set(REQUIRED) <= set(line)
    assert (line["level"], line["logger"], line["order_id"]) == ("info", "app.structlog", 7)
    assert (line["invocation_id"], line["function_name"]) == (context.invocation_id, "work")


def test_json_lines_outside_invocations_have_null_invocation_fields() -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    logging.getLogger("app").info("starting up")
    get_logger("app").info("still starting")
    lines = _json_lines(stream)
    for event in ("starting up", "still starting"):
        line = _by_event(lines, event)
        assert set(REQUIRED) <= set(line)
        assert (line["invocation_id"], line["function_name"]) == (None, None)


def test_json_lines_carry_trace_and_span_ids_when_a_span_is_current(
    extkit_engine: Engine,
) -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("tests")

    def work() -> tuple[str, str]:
        with tracer.start_as_current_span("work") as span:
            logging.getLogger("app").info("traced stdlib")
            get_logger("app").info("traced structlog")
            ids = span.get_span_context()
        return format(ids.trace_id, "032x"), format(ids.span_id, "016x")

    trace_id, span_id = extkit_engine.load(work).invoke()
    lines = _json_lines(stream)
    for event in ("traced stdlib", "traced structlog"):
        line = _by_event(lines, event)
        assert (line["trace_id"], line["span_id"]) == (trace_id, span_id)


def test_json_lines_render_exception_tracebacks() -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    try:
        raise ValueError("went wrong")
    except ValueError:
        logging.getLogger("app").exception("failed")
    line = _by_event(_json_lines(stream), "failed")
    assert line["level"] == "error"
    assert "ValueError: went wrong" in line["exception"]


def test_console_lines_are_readable_and_carry_the_invocation(extkit_engine: Engine) -> None:
    stream = io.StringIO()
    configure_logging("console", stream=stream)

    def work() -> None:
        logging.getLogger("app").info("hello console")
        get_logger("app").info("hello structlog console", user="ada")

    loaded = extkit_engine.load(work)
    context = loaded.new_context()
    loaded.invoke(context=context)
    lines = stream.getvalue().splitlines()
    for event in ("hello console", "hello structlog console"):
        [line] = [line for line in lines if event + " " in line]
        assert f"invocation_id={context.invocation_id}" in line
        assert "function_name=work" in line
        assert "info" in line
    assert not stream.getvalue().lstrip().startswith("{")


def test_configure_logging_again_replaces_its_handler_instead_of_adding_one() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", stream=first)
    configure_logging("json", stream=second)
    logging.getLogger("app").warning("once")
    assert first.getvalue() == ""
    assert [line["event"] for line in _json_lines(second)] == ["once"]


def test_configure_logging_rejects_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="'json' or 'console', got 'xml'"):
        configure_logging("xml")  # type: ignore[arg-type]


def test_configure_logging_sets_the_level() -> None:
    stream = io.StringIO()
    configure_logging("json", level="WARNING", stream=stream)
    logging.getLogger("app").info("hidden")
    get_logger("app").info("hidden too")
    logging.getLogger("app").warning("shown")
    assert [line["event"] for line in _json_lines(stream)] == ["shown"]
