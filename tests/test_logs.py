"""Structured logs: JSON lines and console lines with the correlation fields, from stdlib logging
and structlog alike."""

from __future__ import annotations

import functools
import io
import json
import logging
import re
from datetime import datetime, timezone
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from extkit import Engine
from extkit.logs import configure_logging, get_logger, log_structured, utc_timestamp

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


# --- log_structured: the same line as logging, written directly when nothing else listens ------

TIMER_MESSAGE = "Time taken to execute %s is %.6f sec"


class Sole:
    """extkit's JSON handler as the only handler of the loggers a test takes from it (pytest's
    capturing handlers on the root logger are out of their way), and the records ``logging``
    handled meanwhile."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.stream = io.StringIO()
        self.handler = configure_logging("json", stream=self.stream)
        self.handled: list[str] = []
        self._monkeypatch = monkeypatch
        original = logging.Logger.handle

        def counting(logger: logging.Logger, record: logging.LogRecord) -> None:
            self.handled.append(record.getMessage())
            original(logger, record)

        monkeypatch.setattr(logging.Logger, "handle", counting)

    def logger(self, name: str) -> logging.Logger:
        logger = logging.getLogger(name)
        self._monkeypatch.setattr(logger, "handlers", [self.handler])
        self._monkeypatch.setattr(logger, "propagate", False)
        return logger


@pytest.fixture
def sole(monkeypatch: pytest.MonkeyPatch) -> Sole:
    return Sole(monkeypatch)


def _both_ways(
    sole: Sole, logger: logging.Logger, engine: Engine, **fields: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same line logged through ``logging`` and through ``log_structured`` in one invocation,
    both parsed (dicts keep the order of the line's keys)."""

    def work() -> None:
        logger.info(TIMER_MESSAGE, "HttpTrigger", 0.25, extra=fields)
        log_structured(logger, logging.INFO, TIMER_MESSAGE, "HttpTrigger", 0.25, **fields)

    engine.load(work, name="HttpTrigger").invoke()
    through_logging, direct = _json_lines(sole.stream)
    return through_logging, direct


def test_log_structured_writes_the_line_logging_would_without_a_record(
    sole: Sole, extkit_engine: Engine
) -> None:
    logger = sole.logger("extkit.extensions.TimerExtension")
    through_logging, direct = _both_ways(sole, logger, extkit_engine, elapsed_sec=0.25)
    assert sole.handled == ["Time taken to execute HttpTrigger is 0.250000 sec"]  # logging's
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", direct["timestamp"])
    through_logging.pop("timestamp")
    direct.pop("timestamp")
    assert list(direct.items()) == list(through_logging.items())  # same keys, same order
    assert direct["event"] == "Time taken to execute HttpTrigger is 0.250000 sec"
    assert direct["elapsed_sec"] == 0.25
    assert direct["function_name"] == "HttpTrigger" and direct["invocation_id"]


def test_log_structured_carries_trace_ids_like_logging(sole: Sole, extkit_engine: Engine) -> None:
    tracer = TracerProvider().get_tracer("test")
    logger = sole.logger("app.traced")

    def work() -> None:
        with tracer.start_as_current_span("work"):
            logger.info("step %d", 1)
            log_structured(logger, logging.INFO, "step %d", 1)

    extkit_engine.load(work).invoke()
    through_logging, direct = _json_lines(sole.stream)
    assert sole.handled == ["step 1"]
    assert len(direct["trace_id"]) == 32 and len(direct["span_id"]) == 16
    assert (direct["trace_id"], direct["span_id"]) == (
        through_logging["trace_id"],
        through_logging["span_id"],
    )


def test_log_structured_outside_an_invocation_has_null_invocation_fields(sole: Sole) -> None:
    log_structured(sole.logger("app.idle"), logging.INFO, "idle")
    [line] = _json_lines(sole.stream)
    assert (line["invocation_id"], line["function_name"]) == (None, None)
    assert sole.handled == []


def test_log_structured_renders_other_values_as_logging_does(
    sole: Sole, extkit_engine: Engine
) -> None:
    logger = sole.logger("app.values")
    through_logging, direct = _both_ways(
        sole, logger, extkit_engine, tags=["a", "b"], where={"x": 1}, what=object
    )
    through_logging.pop("timestamp")
    direct.pop("timestamp")
    assert direct == through_logging
    assert direct["tags"] == ["a", "b"] and direct["what"] == repr(object)


