"""The uvicorn server ``extkit start`` runs, and what a signal does to it.

The first SIGTERM or SIGINT drains: the server stops accepting, in-flight requests finish, then
the lifespan shutdown runs :meth:`Host.shutdown <extkit.host.Host.shutdown>` (timers, function
threads, the extensions' shutdown hooks), and ``extkit start`` exits with status 0.

A second one stops waiting: the requests still running are cancelled and answered 503, the host's
shutdown waits for nothing but still runs the shutdown hooks (for at most
``FORCED_SHUTDOWN_SECONDS``), and ``extkit start`` exits with 128 + the signal's number (130 after
SIGINT, 143 after SIGTERM), as a shell reports a process ended by that signal. uvicorn itself
forces only on a second SIGINT, and then skips the lifespan shutdown (the hooks would not run).

Under ``--workers N`` the supervisor (:mod:`extkit.cli.workers`) takes the signals: a worker's own
signals only drain it (a terminal's Ctrl+C reaches every process of its group, and the supervisor
passes the first signal on as well), and a message on its ``force`` pipe stops its waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Final, Protocol

import uvicorn

from ..connections import ConnectionGuard
from ..host import FORCED_SHUTDOWN_SECONDS, Host
from .exit_codes import ExitCode

__all__ = [
    "DRAINING",
    "GIVE_UP_SECONDS",
    "HostServer",
    "base_url",
    "forced_status",
    "forcing_message",
    "guarded",
    "serve",
]

#: Said when a drain starts, to the operator who may not want to wait for it.
DRAINING: Final = (
    "stopping: in-flight requests finish, new ones are refused; a second SIGTERM or SIGINT "
    "stops waiting for them"
)
#: After a forced stop: how long past the shutdown hooks' limit before the process just ends.
GIVE_UP_SECONDS: Final = FORCED_SHUTDOWN_SECONDS + 3.0

_log: Final = logging.getLogger("extkit.host")


class _Receiver(Protocol):
    """What a worker needs of its end of the supervisor's ``multiprocessing`` pipe."""

    def recv_bytes(self) -> bytes: ...


def serve(server: HostServer, sock: socket.socket) -> int:
    """Run ``server`` in this process on ``sock`` until a signal stops it; return the exit
    status: 0 after a drain, 128 + the signal after a forced stop, 1 when it never started."""
    server.run(sockets=[sock])
    if server.forced_by is not None:
        return forced_status(server.forced_by)
    return ExitCode.OK if server.started or server.signals else ExitCode.FAILED


def forced_status(signum: int) -> int:
    """The exit status after a stop forced by ``signum``: as a shell shows a death by it."""
    return 128 + signum


def forcing_message(signum: int, what: str) -> str:
    """The WARNING that a second signal forces the stop; ``what`` is not waited for."""
    return (
        f"{signal.Signals(signum).name} again: not waiting for {what}; the shutdown hooks run, "
        f"then extkit exits with status {forced_status(signum)}"
    )


class HostServer(uvicorn.Server):
    """uvicorn's server with extkit's signal policy (see the module), serving ``host``.

    ``force``: in a worker, its end of the pipe on which the supervisor forces the stop; the
    process's own signals then only drain. Without it (one process), a second signal forces.
    """

    def __init__(
        self, config: uvicorn.Config, host: Host, *, force: _Receiver | None = None
    ) -> None:
        super().__init__(config)
        self.host = host
        self.signals: list[int] = []  # SIGTERM/SIGINT received, in order
        self.forced_by: int | None = None  # the signal that forced the stop
        self._force_pipe = force
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        if self._force_pipe is not None:
            threading.Thread(target=self._await_force, name="extkit-force", daemon=True).start()
        await super().serve(sockets)

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started and self._force_pipe is None:  # one process (a worker's Host says it)
            port = self.servers[0].sockets[0].getsockname()[1]
            _log.info("extkit host listening on %s", base_url(self.config.host, port))

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """The signal handler (uvicorn installs it for SIGINT and SIGTERM)."""
        self.signals.append(sig)
        if not self.should_exit:
            self.should_exit = True  # uvicorn's main loop sees it and drains
        elif self._force_pipe is None and self._loop is not None:
            self._loop.call_soon_threadsafe(self.force, sig)

    def force(self, signum: int | None) -> None:
        """Stop waiting for in-flight requests (on the loop): cancel them, so they are answered
        503; the host's shutdown then runs the hooks without waiting for anything. ``signum``:
        the second signal, or ``None`` in a worker (the supervisor got it and says so)."""
        if self.force_exit:
            return
        self.should_exit = self.force_exit = True
        self.forced_by = signum
        running = list(self.server_state.tasks)
        if signum is None:
            _log.warning(
                "worker pid %d: not waiting for %d running request(s); the shutdown hooks run",
                os.getpid(),
                len(running),
            )
        else:
            _log.warning("%s", forcing_message(signum, f"{len(running)} running request(s)"))
        self.host.stop_waiting()
        for task in running:
            task.cancel()
        # Whatever still holds up the exit (a request that ignores its cancellation), the forced
        # stop ends within a bound.
        status = forced_status(signal.SIGTERM if signum is None else signum)
        give_up = threading.Timer(GIVE_UP_SECONDS, _give_up, args=(status,))
        give_up.daemon = True
        give_up.start()

    async def shutdown(self, sockets: Any = None) -> None:
        if not self.force_exit and self._force_pipe is None:
            _log.info("%s", DRAINING)
        await super().shutdown(sockets)
        if self.force_exit:  # uvicorn skips the lifespan shutdown then: the hooks must still run
            await self.lifespan.shutdown()

    def _await_force(self) -> None:
        """In a worker: wait on the supervisor's pipe. A message forces the stop; the pipe
        closing means the supervisor has died (killed outright): drain and stop, rather than
        serve on as an orphan nobody will stop."""
        assert self._force_pipe is not None and self._loop is not None
        try:
            self._force_pipe.recv_bytes()
        except (EOFError, OSError):
            stop: Callable[[], None] = self._orphaned
        else:
            stop = functools.partial(self.force, None)
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing left to stop
            self._loop.call_soon_threadsafe(stop)

    def _orphaned(self) -> None:
        if not self.should_exit:
            _log.warning("worker pid %d: the supervisor has gone: stopping", os.getpid())
            self.should_exit = True


def _give_up(status: int) -> None:
    _log.error("the forced stop did not end within %.0f s: exiting now", GIVE_UP_SECONDS)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(status)


def base_url(host: str, port: int) -> str:
    """The URL of ``host:port`` as the startup report shows it."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def guarded(host: Host) -> ConnectionGuard:
    """What uvicorn serves: ``host``, with the bookkeeping of the request headers timeout."""
    return ConnectionGuard(host, headers_timeout=host.app.settings.request_headers_timeout)
