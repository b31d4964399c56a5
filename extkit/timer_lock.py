"""Which process runs an app's timers, so each tick fires once however many processes serve it.

- One process alone needs no lock (:class:`NoLock`).
- The workers of one ``extkit start --workers N`` share a lock file (:class:`FileLock`): the
  worker holding it runs the timers; when it dies the operating system frees the lock. The
  processes another server runs (:mod:`extkit.asgi`) share :func:`shared_lock_file`, named
  after the app folder, so all processes serving one folder on one machine share it.
- Hosts on several machines share a Redis database (``EXTKIT_TIMER_LOCK_URL=redis://HOST:PORT/DB``,
  :class:`RedisLease`): they elect one runner through a lease, redis-py's ``Lock``, which expires
  ``lease`` seconds after its holder stops renewing it. Each tick is also claimed in Redis before
  it fires, so a runner that stalled past its lease and a runner that took over never both fire
  the same tick.

A lock is used from the host's event loop: ``acquire`` until it succeeds, then ``keep`` every
:attr:`~TimerLock.renew_every` seconds while timers run (``False``: the lease was lost, stop
them), ``claim`` before each tick, ``release`` when the host stops.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Mapping
from datetime import datetime
from typing import IO, Any, Final, Protocol, final

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "FileLock",
    "NoLock",
    "RedisLease",
    "TimerLock",
    "LEASE_ENV",
    "LOCK_URL_ENV",
    "configured_lock",
    "shared_lock_file",
]

#: Where hosts on several machines elect their timer runner: a ``redis://`` URL.
LOCK_URL_ENV: Final = "EXTKIT_TIMER_LOCK_URL"
#: How long a lease outlives a runner that stopped renewing it (seconds).
LEASE_ENV: Final = "EXTKIT_TIMER_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS: Final = 15.0


def configured_lock(
    app_name: str, lock_file: str | None, environ: Mapping[str, str]
) -> TimerLock:
    """The lock ``extkit start`` uses: Redis when ``EXTKIT_TIMER_LOCK_URL`` is set, else the
    workers' lock file (``lock_file``), else none. Bad settings raise ``ValueError``."""
    url = environ.get(LOCK_URL_ENV, "").strip()
    if url:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"{LOCK_URL_ENV} must be a redis:// (or rediss://, unix://) URL, got {url!r}"
            )
        raw = environ.get(LEASE_ENV, "").strip()
        try:
            lease = float(raw) if raw else DEFAULT_LEASE_SECONDS
        except ValueError:
            raise ValueError(f"{LEASE_ENV} must be a number of seconds, got {raw!r}") from None
        return RedisLease(url, app_name, lease=lease)
    return FileLock(lock_file) if lock_file else NoLock()


def shared_lock_file(app_dir: str | os.PathLike[str]) -> str:
    """The lock file of every process on this machine serving the app in ``app_dir``: in the
    temporary folder, named from a hash of the folder's absolute path."""
    folder = os.path.realpath(app_dir)
    digest = hashlib.sha256(os.fsencode(folder)).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"extkit-timers-{digest}.lock")


class TimerLock(Protocol):
    """What the host asks of a timer lock."""

    #: Seconds between two ``keep`` calls while the lock is held; ``None``: never needed.
    renew_every: float | None

    async def acquire(self) -> bool:
        """Take the lock if it is free; ``False`` when another process holds it."""

    async def keep(self) -> bool:
        """Renew what ``acquire`` took; ``False`` when it was lost meanwhile."""

    async def claim(self, function_name: str, scheduled: datetime) -> bool:
        """Whether this process may fire that tick (no other process fired it)."""

    async def release(self) -> None:
        """Give the lock up (and never fail: the host is stopping)."""


@final
class NoLock:
    """The timers of a process that serves the app alone."""

    renew_every: float | None = None

    async def acquire(self) -> bool:
        return True

    async def keep(self) -> bool:
        return True

    async def claim(self, function_name: str, scheduled: datetime) -> bool:
        return True

    async def release(self) -> None:
        return None


@final
class FileLock:
    """An exclusive, non-blocking lock on a file shared by the workers of one machine."""

    renew_every: float | None = None

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    async def acquire(self) -> bool:
        if self._file is not None:
            return True
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open while the lock is held
        try:
            _lock_file(handle)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    async def keep(self) -> bool:
        return self._file is not None

    async def claim(self, function_name: str, scheduled: datetime) -> bool:
        return True

    async def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file releases the lock
            self._file = None


def _lock_file(handle: IO[bytes]) -> None:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


@final
class RedisLease:
    """A lease in Redis, held by one host of the app at a time (``pip install "extkit[redis]"``).

    ``app_name`` names the lease and the tick claims (``extkit:timers:<app_name>``): hosts of one
    app share them, other apps on the same database do not.
    """

    def __init__(self, url: str, app_name: str, *, lease: float = DEFAULT_LEASE_SECONDS) -> None:
        try:
            import redis.asyncio
        except ImportError:
            raise RuntimeError(
                f"{LOCK_URL_ENV} is set, which needs the redis package: "
                'pip install "extkit[redis]"'
            ) from None
        if not lease > 0:
            raise ValueError(f"{LEASE_ENV} must be a number of seconds above 0, got {lease:g}")
        self.url = url
        self.lease = lease
        self.renew_every: float | None = lease / 3
        self.key = f"extkit:timers:{app_name}"
        self._client: Any = redis.asyncio.Redis.from_url(url)
        self._lock: Any = self._client.lock(
            self.key, timeout=lease, blocking=False, thread_local=False
        )
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

    async def acquire(self) -> bool:
        try:
            return bool(await self._lock.acquire(blocking=False))
        except self._errors:
            return False  # Redis unreachable: no runner here; the next try may reach it

    async def keep(self) -> bool:
        try:
            return bool(await self._lock.reacquire())
        except self._errors:
            return False  # lost (expired and taken) or unreachable: stop firing

    async def claim(self, function_name: str, scheduled: datetime) -> bool:
        tick = f"{self.key}:{function_name}:{scheduled.isoformat()}"
        try:
            # Kept long enough to outlive any takeover of this tick (the lease, plus a minute
            # for clocks that disagree between machines).
            return bool(await self._client.set(tick, "1", nx=True, ex=int(self.lease) + 60))
        except self._errors:
            return False

    async def release(self) -> None:
        try:
            if await self._lock.owned():
                await self._lock.release()
        except self._errors:
            pass  # it expires by itself
        finally:
            await self._client.aclose()