_TIMESTAMP = re.compile(r'"timestamp": "[^"]*"')

#: Scalars the direct JSON line writes itself: each must come out as the JSON encoder writes it.
_SCALAR_FIELDS: dict[str, Any] = {
    "quoted": 'say "hi"\\ \n\t\x00\x1f',
    "unicode": "naïve ✓ 😀",
    "nan": float("nan"),
    "inf": float("inf"),
    "minus_inf": float("-inf"),
    "minus_zero": -0.0,
    "tiny": 1.2345678901234567e-300,
    "whole_float": 3.0,
    "big": 10**40,
    "negative": -7,
    "yes": True,
    "no": False,
    "nothing": None,
    "empty": "",
    "é": "a field named with a non-ASCII letter",
}


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(_SCALAR_FIELDS, id="scalars"),
        pytest.param({"elapsed_sec": 0.25, "timestamp": "mine"}, id="a-field-named-timestamp"),
        pytest.param({"level": "mine", "logger": "mine"}, id="fields-named-level-and-logger"),
        pytest.param({"event": "replaced"}, id="a-field-named-event"),
        pytest.param({"ratio": 0.5, "flag": type("Flag", (int,), {})(1)}, id="an-int-subclass"),
    ],
)
def test_log_structured_json_is_the_text_logging_writes(
    sole: Sole, extkit_engine: Engine, fields: dict[str, Any]
) -> None:
    """Byte for byte (but the timestamp), so the direct line's own JSON writer cannot drift from
    the encoder's escaping, number formats or key order."""
    logger = sole.logger("app.exact")

    def work() -> None:
        logger.info('"%s" %s', "quoted ✓", 1.5, extra=fields)
        log_structured(logger, logging.INFO, '"%s" %s', "quoted ✓", 1.5, **fields)

    extkit_engine.load(work, name="Exact ✓").invoke()
    through_logging, direct = sole.stream.getvalue().splitlines()
    if "timestamp" in fields:  # given as a field, it is the line's timestamp, as in logging's
        assert direct == through_logging
    assert _TIMESTAMP.sub("", direct) == _TIMESTAMP.sub("", through_logging)
    assert sole.handled == ['"quoted ✓" 1.5']  # the direct line went without a record


def test_log_structured_lines_of_other_loggers_and_levels_keep_their_own_names(
    sole: Sole, extkit_engine: Engine
) -> None:
    """The direct line reuses the JSON of a logger name and level it wrote before: a line of
    another logger or level must never get those of an earlier one."""
    first, second = sole.logger("app.first"), sole.logger("app.second")

    def work() -> None:
        for logger in (first, second, first):
            for level in (logging.INFO, logging.WARNING):
                log_structured(logger, level, "line", n=1)
                logger.log(level, "line", extra={"n": 1})

    extkit_engine.load(work, name="Mixed").invoke()
    lines = sole.stream.getvalue().splitlines()
    assert len(lines) == 12 and len(sole.handled) == 6  # every other line went without a record
    for direct, through_logging in zip(lines[::2], lines[1::2], strict=True):
        assert _TIMESTAMP.sub("", direct) == _TIMESTAMP.sub("", through_logging)
    parsed = [json.loads(line) for line in lines[::2]]
    assert [(line["logger"], line["level"]) for line in parsed] == [
        ("app.first", "info"),
        ("app.first", "warning"),
        ("app.second", "info"),
        ("app.second", "warning"),
        ("app.first", "info"),
        ("app.first", "warning"),
    ]


@pytest.mark.parametrize(
    "created",
    [0.0, 1.5, 1_790_000_000.123456, 1_790_000_000.9999996, 1_790_000_059.9999999, -0.25, -1.0],
)
def test_utc_timestamp_is_the_text_datetime_writes(created: float) -> None:
    expected = datetime.fromtimestamp(created, tz=timezone.utc).isoformat(timespec="microseconds")
    assert utc_timestamp(created) == expected
    assert utc_timestamp(created) == expected  # the second time from the cached second


