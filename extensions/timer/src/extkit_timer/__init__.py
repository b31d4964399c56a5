"""extkit-timer: how long each invocation of a function app took.

Import it in function code, optionally configure it, and every invocation logs its duration on
``extkit.extensions.TimerExtension``::

    from extkit_timer import TimerExtension

    TimerExtension.configure(append_to_http_response=True, server_timing_header=True)

Unlike the reference tutorial's timer it uses a monotonic clock, keeps its start time on the
invocation's ``context.state`` (no class-level dict to leak or race), times failed invocations
too, and works without ``configure()`` ever being called.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from logging import INFO, Logger
from time import perf_counter_ns
from types import SimpleNamespace
from typing import Any, ClassVar

from extkit import AppExtensionBase, Context, HttpResponse
from extkit.logs import log_structured

__all__ = ["TimerExtension", "__version__"]

try:
    __version__ = version("extkit-timer")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"


class TimerExtension(AppExtensionBase):
    """Times every invocation of every function; registered when this module is imported."""

    # Configuration only; it changes when the app owner calls configure(), never per invocation.
    _append_to_http_response: ClassVar[bool] = False
    _server_timing_header: ClassVar[bool] = False

    @classmethod
    def configure(
        cls, *, append_to_http_response: bool = False, server_timing_header: bool = False
    ) -> None:
        """Set the options; each call sets all of them (an option left out goes back to off).

        - ``append_to_http_response``: append `` (TimeElapsed: <seconds> sec)`` to the body of an
          ``extkit.HttpResponse`` the function returns, as the reference tutorial does. Meant for
          text responses: it changes the body, so leave it off for JSON or binary APIs.
        - ``server_timing_header``: add ``total;dur=<milliseconds>`` to the response's
          ``Server-Timing`` header, which browsers' developer tools display; the body is untouched.
        """
        options = {
            "append_to_http_response": append_to_http_response,
            "server_timing_header": server_timing_header,
        }
        for name, value in options.items():
            if not isinstance(value, bool):  # "false" from an environment variable is truthy
                raise TypeError(
                    f"{cls.__name__}.configure(): {name} must be True or False, got {value!r}"
                )
        cls._append_to_http_response = append_to_http_response
        cls._server_timing_header = server_timing_header

    @classmethod
    def pre_invocation_app_level(
        cls, logger: Logger, context: Context, func_args: dict[str, Any]
    ) -> None:
        # A namespace of its own, set in one step (no lookup of a missing key first).
        context.state[cls] = SimpleNamespace(started=perf_counter_ns())

    @classmethod
    def post_invocation_app_level(
        cls,
        logger: Logger,
        context: Context,
        func_args: dict[str, Any],
        func_ret: Any,
        func_exc: BaseException | None,
    ) -> None:
        # Read the clock first, so the work below is not counted as the function's time.
        ended = perf_counter_ns()
        started: int | None = getattr(context.state.get(cls), "started", None)
        if started is None:  # our pre hook did not run for this invocation: nothing to time
            return
        # From whole nanoseconds: the seconds' shortest text is short (2.5123e-05, not the
        # 17 digits of a difference of two floats), for the reader and for the JSON line.
        elapsed = (ended - started) / 1e9
        # One line per invocation: log_structured writes it without a LogRecord when the
        # host's handler is its only destination (same line, a fraction of the cost).
        if func_exc is None:
            log_structured(
                logger,
                INFO,
                "Time taken to execute %s is %.6f sec",
                context.function_name,
                elapsed,
                elapsed_sec=elapsed,
            )
        else:
            log_structured(
                logger,
                INFO,
                "Time taken to execute %s is %.6f sec (failed: %s)",
                context.function_name,
                elapsed,
                type(func_exc).__name__,
                elapsed_sec=elapsed,
            )
        if isinstance(func_ret, HttpResponse):
            if cls._append_to_http_response:
                func_ret.append_body(f" (TimeElapsed: {elapsed:.6f} sec)")
            if cls._server_timing_header:
                metric = f"total;dur={elapsed * 1000:.3f}"
                existing = func_ret.headers.get("Server-Timing")
                func_ret.set_header(
                    "Server-Timing", f"{existing}, {metric}" if existing else metric
                )
