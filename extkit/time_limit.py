"""The time limit of an invocation (the app's ``functionTimeout``), as the engine applies it.

An async function's call is awaited in a task of its own under the limit (:func:`limited`). A
sync one runs with its hooks on a pool thread, which Python cannot stop: when its time runs out,
the event loop answers for it (:func:`limited_outcome`), and a :class:`Claim` decides whether the
thread or the loop runs its way out, so the post hooks run exactly once. A sync invocation's limit
counts from when a thread takes it up; one that no thread takes up within the limit never runs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, Final, final

from . import correlation
from ._bridge import settled, unwrapped
from .context import Context
from .errors import InvocationNotStarted, InvocationTimeout
from .pool import FunctionPool

__all__ = ["Claim", "WayOut", "limited", "limited_outcome"]

#: Runs the way out of the layers a sync invocation entered, ``(depth, arounds, exc)``, on the
#: event loop: the engine's async runner resumed past the function.
WayOut = Callable[[tuple[int, list[Any], BaseException]], Awaitable[Any]]

_QUEUED, _ENTERING, _RUNNING, _LEAVING, _EXPIRED = range(5)
_log: Final = logging.getLogger("extkit.engine")


def limited(
    func: Callable[..., Awaitable[Any]], name: str, timeout: float
) -> Callable[..., Awaitable[Any]]:
    """The async function ``name`` under a time limit, as the async runner awaits it."""

    async def call(**func_args: Any) -> Any:
        try:  # wait_for runs it in a task of its own: its outcome comes out as a value
            outcome = await asyncio.wait_for(settled(func(**func_args)), timeout)
        except asyncio.TimeoutError as exc:
            raise InvocationTimeout(name, timeout) from exc
        return unwrapped(*outcome)

    return call


@final
class Claim:
    """Decides who runs the way out of a sync invocation with a time limit: the pool thread that
    runs its hooks and function, or the event loop when the time runs out first. Either way the
    post hooks run exactly once. Both move ``state`` under ``lock``:

    - the thread: ``_QUEUED`` -> ``_ENTERING`` (it starts, at ``started`` on the monotonic
      clock: the time limit counts from then) -> ``_RUNNING`` (it calls the function,
      publishing the layers entered) ->
      ``_LEAVING`` (the function returned: the thread runs the way out);
    - the loop, when the time runs out, turns any other state into ``_EXPIRED``. From
      ``_QUEUED`` nothing runs then, ever; from ``_ENTERING`` the thread does not call the function
      but runs the way out with ``expired``; from ``_RUNNING`` the loop runs the way out of the
      published layers, and the thread leaves them alone when the function ends.
    """

    __slots__ = ("arounds", "depth", "expired", "lock", "started", "state")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state = _QUEUED
        self.depth = 0
        self.arounds: list[Any] = []
        self.started: float | None = None
        self.expired: BaseException | None = None

    def _move(self, before: int, after: int) -> bool:
        with self.lock:
            moved = self.state == before
            if moved:
                self.state = after
            return moved

    def begins(self) -> bool:
        self.started = time.monotonic()
        return self._move(_QUEUED, _ENTERING)

    def starts(self, depth: int, arounds: list[Any]) -> bool:
        self.depth, self.arounds = depth, arounds
        return self._move(_ENTERING, _RUNNING)

    def ends(self) -> bool:
        return self._move(_RUNNING, _LEAVING)

    def expire(self, exc: BaseException) -> int:
        """The time ran out: return the state the thread had reached."""
        with self.lock:
            found = self.state
            if found != _LEAVING:
                self.state, self.expired = _EXPIRED, exc
            return found


async def limited_outcome(
    future: asyncio.Future[Any],
    claim: Claim,
    timeout: float,
    name: str,
    context: Context,
    executor: Executor | None,
    way_out: WayOut | None,
) -> Any:
    """The outcome of the sync function ``name``'s invocation on its pool thread (``future``),
    under its time limit: the thread's, when it ends in time (or its post hooks are running);
    else :class:`InvocationNotStarted` when no thread took it up, or :class:`InvocationTimeout`
    after the way out of the layers entered, run by ``way_out`` when the thread is in the
    function (``None``: no hook applies)."""
    limit = timeout  # a free thread must take it up within the limit, then it has it all
    while True:
        try:
            return await asyncio.wait_for(asyncio.shield(future), limit)
        except asyncio.TimeoutError:
            started = claim.started
            limit = 0.0 if started is None else started + timeout - time.monotonic()
            if limit <= 0:
                break
    expired = InvocationTimeout(name, timeout)
    found = claim.expire(expired)
    if found == _LEAVING:  # the function ended in time; its post hooks are running
        return await future
    if found == _QUEUED:  # it never runs: the thread that takes it up skips it
        future.add_done_callback(_retrieved)
        raise InvocationNotStarted(name, timeout)
    _late(future, context, claim, timeout, executor)
    if found != _RUNNING or way_out is None:
        raise expired
    return await way_out((claim.depth, claim.arounds, expired))


def _late(
    future: asyncio.Future[Any],
    context: Context,
    claim: Claim,
    timeout: float,
    executor: Executor | None,
) -> None:
    """A sync function past its limit keeps its thread: lend the pool a replacement (when it
    is extkit's), and log the function's late end, with how long it overran."""
    held = isinstance(executor, FunctionPool) and executor.hold()
    deadline = (claim.started or time.monotonic()) + timeout

    def ended(done: asyncio.Future[Any]) -> None:
        _retrieved(done)
        if held:
            executor.release()  # type: ignore[union-attr]
        token = correlation.enter(context)
        try:
            _log.warning(
                "function %s (invocation %s) ended %.1f s after its %g s time limit",
                context.function_name,
                context.invocation_id,
                time.monotonic() - deadline,
                timeout,
            )
        finally:
            correlation.leave(token)

    future.add_done_callback(ended)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """A late outcome nobody waits for any more: marked as seen (asyncio would log it)."""
    if not future.cancelled():
        future.exception()
