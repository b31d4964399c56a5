"""Bindings: how a trigger becomes a function's arguments and how the outcome becomes a response.

The host and ``extkit invoke`` (:mod:`extkit.cli.invoke`) both go through :func:`invoke_http`
(and :func:`invoke_timer`), so a function answers the same over HTTP as on the command line:

- arguments (:func:`build_args`): the trigger parameter gets the ``HttpRequest`` or
  ``TimerRequest``, each output parameter a fresh :class:`~extkit.Out`, and ``context`` is
  filled by the engine;
- results (:func:`to_http_response`): the ``$return`` value or the named http output;
  ``HttpResponse`` as is, ``str`` as text, ``bytes`` as octet-stream, ``dict``/``list`` as JSON,
  ``None`` as 204 No Content;
- failures, in the same function: a :class:`~extkit.RejectInvocation` becomes its ``response``
  (or ``status_code`` with the reason), an :class:`~extkit.InvocationTimeout` 504, any other
  exception 500 with a generic body naming the invocation id (details go to the log, never to
  the caller); a :class:`~extkit.ClientDisconnected` is logged at INFO, nobody being left to
  answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sys
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any, Final

from .app import FunctionSpec
from .context import Context, TraceContext
from .correlation import invocation_scope
from .engine import raised_by
from .errors import ClientDisconnected, InvocationNotStarted, InvocationTimeout, RejectInvocation
from .http import HttpRequest, HttpResponse, Out
from .loader import AppFunction

__all__ = [
    "INVOCATION_ID_HEADER",
    "BindingError",
    "build_args",
    "error_response",
    "invoke_http",
    "invoke_timer",
    "to_http_response",
    "trace_context_of",
    "stamp",
]

#: Every HTTP response carries the invocation id, so a caller can find its logs and spans.
INVOCATION_ID_HEADER: Final = "x-invocation-id"


def stamp(response: HttpResponse, invocation_id: str) -> HttpResponse:
    """Put ``invocation_id`` on ``response`` (the one place ``x-invocation-id`` is set), so a
    caller can find the invocation's logs and spans; the host's own answers get a fresh id."""
    response.headers[INVOCATION_ID_HEADER] = invocation_id
    return response
_log: Final = logging.getLogger("extkit.invocation")


class BindingError(TypeError):
    """A function's result does not fit its output binding (e.g. an ``int`` for an HTTP body)."""


def __getattr__(name: str) -> Any:
    # TimerRequest belongs to the timer trigger (``extkit.schedule``); offered here too because
    # it is what a timer function's trigger argument is. Imported lazily: HTTP-only apps and the
    # CLI's startup do not pay for the scheduler.
    if name == "TimerRequest":
        from .schedule import TimerRequest

        return TimerRequest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _spec(fn: AppFunction | FunctionSpec) -> FunctionSpec:
    return fn if isinstance(fn, FunctionSpec) else fn.spec


# --- arguments ----------------------------------------------------------------------------------


def build_args(fn: AppFunction | FunctionSpec, trigger_value: Any, **inputs: Any) -> dict[str, Any]:
    """The keyword arguments of one invocation (``context`` is added by the engine).

    ``inputs`` sets further parameters by name (tests; bindings extkit does not serve itself).
    """
    spec = fn if isinstance(fn, FunctionSpec) else fn.spec  # (one call fewer than ``_spec``)
    convert = spec.convert_trigger
    args: dict[str, Any] = {
        spec.trigger_arg: trigger_value if convert is None else convert(trigger_value)
    }
    for name in spec.outputs:
        args[name] = Out()
    if inputs:
        args.update(inputs)
    return args


def trace_context_of(request: HttpRequest) -> TraceContext:
    """The caller's W3C trace context, from the ``traceparent``/``tracestate`` headers."""
    return TraceContext(request.headers.get("traceparent"), request.headers.get("tracestate"))


# --- results and failures -----------------------------------------------------------------------


