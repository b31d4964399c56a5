"""``extkit start --workers N``: N worker processes serving one socket, and how signals stop them.

This process, the supervisor, binds the socket as uvicorn does, spawns the workers (each builds its
host with the factory and serves it with :class:`~extkit.cli.server.HostServer` on the shared
socket), starts a new worker when one dies, and stops them all when one cannot start. It takes
the signals: the first SIGTERM/SIGINT closes its copy of the socket and sends SIGTERM to every
worker, which drains; a second one writes to the pipe each worker reads, which stops their waiting
(the shutdown hooks still run). uvicorn's own supervisor does not pass a second signal on. (A
pipe, not a ``multiprocessing.Event``: notifying an event that a dead worker waited on blocks.)
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Final

import uvicorn

from ..host import Host
from .exit_codes import ExitCode
from .server import (
    DRAINING,
    GIVE_UP_SECONDS,
    HostServer,
    forced_status,
    forcing_message,
    guarded,
)

__all__ = ["run_workers"]

#: How often the supervisor looks at its signals when no worker ends meanwhile.
_POLL_SECONDS: Final = 0.5

_log: Final = logging.getLogger("extkit.host")


def run_workers(factory: Callable[[], Host], options: dict[str, Any], workers: int) -> int:
    """Serve the host ``factory`` builds from ``workers`` processes, with uvicorn ``options``,
    until a signal stops them; return the exit status (0, 3 when a worker could not start, or
    128 + the signal that forced the stop)."""
    sock = uvicorn.Config(factory, **options).bind_socket()
    spawn = multiprocessing.get_context("spawn")
    pipes: dict[BaseProcess, Connection] = {}  # the supervisor's end of each worker's pipe
    received: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, frame: received.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }

    def start() -> BaseProcess:
        receiver, sender = spawn.Pipe(duplex=False)
        process = spawn.Process(
            target=_serve_worker, args=(factory, options, sock, receiver), name="extkit-worker"
        )
        process.start()
        receiver.close()  # the worker has its own copy
        pipes[process] = sender
        return process

    running = [start() for _ in range(workers)]
    stopping = failed = False
    forced: int | None = None
    deadline = float("inf")
    try:
        while running:
            wait([process.sentinel for process in running], timeout=_POLL_SECONDS)
            while received:
                signum = received.pop(0)
                if not stopping:
                    stopping = True
                    _log.info("%s", DRAINING)
                    _stop(sock, running)
                elif forced is None:
                    forced = signum
                    _log.warning("%s", forcing_message(signum, "the workers' running requests"))
                    for sender in pipes.values():
                        with contextlib.suppress(OSError):  # that worker has ended
                            sender.send_bytes(b"force")
                    deadline = time.monotonic() + GIVE_UP_SECONDS
            for ended in [process for process in running if process.exitcode is not None]:
                running.remove(ended)
                pipes.pop(ended).close()
                if stopping:
                    continue
                if ended.exitcode == ExitCode.APP_NOT_LOADED:
                    _log.error("worker pid %s could not start: stopping the others", ended.pid)
                    stopping = failed = True
                    _stop(sock, running)
                else:
                    _log.warning(
                        "worker pid %s ended (exit status %s): starting another",
                        ended.pid,
                        ended.exitcode,
                    )
                    running.append(start())
            if time.monotonic() > deadline:
                _log.error("workers still run after a forced stop: killing them")
                for process in running:
                    process.kill()
                deadline = float("inf")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        for process in running:  # only when the supervisor itself failed
            process.kill()
        for sender in pipes.values():
            sender.close()
    if forced is not None:
        return forced_status(forced)
    return ExitCode.APP_NOT_LOADED if failed else ExitCode.OK


def _stop(sock: socket.socket, workers: list[BaseProcess]) -> None:
    """Drain: refuse new connections (the workers close their copies too), SIGTERM each."""
    sock.close()
    for process in workers:
        process.terminate()


def _serve_worker(
    factory: Callable[[], Host], options: dict[str, Any], sock: socket.socket, force: Connection
) -> None:
    """A worker process: build the host, serve it on the supervisor's socket."""
    host = factory()
    HostServer(uvicorn.Config(guarded(host), **options), host, force=force).run(sockets=[sock])
