"""The HTTP throttle: ``host.json`` ``extensions.http.maxOutstandingRequests`` and
``maxConcurrentRequests``, with the reference's meaning.

``maxOutstandingRequests`` caps the requests for HTTP functions the host holds at once, running
or waiting to run; one more is answered 429 at once, so its client can back off and retry.
``maxConcurrentRequests`` caps how many of those run their function at a time; the others wait
their turn in arrival order (their bodies are read meanwhile, so a slow upload holds no turn).
With ``functionTimeout`` set, a request that gets no turn within it is answered 503 and never
runs, as a sync function that finds no free thread in time.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import final

__all__ = ["RequestThrottle"]


@final
class RequestThrottle:
    """Admission (:meth:`admit` / :meth:`leave`) and turns to run (:meth:`start` / :meth:`finish`)
    for one host; ``None`` for a cap means no cap. Used on the event loop only."""

    __slots__ = ("_held", "_running", "_waiting", "concurrent", "outstanding")

    def __init__(self, *, concurrent: int | None, outstanding: int | None) -> None:
        self.concurrent = concurrent
        self.outstanding = outstanding
        self._held = 0  # admitted and not yet answered
        self._running = 0  # turns taken and not yet finished
        # Requests waiting for a turn, oldest first. A finishing request hands its turn straight
        # to the oldest (``_running`` stays the same), so a newcomer can never take it first;
        # one that stops waiting (timed out, cancelled) takes itself out.
        self._waiting: deque[asyncio.Future[None]] = deque()

    def admit(self) -> bool:
        """Hold one more request, unless ``outstanding`` are held already (answer it 429)."""
        if self.outstanding is not None and self._held >= self.outstanding:
            return False
        self._held += 1
        return True

    def leave(self) -> None:
        """An admitted request has been answered."""
        self._held -= 1

    async def start(self, timeout: float | None) -> bool:
        """Wait for a turn to run, at most ``timeout`` seconds (``None``: as long as it takes);
        ``False`` when none came. After ``True``, call :meth:`finish` once."""
        if self.concurrent is None:
            return True
        if self._running < self.concurrent and not self._waiting:
            self._running += 1
            return True
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await asyncio.wait((turn,), timeout=timeout)
        except BaseException:
            self._stop_waiting(turn)
            raise
        if turn.done():
            return True
        self._stop_waiting(turn)
        return False

    def finish(self) -> None:
        """A request's function has ended: its turn goes to the oldest one waiting."""
        if self.concurrent is None:
            return
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._running -= 1

    def _stop_waiting(self, turn: asyncio.Future[None]) -> None:
        if turn.done():  # handed a turn just as it stopped waiting: pass it on
            self.finish()
        else:
            turn.cancel()
            self._waiting.remove(turn)