def _as_response(value: Any, where: str) -> HttpResponse:
    if isinstance(value, HttpResponse):
        return value
    if value is None:
        return HttpResponse(status_code=204)
    if isinstance(value, str):
        return HttpResponse(value, mimetype="text/plain")
    if isinstance(value, (bytes, bytearray)):
        return HttpResponse(bytes(value), mimetype="application/octet-stream")
    if isinstance(value, (dict, list)):
        try:
            body = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise BindingError(f"{where} is not JSON-serialisable: {exc}") from None
        return HttpResponse(body, mimetype="application/json")
    if "azure.functions" in sys.modules:  # a func.HttpResponse of code written for Azure
        from .azure._convert import extkit_response

        converted = extkit_response(value)
        if converted is not None:
            return converted
    kind = type(value)
    raise BindingError(
        f"{where} is a {kind.__module__}.{kind.__qualname__}; an HTTP function returns "
        "extkit.HttpResponse or azure.functions.HttpResponse, str, bytes, dict or list "
        "(or None for 204 No Content)"
    )


def _result_response(spec: FunctionSpec, result: Any, func_args: Mapping[str, Any]) -> HttpResponse:
    output = spec.http_output
    if output == "$return":
        return _as_response(result, f"the return value of {spec.name!r}")
    if result is not None:
        raise BindingError(
            f"function {spec.name!r} returned a {type(result).__name__} but has no $return "
            f"binding (its HTTP response is {'the Out ' + repr(output) if output else 'none'}); "
            "return None or bind the response to $return"
        )
    if output is None:
        return HttpResponse(status_code=204)
    out = func_args.get(output)
    value = out.get() if isinstance(out, Out) else out
    return _as_response(value, f"the output {output!r} of {spec.name!r}")


def error_response(
    error: BaseException, *, function_name: str, invocation_id: str | None = None
) -> HttpResponse:
    """The response for a failed invocation (the one policy shared by the host and the CLI)."""
    ref = f" (invocation {invocation_id})" if invocation_id else ""
    if isinstance(error, RejectInvocation):
        if error.response is not None:
            try:
                return _as_response(error.response, "RejectInvocation.response")
            except BindingError:
                pass
        return HttpResponse(error.reason, status_code=error.status_code, mimetype="text/plain")
    if isinstance(error, InvocationNotStarted):
        return HttpResponse(
            f"Function '{function_name}' could not start in time{ref}: the host is busy.",
            status_code=503,
            headers={"Retry-After": str(max(1, math.ceil(error.timeout)))},
            mimetype="text/plain",
        )
    if isinstance(error, InvocationTimeout):
        return HttpResponse(
            f"Function '{function_name}' timed out after {error.timeout:g} s{ref}.",
            status_code=504,
            mimetype="text/plain",
        )
    return HttpResponse(
        f"Function '{function_name}' failed{ref}. The details are in the host's log.",
        status_code=500,
        mimetype="text/plain",
    )


def to_http_response(
    fn: AppFunction | FunctionSpec,
    result: Any,
    func_args: Mapping[str, Any],
    error: BaseException | None = None,
    *,
    invocation_id: str | None = None,
) -> HttpResponse:
    """The HTTP response for an invocation's outcome: ``result`` (and outputs in ``func_args``),
    or ``error`` when it failed. A result that fits no response is logged and answered with 500.
    """
    spec = _spec(fn)
    if invocation_id is None:
        context = func_args.get("context")
        invocation_id = context.invocation_id if isinstance(context, Context) else None
    if error is None:
        try:
            return _result_response(spec, result, func_args)
        except BindingError as exc:
            _log.error("%s (invocation %s)", exc, invocation_id)
            error = exc
    return error_response(error, function_name=spec.name, invocation_id=invocation_id)


