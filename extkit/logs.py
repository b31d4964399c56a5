"""Structured logs with structlog: every line carries the invocation it belongs to.

One stdout handler renders both stdlib ``logging`` records and structlog events through the same
processor chain, so user code may use either and gets the same fields: ``timestamp``, ``level``,
``logger``, ``event``, ``invocation_id``, ``function_name`` and, when a span is current,
``trace_id`` and ``span_id``. Each processor is a plain callable, as structlog intends.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from datetime import datetime, timezone
from json import encoder as _json_encoder
from typing import IO, TYPE_CHECKING, Any, Final, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from .correlation import correlation_fields, install_record_factory, installed_record_factory

__all__ = [
    "LogFormat",
    "StructuredFormatter",
    "StructuredHandler",
    "add_record_fields",
    "configure_logging",
    "get_logger",
    "log_structured",
    "utc_timestamp",
]

LogFormat = Literal["json", "console"]

#: Record attributes copied onto every line (set by the record factory in ``correlation``).
CORRELATION_FIELDS: Final = ("invocation_id", "function_name", "trace_id", "span_id")
_HANDLER_NAME: Final = "extkit"


#: The last whole second formatted by :func:`utc_timestamp` and its text (up to the seconds).
_last_second: tuple[int | None, str] = (None, "")


def utc_timestamp(created: float) -> str:
    """``created`` (seconds since the epoch) as ISO 8601 in UTC with microseconds: the text of
    ``datetime.fromtimestamp(created, tz=timezone.utc).isoformat(timespec="microseconds")``.

    Log lines come many to a second: the date and time up to the second are formatted once per
    second, and only the microseconds per line (rounded half to even, as ``datetime`` does).
    """
    fraction, whole = math.modf(created)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        micros -= 1_000_000
        whole += 1.0
    elif micros < 0:
        micros += 1_000_000
        whole -= 1.0
    return _with_micros(int(whole), micros)


def _utc_now() -> str:
    """:func:`utc_timestamp` of now, from the clock's integer nanoseconds: no float to split."""
    whole, micros = divmod(time.time_ns() // 1000, 1_000_000)
    return _with_micros(whole, micros)


def _with_micros(whole: int, micros: int) -> str:
    global _last_second
    second, text = _last_second
    if second != whole:
        text = datetime.fromtimestamp(whole, tz=timezone.utc).isoformat(timespec="seconds")[:-6]
        _last_second = (whole, text)  # one tuple: a thread never pairs a second with another's text
    # %-formatting: an f-string's ``{micros:06d}`` parses its format spec on every call.
    return "%s.%06d+00:00" % (text, micros)  # noqa: UP031


#: ``levelname.lower()`` for the standard levels, without a string method call per line.
_LEVEL_NAMES: Final = {
    name: name.lower() for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "NOTSET")
}


