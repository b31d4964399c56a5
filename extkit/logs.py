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
from datetime import datetime, timezone
from typing import IO, Any, Final, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from .correlation import install_record_factory

__all__ = [
    "LogFormat",
    "StructuredFormatter",
    "add_record_fields",
    "configure_logging",
    "get_logger",
    "utc_timestamp",
]

LogFormat = Literal["json", "console"]

#: Record attributes copied onto every line (set by the record factory in ``correlation``).
CORRELATION_FIELDS: Final = ("invocation_id", "function_name", "trace_id", "span_id")
_HANDLER_NAME: Final = "extkit"


#: The last whole second formatted by :func:`utc_timestamp` and its text (up to the seconds).
_last_second: tuple[float, str] = (math.nan, "")


def utc_timestamp(created: float) -> str:
    """``created`` (seconds since the epoch) as ISO 8601 in UTC with microseconds: the text of
    ``datetime.fromtimestamp(created, tz=timezone.utc).isoformat(timespec="microseconds")``.

    Log lines come many to a second: the date and time up to the second are formatted once per
    second, and only the microseconds per line (rounded half to even, as ``datetime`` does).
    """
    global _last_second
    fraction, whole = math.modf(created)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        micros -= 1_000_000
        whole += 1.0
    elif micros < 0:
        micros += 1_000_000
        whole -= 1.0
    second, text = _last_second
    if second != whole:
        text = datetime.fromtimestamp(whole, tz=timezone.utc).isoformat(timespec="seconds")[:-6]
        _last_second = (whole, text)  # one tuple: a thread never pairs a second with another's text
    return f"{text}.{micros:06d}+00:00"


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


def _renderer(fmt: LogFormat) -> Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer(serializer=_encode_json)
    return structlog.dev.ConsoleRenderer(colors=False)


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

    def format(self, record: logging.LogRecord) -> str:
        message = record.msg
        if isinstance(message, dict):  # a structlog event passed through stdlib logging
            event: EventDict = dict(message)
        else:
            event = {"event": record.getMessage()}
        for key in record.__dict__.keys() - _RECORD_ATTRS:
            event.setdefault(key, record.__dict__[key])
        if record.exc_info:
            event["exc_info"] = record.exc_info
        event["_record"] = record
        levelname = record.levelname
        method = _LEVEL_NAMES.get(levelname) or levelname.lower()
        rendered: Any = event
        for processor in self._processors:
            rendered = processor(None, method, rendered)
        return str(rendered)


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
    formatter = StructuredFormatter(
        [
            add_record_fields,
            structlog.processors.format_exc_info,
            _drop_record,
            _renderer(fmt),
        ]
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
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
