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

from extkit import Engine, logs
from extkit.logs import configure_logging, get_logger, line_fields, log_structured

pytestmark = pytest.mark.usefixtures("restore_logging", "no_invocation_outlives_the_test")

REQUIRED = ("timestamp", "level", "logger", "event", "invocation_id", "function_name")
#: ISO 8601 in UTC, as structlog's ``TimeStamper(fmt="iso", utc=True)`` writes it.
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


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
    assert ISO_UTC.fullmatch(line["timestamp"])
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


def test_console_lines_outside_an_invocation_leave_out_the_unset_fields() -> None:
    """A host's own lines (startup, shutdown) belong to no invocation: no ``=None`` pairs."""
    stream = io.StringIO()
    configure_logging("console", stream=stream)
    logging.getLogger("app").info("starting up")
    get_logger("app").info("still starting", port=8080)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert "None" not in line and "invocation_id" not in line and "function_name" not in line
    assert "port=8080" in lines[1]


LINE_ORDER = ["event", "items", "timestamp", "level", "logger", "invocation_id", "function_name"]


def test_json_lines_read_event_and_fields_first_then_the_same_line_fields_however_logged(
    extkit_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    handler = configure_logging("json", stream=stream)
    direct = logging.getLogger("app.direct")  # extkit's handler alone: log_structured's own path
    monkeypatch.setattr(direct, "handlers", [handler])
    monkeypatch.setattr(direct, "propagate", False)

    def work() -> None:
        logging.getLogger("app").info("stdlib", extra={"items": 3})
        get_logger("app").info("structlog", items=3)
        log_structured(logging.getLogger("app"), logging.INFO, "through logging", items=3)
        log_structured(direct, logging.INFO, "direct", items=3)

    extkit_engine.load(work).invoke()
    lines = _json_lines(stream)
    assert [line["event"] for line in lines] == ["stdlib", "structlog", "through logging", "direct"]
    for line in lines:
        assert list(line) == LINE_ORDER


def test_json_lines_are_stamped_when_logged_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    handler = configure_logging("json", stream=stream)
    direct = logging.getLogger("app.direct")
    monkeypatch.setattr(direct, "handlers", [handler])
    monkeypatch.setattr(direct, "propagate", False)
    before = datetime.now(timezone.utc)
    logging.getLogger("app").info("stdlib")
    log_structured(direct, logging.INFO, "direct")
    after = datetime.now(timezone.utc)
    for line in _json_lines(stream):
        assert ISO_UTC.fullmatch(line["timestamp"])
        # ``fromisoformat`` reads a ``Z`` from Python 3.11 on.
        stamped = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
        assert before <= stamped <= after


def test_json_lines_hold_any_text_and_values_json_has_no_type_for() -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    fields = {"text": 'naïve ✓ 😀 "quoted"\n', "big": 10**40, "what": object, "ratio": 0.25}
    logging.getLogger("app").info("héllo", extra=fields)
    [line] = _json_lines(stream)
    assert line["event"] == "héllo" and line["text"] == fields["text"]
    assert (line["big"], line["what"], line["ratio"]) == (10**40, repr(object), 0.25)


def test_json_lines_read_the_same_where_orjson_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fields = {"text": "naïve ✓", "n": 10**18, "ratio": 0.25, "big": 1e16, "none": None}
    lines = []
    for serializer in (logs.orjson, None):
        monkeypatch.setattr(logs, "orjson", serializer)
        stream = io.StringIO()
        configure_logging("json", stream=stream)
        logging.getLogger("app").info("héllo", extra=fields)
        lines.append(stream.getvalue())
    with_orjson, without = lines
    assert _TIMESTAMP.sub("", with_orjson) == _TIMESTAMP.sub("", without)
    assert json.loads(without)["text"] == "naïve ✓"


def test_json_lines_of_records_another_formatter_saw_first_carry_only_their_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A formatter that ran before extkit's (pytest's, an app's own handler) leaves ``message``
    and ``asctime`` on the record: they are not extras."""
    stream = io.StringIO()
    handler = configure_logging("json", stream=stream)
    logger = logging.getLogger("app.formatted")
    first = logging.StreamHandler(io.StringIO())
    first.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    monkeypatch.setattr(logger, "handlers", [first, handler])
    monkeypatch.setattr(logger, "propagate", False)
    logger.info("seen twice", extra={"items": 3})
    [line] = _json_lines(stream)
    assert list(line) == LINE_ORDER


def test_json_lines_of_structlog_exceptions_carry_the_traceback() -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    try:
        raise KeyError("missing")
    except KeyError:
        get_logger("app").exception("lookup failed", key="missing")
    line = _by_event(_json_lines(stream), "lookup failed")
    assert (line["level"], line["key"]) == ("error", "missing")
    assert "KeyError: 'missing'" in line["exception"]


def test_line_fields_are_the_fields_of_a_records_json_line(extkit_engine: Engine) -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    kept = _Keep()
    logger = logging.getLogger("app.kept")
    logger.addHandler(kept)

    def work() -> None:
        logger.warning("kept %s", "here", extra={"items": 3})
        try:
            raise ValueError("went wrong")
        except ValueError:
            logger.exception("failed")

    try:
        extkit_engine.load(work).invoke()
    finally:
        logger.removeHandler(kept)
    for record, line in zip(kept.records, _json_lines(stream), strict=True):
        fields = line_fields(record)
        assert ISO_UTC.fullmatch(fields.pop("timestamp"))
        line.pop("timestamp")
        assert fields == line
    assert "ValueError: went wrong" in line["exception"]


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
    assert ISO_UTC.fullmatch(direct["timestamp"])
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


_TIMESTAMP = re.compile(r'"timestamp": ?"[^"]*"')

#: Values of every kind JSON has: each comes out the same whichever way the line was logged.
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
        pytest.param({"ratio": 0.5, "flag": type("Flag", (int,), {})(1)}, id="an-int-subclass"),
    ],
)
def test_log_structured_json_is_the_text_logging_writes(
    sole: Sole, extkit_engine: Engine, fields: dict[str, Any]
) -> None:
    """Byte for byte (but the timestamp): the line written without a record and the record's go
    through the same processors and serializer, in the same order."""
    logger = sole.logger("app.exact")

    def work() -> None:
        logger.info('"%s" %s', "quoted ✓", 1.5, extra=fields)
        log_structured(logger, logging.INFO, '"%s" %s', "quoted ✓", 1.5, **fields)

    extkit_engine.load(work, name="Exact ✓").invoke()
    through_logging, direct = sole.stream.getvalue().splitlines()
    assert _TIMESTAMP.sub("", direct) == _TIMESTAMP.sub("", through_logging)
    assert sole.handled == ['"quoted ✓" 1.5']  # the direct line went without a record


def test_log_structured_lines_of_other_loggers_and_levels_keep_their_own_names(
    sole: Sole, extkit_engine: Engine
) -> None:
    """The direct path keeps a structlog logger per logger name: a line of another logger or
    level must never get the name or level of an earlier one."""
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


@pytest.mark.parametrize("field", ["event", "self"])
def test_log_structured_with_a_field_named_like_its_arguments_writes_what_logging_writes(
    sole: Sole, field: str
) -> None:
    """Such a field would clash with structlog's own arguments: the line goes through logging."""
    logger = sole.logger("app.event")
    logger.info("message", extra={field: "field"})
    log_structured(logger, logging.INFO, "message", **{field: "field"})
    through_logging, direct = sole.stream.getvalue().splitlines()
    assert _TIMESTAMP.sub("", direct) == _TIMESTAMP.sub("", through_logging)


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
