"""The host: serve a loaded function app over HTTP as an ASGI application, and run its timers.

:class:`Host` is a plain ASGI application (no web framework): it resolves ``/{routePrefix}/{route}``
to a function (404, or 405 with ``Allow``), checks keys (401), reads the body up to the limit
(413), and runs the invocation through the engine and the bindings, so the response, the logs
and the extensions' hooks are the same as with ``extkit invoke``. Every response carries
``x-invocation-id``. Sync functions run on a thread pool, async ones on the event loop; each
invocation runs inside its request's task, so the log records it makes carry its id. A route value
that does not fit its constraint is 404, as in the reference (:mod:`extkit.routing`); keys are
enforced once one is configured (:mod:`extkit.keys`). ``maxOutstandingRequests`` and
``maxConcurrentRequests`` (:mod:`extkit.throttle`) answer 429, or queue a request for its turn to
run. A request framed by both ``Content-Length`` and ``Transfer-Encoding`` is answered with
``connection: close``. Errors uvicorn answers itself (a request that is not HTTP at all) never
reach the app and carry no invocation id; connection limits are the server's
(:mod:`extkit.connections`).

With ``Host.CORS`` in ``local.settings.json``, :mod:`extkit.cors` answers CORS preflights and
marks every answer for the request's origin.

``extkit start`` (:mod:`extkit.cli.start`) runs it on uvicorn, in one process or several. With a
``timer_lock`` (a file shared by the workers, or a lease in Redis shared by hosts on several
machines: :mod:`extkit.timer_lock`), timers run in the one process holding it; the others try
again every few seconds, so the timers move to another process if that one dies.

The lifespan startup starts the ASGI lifespans of the web frameworks behind functions
(:mod:`extkit.frameworks`), then the timers. Shutdown (SIGTERM or SIGINT): uvicorn stops
accepting, in-flight requests finish, then the lifespan shutdown stops the timers (a running timer
invocation finishes), drains the thread pool, stops the frameworks' lifespans and runs the
extensions' shutdown hooks once (``engine.shutdown()``), where they flush exporters.
:meth:`Host.stop_waiting` (a second signal, :mod:`extkit.cli.server`) ends the waiting: requests
whose task the server then cancels are answered 503, and :meth:`Host.shutdown` goes straight to
the shutdown hooks, giving them at most ``FORCED_SHUTDOWN_SECONDS``.

Streaming (:mod:`extkit.streaming`): a function declared with ``stream_request=True`` reads its
body itself, as it arrives, and a ``StreamingResponse`` is sent as it is produced, its post hooks
after the last chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final, final
from urllib.parse import parse_qsl, quote

from ._types import Lifespan
from .bindings import INVOCATION_ID_HEADER, error_response, invoke_http, invoke_timer, stamp
from .context import Context, TraceContext
from .correlation import current_invocation, invocation_scope
from .cors import Cors
from .errors import ClientDisconnected, InvocationNotStarted
from .health import Health
from .http import Headers, HttpRequest, HttpResponse, StreamingResponse
from .keys import KEY_HEADER, KEY_QUERY_PARAMETER, Keys
from .loader import AppFunction, LoadedApp
from .logs import RateLimited
from .pool import FunctionPool
from .routing import Router
from .schedule import Schedule, ScheduleStatus, TimerRequest
from .streaming import (
    Reply,
    RequestBody,
    ResponseStream,
    Sending,
    StreamedRequest,
    answering,
    done_answering,
)
from .throttle import RequestThrottle
from .timer_lock import NoLock, TimerLock
from .wire import response_problem

__all__ = ["Host"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: A timer invocation that starts later than this after its due time is ``past_due``.
PAST_DUE_TOLERANCE: Final = timedelta(seconds=1)
#: How often a worker without the timer lock tries to take it over.
TIMER_LOCK_RETRY_SECONDS: Final = 5.0
#: How long shutdown waits for running invocations when the app sets no functionTimeout.
DRAIN_SECONDS: Final = 30.0
#: How long the shutdown hooks may take once :meth:`Host.stop_waiting` was called.
FORCED_SHUTDOWN_SECONDS: Final = 5.0

_log: Final = logging.getLogger("extkit.host")
_TEXT_TYPES: Final = ("text/", "application/json", "application/xml", "application/javascript")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(text, status_code=status, headers=headers, mimetype="text/plain")


@final
class Host:
    """The ASGI application serving one loaded app (HTTP and lifespan; timers while running)."""

    def __init__(
        self,
        app: LoadedApp,
        *,
        threads: int | None = None,
        keys: Keys | None = None,
        timer_lock: TimerLock | None = None,
        announce: str | None = None,
        exit_if_stuck: bool = False,
        task_per_request: bool = False,
    ) -> None:
        """``timer_lock``: which process runs the timers (:mod:`extkit.timer_lock`; ``None``:
        this one); ``announce``: the URL to log as listening once the lifespan has started;
        ``exit_if_stuck``: end the process after shutdown when function threads never finish
        (for ``extkit start``, not for a host embedded in another program);
        ``task_per_request``: the server runs every request in an asyncio task of its own, as
        uvicorn does, so the engine need not copy the context per invocation to keep what hooks
        set from outliving it (``own_task``). Leave it off for a server or test client that
        may call the app twice from one task."""
        self.app = app
        self.task_per_request = task_per_request
        self.keys = keys if keys is not None else Keys.from_environ(os.environ)
        self.timeout = app.settings.function_timeout
        self.max_body = app.settings.max_request_body_bytes
        cors: Cors | None = None
        if app.settings.cors is not None:
            cors = Cors(app.settings.cors, self._methods_at, exposed=INVOCATION_ID_HEADER)
        # How a request is answered: with CORS around it only when configured, so an app without
        # CORS pays nothing for it.
        self._answer = self._respond if cors is None else cors.around(self._respond)
        # /admin/host/ping and /status (extkit.health), answered before any function's route.
        self.health = Health(app.functions, self.keys)
        # host.json customHeaders, encoded once; a function's own headers come after them. With
        # CORS configured, the host's CORS headers replace theirs.
        self._custom_headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in app.settings.custom_headers.items()
            if cors is None or not cors.owns(name)
        ]
        # Each route's target carries its auth level, worked out once.
        self.router: Router[tuple[AppFunction, str]] = Router(app.settings.route_prefix)
        # The answer to ``GET /`` when no function serves it: where the functions are.
        routes = [fn.loaded.info.route for fn in app.functions if fn.loaded.info.route]
        self._not_found = "Not Found: this extkit host serves its functions at " + (
            ", ".join(sorted(str(route) for route in routes)[:10]) or "no HTTP route"
        )
        for fn in app.functions:
            if fn.spec.trigger == "http":
                level = str(fn.spec.auth_level or "anonymous")
                assert fn.route is not None  # AppFunction parses every HTTP function's
                self.router.add(fn.route, (fn, level), fn.spec.methods)
        # Lifespans of the web frameworks behind functions (AsgiFunctionApp), each once.
        lifespans: dict[int, Lifespan] = {}
        for fn in app.functions:
            if fn.spec.lifespan is not None:
                lifespans.setdefault(id(fn.spec.lifespan), fn.spec.lifespan)
        self.lifespans = list(lifespans.values())
        self.timers = [(fn, fn.schedule) for fn in app.functions if fn.schedule is not None]
        # Pool threads start lazily, so a pool exists before the lifespan starts (an ASGI server
        # that skips the lifespan still works).
        self.pool = FunctionPool(threads)
        # How a function's StreamingResponse is sent while it runs: its head is sent before
        # CORS sees the answer, so CORS marks it here.
        start = self._start if cors is None else functools.partial(self._cors_start, cors)
        self._sending = Sending(start, self.pool)
        settings = app.settings
        concurrent = settings.max_concurrent_requests
        outstanding = settings.max_outstanding_requests
        self.throttle = (
            None
            if concurrent is None and outstanding is None
            else RequestThrottle(concurrent=concurrent, outstanding=outstanding)
        )
        self._busy_warnings = RateLimited()
        self._late_warnings = RateLimited()
        self._timer_lock: TimerLock = timer_lock if timer_lock is not None else NoLock()
        self._announce = announce
        self._exit_if_stuck = exit_if_stuck
        self._stopping: asyncio.Event | None = None
        self._timer_task: asyncio.Task[None] | None = None
        self._stopped = False
        self._hurried = False  # stop_waiting() was called
        self._wake: asyncio.Event | None = None  # set by stop_waiting() while shutdown() waits

    # --- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    _log.exception("host startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        """Start the web frameworks' lifespans, then the timers (in the worker that holds the
        timer lock). A lifespan that fails fails the startup."""
        for lifespan in self.lifespans:
            await lifespan.startup()
        self._stopping = asyncio.Event()
        if self.timers:
            self._timer_task = asyncio.get_running_loop().create_task(self._run_timers())
        if self._announce:
            _log.info("extkit host listening on %s (worker pid %d)", self._announce, os.getpid())

    def stop_waiting(self) -> None:
        """Stop waiting for running work (a second signal): from now on an HTTP invocation whose
        task is cancelled is answered 503, and :meth:`shutdown` (running or still to come) waits
        for no timer or function thread and gives the shutdown hooks ``FORCED_SHUTDOWN_SECONDS``.
        Call it on the event loop's thread."""
        self._hurried = True
        if self._wake is not None:
            self._wake.set()

    async def shutdown(self) -> None:
        """Stop timers, let running invocations finish, then run the shutdown hooks once."""
        if self._stopped:
            return
        self._stopped = True
        if self._stopping is not None:
            self._stopping.set()
        drain = (self.timeout or DRAIN_SECONDS) + 1.0
        if self._timer_task is not None and not await self._finished(self._timer_task, drain):
            if not self._hurried:
                _log.error("a timer invocation still runs after %.0f s: cancelling it", drain)
            self._timer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._timer_task
        # Threads of timed-out functions may still run: wait for them (boundedly) before the
        # shutdown hooks flush, so what they log and record is part of what gets flushed. The
        # helper's threads are daemons, so a thread that never ends cannot hold up the exit, and
        # there are two, so the hooks run while the other waits for a function that never ends.
        helper = FunctionPool(2, thread_name_prefix="extkit-shutdown")
        loop = asyncio.get_running_loop()
        stuck = not await self._finished(
            loop.run_in_executor(helper, self.pool.shutdown, True), drain
        )
        if stuck and not self._hurried:
            _log.error(
                "function threads still run %.0f s after the host began to stop; "
                "they are abandoned",
                drain,
            )
        for lifespan in self.lifespans:
            try:
                await asyncio.wait_for(
                    lifespan.shutdown(), FORCED_SHUTDOWN_SECONDS if self._hurried else drain
                )
            except Exception:  # one framework's failure must not keep the others' from running
                _log.exception("the lifespan shutdown of a web framework failed")
        hooks = loop.run_in_executor(helper, self.app.engine.shutdown)
        helper.shutdown(wait=False)
        if self._hurried:
            done, _ = await asyncio.wait({hooks}, timeout=FORCED_SHUTDOWN_SECONDS)
            if not done:
                _log.error(
                    "the shutdown hooks did not finish within %.0f s: stopping without them",
                    FORCED_SHUTDOWN_SECONDS,
                )
        else:
            await hooks
        _log.info("extkit host stopped (pid %d)", os.getpid())
        if stuck and self._exit_if_stuck and not self._hurried:
            # Python would wait for those threads at exit, forever if they never end. The
            # shutdown hooks have flushed; leave now.
            for handler in logging.getLogger().handlers:
                handler.flush()
            os._exit(0)

    async def _finished(self, work: asyncio.Future[Any], timeout: float) -> bool:
        """Wait for ``work`` up to ``timeout`` seconds, or until :meth:`stop_waiting`."""
        if self._hurried:
            return work.done()
        self._wake = asyncio.Event()
        hurry = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({work, hurry}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hurry.cancel()
            self._wake = None
        return work.done()

    # --- HTTP -----------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self._answer(scope, receive, send)
        except Exception:  # a bug here must cost one request, never the server
            _log.exception("the host failed to handle %s %s", scope.get("method"), scope["path"])
            response = _plain(500, "Internal Server Error")
        if response is None:
            return  # the client went away before the request was complete
        if type(response) is not HttpResponse and isinstance(response, StreamingResponse):
            stream = response.stream
            if stream is None:  # not sent yet: an extension answered with it (ShortCircuit)
                await self._stream_late(scope, receive, send, response)
            else:  # the function's, sent while it ran
                await stream.finish()
            return
        # A whole response, sent here rather than by a helper coroutine: every request is one.
        start, body = self._start(scope, response)
        await send(start)
        await send({"type": "http.response.body", "body": body or b""})

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> HttpResponse | None:
        method: str = scope["method"]
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else quote(scope["path"])
        if (health := self.health.answer(method, path, scope)) is not None:
            return health
        found = self.router.resolve(method, path)
        if found.status == 405:
            return _plain(405, "Method Not Allowed", {"Allow": ", ".join(found.allowed)})
        target = found.target
        if target is None:
            return _plain(404, self._not_found if path == "/" else "Not Found")
        fn, level = target
        headers = _headers(scope)
        query = scope.get("query_string", b"").decode("latin-1")
        params = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
        if level != "anonymous" and not self.keys.allows(
            level, headers.get(KEY_HEADER) or params.get(KEY_QUERY_PARAMETER)
        ):
            return _plain(401, "Unauthorized: a valid function key is required")
        throttle = self.throttle
        if throttle is not None and not throttle.admit():
            return self._too_many(fn, throttle)
        try:
            if (
                "content-length" not in headers
                and "transfer-encoding" not in headers
                and scope.get("http_version") in _BODILESS_WITHOUT_LENGTH
            ):
                body: bytes | RequestBody | HttpResponse | None = b""  # HTTP/1.x: none
            else:
                body = await self._read_body(fn, headers, receive)
            url = _url(scope, headers, path, query)
            if type(body) is not bytes:
                if body is None or isinstance(body, HttpResponse):
                    return body
                assert isinstance(body, RequestBody)  # the function reads it as it arrives
                request: HttpRequest = StreamedRequest(
                    body, method, url, headers=headers, params=params, route_params=found.params
                )
            else:
                # An azure-typed function's is that library's request, built here once.
                make = fn.spec.make_request
                request = (HttpRequest if make is None else make)(
                    method,
                    url,
                    headers=headers,
                    params=params,
                    route_params=found.params,
                    body=body,
                )
            # Without trace headers the context's default (an empty TraceContext) is the same.
            parent, state = headers.get("traceparent"), headers.get("tracestate")
            trace = None if parent is None and state is None else TraceContext(parent, state)
            context = fn.loaded.new_context(trace_context=trace)
            # Where a StreamingResponse the function answers with is sent, while it runs.
            reply = Reply(self._sending, asyncio.get_running_loop(), scope, receive, send, body)
            answered = answering(reply)
            try:
                if throttle is None:
                    response = await self._invoke(fn, request, context)
                else:
                    response = await self._invoke_in_turn(fn, request, context, throttle)
            except asyncio.CancelledError:
                if not self._hurried:
                    raise
                response = self._interrupted(fn, context.invocation_id)
            finally:
                done_answering(answered)
            stream = reply.stream
            return stream.response if stream is not None and stream.started else response
        finally:
            if throttle is not None:
                throttle.leave()

    def _methods_at(self, method: str, scope: Scope) -> tuple[str, ...] | None:
        """For a CORS preflight: the methods of the function serving ``method`` at the request's
        path (empty: any method), or ``None`` when none does."""
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else quote(scope["path"])
        target = self.router.resolve(method, path).target
        return None if target is None else target[0].spec.methods or ()

    def _invoke(
        self, fn: AppFunction, request: HttpRequest, context: Context
    ) -> Awaitable[HttpResponse]:
        return invoke_http(
            fn,
            request,
            context=context,
            executor=self.pool,
            timeout=self.timeout,
            own_task=self.task_per_request,
        )

    def _interrupted(self, fn: AppFunction, invocation: str) -> HttpResponse:
        """The answer to a request the host stopped waiting for (a second signal): 503, so the
        caller knows to retry elsewhere; the function's thread, if it has one, is abandoned."""
        _log.warning(
            "invocation %s of %s interrupted: the host stopped before it finished",
            invocation,
            fn.name,
        )
        response = _plain(
            503,
            f"Function '{fn.name}' was interrupted (invocation {invocation}): the host is "
            "stopping.",
            {"Connection": "close"},
        )
        return stamp(response, invocation)

    async def _invoke_in_turn(
        self, fn: AppFunction, request: HttpRequest, context: Context, throttle: RequestThrottle
    ) -> HttpResponse:
        """Invoke once the throttle gives a turn; 503 if none comes within ``functionTimeout``."""
        if not await throttle.start(self.timeout):
            assert self.timeout is not None  # only a wait with a limit ends without a turn
            held = self._late_warnings.allow()
            if held is not None:
                _log.warning(
                    "a request for function %s found none of the %d turns to run "
                    "(host.json extensions.http.maxConcurrentRequests) free within its %g s "
                    "functionTimeout: answered 503 without running it%s",
                    fn.name,
                    throttle.concurrent,
                    self.timeout,
                    _more(held),
                )
            response = error_response(
                InvocationNotStarted(fn.name, self.timeout),
                function_name=fn.name,
                invocation_id=context.invocation_id,
            )
            return stamp(response, context.invocation_id)
        try:
            return await self._invoke(fn, request, context)
        finally:
            throttle.finish()

    def _too_many(self, fn: AppFunction, throttle: RequestThrottle) -> HttpResponse:
        """The 429 for a request past ``maxOutstandingRequests`` (one WARNING a second)."""
        held = self._busy_warnings.allow()
        if held is not None:
            _log.warning(
                "answered 429 to a request for function %s: the host holds %d requests, its "
                "limit (host.json extensions.http.maxOutstandingRequests)%s",
                fn.name,
                throttle.outstanding,
                _more(held),
            )
        return _plain(
            429,
            f"Too Many Requests: the host holds its limit of {throttle.outstanding} requests "
            "(maxOutstandingRequests); retry later.",
            {"Retry-After": "1"},
        )

    async def _read_body(
        self, fn: AppFunction, headers: dict[str, str], receive: Receive
    ) -> bytes | RequestBody | HttpResponse | None:
        """The request body, read up to the limit; for a function that reads it itself
        (``stream_request``), what it reads it from. A response instead when the request is
        refused (400, 413); ``None`` when the client went away."""
        limit = self.max_body
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                return _plain(400, "Bad Request: Content-Length is not a number")
            if int(declared) > limit:
                return _plain(413, f"Payload Too Large: the limit is {limit} bytes")
        if fn.spec.stream_request:
            return RequestBody(receive, limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return _plain(413, f"Payload Too Large: the limit is {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _stream_late(
        self, scope: Scope, receive: Receive, send: Send, response: StreamingResponse
    ) -> None:
        """Send a StreamingResponse the function did not answer with (an extension's
        ``ShortCircuit`` or rejection): its invocation is over, so nobody else hears how it went."""
        loop = asyncio.get_running_loop()
        stream = ResponseStream(Reply(self._sending, loop, scope, receive, send, b""))
        try:
            await stream.send(response)
        except ClientDisconnected:
            pass
        except Exception:
            _log.exception(
                "the streaming response to %s %s (invocation %s) failed",
                scope["method"],
                scope["path"],
                response.headers.get(INVOCATION_ID_HEADER),
            )
        await stream.finish()

    def _cors_start(
        self, cors: Cors, scope: Scope, response: HttpResponse
    ) -> tuple[Message, bytes | None]:
        cors.mark(scope, response.headers)
        return self._start(scope, response)

    def _start(self, scope: Scope, response: HttpResponse) -> tuple[Message, bytes | None]:
        """The ``http.response.start`` message for ``response``, and the body to send: its own,
        empty for HEAD, 204 and 304, ``None`` for a StreamingResponse's content (sent after,
        without a length). A response HTTP cannot carry is replaced by a 500. Tells the server
        to close the connection after a request framed twice."""
        if INVOCATION_ID_HEADER not in response.headers:  # the host's own, or a stream's
            invocation = current_invocation()
            stamp(response, str(uuid.uuid4()) if invocation is None else invocation.invocation_id)
        streamed = type(response) is not HttpResponse and isinstance(response, StreamingResponse)
        raw: list[tuple[bytes, bytes]] = []  # the response's own, after host.json's
        has_type = False
        try:
            for folded, (name, value) in _header_items(response.headers):
                if folded == "content-length":
                    continue  # computed below from the actual body
                has_type = has_type or folded == "content-type"
                raw.append((name.encode("latin-1"), str(value).encode("latin-1")))
        except UnicodeEncodeError:
            problem: str | None = "its headers are not latin-1 text"
        else:
            problem = response_problem(response.status_code, raw)
            if self._custom_headers:
                raw[:0] = self._custom_headers
        if problem is not None:
            response = self._invalid(scope, response, problem)
            raw = [(INVOCATION_ID_HEADER.encode(), response.headers[INVOCATION_ID_HEADER].encode())]
            has_type = streamed = False
        if not has_type:
            raw.append((b"content-type", _content_type(response)))
        body = None if streamed else response.get_body()
        if body is not None:
            raw.append((b"content-length", str(len(body)).encode()))
        if _framed_twice(scope["headers"]):
            raw.append((b"connection", b"close"))
        if response.status_code in (204, 304) or scope["method"] == "HEAD":
            body = b""
        return {"type": "http.response.start", "status": response.status_code, "headers": raw}, body

    def _invalid(self, scope: Scope, response: HttpResponse, problem: str) -> HttpResponse:
        """The 500 for a response that is not valid HTTP, logged as part of its invocation."""
        invocation = response.headers.get(INVOCATION_ID_HEADER) or str(uuid.uuid4())
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else quote(scope["path"])
        found = self.router.resolve(scope["method"], path)
        if found.target is None:  # an answer of the host's own: not expected to happen
            _log.error("the response to %s is not valid HTTP: %s", scope["path"], problem)
        else:
            fn = found.target[0]
            with invocation_scope(fn.loaded.new_context(invocation_id=invocation)):
                _log.error(
                    "function %s answered a response that is not valid HTTP (invocation %s): %s",
                    fn.name,
                    invocation,
                    problem,
                )
        return stamp(_plain(500, f"Function failed (invocation {invocation})."), invocation)

    # --- timers ---------------------------------------------------------------------------

    async def _run_timers(self) -> None:
        """Run the timers whenever this process holds the timer lock, until the host stops."""
        stopping = self._stopping
        assert stopping is not None
        lock = self._timer_lock
        first_term = True
        try:
            while not stopping.is_set():
                if not await lock.acquire():
                    # A lease is tried as often as it is renewed: a dead runner's timers move
                    # here soon after its lease expires.
                    retry = lock.renew_every or TIMER_LOCK_RETRY_SECONDS
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stopping.wait(), retry)
                    continue
                if not isinstance(lock, NoLock):
                    _log.info("this process (pid %d) runs the app's timers", os.getpid())
                await self._hold_and_run(lock, stopping, first_term)
                first_term = False
        finally:
            await lock.release()

    async def _hold_and_run(self, lock: TimerLock, stopping: asyncio.Event, startup: bool) -> None:
        """One term as timer runner: until the host stops or the lock is lost."""
        term = asyncio.Event()
        runners = [
            self._run_timer(fn, schedule, term, lock=lock, startup=startup)
            for fn, schedule in self.timers
        ]

        async def watch() -> None:
            renew_every = lock.renew_every
            while not term.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), renew_every)
                if stopping.is_set():
                    break
                if not await lock.keep():
                    _log.warning("this process (pid %d) lost the timer lock", os.getpid())
                    break
            term.set()

        async def run_all() -> None:
            await asyncio.gather(*runners)
            term.set()

        await asyncio.gather(watch(), run_all())

    async def _run_timer(
        self,
        fn: AppFunction,
        schedule: Schedule,
        stopping: asyncio.Event,
        *,
        lock: TimerLock,
        startup: bool,
    ) -> None:
        """Fire ``fn`` at each occurrence of ``schedule`` until ``stopping`` is set.

        Occurrences missed while an invocation ran long (or the loop was busy) collapse into one
        ``past_due`` invocation, as in the reference; invocations of one timer never overlap. A
        tick another process claimed (see :mod:`extkit.timer_lock`) is left to it.
        """
        last: datetime | None = None
        now = _now()
        due = schedule.next_after(now)
        if startup and fn.spec.run_on_startup:
            status = ScheduleStatus(last=None, next=due, last_updated=now)
            await self._fire(
                fn,
                TimerRequest(
                    schedule=schedule, schedule_status=status, scheduled_time=now, is_startup=True
                ),
            )
            last = now
        while not stopping.is_set():
            delay = (due - _now()).total_seconds()
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
                continue  # stopped, or time to re-check the clock
            now = _now()
            following = schedule.next_after(due)
            if following <= now:
                following = schedule.next_after(now)
            status = ScheduleStatus(last=last, next=following, last_updated=now)
            timer = TimerRequest(
                past_due=now - due > PAST_DUE_TOLERANCE,
                schedule=schedule,
                schedule_status=status,
                scheduled_time=due,
            )
            if await lock.claim(fn.name, due):
                await self._fire(fn, timer)
            last, due = due, following

    async def _fire(self, fn: AppFunction, timer: TimerRequest) -> None:
        try:
            await invoke_timer(fn, timer, executor=self.pool, timeout=self.timeout)
        except Exception:  # invoke_timer reports the function's failures; this is a host bug
            _log.exception("timer %s could not be invoked", fn.name)


