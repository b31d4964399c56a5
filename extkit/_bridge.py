"""Crossing between sync and async code without losing an invocation's context variables.

The engine runs async hooks from sync code (a sync function's pool thread, ``invoke``) and
keeps what async hooks set inside one invocation without paying for a task per invocation.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, final

__all__ = ["in_context", "settled", "to_completion", "unwrapped"]


@final
class _LoopCloser:
    """Holds a thread's private event loop and closes it when the thread ends (its thread-locals
    are dropped then), so worker threads that come and go leave no unclosed loops behind."""

    __slots__ = ("loop",)

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        if not self.loop.is_closed() and not self.loop.is_running():
            self.loop.close()


_thread_loops = threading.local()


def _private_loop() -> asyncio.AbstractEventLoop:
    holder: _LoopCloser | None = getattr(_thread_loops, "holder", None)
    if holder is None or holder.loop.is_closed():
        holder = _thread_loops.holder = _LoopCloser()
    return holder.loop


def to_completion(main: Callable[[], Awaitable[Any]], *, fresh_loop: bool = False) -> Any:
    """Run the awaitable ``main()`` to completion from sync code and return its result.

    ``fresh_loop`` gives it a loop of its own (``asyncio.run``: leftover tasks are cancelled);
    otherwise this thread's private loop is reused, which is cheaper for short hook coroutines.
    A thread that is already running an event loop (sync code called from async code) cannot
    start another one, so there it runs on a helper thread, in a copy of the caller's context so
    the invocation and its context variables go along.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        with ThreadPoolExecutor(1, thread_name_prefix="extkit-sync") as helper:
            run = contextvars.copy_context().run
            return helper.submit(run, to_completion, main, fresh_loop=fresh_loop).result()
    outcome = settled(main())
    return unwrapped(
        *(asyncio.run(outcome) if fresh_loop else _private_loop().run_until_complete(outcome))
    )


async def settled(awaitable: Awaitable[Any]) -> tuple[Any, BaseException | None]:
    """The outcome of ``awaitable`` as a value, so an exception stays out of the task that runs
    it: asyncio lets a KeyboardInterrupt or SystemExit out of a task stop the whole loop (and
    reports it as never retrieved). A cancellation is the task's own business: it goes on up."""
    try:
        return await awaitable, None
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        return None, exc


def unwrapped(result: Any, error: BaseException | None) -> Any:
    """The result, or raise the error (without a reference cycle through this frame)."""
    if error is not None:
        try:
            raise error
        finally:
            error = None
    return result


@types.coroutine
def in_context(
    context: contextvars.Context, coro: Coroutine[Any, Any, Any]
) -> Generator[Any, Any, Any]:
    """Await ``coro`` with each of its steps run inside ``context``.

    This is what wrapping it in a task achieves (context variables it sets stay in ``context``),
    without scheduling a task: that would cost a trip through the event loop per invocation.
    Whatever the coroutine waits on is passed up to the task awaiting us, and what the task sends
    or throws in (a result, a cancellation) is passed down.
    """
    run = context.run
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            waiting_on = run(coro.send, value) if error is None else run(coro.throw, error)
        except StopIteration as done:
            return done.value
        try:
            value, error = (yield waiting_on), None
        except GeneratorExit:
            run(coro.close)
            raise
        except BaseException as exc:  # thrown in by the task (a cancellation): pass it down
            value, error = None, exc
