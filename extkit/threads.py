"""Run work on other threads without losing the invocation it belongs to.

A new thread starts with an empty ``contextvars`` context, so the invocation id (and an
OpenTelemetry span, a structlog binding) would be lost. These helpers run the work inside a copy of
the caller's context, which also means a pooled thread never keeps one invocation's context for the
next task. ``asyncio`` tasks and ``asyncio.to_thread`` already copy the context by themselves.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

__all__ = ["ContextThreadPoolExecutor", "Thread", "propagate"]

P = ParamSpec("P")
R = TypeVar("R")


def propagate(fn: Callable[P, R]) -> Callable[P, R]:
    """Bind ``fn`` to a copy of the current context; call the result from any thread.

    Each call runs in its own copy of that context: a context can be entered by one thread at a
    time, and the result is typically handed to a pool that calls it from several at once.
    """
    context = contextvars.copy_context()

    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(fn, *args, **kwargs)

    return run_in_context


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks run in a copy of the submitter's context."""

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        run: Callable[..., R] = contextvars.copy_context().run
        return super().submit(run, fn, *args, **kwargs)


class Thread(threading.Thread):
    """A ``threading.Thread`` whose target runs in a copy of the creating thread's context."""

    def __init__(
        self,
        group: None = None,
        target: Callable[..., object] | None = None,
        name: str | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        daemon: bool | None = None,
    ) -> None:
        super().__init__(group, target, name, args, kwargs, daemon=daemon)
        self._extkit_context = contextvars.copy_context()

    def run(self) -> None:
        self._extkit_context.run(super().run)
