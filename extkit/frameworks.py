"""Web frameworks inside functions: an ASGI app (FastAPI, Starlette) or a WSGI app (Flask,
Django) answers a function's HTTP requests, with the reference's names and call shapes.

- ``await AsgiMiddleware(app).handle_async(req, context)`` in an async function
  (``.handle(req, context)`` in a sync one runs the app in an event loop of its own);
  ``WsgiMiddleware(app).handle(req, context)`` in a sync function. Each turns the request into
  an ASGI scope or a WSGI environ, runs the app, and returns its answer as an
  :class:`~extkit.HttpResponse` (repeated headers such as ``Set-Cookie`` kept), which the
  function may change before returning it.
- ``AsgiFunctionApp(app=..., http_auth_level=...)`` / ``WsgiFunctionApp(...)``: the whole
  ``function_app.py``. A ``FunctionApp`` with one HTTP function, ``http_app_func``, on the
  catch-all route ``{*route}`` for every method, so the framework does all the routing (its
  own 404s and 405s included). The framework sees the request's whole path, route prefix
  included: set ``extensions.http.routePrefix`` to ``""`` in host.json, as the reference advises.

Every request is one invocation: extensions' hooks run around it and what the framework logs
carries its invocation id. The ASGI lifespan of an ``AsgiFunctionApp``'s app runs once per
process: startup when the host starts (or with the first request, under a server that runs no
lifespan), shutdown when the host stops; its state reaches every request (``request.state``).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from io import BytesIO
from typing import Any, Final, final
from urllib.parse import unquote, unquote_to_bytes, urlencode, urlsplit

from ._types import Lifespan
from .app import AuthLevel, FunctionApp, FunctionSpec
from .context import Context
from .http import Headers, HttpRequest, HttpResponse

__all__ = [
    "AsgiApp",
    "AsgiFunctionApp",
    "AsgiMiddleware",
    "WsgiApp",
    "WsgiFunctionApp",
    "WsgiMiddleware",
]

Message = MutableMapping[str, Any]
#: An ASGI 3 application: ``await app(scope, receive, send)``.
AsgiApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[Message]],
        Callable[[Message], Awaitable[None]],
    ],
    Awaitable[None],
]
#: A WSGI application (PEP 3333): ``app(environ, start_response)`` returns the body's chunks.
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: ASGI 3.0, spec 2.3: the body arrives in one message, no server extensions are offered.
_ASGI_VERSION: Final = {"version": "3.0", "spec_version": "2.3"}
#: Framing the framework chose for its body; the host sends the whole body with a length.
_FRAMING_HEADERS: Final = frozenset({"transfer-encoding"})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

_log: Final = logging.getLogger("extkit.frameworks")
#: What a WSGI app writes to ``wsgi.errors``, a record per line.
_wsgi_errors_log: Final = logging.getLogger("extkit.wsgi")


# --- the request, as a framework sees it ----------------------------------------------------------


def _wire(text: str) -> bytes:
    """Header text as the host received it (latin-1); other text (a unit test's) as UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _native(text: str) -> str:
    """A WSGI "native string": the request's bytes, one character per byte (PEP 3333)."""
    return _wire(text).decode("latin-1")


#: Where a request went, what both the ASGI scope and the WSGI environ are made of: scheme,
#: server (host, port), path (still percent-encoded), query, and headers (a Host header
#: included). A plain tuple: one is made per request.
_Target = tuple[str, tuple[str, int], str, str, list[tuple[str, str]]]


#: (scheme, netloc) -> the server's (host, port), worked out once: a host serves a few names,
#: and every request would otherwise parse its own. Bounded: the Host header is the client's.
_servers: dict[tuple[str, str], tuple[str, int]] = {}


def _server(scheme: str, netloc: str) -> tuple[str, int]:
    key = (scheme, netloc)
    found = _servers.get(key)
    if found is None:
        address = urlsplit(f"//{netloc}")
        try:
            port = address.port
        except ValueError:  # a Host header with a port that is not a number
            port = None
        found = (address.hostname or "localhost", port or _DEFAULT_PORTS.get(scheme, 80))
        if len(_servers) < 256:
            _servers[key] = found
    return found


def _target(req: HttpRequest) -> _Target:
    parts = urlsplit(req.url)
    scheme = parts.scheme or "http"
    given = req.headers
    # Each name's first value, as ``items()`` gives them (extkit's own mapping without a lookup
    # per header).
    if type(given) is Headers and not given.repeated:
        headers = given.all_items()
    else:
        headers = list(given.items())
    given_host = given.get("host")
    netloc = parts.netloc or given_host or "localhost"
    if given_host is None:
        headers.append(("host", netloc))
    # A request built in a unit test has its query in ``params``, not in its URL.
    query = parts.query or (urlencode(req.params) if req.params else "")
    return scheme, _server(scheme, netloc), parts.path or "/", query, headers


#: ``Content-Type`` value -> (mimetype, charset or ``None``): a few kinds of answer per app.
_content_types: dict[str, tuple[str, str | None]] = {}


def _media_type(content_type: str) -> tuple[str, str | None]:
    found = _content_types.get(content_type)
    if found is None:
        mimetype, _, parameters = content_type.partition(";")
        charset = None
        for parameter in parameters.split(";"):
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        found = (mimetype.strip(), charset)
        if len(_content_types) < 256:  # odd values, one per response, must not grow it forever
            _content_types[content_type] = found
    return found


def _response(status: int, headers: Iterable[tuple[str, str]], body: bytes) -> HttpResponse:
    """The framework's answer as an extkit response; every header value kept, in order."""
    kept = []
    content_type = None
    for pair in headers:
        folded = pair[0].lower()
        if folded == "content-type":
            content_type = pair[1]
        elif folded in _FRAMING_HEADERS:
            continue
        kept.append(pair)
    mimetype, charset = (None, None) if content_type is None else _media_type(content_type)
    response = HttpResponse(body, status_code=status, mimetype=mimetype, charset=charset)
    response.headers = Headers.from_items(kept)
    return response


# --- ASGI -----------------------------------------------------------------------------------------


def _scope(req: HttpRequest, state: dict[str, Any]) -> dict[str, Any]:
    scheme, server, raw_path, query, headers = _target(req)
    try:  # the host's requests: latin-1 throughout
        wire_path, wire_query = raw_path.encode("latin-1"), query.encode("latin-1")
        wire_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
        ]
    except UnicodeEncodeError:
        wire_path, wire_query = _wire(raw_path), _wire(query)
        wire_headers = [(_wire(name.lower()), _wire(value)) for name, value in headers]
    return {
        "type": "http",
        "asgi": dict(_ASGI_VERSION),
        "http_version": "1.1",
        "method": req.method,
        "scheme": scheme,
        "path": unquote(raw_path),
        "raw_path": wire_path,
        "query_string": wire_query,
        "root_path": "",
        "headers": wire_headers,
        "client": None,
        "server": server,
        "state": dict(state),  # the lifespan's state, shallow-copied per request (ASGI spec)
    }


