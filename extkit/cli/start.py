"""``extkit start [APP_DIR]``: load an app, report what it serves, and serve it on uvicorn.

The app is loaded before serving (a broken app never starts, each problem is printed), then:

- one worker: uvicorn runs in this process, on the app already loaded;
- ``--workers N`` (or ``FUNCTIONS_WORKER_PROCESS_COUNT``): worker processes on one shared port
  (:mod:`extkit.cli.workers`), each building its own :class:`~extkit.host.Host` through the
  factory :func:`create_worker_app`; the configuration reaches them in ``EXTKIT_HOST_*``
  environment variables. Timers run in one worker only: the one holding the host's timer lock
  file, or, with ``EXTKIT_TIMER_LOCK_URL``, the one process of all hosts holding the lease in
  Redis.

Bad input is refused before anything starts: flags and their variables, and a port another
process holds (one line, :attr:`~.exit_codes.ExitCode.ADDRESS_IN_USE`). Signals
(:mod:`extkit.cli.server`): the first SIGTERM/SIGINT drains and the process exits with status 0; a
second one stops waiting, runs the shutdown hooks and exits with 128 + its number.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import os
import socket
import sys
import tempfile
from typing import Any, Final

import uvicorn

from ..connections import protocol_for
from ..host import Host
from ..startup import (
    THREADS_ENV,
    build_host,
    configure_host_logging,
    count_setting,
    prepare_host,
)
from .exit_codes import CommandError, ExitCode
from .server import HostServer, base_url, guarded, serve
from .workers import run_workers

__all__ = ["DEFAULT_PORT", "THREADS_ENV", "command_start", "create_worker_app"]

#: Worker processes when ``--workers`` is not given, as the reference names it.
WORKERS_ENV: Final = "FUNCTIONS_WORKER_PROCESS_COUNT"
#: The port when neither ``--port`` nor ``local.settings.json`` ``Host.LocalHttpPort`` says.
DEFAULT_PORT: Final = 7071
# How ``extkit start`` hands its configuration to uvicorn's worker processes.
_ENV_APP_DIR: Final = "EXTKIT_HOST_APP_DIR"
_ENV_THREADS: Final = "EXTKIT_HOST_THREADS"
_ENV_LOG_FORMAT: Final = "EXTKIT_HOST_LOG_FORMAT"
_ENV_TIMER_LOCK: Final = "EXTKIT_HOST_TIMER_LOCK"
_ENV_URL: Final = "EXTKIT_HOST_URL"

_log: Final = logging.getLogger("extkit.host")


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything starts: a port another process holds is one
    clear line, not a traceback among uvicorn's startup lines."""
    where = base_url(host, port).removeprefix("http://")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        sock.bind((host, port))
        sock.listen()
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(
                f"{where} is already in use (another process listens on it: stop it, or choose "
                "another port with --port)",
                ExitCode.ADDRESS_IN_USE,
            ) from None
        raise CommandError(
            f"cannot listen on {where}: {exc.strerror or exc}", ExitCode.FAILED
        ) from None
    return sock


#: ``--loop`` / ``--http`` choices that need a package, and the package.
_STACK_PACKAGES: Final = {"uvloop": "uvloop", "httptools": "httptools"}


def _installed(module: str) -> bool:
    """Whether ``module`` imports here (uvicorn imports it to serve on it)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _stack(loop: str, http: str) -> tuple[str, str]:
    """The event loop and HTTP parser to serve on, resolved as uvicorn resolves ``auto``; a
    choice whose package is missing is refused. Logged once, so the operator knows."""
    for flag, choice in (("--loop", loop), ("--http", http)):
        package = _STACK_PACKAGES.get(choice)
        if package is not None and not _installed(package):
            raise CommandError(
                f"{flag} {choice}: the {package} package is not installed "
                f'(pip install {package}, or pip install "uvicorn[standard]")'
            )
    if loop == "auto":
        loop = "uvloop" if _installed("uvloop") else "asyncio"
    if http == "auto":
        http = "httptools" if _installed("httptools") else "h11"
    _log.info("serving on uvicorn %s, %s loop, %s parser", uvicorn.__version__, loop, http)
    return loop, http


def command_start(args: argparse.Namespace) -> int:
    """``extkit start [APP_DIR]``: load the app, report it, serve it until SIGTERM/SIGINT."""
    workers = count_setting(args.workers, WORKERS_ENV) or 1
    threads = count_setting(args.threads, THREADS_ENV)
    configure_host_logging(args.log_format)
    setup = prepare_host(args.app_dir)
    loop, http = _stack(args.loop, args.http)
    settings = setup.app.settings
    port = args.port if args.port is not None else (settings.local_http_port or DEFAULT_PORT)
    base = base_url(args.host, port)
    sock = _listen(args.host, port)
    setup.report(base)
    common: dict[str, Any] = {
        "host": args.host,
        "port": port,
        "log_config": None,  # uvicorn's records go through extkit's handler
        "access_log": False,
        "lifespan": "on",  # uvicorn's defaults otherwise: uvloop and httptools when installed
        "loop": loop,
        # uvicorn's own protocol, closing connections slow with their headers
        "http": protocol_for(http),
    }
    if workers == 1:
        host = setup.host(threads=threads)
        return serve(HostServer(uvicorn.Config(guarded(host), **common), host), sock)
    # Several workers: each process loads the app itself from the same folder and settings; the
    # supervisor binds the port again for them, now that it is known to be free.
    sock.close()
    fd, lock_path = tempfile.mkstemp(prefix="extkit-timers-", suffix=".lock")
    os.close(fd)
    os.environ.update(
        {
            _ENV_APP_DIR: os.path.abspath(args.app_dir),
            _ENV_LOG_FORMAT: args.log_format,
            _ENV_TIMER_LOCK: lock_path,
            _ENV_URL: base,
        }
    )
    if threads is not None:
        os.environ[_ENV_THREADS] = str(threads)
    _log.info("starting %d worker processes", workers)
    try:
        return run_workers(create_worker_app, common, workers)
    finally:
        with contextlib.suppress(OSError):
            os.remove(lock_path)


def create_worker_app() -> Host:
    """The host of a ``--workers N`` worker: load the app in this worker process."""
    configure_host_logging(os.environ.get(_ENV_LOG_FORMAT, "console"))
    raw_threads = os.environ.get(_ENV_THREADS)
    try:
        return build_host(
            os.environ.get(_ENV_APP_DIR, "."),
            threads=int(raw_threads) if raw_threads else None,
            timer_lock_file=os.environ.get(_ENV_TIMER_LOCK),
            announce=os.environ.get(_ENV_URL),
        )
    except CommandError as exc:  # the app changed on disk since the parent checked it
        print(f"extkit worker {os.getpid()}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(exc.code) from None
