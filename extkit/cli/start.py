"""``extkit start [APP_DIR]``: load an app, report what it serves, and serve it on uvicorn.

The app is loaded before serving (a broken app never starts, each problem is printed), then:

- one worker: uvicorn runs in this process, on the app already loaded;
- ``--workers N`` (or ``FUNCTIONS_WORKER_PROCESS_COUNT``): worker processes on one shared port
  (:mod:`extkit.cli.workers`), each building its own :class:`~extkit.host.Host` through the
  factory :func:`create_worker_app`; the configuration reaches them in ``EXTKIT_HOST_*``
  environment variables. Timers run in one worker only: the one holding the host's timer lock
  file.

Signals (:mod:`extkit.cli.server`): the first SIGTERM/SIGINT drains and the process exits with
status 0; a second one stops waiting, runs the shutdown hooks and exits with 128 + its number.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from datetime import datetime, timezone
from typing import Any, Final

import uvicorn

from ..app import FunctionSpec
from ..host import Host
from ..keys import Keys
from ..loader import AppLoadError, LoadedApp, load_app, python_log_level
from ..logs import configure_logging
from ..schedule import parse_schedule
from .server import STARTUP_FAILURE, HostServer, base_url, serve
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


def _workers(args_workers: int | None) -> int:
    """``--workers`` beats ``FUNCTIONS_WORKER_PROCESS_COUNT``, which beats one."""
    if args_workers is not None:
        return max(1, args_workers)
    raw = os.environ.get(WORKERS_ENV, "1")
    try:
        return max(1, int(raw))
    except ValueError:
        raise SystemExit(f"extkit: {WORKERS_ENV}={raw!r} is not a whole number") from None


def _threads(args_threads: int | None) -> int | None:
    """``--threads`` beats ``PYTHON_THREADPOOL_THREAD_COUNT``, which beats Python's default."""
    if args_threads is not None:
        if args_threads < 1:
            raise SystemExit(f"extkit start: --threads must be 1 or more, got {args_threads}")
        return args_threads
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"extkit start: {THREADS_ENV}={raw!r} is not a whole number above 0")
    return int(raw)


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


def _function_url(base: str, prefix: str, spec: FunctionSpec) -> str:
    return "/".join(part for part in (base, prefix, spec.route or spec.name) if part)


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
        elif entry.name.lower() in registry.disabled:
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
                _function_url(base, app.settings.route_prefix, spec),
                spec.auth_level or "anonymous",
            )
        else:
            schedule = parse_schedule(spec.schedule or "")
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
        raise SystemExit(f"extkit start: {exc}") from None


def _always_warn(message: str, *args: Any) -> None:
    """A WARNING that no ``logLevel`` hides: the logger's level is not consulted."""
    _log.handle(_log.makeRecord(_log.name, logging.WARNING, __file__, 0, message, args, None))


def _load(app_dir: str) -> LoadedApp | None:
    try:
        return load_app(app_dir)
    except AppLoadError as exc:
        sys.stdout.flush()
        print(f"extkit start: {exc}", file=sys.stderr, flush=True)
        return None


def command_start(args: argparse.Namespace) -> int:
    """``extkit start [APP_DIR]``: load the app, report it, serve it until SIGTERM/SIGINT."""
    workers = _workers(args.workers)
    _configure_logging(args.log_format)
    threads = _threads(args.threads)
    app = _load(args.app_dir)
    if app is None:
        return 1
    _apply_log_levels(app)
    keys = _keys()
    port = args.port if args.port is not None else (app.settings.local_http_port or DEFAULT_PORT)
    base = base_url(args.host, port)
    _report(app, keys, base)
    common: dict[str, Any] = {
        "host": args.host,
        "port": port,
        "log_config": None,  # uvicorn's records go through extkit's handler
        "access_log": False,
        "lifespan": "on",  # uvicorn's defaults otherwise: uvloop and httptools when installed
    }
    if workers == 1:
        host = Host(app, threads=threads, keys=keys, exit_if_stuck=True, task_per_request=True)
        return serve(HostServer(uvicorn.Config(host, **common), host))
    # Several workers: each process loads the app itself from the same folder and settings.
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
        raise SystemExit(STARTUP_FAILURE) from None
    _apply_log_levels(app)
    raw_threads = os.environ.get(_ENV_THREADS)
    return Host(
        app,
        threads=int(raw_threads) if raw_threads else None,
        timer_lock=os.environ.get(_ENV_TIMER_LOCK),
        announce=os.environ.get(_ENV_URL),
        exit_if_stuck=True,
        task_per_request=True,  # uvicorn serves each worker process too
    )
