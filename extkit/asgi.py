"""``extkit.asgi:app``: the host as a plain ASGI application, for any ASGI server::

    EXTKIT_APP_DIR=hello gunicorn -k uvicorn_worker.UvicornWorker extkit.asgi:app --workers 4

- ``EXTKIT_APP_DIR``: the app folder (default: the working directory).
- ``EXTKIT_LOG_FORMAT``: ``console`` (default) or ``json``, extkit's lines on stdout; the
  server's own lines keep the server's format.
- ``PYTHON_THREADPOOL_THREAD_COUNT``, keys, ``EXTKIT_TIMER_LOCK_URL``: as for ``extkit start``.

Each server process builds its host as ``extkit start`` does (:func:`extkit.startup.build_host`)
when the server starts the ASGI lifespan, not when this module is imported. (``app`` is an object
in the module's namespace rather than a module ``__getattr__``: hypercorn, for one, looks the
name up in that namespace.) A broken app: the loader's report goes to stderr and the lifespan
startup fails, which stops the server (uvicorn and gunicorn exit with status 3). The processes of
one machine share a timer lock file named after the app folder
(:func:`~extkit.timer_lock.shared_lock_file`), so each tick fires once, unless
``EXTKIT_TIMER_LOCK_URL`` elects the runner among machines.
"""

from __future__ import annotations

import os
import sys
from typing import Final, final

from ._spelling import did_you_mean
from .cli.exit_codes import CommandError
from .cli.server import guarded
from .connections import ASGIApp
from .host import Receive, Scope, Send
from .startup import THREADS_ENV, build_host, configure_host_logging, count_setting
from .timer_lock import shared_lock_file

__all__ = ["APP_DIR_ENV", "LOG_FORMAT_ENV", "LazyHost", "app"]

APP_DIR_ENV: Final = "EXTKIT_APP_DIR"
LOG_FORMAT_ENV: Final = "EXTKIT_LOG_FORMAT"
_LOG_FORMATS: Final = ("console", "json")


@final
class LazyHost:
    """An ASGI app that builds the host at its first call: the lifespan startup, or the first
    request under a server that runs no lifespan. An app that cannot be loaded fails the
    lifespan startup, and every request gets 500."""

    __slots__ = ("_app", "_failure")

    def __init__(self) -> None:
        self._app: ASGIApp | None = None
        self._failure: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app if self._app is not None else self._build()
        if app is not None:
            await app(scope, receive, send)
        elif scope["type"] == "lifespan":
            await receive()  # lifespan.startup
            await send({"type": "lifespan.startup.failed", "message": self._failure})
        elif scope["type"] == "http":
            body = b"Internal Server Error: the function app cannot be loaded"
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": body})

    def _build(self) -> ASGIApp | None:
        if self._failure is not None:
            return None
        app_dir = os.environ.get(APP_DIR_ENV) or os.getcwd()
        try:
            configure_host_logging(_log_format())
            host = build_host(
                app_dir,
                threads=count_setting(None, THREADS_ENV),
                timer_lock_file=shared_lock_file(app_dir),
                report_url="",  # the server knows its address: paths only
                task_per_request=False,  # not every server runs each request in a task of its own
            )
        except CommandError as exc:
            print(f"extkit.asgi: {exc}", file=sys.stderr, flush=True)
            first, *more = str(exc).splitlines()
            self._failure = first.rstrip(":") + (" (listed on stderr)" if more else "")
            return None
        self._app = guarded(host)
        return self._app


def _log_format() -> str:
    raw = os.environ.get(LOG_FORMAT_ENV, "").strip()
    if not raw or raw.lower() in _LOG_FORMATS:
        return raw.lower() or "console"
    raise CommandError(
        f"{LOG_FORMAT_ENV}={raw!r} is not a log format: expected json or console"
        + did_you_mean(raw, _LOG_FORMATS)
    )


#: What an ASGI server serves: ``extkit.asgi:app``.
app: Final = LazyHost()