class _Refuse(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "secret" not in record.getMessage()


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _another_handler(logger: logging.Logger, mp: pytest.MonkeyPatch) -> None:
    mp.setattr(logger, "handlers", [*logger.handlers, _Keep()])


def _logger_filter(logger: logging.Logger, mp: pytest.MonkeyPatch) -> None:
    mp.setattr(logger, "filters", [_Refuse()])


def _handler_filter(logger: logging.Logger, mp: pytest.MonkeyPatch) -> None:
    mp.setattr(logger.handlers[0], "filters", [_Refuse()])


def _another_record_factory(logger: logging.Logger, mp: pytest.MonkeyPatch) -> None:
    outer = functools.partial(logging.getLogRecordFactory())  # e.g. a log instrumentation's
    mp.setattr(logging, "_logRecordFactory", outer)


def _propagating_to_another_handler(logger: logging.Logger, mp: pytest.MonkeyPatch) -> None:
    parent = logging.getLogger(logger.name.rsplit(".", 1)[0])
    mp.setattr(parent, "handlers", [_Keep()])
    mp.setattr(logger, "propagate", True)


@pytest.mark.parametrize(
    "change",
    [
        _another_handler,
        _logger_filter,
        _handler_filter,
        _another_record_factory,
        _propagating_to_another_handler,
    ],
)
def test_log_structured_hands_a_record_to_logging_when_anything_else_could_see_it(
    sole: Sole, monkeypatch: pytest.MonkeyPatch, change: Any
) -> None:
    logger = sole.logger("app.observed")
    change(logger, monkeypatch)
    log_structured(logger, logging.INFO, "a secret %s", "here")
    log_structured(logger, logging.INFO, "plain %s", "line", code=7)
    assert sole.handled == ["a secret here", "plain line"]
    line = _json_lines(sole.stream)[-1]
    assert (line["event"], line["code"]) == ("plain line", 7)


def test_log_structured_gives_other_handlers_a_full_record(sole: Sole) -> None:
    logger = sole.logger("app.kept")
    keep = _Keep()
    logger.handlers.append(keep)
    log_structured(logger, logging.WARNING, "took %.1f s", 1.5, elapsed_sec=1.5)
    [record] = keep.records
    assert record.getMessage() == "took 1.5 s"
    assert record.levelno == logging.WARNING
    assert record.elapsed_sec == 1.5  # type: ignore[attr-defined]
    assert record.funcName == "test_log_structured_gives_other_handlers_a_full_record"


def test_log_structured_below_the_level_formats_and_writes_nothing(sole: Sole) -> None:
    logger = sole.logger("app.quiet")
    logger.setLevel(logging.WARNING)

    class Unprintable:
        def __str__(self) -> str:
            raise AssertionError("formatted although the line is filtered out")

    try:
        log_structured(logger, logging.INFO, "value %s", Unprintable())
    finally:
        logger.setLevel(logging.NOTSET)
    assert sole.stream.getvalue() == "" and sole.handled == []


@pytest.mark.parametrize("field", ["message", "invocation_id", "levelname"])
def test_log_structured_refuses_a_field_a_record_already_has(sole: Sole, field: str) -> None:
    logger = sole.logger("app.clash")
    with pytest.raises(KeyError, match=field):
        log_structured(logger, logging.INFO, "x", **{field: 1})
    with pytest.raises(KeyError, match=field):
        logger.info("x", extra={field: 1})
    assert sole.stream.getvalue() == ""


def test_log_structured_console_lines_match_logging(
    monkeypatch: pytest.MonkeyPatch, extkit_engine: Engine
) -> None:
    stream = io.StringIO()
    handler = configure_logging("console", stream=stream)
    logger = logging.getLogger("app.console")
    monkeypatch.setattr(logger, "handlers", [handler])
    monkeypatch.setattr(logger, "propagate", False)

    def work() -> None:
        logger.info("took %s", "1s", extra={"elapsed_sec": 1.0})
        log_structured(logger, logging.INFO, "took %s", "1s", elapsed_sec=1.0)

    extkit_engine.load(work).invoke()
    through_logging, direct = stream.getvalue().splitlines()
    # The same text after the timestamp, a console line's first field.
    assert through_logging.split(" ", 1)[1] == direct.split(" ", 1)[1]
    assert "took 1s" in direct and "elapsed_sec=1.0" in direct
