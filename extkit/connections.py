"""Connection limits of ``extkit start``'s server: a request's headers must arrive in time, and
a process out of file descriptors says so once a second.

uvicorn closes a kept-alive connection left idle after a response, but nothing closes one that
never completes a request's headers: a client that connects and sends nothing, or sends its
headers a byte every few seconds (slowloris), holds a socket and a descriptor as long as it
likes, and a few hundred of them leave the host none to accept real requests with. So:

- :class:`HeadersTimeoutProtocol`, the HTTP protocol ``extkit start`` gives uvicorn, wraps
  uvicorn's own and closes a connection that has had no request in the app for
  ``requestHeadersTimeout`` seconds, counted from when it opened or its last response was sent:
  an idle connection and a trickling one alike, never one whose request is being served.
- :class:`ConnectionGuard`, the ASGI app around the host, tells each connection when its requests
  enter and leave the app (uvicorn copies the state a protocol is built with into each request's
  ``scope["state"]``, where the connection finds itself), and at startup publishes the timeout in
  the lifespan state, which every protocol of that worker process is built with.
- :func:`log_accept_errors_once_a_second`: asyncio reports each ``accept()`` that fails for want
  of descriptors, thousands of times a second while the process is out of them; this turns that
  into one ERROR line a second saying what the limit is.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Final, final

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from .host import Receive, Scope, Send
from .logs import RateLimited
from .settings_files import DEFAULT_HEADERS_TIMEOUT

__all__ = [
    "ConnectionGuard",
    "H11HeadersTimeoutProtocol",
    "HeadersTimeoutProtocol",
    "HttpToolsHeadersTimeoutProtocol",
    "log_accept_errors_once_a_second",
    "protocol_for",
]

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The request's ``scope["state"]`` key of the connection it came on.
CONNECTION_KEY: Final = "extkit.connection"
#: The lifespan state key of the headers timeout, in seconds.
TIMEOUT_KEY: Final = "extkit.requestHeadersTimeout"
#: ``accept()`` errors that mean "no resources now", as asyncio retries them (a second later).
_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

_log: Final = logging.getLogger("extkit.host")

if sys.platform != "win32":  # imported now: a process out of descriptors cannot import it
    import resource


class HeadersTimeoutProtocol(asyncio.Protocol):
    """uvicorn's HTTP/1.1 protocol (h11, or httptools where installed, as uvicorn picks) that
    closes the connection once it has been ``requestHeadersTimeout`` seconds without a request
    in the app: since it opened, or since its last response was sent. The subclasses wrap one
    of them by name (``extkit start --http``)."""

    #: The uvicorn protocol this one wraps, per connection.
    inner_protocol: Any = AutoHTTPProtocol

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        # uvicorn builds one per connection, with these arguments (``_loop`` is its name).
        self._loop = _loop or asyncio.get_running_loop()
        self.timeout = float(app_state.get(TIMEOUT_KEY, DEFAULT_HEADERS_TIMEOUT))
        #: Requests of this connection in the app now; since when there were none.
        self.active = 0
        self.idle_since = 0.0
        self._transport: asyncio.BaseTransport | None = None
        self._check: asyncio.TimerHandle | None = None
        self._inner: asyncio.Protocol = self.inner_protocol(
            config=config, server_state=server_state, app_state={**app_state, CONNECTION_KEY: self}
        )

    # The timer does not follow each request: a check at the earliest moment the connection could
    # be due looks at ``active`` and ``idle_since`` and either closes it or checks again later,
    # so a request costs two counter updates and a clock read, and a busy connection one check
    # per timeout.
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self.idle_since = self._loop.time()
        self._check = self._loop.call_at(self.idle_since + self.timeout, self._expire)
        self._inner.connection_made(transport)

    def _expire(self) -> None:
        now = self._loop.time()
        if self.active:
            due = now + self.timeout
        else:
            due = self.idle_since + self.timeout
            if due <= now:
                # A request whose headers just completed is in a task that has not entered the
                # app yet: let the tasks already scheduled run before deciding.
                self._check = None
                self._loop.call_soon(self._close_if_idle)
                return
        self._check = self._loop.call_at(due, self._expire)

    def _close_if_idle(self) -> None:
        if self.active:
            self._check = self._loop.call_at(self._loop.time() + self.timeout, self._expire)
        elif self._transport is not None:
            self._transport.close()

    def request_started(self) -> None:
        self.active += 1

    def request_ended(self) -> None:
        self.active -= 1
        if not self.active:
            self.idle_since = self._loop.time()

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._check is not None:
            self._check.cancel()
            self._check = None
        self._inner.connection_lost(exc)


class H11HeadersTimeoutProtocol(HeadersTimeoutProtocol):
    """``--http h11``: uvicorn's h11 protocol, whatever else is installed."""

    inner_protocol = H11Protocol


class HttpToolsHeadersTimeoutProtocol(HeadersTimeoutProtocol):
    """``--http httptools``: uvicorn's httptools protocol (``pip install httptools``)."""

    @property
    def inner_protocol(self) -> Any:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol


#: ``extkit start --http`` choice -> the protocol class uvicorn is given (by name, so worker
#: processes started with ``spawn`` can import it).
_PROTOCOLS: Final[dict[str, type[HeadersTimeoutProtocol]]] = {
    "auto": HeadersTimeoutProtocol,
    "h11": H11HeadersTimeoutProtocol,
    "httptools": HttpToolsHeadersTimeoutProtocol,
}


def protocol_for(http: str) -> type[HeadersTimeoutProtocol]:
    """The protocol class for an ``--http`` choice (``auto``, ``h11``, ``httptools``)."""
    return _PROTOCOLS[http]


@final
class ConnectionGuard:
    """The ASGI app ``extkit start`` serves: ``app`` (the host), plus the bookkeeping that
    :class:`HeadersTimeoutProtocol` needs, and :func:`log_accept_errors_once_a_second`."""

    __slots__ = ("app", "headers_timeout")

    def __init__(self, app: ASGIApp, *, headers_timeout: float = DEFAULT_HEADERS_TIMEOUT) -> None:
        self.app = app
        self.headers_timeout = headers_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state")
        connection = None if state is None else state.get(CONNECTION_KEY)
        if connection is None:  # the lifespan, or a server without the protocol
            if scope["type"] == "lifespan":
                if state is not None:
                    state[TIMEOUT_KEY] = self.headers_timeout
                log_accept_errors_once_a_second(asyncio.get_running_loop())
            await self.app(scope, receive, send)
            return
        connection.request_started()
        try:
            await self.app(scope, receive, send)
        finally:
            connection.request_ended()


def log_accept_errors_once_a_second(loop: asyncio.AbstractEventLoop) -> None:
    """Make ``loop``'s reports of ``accept()`` failing for want of descriptors (or memory) one
    ERROR line a second on ``extkit.host``; everything else goes where it went before."""
    previous = loop.get_exception_handler()
    budget = RateLimited()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if (
            isinstance(error, OSError)
            and error.errno in _OUT_OF_RESOURCES
            and "accept" in str(context.get("message", ""))
        ):
            held = budget.allow()
            if held is not None:
                _log.error(
                    "the host cannot accept connections: %s%s; new connections wait until "
                    "others close%s",
                    error.strerror,
                    _descriptor_limit() if error.errno == errno.EMFILE else "",
                    f" ({held} more failed accepts since the last such line)" if held else "",
                )
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


def _descriptor_limit() -> str:
    if sys.platform == "win32":  # pragma: no cover - no such limit there
        return ""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return f" (the process's descriptor limit is {soft}, see ulimit -n)"
