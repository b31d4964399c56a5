"""Which invocation is running here: the ``invocation_id`` that log records carry.

The id lives in a ``ContextVar``, set when an invocation starts and reset when it ends. asyncio
tasks, ``asyncio.to_thread`` and extkit's thread helpers copy the context, so they see it too; a
plain user thread sees it when it sets ``context.thread_local_storage.invocation_id`` (the
reference's workaround), but only while that invocation is still running.

The id is stamped onto each ``LogRecord`` *when the record is created* (by a record factory), not
looked up when a handler emits it, so queued or deferred handlers keep the right id.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, Final, Protocol, TypeVar

from .context import Context, invocation_local, running_invocations

R = TypeVar("R")

__all__ = [
    "Invocation",
    "call_in_scope",
    "current_invocation",
    "install_record_factory",
    "invocation_scope",
    "run_invocation",
]


class Invocation(Protocol):
    """What log records need to know about the running invocation (a ``Context`` is one)."""

    @property
    def invocation_id(self) -> str: ...

    @property
    def function_name(self) -> str: ...


# The running invocation's Context itself is stored: entering an invocation allocates nothing.
_current: Final[ContextVar[Invocation | None]] = ContextVar("extkit_invocation", default=None)

# ``running_invocations`` (defined in ``context``): invocations that have started and not
# ended, by id. It lets a record factory tell a live invocation from one that a task or a pooled
# thread kept from before. Plain dict operations are atomic under the GIL, which is all the
# threads here need.


def current_invocation() -> Invocation | None:
    """The invocation this code runs for, or ``None`` outside any invocation.

    Work an invocation started (a task, a thread) keeps its context after the invocation ended;
    from then on it belongs to no invocation, so a long-lived background task does not stamp the
    id of the invocation that happened to create it on everything it logs later.
    """
    found = _current.get()
    if found is not None:
        return found if running_invocations.get(found.invocation_id) is found else None
    thread_id = invocation_local.invocation_id  # None once its invocation ended
    if thread_id is None:
        return None
    return running_invocations.get(thread_id)


def enter(context: Context) -> Token[Invocation | None]:
    """Mark ``context``'s invocation as running in the current context; pair with :func:`leave`."""
    running_invocations[context.invocation_id] = context
    return _current.set(context)


def leave(token: Token[Invocation | None]) -> None:
    invocation = _current.get()
    _current.reset(token)
    if invocation is None:
        return
    if token.old_value is not invocation:  # not a nested scope of the same invocation
        running_invocations.pop(invocation.invocation_id, None)


def run_invocation(context: Context, fn: Callable[..., R], *args: Any) -> R:
    """Call ``fn(*args)`` as part of ``context``'s invocation, in a copy of the current context
    variables, so whatever it sets (a structlog binding, an OpenTelemetry context) ends with it.

    The copy is dropped afterwards, so the variable set in it needs no reset. (The engine's own
    entry point is :func:`call_in_scope`, the same with a fixed call shape.)
    """
    return contextvars.copy_context().run(_in_scope, context, fn, args)


def _in_scope(context: Context, fn: Callable[..., R], args: tuple[Any, ...]) -> R:
    if _current.get() is context:  # inside this invocation's own scope already (a host's)
        return fn(*args)
    _current.set(context)
    invocation_id = context.invocation_id
    running_invocations[invocation_id] = context
    try:
        return fn(*args)
    finally:
        running_invocations.pop(invocation_id, None)


class _Callable(Protocol):
    def call(self, func_args: dict[str, Any], context: Context) -> Any: ...


def call_in_scope(context: Context, target: _Callable, func_args: dict[str, Any]) -> Any:
    """``target.call(func_args, context)`` as part of ``context``'s invocation: the engine's sync
    entry point (``LoadedFunction.invoke``), which runs it in a fresh copy of the context
    variables, ``copy_context().run(call_in_scope, ...)``. The copy is dropped afterwards, so the
    variable set in it needs no reset; and the target is called as a method, not a bound method
    passed in, because every step here is paid once per invocation.
    """
    if _current.get() is context:  # inside this invocation's own scope already (a host's)
        return target.call(func_args, context)
    _current.set(context)
    invocation_id = context.invocation_id
    running_invocations[invocation_id] = context
    try:
        return target.call(func_args, context)
    finally:
        running_invocations.pop(invocation_id, None)


@contextmanager
def invocation_scope(context: Context) -> Iterator[None]:
    """Run a block as part of ``context``'s invocation (for hosts and tests)."""
    token = enter(context)
    try:
        yield
    finally:
        leave(token)


# --- stamping log records -------------------------------------------------------------------

_install_lock: Final = threading.Lock()
_installed: list[Callable[..., logging.LogRecord]] = []


_NO_SPAN: Final = (None, None)


def _trace_ids() -> tuple[str | None, str | None]:
    """The current OpenTelemetry span's ids as hex, when a recording span is current."""
    current = _otel_context()
    if not current:  # nothing attached (no tracing here): no span to look up
        return _NO_SPAN
    span_context = _get_current_span(current).get_span_context()
    if not span_context.is_valid:
        return _NO_SPAN
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def _otel_context() -> Any:
    """``opentelemetry.context.get_current()``, imported on first use and then called directly
    (as is ``_get_current_span``): this runs for every log line."""
    global _otel_context, _get_current_span
    from opentelemetry.context import get_current
    from opentelemetry.trace import get_current_span

    _otel_context, _get_current_span = get_current, get_current_span
    return get_current()


def _get_current_span(context: Any) -> Any:
    _otel_context()
    return _get_current_span(context)


_NO_INVOCATION: Final = (None, None, None, None)


def correlation_fields() -> tuple[str | None, str | None, str | None, str | None]:
    """``(invocation_id, function_name, trace_id, span_id)`` for a line logged here and now: what
    the record factory stamps on a ``LogRecord``, and what a line written without one carries."""
    invocation = current_invocation()
    if invocation is None:
        return _NO_INVOCATION
    return (invocation.invocation_id, invocation.function_name, *_trace_ids())


def installed_record_factory() -> Callable[..., logging.LogRecord] | None:
    """extkit's record factory, once :func:`install_record_factory` has run."""
    return _installed[0] if _installed else None


def install_record_factory() -> None:
    """Stamp ``invocation_id``, ``function_name``, ``trace_id``, ``span_id`` on every LogRecord.

    Idempotent and chained: a factory installed before keeps running underneath.
    """
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            (
                record.invocation_id,
                record.function_name,
                record.trace_id,
                record.span_id,
            ) = correlation_fields()
            return record

        logging.setLogRecordFactory(factory)
        _installed.append(factory)