def add_record_fields(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Fill ``timestamp``, ``level``, ``logger`` and the correlation fields from the LogRecord."""
    record: logging.LogRecord | None = event_dict.get("_record")
    if record is None:
        return event_dict
    if "timestamp" not in event_dict:
        event_dict["timestamp"] = utc_timestamp(record.created)
    levelname = record.levelname
    event_dict["level"] = _LEVEL_NAMES.get(levelname) or levelname.lower()
    event_dict["logger"] = record.name
    for name in CORRELATION_FIELDS:
        if event_dict.get(name) is None:
            event_dict[name] = getattr(record, name, None)
    if event_dict["trace_id"] is None:  # no span: leave the trace fields out rather than null
        del event_dict["trace_id"], event_dict["span_id"]
    return event_dict


def _json_fallback(value: Any) -> Any:
    """What structlog's JSON renderer does with a value JSON has no type for."""
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


#: One encoder for every line: ``json.dumps`` with a ``default`` builds a new one per call.
_JSON_ENCODER: Final = json.JSONEncoder(default=_json_fallback)


def _encode_json(event_dict: EventDict, **_: Any) -> str:
    return _JSON_ENCODER.encode(event_dict)


_JSON_RENDERER: Final = structlog.processors.JSONRenderer(serializer=_encode_json)

#: JSON text of a string, exactly as ``_JSON_ENCODER`` writes it (ASCII, escaped; C when the
#: accelerator is there).
_json_string: Final = _json_encoder.encode_basestring_ascii
_INFINITY: Final = float("inf")
#: JSON texts the direct line reuses: of field names and function names (by the name), and of
#: the part from ``level`` to ``invocation_id`` (by level and logger name). See _remember_json.
_json_texts: dict[str | tuple[str, str], str] = {}
#: Names the direct line sets itself: a field by one of these names takes the general path.
_LINE_KEYS: Final = frozenset({"event", "timestamp", "level", "logger"})


def _json_scalar(value: Any) -> str | None:
    """``value``'s JSON text as ``_JSON_ENCODER`` writes it, for the exact scalar types (what a
    line written on every invocation carries); ``None`` for anything else."""
    kind = type(value)
    if kind is str:
        return _json_string(value)
    if kind is float:
        if value != value:
            return "NaN"
        if value == _INFINITY or value == -_INFINITY:
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    if kind is int:
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    return None


def _json_line(
    event: str,
    fields: dict[str, Any],
    timestamp: str,
    method: str,
    logger_name: str,
    correlation: tuple[str | None, str | None, str | None, str | None],
) -> str | None:
    """The JSON line :func:`log_structured` would render from its event dict, written straight
    from the values (the dict, and the encoder's generality, cost more than the line itself);
    ``None`` when a field is not a plain scalar or is named like a key the line sets."""
    text = '{"event": ' + _json_string(event)
    for key, value in fields.items():
        encoded = _json_scalar(value)
        if encoded is None or key in _LINE_KEYS:
            return None
        name = _json_texts.get(key)
        if name is None:
            name = _remember_json(key)
        text += f", {name}: {encoded}"
    invocation_id, function_name, trace_id, span_id = correlation
    middle = _json_texts.get((method, logger_name))
    if middle is None:
        middle = _remember_json(
            (method, logger_name),
            f'", "level": {_json_string(method)}, "logger": {_json_string(logger_name)}, '
            '"invocation_id": ',
        )
    if function_name is None:
        function_text = "null"
    else:
        function_text = _json_texts.get(function_name) or _remember_json(function_name)
    text = (
        f'{text}, "timestamp": "{timestamp}{middle}'
        f"{'null' if invocation_id is None else _json_string(invocation_id)}, "
        f'"function_name": {function_text}'
    )
    if trace_id is None:
        return text + "}"
    return f'{text}, "trace_id": "{trace_id}", "span_id": "{span_id}"}}'


def _remember_json(key: str | tuple[str, str], text: str | None = None) -> str:
    """``text`` (by default the JSON text of the string ``key``), kept in ``_json_texts`` while
    that holds fewer than 256 entries: field names, function names and logger names are few per
    app, but nothing here may grow without bound."""
    if text is None:
        assert isinstance(key, str)
        text = _json_string(key)
    if len(_json_texts) < 256:
        _json_texts[key] = text
    return text


def _processors(fmt: LogFormat) -> tuple[Processor, ...]:
    """The chain :func:`configure_logging` gives extkit's formatter."""
    renderer = _JSON_RENDERER if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    return (add_record_fields, structlog.processors.format_exc_info, _drop_record, renderer)


def _drop_record(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("_record", None)
    return event_dict


#: Attributes every LogRecord has; anything else on a record came from ``extra=`` and is kept.
_RECORD_ATTRS: Final = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "_logger",
    "_name",
    *CORRELATION_FIELDS,
}


class StructuredFormatter(logging.Formatter):
    """Render stdlib records and structlog events through one chain of plain processors.

    structlog's ``ProcessorFormatter`` copies every foreign record (running the record factory a
    second time); this formatter reads the record as it is, which keeps a log line cheap enough
    to be written on every invocation.
    """

    def __init__(self, processors: list[Processor]) -> None:
        super().__init__()
        self._processors = processors
        #: extkit's own JSON chain, whose lines :func:`log_structured` may write without it.
        self.plain_json = tuple(processors) == _processors("json")

    def format(self, record: logging.LogRecord) -> str:
        message = record.msg
        if isinstance(message, dict):  # a structlog event passed through stdlib logging
            event: EventDict = dict(message)
        else:
            event = {"event": record.getMessage()}
        for key, value in record.__dict__.items():  # the extras, in the order they were given
            if key not in _RECORD_ATTRS:
                event.setdefault(key, value)
        if record.exc_info:
            event["exc_info"] = record.exc_info
        event["_record"] = record
        levelname = record.levelname
        return self.render(event, _LEVEL_NAMES.get(levelname) or levelname.lower())

    def render(self, event: EventDict, method: str) -> str:
        """Run the processors over ``event``: one log line's text."""
        rendered: Any = event
        for processor in self._processors:
            rendered = processor(None, method, rendered)
        return str(rendered)


if TYPE_CHECKING:
    _StreamHandler = logging.StreamHandler[IO[str]]
else:
    _StreamHandler = logging.StreamHandler


class StructuredHandler(_StreamHandler):
    """extkit's handler: writes the lines of a :class:`StructuredFormatter` to a stream.

    It also takes lines that never became a ``LogRecord`` (:func:`log_structured`'s direct
    path), which is why it is a class of its own: the direct path trusts only this handler.
    """

    def write_event(self, event: EventDict, method: str) -> None:
        """Render ``event`` with this handler's formatter and write it, as ``emit`` would."""
        try:
            text = self.formatter.render(event, method)  # type: ignore[union-attr]
        except RecursionError:  # as logging does: never swallowed
            raise
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": event.get("event")}))
            return
        self.write_line(text, event.get("event"))

    def write_line(self, text: str, message: object = None) -> None:
        """Write one rendered line (without its newline) as ``emit`` would: a failure goes to
        ``handleError`` (with ``message``), never to the code that logged."""
        try:
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(text + self.terminator)
                self.stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": message}))


def _stdlib_logger(*args: Any) -> logging.Logger:
    """structlog's logger factory, without ``structlog.stdlib.LoggerFactory``'s side effect of
    replacing the logger class of every stdlib logger created later (its caller lookup is slower
    and extkit's lines do not show the caller)."""
    return logging.getLogger(args[0] if args else None)


def configure_logging(
    fmt: LogFormat = "console", *, level: int | str = logging.INFO, stream: IO[str] | None = None
) -> logging.Handler:
    """Send all logs to ``stream`` (stdout) as JSON lines or readable console lines.

    Idempotent: calling it again replaces extkit's handler instead of adding a second one.
    """
    if fmt not in ("json", "console"):
        raise ValueError(f"log format must be 'json' or 'console', got {fmt!r}")
    install_record_factory()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.render_to_log_kwargs,
        ],
        logger_factory=_stdlib_logger,
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = StructuredFormatter(list(_processors(fmt)))
    handler = StructuredHandler(stream if stream is not None else sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def get_logger(name: str | None = None) -> Any:
    """A structlog logger that goes through the same pipeline as stdlib ``logging``."""
    return structlog.stdlib.get_logger(name)


#: ``levelname.lower()`` by level number, for lines written without a LogRecord.
_METHODS: Final = {getattr(logging, name): method for name, method in _LEVEL_NAMES.items()}


def log_structured(
    logger: logging.Logger, level: int, msg: str, /, *args: Any, **fields: Any
) -> None:
    """Log one line with extra fields: ``logger.log(level, msg, *args, extra=fields)``.

    The same line either way; the difference is the cost. When extkit's own handler is the only
    place the line can go (the host's usual set-up: no other handler, filter or record factory
    that could want a ``LogRecord``), the line is rendered and written directly, about three
    times cheaper than going through ``logging``, which matters for a line written on every
    invocation (the timer extension's). Anything else gets a real record.
    """
    if not logger.isEnabledFor(level):
        return
    handler = _sole_structured_handler(logger, level)
    if handler is None:
        logger.log(level, msg, *args, extra=fields, stacklevel=2)
        return
    message = msg % args if args else msg
    for key in fields:
        if key in _RECORD_ATTRS:  # the same error ``logging`` raises for such an ``extra``
            raise KeyError(f"Attempt to overwrite {key!r} in LogRecord")
    method = _METHODS.get(level) or logging.getLevelName(level).lower()
    timestamp = _utc_now()
    correlation = correlation_fields()
    formatter: StructuredFormatter = handler.formatter  # type: ignore[assignment]
    if formatter.plain_json:
        line = _json_line(message, fields, timestamp, method, logger.name, correlation)
        if line is not None:
            handler.write_line(line, message)
            return
    event: EventDict = {"event": message}
    for key, value in fields.items():  # as the formatter takes a record's extras
        event.setdefault(key, value)
    event.setdefault("timestamp", timestamp)
    event["level"] = method
    event["logger"] = logger.name
    event["invocation_id"], event["function_name"], trace_id, span_id = correlation
    if trace_id is not None:
        event["trace_id"], event["span_id"] = trace_id, span_id
    handler.write_event(event, method)


def _sole_structured_handler(logger: logging.Logger, level: int) -> StructuredHandler | None:
    """The handler a line from ``logger`` would reach, when it is extkit's and the only one and
    nothing on the way (a logger subclass, a filter, another record factory) would see a record;
    otherwise ``None``."""
    if type(logger) is not logging.Logger or logger.filters:
        return None
    factory = installed_record_factory()
    if factory is None or logging.getLogRecordFactory() is not factory:
        return None
    found: logging.Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if found is not None:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    if (
        type(found) is not StructuredHandler
        or found.filters
        or level < found.level
        or type(found.formatter) is not StructuredFormatter
    ):
        return None
    return found
