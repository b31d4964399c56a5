"""Structured logs with structlog: every line carries the invocation it belongs to.

One stdout handler renders stdlib ``logging`` records and structlog events alike, through
``structlog.stdlib.ProcessorFormatter`` and structlog's own processors, plus one of extkit's:
:class:`CorrelationAdder`. So user code may use either and gets the same fields: ``event``, the
extras, ``timestamp``, ``level``, ``logger``, ``invocation_id``, ``function_name`` and, when a span
is current, ``trace_id`` and ``span_id``. No line it writes holds a function key
(:func:`extkit.redaction.redact`), whoever logged the URL or headers that carried it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, TYPE_CHECKING, Any, Final, Literal, final

import structlog
from structlog.stdlib import ProcessorFormatter
from structlog.typing import EventDict, Processor, WrappedLogger

from .correlation import correlation_fields, install_record_factory, installed_record_factory
from .redaction import redact

try:  # structlog's documented fast serializer; a declared dependency where it has wheels
    import orjson
except ImportError:  # pragma: no cover - e.g. PyPy, which orjson does not support
    orjson = None  # type: ignore[assignment]

__all__ = [
    "CorrelationAdder",
    "LogFormat",
    "RateLimited",
    "StructuredHandler",
    "configure_logging",
    "get_logger",
    "line_fields",
    "log_structured",
]

LogFormat = Literal["json", "console"]

#: Record attributes the record factory (``correlation``) stamps, in the order lines carry them.
CORRELATION_FIELDS: Final = ("invocation_id", "function_name", "trace_id", "span_id")
_NOT_EXTRAS: Final = (*CORRELATION_FIELDS, "message", "asctime")
_HANDLER_NAME: Final = "extkit"


@final
class CorrelationAdder:
    """extkit's processor: the invocation's fields, last on the line, ``event`` first.

    A record carries the fields stamped when it was made (``ExtraAdder`` has copied them); a line
    without a record (:func:`log_structured`'s) gets those of the invocation running now. No span:
    no ``trace_id`` / ``span_id``. Outside an invocation, JSON lines keep ``invocation_id`` and
    ``function_name`` as null (a line always has them); console lines leave them out.
    """

    __slots__ = ("_keep_unset",)

    def __init__(self, *, keep_unset: bool) -> None:
        self._keep_unset = keep_unset

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        record = event_dict.get("_record")
        if record is not None:
            stamped = vars(record)
            invocation_id = stamped.get("invocation_id")
            function_name = stamped.get("function_name")
            trace_id, span_id = stamped.get("trace_id"), stamped.get("span_id")
            # ``ExtraAdder`` took these for extras, and what a formatter before ours put on the
            # record (never an extra: ``logging`` refuses extras of these names).
            for name in _NOT_EXTRAS:
                event_dict.pop(name, None)
        else:  # structlog puts the event after the fields: bring it first, as in a record's
            invocation_id, function_name, trace_id, span_id = correlation_fields()
            event_dict = {"event": event_dict.pop("event"), **event_dict}
        if invocation_id is not None or self._keep_unset:
            event_dict["invocation_id"] = invocation_id
            event_dict["function_name"] = function_name
        if trace_id is not None:
            event_dict["trace_id"] = trace_id
            event_dict["span_id"] = span_id
        return event_dict


#: stdlib ``json`` writing what orjson writes (compact, UTF-8), where orjson is not there or
#: refuses a value (an integer beyond 64 bits), so every line looks alike and is written.
_JSON_OPTIONS: Final = {"separators": (",", ":"), "ensure_ascii": False}


def _orjson_dumps(value: Any, **kwargs: Any) -> str:
    """orjson's text as ``str``, which a ``logging.Formatter`` must return."""
    try:
        return orjson.dumps(value, **kwargs).decode()
    except TypeError:
        return json.dumps(value, **_JSON_OPTIONS, **kwargs)  # type: ignore[arg-type]


def _line_processors(fmt: LogFormat) -> list[Processor]:
    """The fields of every line, from a record's event dict or a structlog event's."""
    return [
        structlog.processors.TimeStamper(fmt="iso", utc=True),  # ISO 8601 UTC, the fastest
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        CorrelationAdder(keep_unset=fmt == "json"),
    ]


def _renderer(fmt: LogFormat) -> Processor:
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    if orjson is None:
        return structlog.processors.JSONRenderer(**_JSON_OPTIONS)
    return structlog.processors.JSONRenderer(serializer=_orjson_dumps)


if TYPE_CHECKING:
    _StreamHandler = logging.StreamHandler[IO[str]]
else:
    _StreamHandler = logging.StreamHandler


class StructuredHandler(_StreamHandler):
    """extkit's handler: a ``StreamHandler`` with a ``ProcessorFormatter``, which also writes lines
    that never became a ``LogRecord`` (:func:`log_structured`'s) through the same processors."""

    def __init__(self, stream: IO[str], fmt: LogFormat) -> None:
        super().__init__(stream)
        self.set_name(_HANDLER_NAME)
        line, renderer = _line_processors(fmt), _renderer(fmt)
        self.structured_formatter: Final = ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder()],
            processors=[
                *line,
                structlog.processors.format_exc_info,
                ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
        self.setFormatter(self.structured_formatter)
        self._direct_processors: Final = [*line, renderer]  # its fields are never an exc_info
        #: structlog loggers writing here, by logger name (the ``logger`` field of their lines).
        self._direct: dict[str, Any] = {}

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))

    def direct_logger(self, name: str) -> Any:
        """A structlog logger (bound once, as structlog's performance notes advise) whose lines go
        through this handler's processors and are written here, under this handler's lock."""
        found = self._direct.get(name)
        if found is None:
            found = structlog.wrap_logger(
                _HandlerOutput(self, name),
                processors=self._direct_processors,
                wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
            ).bind()
            if len(self._direct) < 256:  # logger names are few per app, but never unbounded
                self._direct[name] = found
        return found

    def write_line(self, text: str) -> None:
        """Write one rendered line as ``emit`` would: a failure goes to ``handleError``."""
        text = redact(text)
        try:
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(text + self.terminator)
                self.stream.flush()
        except RecursionError:  # as logging does: never swallowed
            raise
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": text}))


