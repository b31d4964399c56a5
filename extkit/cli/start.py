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
from datetime import datetime, timezone
from typing import Any, Final

import uvicorn

from ..connections import protocol_for
from ..host import Host
from ..keys import Keys
from ..loader import AppLoadError, LoadedApp, load_app, python_log_level
from ..logs import configure_logging
from ..timer_lock import configured_lock
from . import count
from .exit_codes import CommandError, ExitCode
from .server import HostServer, base_url, guarded, serve
from .workers import run_workers

__all__ = ["DEFAULT_PORT", "THREADS_ENV", "command_start", "create_worker_app"]

#: Threads for sync functions, as the reference names it (``--threads`` beats it).
THREADS_ENV: Final = "PYTHON_THREADPOOL_THREAD_COUNT"
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


def _count(given: int | None, variable: str) -> int | None:
    """A count flag (checked by the parser) beats its variable; ``None`` when neither is set."""
    if given is not None:
        return given
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return None
    try:
        return count(raw)
    except argparse.ArgumentTypeError as exc:
        raise CommandError(f"{variable}={exc}") from None


class _DropColorMessage(logging.Filter):
    """uvicorn passes a coloured copy of some messages as an extra field: not for our lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


def _configure_logging(fmt: str) -> None:
    configure_logging("json" if fmt == "json" else "console")
    logging.captureWarnings(True)  # warnings (e.g. a bad gate value) become log lines
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropColorMessage) for f in logger.filters):
            logger.addFilter(_DropColorMessage())


def _apply_log_levels(app: LoadedApp) -> None:
    """host.json ``logging.logLevel``: ``default`` sets the root level, other categories the
    Python logger of that name (``extkit.extensions.TimerExtension``, ``uvicorn``)."""
    for category, level in app.settings.log_levels.items():
        target = (
            logging.getLogger() if category.lower() == "default" else logging.getLogger(category)
        )
        target.setLevel(python_log_level(level))


def _report(app: LoadedApp, keys: Keys, base: str) -> None:
    """Tell the app owner what is served and how extensions are set up, once, at startup."""
    registry = app.registry
    entries = registry.entries(include_superseded=True)
    gate = "on" if app.engine.enabled else "off"
    _log.info("worker extensions are %s (PYTHON_ENABLE_WORKER_EXTENSIONS)", gate)
    for entry in entries:
        state = ""
        if entry.superseded_by:
            state = f", superseded by {entry.superseded_by}"
        elif registry.is_disabled(entry):
            state = ", disabled"
        _log.info("extension %s (scope %s%s) from %s", entry.name, entry.scope, state, entry.source)
    for note in app.warnings:
        _log.warning("%s", note)
    infos = [fn.loaded.info for fn in app.functions]
    for entry in registry.entries("function"):
        if not any(entry.binds_to(info) for info in infos):
            _log.warning(
                "function-level extension %s is bound to no function of this app (it targets "
                "%s): check the file or function names it is created with",
                entry.name,
                getattr(entry.extension, "bound_to", entry.source),
            )
    _log.info("%s", keys.describe())
    keyed = [
        fn.name for fn in app.functions if str(fn.spec.auth_level or "anonymous") != "anonymous"
    ]
    if keyed and not keys.enforced:
        _always_warn("no keys are configured: %s are open to anyone", ", ".join(keyed))
    if keys.enforced and not keys.admin_keys:
        admin = [fn.name for fn in app.functions if str(fn.spec.auth_level) == "admin"]
        if admin:
            _log.warning(
                "no admin key is configured (EXTKIT_ADMIN_KEY): %s answer 401 to every request",
                ", ".join(admin),
            )
    _log.info("functions:")
    for fn in app.functions:
        spec = fn.spec
        if spec.trigger == "http":
            methods = ",".join(spec.methods) if spec.methods else "any method"
            _log.info(
                "  %s: [%s] %s (authLevel %s)",
                fn.name,
                methods,
                base + (fn.loaded.info.route or ""),
                spec.auth_level or "anonymous",
            )
        elif (schedule := fn.schedule) is not None:
            _log.info(
                "  %s: timer '%s', next at %s%s",
                fn.name,
                schedule,
                schedule.next_after(datetime.now(timezone.utc)).isoformat(),
                ", runOnStartup" if spec.run_on_startup else "",
            )


def _keys() -> Keys:
    try:
        return Keys.from_environ(os.environ)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _always_warn(message: str, *args: Any) -> None:
    """A WARNING that no ``logLevel`` hides: the logger's level is not consulted."""
    _log.handle(_log.makeRecord(_log.name, logging.WARNING, __file__, 0, message, args, None))


def _load(app_dir: str) -> LoadedApp:
    try:
        return load_app(app_dir)
    except AppLoadError as exc:
        raise CommandError(str(exc), ExitCode.APP_NOT_LOADED) from None


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
    workers = _count(args.workers, WORKERS_ENV) or 1
    threads = _count(args.threads, THREADS_ENV)
    _configure_logging(args.log_format)
    app = _load(args.app_dir)
    _apply_log_levels(app)
    keys = _keys()
    try:
        timer_lock = configured_lock(app.root.name, None, os.environ)
    except (ValueError, RuntimeError) as exc:
        raise CommandError(str(exc)) from None
    loop, http = _stack(args.loop, args.http)
    port = args.port if args.port is not None else (app.settings.local_http_port or DEFAULT_PORT)
    base = base_url(args.host, port)
    sock = _listen(args.host, port)
    _report(app, keys, base)
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
        host = Host(
            app,
            threads=threads,
            keys=keys,
            timer_lock=timer_lock,
            exit_if_stuck=True,
            task_per_request=True,
        )
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
    _configure_logging(os.environ.get(_ENV_LOG_FORMAT, "console"))
    app_dir = os.environ.get(_ENV_APP_DIR, ".")
    try:
        app = load_app(app_dir)
    except AppLoadError as exc:  # changed on disk since the parent checked it
        print(f"extkit worker {os.getpid()}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(ExitCode.APP_NOT_LOADED) from None
    _apply_log_levels(app)
    raw_threads = os.environ.get(_ENV_THREADS)
    return Host(
        app,
        threads=int(raw_threads) if raw_threads else None,
        timer_lock=configured_lock(app.root.name, os.environ.get(_ENV_TIMER_LOCK), os.environ),
        announce=os.environ.get(_ENV_URL),
        exit_if_stuck=True,
        task_per_request=True,  # uvicorn serves each worker process too
    )