def _log_outcome(
    spec: FunctionSpec, context: Context, error: BaseException | None, started: float
) -> None:
    """Log a failure (with traceback) and, at debug level, the reference host's ``Executed`` line.

    Success is not logged at info level: a log line costs about as much as a small request."""
    if isinstance(error, RejectInvocation):
        _log.info("invocation of %s rejected: %s (%d)", spec.name, error.reason, error.status_code)
    elif isinstance(error, InvocationTimeout):
        _log.error("%s (invocation %s)", error, context.invocation_id)
    elif isinstance(error, ClientDisconnected):  # the client's doing, not a failure of the host
        _log.info("invocation of %s ended early: %s", spec.name, error)
    elif error is not None and not isinstance(error, BindingError):
        culprit = raised_by(error)
        _log.error(
            "function %s failed (invocation %s): %s%s: %s",
            spec.name,
            context.invocation_id,
            "" if culprit is None else f"{culprit} raised ",
            type(error).__name__,
            error,
            exc_info=error,
        )
    if _log.isEnabledFor(logging.DEBUG):
        _log.debug(
            "Executed 'Functions.%s' (%s, Id=%s, Duration=%.0fms)",
            spec.name,
            "Succeeded" if error is None else "Failed",
            context.invocation_id,
            (time.perf_counter() - started) * 1000,
        )


# --- one invocation -----------------------------------------------------------------------------


def _contained(exc: BaseException) -> BaseException:
    """``exc`` as the invocation's failure, or re-raised when it is not the invocation's to keep:
    the cancellation of the task serving it. A ``SystemExit``, ``KeyboardInterrupt`` or an app's
    own ``BaseException`` from a function or a hook ends that invocation only (a real signal
    reaches the server's handlers, never the function)."""
    if isinstance(exc, asyncio.CancelledError):
        task = asyncio.current_task()
        cancelling = getattr(task, "cancelling", None)  # Python 3.11+
        if task is None or cancelling is None or cancelling():
            raise exc
    return exc


async def invoke_http(
    fn: AppFunction,
    request: HttpRequest,
    *,
    context: Context | None = None,
    executor: Executor | None = None,
    timeout: float | None = None,
    own_task: bool = False,
) -> HttpResponse:
    """Run one HTTP invocation through the engine and answer it; never raises for a failure of
    the function or an extension (only for cancellation and other ``BaseException``).
    ``own_task``: as for ``LoadedFunction.invoke_async``."""
    spec = fn.spec
    if context is None:
        context = fn.loaded.new_context(trace_context=trace_context_of(request))
    args = build_args(spec, request)
    started = time.perf_counter()
    result: Any = None
    error: BaseException | None = None
    try:
        result = await fn.loaded.invoke_async(
            args, context, executor=executor, timeout=timeout, own_task=own_task
        )
    except BaseException as exc:
        error = _contained(exc)
    if (
        error is None
        and type(result) is HttpResponse
        and spec.http_output == "$return"
        and not _log.isEnabledFor(logging.DEBUG)
    ):
        # The common case, nothing to convert and nothing to log: no correlation scope needed.
        return stamp(result, context.invocation_id)
    with invocation_scope(context):  # so the records below carry the invocation id
        response = to_http_response(spec, result, args, error, invocation_id=context.invocation_id)
        if error is None and response.status_code >= 500:
            error = BindingError("the result could not be turned into a response")
        _log_outcome(spec, context, error, started)
    return stamp(response, context.invocation_id)


async def invoke_timer(
    fn: AppFunction,
    timer: Any,
    *,
    context: Context | None = None,
    executor: Executor | None = None,
    timeout: float | None = None,
) -> BaseException | None:
    """Run one timer invocation; return the exception it failed with (logged), or ``None``."""
    spec = fn.spec
    context = context if context is not None else fn.loaded.new_context()
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        await fn.loaded.invoke_async(
            build_args(spec, timer), context, executor=executor, timeout=timeout
        )
    except BaseException as exc:
        error = _contained(exc)
    with invocation_scope(context):
        _log_outcome(spec, context, error, started)
    return error