@final
class _HandlerOutput:
    """The logger structlog wraps for a :class:`StructuredHandler`: like structlog's
    ``WriteLogger``, but under the handler's lock, so its lines never mix with records'."""

    __slots__ = ("_handler", "name")

    def __init__(self, handler: StructuredHandler, name: str) -> None:
        self._handler, self.name = handler, name

    def msg(self, message: str) -> None:
        self._handler.write_line(message)

    debug = info = warning = error = critical = msg


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
        # structlog events become ordinary records (the fields as extras), so every handler,
        # pytest's capture included, sees their message and fields.
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
    handler = StructuredHandler(stream if stream is not None else sys.stdout, fmt)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def _stdlib_logger(*args: Any) -> logging.Logger:
    """structlog's logger factory, without ``structlog.stdlib.LoggerFactory``'s side effect of
    replacing the logger class of every stdlib logger created later (its caller lookup is slower
    and extkit's lines do not show the caller)."""
    return logging.getLogger(args[0] if args else None)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger that goes through the same pipeline as stdlib ``logging``."""
    return structlog.stdlib.get_logger(name)


#: For :func:`line_fields`: the fields of a JSON line, without the renderer.
_JSON_FIELDS: Final[list[Processor]] = [
    structlog.stdlib.ExtraAdder(),
    *_line_processors("json"),
    structlog.processors.format_exc_info,
]


def line_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields of the JSON line extkit writes for ``record``, as a dict (for test helpers)."""
    event: Any = {"event": record.getMessage(), "_record": record}
    if record.exc_info:
        event["exc_info"] = record.exc_info
    method = record.levelname.lower()
    for processor in _JSON_FIELDS:
        event = processor(None, method, event)
    del event["_record"]
    fields: dict[str, Any] = event
    return fields


#: Attributes every LogRecord has (and those a formatter adds): an ``extra`` may not have them.
_RECORD_ATTRS: Final = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    *CORRELATION_FIELDS,
}
#: The structlog method of each standard level (a custom level goes through ``logging``).
_METHODS: Final = {
    level: logging.getLevelName(level).lower()
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)
}
#: Fields that would clash with the arguments of a structlog logger's ``info(event, ...)``.
_TAKEN: Final = frozenset({"event", "self"})


def log_structured(
    logger: logging.Logger, level: int, msg: str, /, *args: Any, **fields: Any
) -> None:
    """Log one line with extra fields: ``logger.log(level, msg, *args, extra=fields)``.

    The same line either way; the difference is the cost. When extkit's own handler is the only
    place the line can go (the host's usual set-up: no other handler, filter or record factory
    that could want a ``LogRecord``), the line is a structlog event rendered by the handler's
    processors, without going through ``logging`` (structlog's advice where speed matters),
    which matters for a line written on every invocation (the timer extension's). Anything else
    gets a real record.
    """
    if not logger.isEnabledFor(level):
        return
    handler = _sole_structured_handler(logger, level)
    if handler is None or not _TAKEN.isdisjoint(fields):
        logger.log(level, msg, *args, extra=fields, stacklevel=2)
        return
    for key in fields:
        if key in _RECORD_ATTRS:  # the same error ``logging`` raises for such an ``extra``
            raise KeyError(f"Attempt to overwrite {key!r} in LogRecord")
    getattr(handler.direct_logger(logger.name), _METHODS[level])(msg, *args, **fields)


def _sole_structured_handler(logger: logging.Logger, level: int) -> StructuredHandler | None:
    """The handler a line from ``logger`` would reach, when it is extkit's and the only one and
    nothing on the way (a logger subclass, a filter, another record factory, another formatter)
    would see a record; otherwise ``None``."""
    if type(logger) is not logging.Logger or logger.filters or level not in _METHODS:
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
        or found.formatter is not found.structured_formatter
    ):
        return None
    return found


@final
class RateLimited:
    """Lets a recurring log line through at most once per ``interval`` seconds, counting the ones
    held back, so a flood of one condition (requests refused under load, connections the process
    has no descriptor for) costs one line a second instead of filling the disk."""

    __slots__ = ("_held", "_next", "interval")

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._next = 0.0
        self._held = 0

    def allow(self) -> int | None:
        """``None`` to hold this line back; else how many were held back since the last one."""
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return None
        held, self._held, self._next = self._held, 0, now + self.interval
        return held