@final
class _Exchange:
    """One request's ASGI ``scope``, ``receive`` and ``send``: the body goes in whole, the
    answer is collected."""

    __slots__ = ("_body", "_chunks", "_done", "_ended", "_headers", "_status", "scope")

    def __init__(self, req: HttpRequest, state: dict[str, Any]) -> None:
        self.scope = _scope(req, state)
        self._body: bytes | None = req.get_body()
        # Whether the answer is complete; ``_ended`` is made only for an app that waits for it
        # (most never call ``receive`` again after the body).
        self._done = False
        self._ended: asyncio.Event | None = None
        self._status: int | None = None
        self._headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []

    async def receive(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, a framework waits here for the client to go away (streaming
        # responses listen for it): that is once the answer is complete.
        if not self._done:
            if self._ended is None:
                self._ended = asyncio.Event()
            await self._ended.wait()
        return {"type": "http.disconnect"}

    def _finish(self) -> None:
        self._done = True
        if self._ended is not None:
            self._ended.set()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self._status is not None:
                raise RuntimeError("the ASGI app sent http.response.start twice")
            self._status = int(message["status"])
            self._headers = [
                (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
                for name, value in message.get("headers", ())
            ]
        elif kind == "http.response.body":
            if self._status is None:
                raise RuntimeError("the ASGI app sent a body before http.response.start")
            if not self._done:
                self._chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    self._finish()

    def response(self, app: object) -> HttpResponse:
        self._finish()
        if self._status is None:
            raise RuntimeError(f"the ASGI app {app!r} returned without sending a response")
        chunks = self._chunks
        return _response(
            self._status, self._headers, chunks[0] if len(chunks) == 1 else b"".join(chunks)
        )


@final
class _AsgiLifespan:
    """The ASGI lifespan of one app, run on the event loop that serves the app.

    Started at most once per event loop (the host has one per process; ``asyncio.run`` callers
    such as ``extkit invoke`` have one per call) and stopped at most once. The lifespan runs in
    a task of its own with an empty context: it belongs to no invocation, also when a request
    starts it, so its log records carry no invocation id.
    """

    def __init__(self, app: AsgiApp, state: dict[str, Any]) -> None:
        self._app = app
        self._state = state
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[Message] | None = None
        self._started: asyncio.Future[None] | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._failure: str | None = None
        self._stopping = False
        #: The event loop the lifespan has started on without failing: each request compares
        #: it with its own rather than awaiting :meth:`startup`.
        self.ready_on: asyncio.AbstractEventLoop | None = None

    async def startup(self) -> None:
        """Start the lifespan (once); ``RuntimeError`` with the app's reason when it fails."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._begin(loop)
        started = self._started
        assert started is not None
        if not started.done():
            await asyncio.shield(started)  # a cancelled request must not cancel the startup
        if self._failure is not None:
            raise RuntimeError(f"the ASGI app's lifespan startup failed: {self._failure}")
        self.ready_on = loop

    async def shutdown(self) -> None:
        """Stop the lifespan (once), when it started on this event loop."""
        task, started, stopped = self._task, self._started, self._stopped
        if task is None or started is None or stopped is None or self._stopping:
            return
        if self._loop is not asyncio.get_running_loop():
            return
        if not started.done():
            await asyncio.shield(started)
        if self._failure is not None or task.done():
            return  # it never started, or the app does not support the lifespan protocol
        self._stopping = True
        assert self._queue is not None
        self._queue.put_nowait({"type": "lifespan.shutdown"})
        await asyncio.shield(stopped)
        await asyncio.wait({task})

    def _begin(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.ready_on = None
        self._failure = None
        self._stopping = False
        self._queue = asyncio.Queue()
        self._queue.put_nowait({"type": "lifespan.startup"})
        self._started = loop.create_future()
        self._stopped = loop.create_future()
        self._task = contextvars.Context().run(loop.create_task, self._run())

    async def _run(self) -> None:
        started, stopped = self._started, self._stopped
        assert started is not None and stopped is not None
        scope = {"type": "lifespan", "asgi": dict(_ASGI_VERSION), "state": self._state}
        try:
            await self._app(scope, self._receive, self._send)
        except Exception as exc:
            if not started.done():
                # The ASGI spec: an app that raises on the lifespan scope does not support the
                # protocol; it is served without one.
                _log.info(
                    "the ASGI app %r does not support the lifespan protocol (%s: %s); "
                    "serving it without one",
                    self._app,
                    type(exc).__name__,
                    exc,
                )
            elif self._failure is None:  # a failed startup is reported by startup()
                _log.error("the ASGI app's lifespan raised", exc_info=exc)
        finally:
            for future in (started, stopped):
                if not future.done():
                    future.set_result(None)

    async def _receive(self) -> Message:
        assert self._queue is not None
        return await self._queue.get()

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed"):
            if kind == "lifespan.startup.failed":
                self._failure = str(message.get("message") or "the app gave no reason")
            if self._started is not None and not self._started.done():
                self._started.set_result(None)
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            if kind == "lifespan.shutdown.failed" and self._stopping:
                _log.error(
                    "the ASGI app's lifespan shutdown failed: %s",
                    message.get("message") or "the app gave no reason",
                )
            if self._stopped is not None and not self._stopped.done():
                self._stopped.set_result(None)


class AsgiMiddleware:
    """Run an ASGI app (FastAPI, Starlette, ...) for a function's HTTP requests::

        asgi = AsgiMiddleware(fastapi_app)

        @app.route(route="shop/{*rest}")
        async def shop(req: HttpRequest, context: Context) -> HttpResponse:
            return await asgi.handle_async(req, context)
    """

    def __init__(self, app: AsgiApp) -> None:
        self.app = app
        #: The lifespan's state (``yield {...}`` from a FastAPI lifespan), copied into each
        #: request's scope.
        self.state: dict[str, Any] = {}
        self._lifespan = _AsgiLifespan(app, self.state)
        #: The reference's name for a function that is only the app: ``main = ....main``.
        self.main = self.handle_async

    async def handle_async(self, req: HttpRequest, context: Context | None = None) -> HttpResponse:
        """The app's answer to ``req``. An exception from the app fails the invocation."""
        exchange = _Exchange(req, self.state)
        await self.app(exchange.scope, exchange.receive, exchange.send)
        return exchange.response(self.app)

    def handle(self, req: HttpRequest, context: Context | None = None) -> HttpResponse:
        """:meth:`handle_async` for a sync function: the app runs in an event loop of its own."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.handle_async(req, context))
        raise RuntimeError(
            "AsgiMiddleware.handle() runs the app in an event loop of its own, so it is for sync "
            "functions; in an async function use: await AsgiMiddleware(app).handle_async(req, "
            "context)"
        )

    async def notify_startup(self) -> bool:
        """Run the app's lifespan startup (once); ``False``, logged, when the app says it failed.
        ``AsgiFunctionApp`` does this for you."""
        try:
            await self._lifespan.startup()
        except RuntimeError as exc:
            _log.error("%s", exc)
            return False
        return True

    async def notify_shutdown(self) -> None:
        """Run the app's lifespan shutdown (once, when it started)."""
        await self._lifespan.shutdown()


# --- WSGI -----------------------------------------------------------------------------------------


@final
class _ErrorStream:
    """``wsgi.errors``: each line the app writes becomes an error record on ``extkit.wsgi``, so
    it carries the invocation id like any other log record of the invocation."""

    def __init__(self) -> None:
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if line.strip():
                _wsgi_errors_log.error("%s", line)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._partial.strip():
            _wsgi_errors_log.error("%s", self._partial)
        self._partial = ""


def _environ(req: HttpRequest, body: bytes, errors: _ErrorStream) -> dict[str, Any]:
    scheme, (host, port), raw_path, query, headers = _target(req)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": req.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
        "QUERY_STRING": _native(query),
        "SERVER_NAME": host,
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": BytesIO(body),
        "wsgi.errors": errors,
        "wsgi.multithread": True,  # sync functions run on the host's thread pool
        "wsgi.multiprocess": True,  # ``--workers`` may run the app in several processes
        "wsgi.run_once": False,
    }
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key == "CONTENT_LENGTH":
            continue  # the body's real length is above
        if key != "CONTENT_TYPE":
            key = "HTTP_" + key
        environ[key] = f"{environ[key]},{_native(value)}" if key in environ else _native(value)
    return environ


def _status_code(status: object, app: object) -> int:
    try:
        return int(str(status).split(" ", 1)[0])
    except ValueError:
        raise RuntimeError(
            f"the WSGI app {app!r} gave start_response the status {status!r}; expected a "
            "code and a reason, such as '200 OK'"
        ) from None


class WsgiMiddleware:
    """Run a WSGI app (Flask, Django, ...) for a sync function's HTTP requests::

        wsgi = WsgiMiddleware(flask_app.wsgi_app)

        @app.route(route="site/{*rest}")
        def site(req: HttpRequest, context: Context) -> HttpResponse:
            return wsgi.handle(req, context)
    """

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        #: The reference's name for a function that is only the app: ``main = ....main``.
        self.main = self.handle

    def handle(self, req: HttpRequest, context: Context | None = None) -> HttpResponse:
        """The app's answer to ``req``. An exception from the app fails the invocation."""
        body = req.get_body()
        errors = _ErrorStream()
        started: list[Any] = []  # [status, headers] once start_response is called
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], Any]:
            if started and exc_info is None:
                raise RuntimeError("start_response was called twice without exc_info (PEP 3333)")
            # Nothing is sent before the app returns, so an error page may always replace the
            # status and headers given before it (PEP 3333's exc_info case).
            started[:] = [status, list(headers)]
            return chunks.append  # the legacy write() callable

        result = self.app(_environ(req, body, errors), start_response)
        try:
            chunks.extend(chunk for chunk in result if chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            errors.flush()
        if not started:
            raise RuntimeError(f"the WSGI app {self.app!r} returned without calling start_response")
        status, headers = started
        return _response(_status_code(status, self.app), headers, b"".join(chunks))


# --- the whole app --------------------------------------------------------------------------------


def _caller_file() -> str | None:
    """The file that made the app (its ``function_app.py``): where its one function is said to
    be, for load errors and ``context.function_directory``."""
    frame = inspect.currentframe()
    here = os.path.normcase(os.path.abspath(__file__))
    try:
        while frame is not None and os.path.normcase(frame.f_code.co_filename) == here:
            frame = frame.f_back
        found = frame.f_code.co_filename if frame is not None else None
    finally:
        del frame
    return os.path.abspath(found) if found and os.path.isfile(found) else None


class _FrameworkFunctionApp(FunctionApp):
    """A ``FunctionApp`` whose one function hands every request to a web framework's app.

    Other functions may be declared on it as on any ``FunctionApp`` (a timer, a literal route:
    literal routes win over the catch-all)."""

    def __init__(
        self,
        handler: Callable[..., Any],
        http_auth_level: AuthLevel | str,
        function_name: str,
        lifespan: Lifespan | None,
    ) -> None:
        super().__init__(http_auth_level=http_auth_level)
        self._handler = handler
        self._lifespan = lifespan
        self._defined_in = _caller_file()
        self.function_name(function_name)(self.route(route="{*route}")(handler))

    def get_functions(self) -> list[FunctionSpec]:
        return [
            self._framework_spec(spec) if spec.func is self._handler else spec
            for spec in super().get_functions()
        ]

    def _framework_spec(self, spec: FunctionSpec) -> FunctionSpec:
        where = self._defined_in
        if where is None:
            return dataclasses.replace(spec, lifespan=self._lifespan)
        return dataclasses.replace(
            spec, lifespan=self._lifespan, source_file=where, directory=os.path.dirname(where)
        )


class AsgiFunctionApp(_FrameworkFunctionApp):
    """The whole function app is an ASGI app: ``app = AsgiFunctionApp(app=fastapi_app,
    http_auth_level=AuthLevel.ANONYMOUS)`` in ``function_app.py``."""

    def __init__(
        self,
        app: AsgiApp,
        http_auth_level: AuthLevel | str = AuthLevel.FUNCTION,
        function_name: str = "http_app_func",
    ) -> None:
        middleware = AsgiMiddleware(app)
        lifespan = middleware._lifespan

        # AsgiMiddleware.handle_async's steps in place rather than awaited: a coroutine less
        # per request.
        async def http_app_func(req: HttpRequest, context: Context) -> HttpResponse:
            if lifespan.ready_on is not asyncio.get_running_loop():
                await lifespan.startup()  # done when the host started; else the first request's
            exchange = _Exchange(req, middleware.state)
            await middleware.app(exchange.scope, exchange.receive, exchange.send)
            return exchange.response(middleware.app)

        self.middleware = middleware
        super().__init__(http_app_func, http_auth_level, function_name, lifespan)


class WsgiFunctionApp(_FrameworkFunctionApp):
    """The whole function app is a WSGI app: ``app = WsgiFunctionApp(app=flask_app.wsgi_app,
    http_auth_level=AuthLevel.ANONYMOUS)`` in ``function_app.py``."""

    def __init__(
        self,
        app: WsgiApp,
        http_auth_level: AuthLevel | str = AuthLevel.FUNCTION,
        function_name: str = "http_app_func",
    ) -> None:
        middleware = WsgiMiddleware(app)

        def http_app_func(req: HttpRequest, context: Context) -> HttpResponse:
            return middleware.handle(req, context)

        self.middleware = middleware
        super().__init__(http_app_func, http_auth_level, function_name, None)
