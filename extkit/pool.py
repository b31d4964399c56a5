"""The host's threads for sync functions, which make up for threads that timed-out functions hold.

Python cannot stop a thread, so a sync function past ``functionTimeout`` keeps its thread until
it returns by itself. With a plain pool, as many hung calls as threads leave none for any other
function. :class:`FunctionPool` lends a replacement thread for each held one, up to ``spare``
(by default as many as the pool's threads); when all are lent it logs a WARNING, and from then on
a hung call costs capacity until it ends. Its threads are daemon threads: the process can exit
without waiting for a function that never returns.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, Final, ParamSpec, TypeVar

__all__ = ["FunctionPool"]

P = ParamSpec("P")
R = TypeVar("R")
_log: Final = logging.getLogger("extkit.host")
_Item = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def default_threads() -> int:
    """``ThreadPoolExecutor``'s default size, so the pool is as large as before by default."""
    return min(32, (os.cpu_count() or 1) + 4)


class FunctionPool(Executor):
    """A thread pool of ``threads`` threads, grown by one for each thread :meth:`hold` marks as
    held by a timed-out function (at most ``spare`` at a time), shrunk when :meth:`release`."""

    def __init__(
        self,
        threads: int | None = None,
        *,
        spare: int | None = None,
        thread_name_prefix: str = "extkit-function",
    ) -> None:
        self.threads = threads or default_threads()
        self.spare = self.threads if spare is None else spare
        self._prefix = thread_name_prefix
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Semaphore(0)
        self._workers: list[threading.Thread] = []
        self._held = 0
        self._closed = False

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._queue.put((future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False):
                self._grow()
        return future

    def hold(self) -> bool:
        """A function timed out on one of the threads: lend a replacement if the cap allows.
        Returns whether it did; pair a ``True`` with :meth:`release` when the function ends."""
        with self._lock:
            if self._held >= self.spare:
                return False
            self._held += 1
            if self._held == self.spare:
                _log.warning(
                    "all %d replacement threads are lent for sync functions that timed out and "
                    "still run: further hung calls take threads from the other functions (run "
                    "several workers, --workers, to keep serving)",
                    self.spare,
                )
            self._grow()
            return True

    def release(self) -> None:
        with self._lock:
            self._held = max(0, self._held - 1)

    def _grow(self) -> None:
        if len(self._workers) < self.threads + self._held:
            worker = threading.Thread(
                target=self._work, name=f"{self._prefix}_{len(self._workers)}", daemon=True
            )
            self._workers.append(worker)
            worker.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del item, future, fn, args, kwargs
            with self._lock:
                me = threading.current_thread()
                if len(self._workers) > self.threads + self._held and me in self._workers:
                    self._workers.remove(me)  # a replacement no longer needed
                    return
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._workers)
        for _ in workers:
            self._queue.put(None)
        if wait:
            for worker in workers:
                worker.join()