#: HTTP versions where a request with neither ``Content-Length`` nor ``Transfer-Encoding`` has no
#: body (RFC 9112, 6.3): a GET is answered without waiting for a body message from the server.
_BODILESS_WITHOUT_LENGTH: Final = frozenset({"1.0", "1.1"})


def _more(held: int) -> str:
    """The tail of a rate-limited line: how many like it were left out since the last one."""
    return f" ({held} more since the last such line)" if held else ""


def _framed_twice(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a request has both ``Content-Length`` and ``Transfer-Encoding``: RFC 9112, 6.3
    says the server must close the connection after answering it, because the two framings
    disagree on where the next request starts (request smuggling)."""
    seen = 0
    for name, _ in headers:
        folded = name.lower()
        if folded == b"content-length":
            seen |= 1
        elif folded == b"transfer-encoding":
            seen |= 2
    return seen == 3


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _url(scope: Scope, headers: dict[str, str], path: str, query: str) -> str:
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    url = f"{scope.get('scheme', 'http')}://{host}{path}"
    return f"{url}?{query}" if query else url


def _header_items(headers: Mapping[str, str]) -> Iterable[tuple[str, tuple[str, str]]]:
    """A response's headers as (lower-case name, (name as given, value)), a name with several
    values (``Set-Cookie``) once per value."""
    if type(headers) is Headers:  # extkit's own mapping holds all three: no lookup per header
        return headers.wire_items()
    return [(name.lower(), (name, value)) for name, value in headers.items()]


#: ``Content-Type`` values by (mimetype, charset), encoded: a few kinds of response per app.
_content_types: dict[tuple[str, str], bytes] = {}


def _content_type(response: HttpResponse) -> bytes:
    key = (response.mimetype, response.charset)
    found = _content_types.get(key)
    if found is None:
        mimetype, charset = key
        text = f"{mimetype}; charset={charset}" if mimetype.startswith(_TEXT_TYPES) else mimetype
        found = text.encode("latin-1")
        if len(_content_types) < 256:  # odd mimetypes, one per response, must not grow it forever
            _content_types[key] = found
    return found
