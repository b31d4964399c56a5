"""From an app folder to a ready :class:`~extkit.host.Host`: what ``extkit start``, its worker
processes and :mod:`extkit.asgi` all do before they serve, so each server runs the same host.

:func:`prepare_host` loads the app (a broken one is a :class:`~.cli.exit_codes.CommandError`
whose message is the loader's report of every problem), applies ``host.json``'s log levels and
checks the keys and the timer lock settings; :meth:`HostSetup.report` logs what is served;
:meth:`HostSetup.host` builds the host. :func:`build_host` does all three. Logging is set up first,
by :func:`configure_host_logging`, so that loading the app logs in the chosen format.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from .cli import count
from .cli.exit_codes import CommandError, ExitCode
from .health import shadowed_functions
from .host import Host
from .keys import Keys
from .loader import AppLoadError, LoadedApp, load_app, python_log_level
from .logs import configure_logging
from .timer_lock import TimerLock, configured_lock

__all__ = [
    "THREADS_ENV",
    "HostSetup",
    "build_host",
    "configure_host_logging",
    "count_setting",
    "prepare_host",
]

#: Threads for sync functions, as the reference names it (``extkit start --threads`` beats it).
THREADS_ENV: Final = "PYTHON_THREADPOOL_THREAD_COUNT"

_log: Final = logging.getLogger("extkit.host")


class _DropColorMessage(logging.Filter):
    """uvicorn passes a coloured copy of some messages as an extra field: not for our lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


def configure_host_logging(fmt: str) -> None:
    """Logs to stdout as JSON lines (``fmt`` ``"json"``) or console lines, warnings included."""
    configure_logging("json" if fmt == "json" else "console")
    logging.captureWarnings(True)  # warnings (e.g. a bad gate value) become log lines
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropColorMessage) for f in logger.filters):
            logger.addFilter(_DropColorMessage())


def count_setting(given: int | None, variable: str) -> int | None:
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


@dataclass(frozen=True)
class HostSetup:
    """A loaded app and what its host needs, checked: the keys and the timer lock."""

    app: LoadedApp
    keys: Keys
    timer_lock: TimerLock

    def report(self, base_url: str = "") -> None:
        """Tell the app owner what is served and how extensions are set up, once, at startup;
        HTTP functions are shown under ``base_url`` (a server's own address is not known
        here: then their paths)."""
        app, keys = self.app, self.keys
        registry = app.registry
        gate = "on" if app.engine.enabled else "off"
        _log.info("worker extensions are %s (PYTHON_ENABLE_WORKER_EXTENSIONS)", gate)
        for entry in registry.entries(include_superseded=True):
            state = ""
            if entry.superseded_by:
                state = f", superseded by {entry.superseded_by}"
            elif registry.is_disabled(entry):
                state = ", disabled"
            _log.info(
                "extension %s (scope %s%s) from %s", entry.name, entry.scope, state, entry.source
            )
        for note in app.warnings:
            _log.warning("%s", note)
        infos = [fn.loaded.info for fn in app.functions]
        for entry in registry.entries("function"):
            if not any(entry.binds_to(info) for info in infos):
                _log.warning(
                    "function-level extension %s is bound to no function of this app (it "
                    "targets %s): check the file or function names it is created with",
                    entry.name,
                    getattr(entry.extension, "bound_to", entry.source),
                )
        for name in shadowed_functions(app.functions, app.settings.route_prefix):
            _log.warning(
                "function %s is never called: its route is one of the host's health endpoints "
                "(/admin/host/ping, /admin/host/status); give it another route",
                name,
            )
        _log.info("%s", keys.describe())
        keyed = [
            fn.name
            for fn in app.functions
            if str(fn.spec.auth_level or "anonymous") != "anonymous"
        ]
        if keyed and not keys.enforced:
            _always_warn("no keys are configured: %s are open to anyone", ", ".join(keyed))
        if keys.enforced and not keys.admin_keys:
            admin = [fn.name for fn in app.functions if str(fn.spec.auth_level) == "admin"]
            if admin:
                _log.warning(
                    "no admin key is configured (EXTKIT_ADMIN_KEY): %s answer 401 to every "
                    "request",
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
                    base_url + (fn.loaded.info.route or ""),
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

    def host(
        self,
        *,
        threads: int | None = None,
        announce: str | None = None,
        task_per_request: bool = True,
    ) -> Host:
        """The host serving the app in this process (see :class:`~extkit.host.Host` for the
        arguments); it ends the process after shutdown if function threads never finish."""
        return Host(
            self.app,
            threads=threads,
            keys=self.keys,
            timer_lock=self.timer_lock,
            announce=announce,
            exit_if_stuck=True,
            task_per_request=task_per_request,
        )


def prepare_host(
    app_dir: str | os.PathLike[str], *, timer_lock_file: str | None = None
) -> HostSetup:
    """Load the app in ``app_dir``, apply its log levels, read the keys and the timer lock
    (Redis with ``EXTKIT_TIMER_LOCK_URL``, else ``timer_lock_file`` shared with the other
    processes serving the app, else none). Raises :class:`CommandError`: ``APP_NOT_LOADED``
    with the loader's report, or ``USAGE`` for a bad key or timer lock variable."""
    try:
        app = load_app(app_dir)
    except AppLoadError as exc:
        raise CommandError(str(exc), ExitCode.APP_NOT_LOADED) from None
    for category, level in app.settings.log_levels.items():
        # host.json logging.logLevel: ``default`` sets the root level, other categories the
        # Python logger of that name (``extkit.extensions.TimerExtension``, ``uvicorn``).
        target = (
            logging.getLogger() if category.lower() == "default" else logging.getLogger(category)
        )
        target.setLevel(python_log_level(level))
    try:
        keys = Keys.from_environ(os.environ)
        timer_lock = configured_lock(app.root.name, timer_lock_file, os.environ)
    except (ValueError, RuntimeError) as exc:
        raise CommandError(str(exc)) from None
    return HostSetup(app, keys, timer_lock)


def build_host(
    app_dir: str | os.PathLike[str],
    *,
    threads: int | None = None,
    timer_lock_file: str | None = None,
    report_url: str | None = None,
    announce: str | None = None,
    task_per_request: bool = True,
) -> Host:
    """:func:`prepare_host`, then the startup report under the base URL ``report_url`` (``None``:
    no report), then :meth:`HostSetup.host`."""
    setup = prepare_host(app_dir, timer_lock_file=timer_lock_file)
    if report_url is not None:
        setup.report(report_url)
    return setup.host(threads=threads, announce=announce, task_per_request=task_per_request)


def _always_warn(message: str, *args: Any) -> None:
    """A WARNING that no ``logLevel`` hides: the logger's level is not consulted."""
    _log.handle(_log.makeRecord(_log.name, logging.WARNING, __file__, 0, message, args, None))
