"""Streaming on the host: request bodies read as they arrive, responses sent as they are made.

- A function declared with ``stream_request=True`` gets a :class:`StreamedRequest`: the host has
  not read its body, and ``req.stream()`` reads it off the connection (:class:`RequestBody`),
  holding only the chunk in hand. The body limit is counted as it comes
  (:class:`~extkit.RequestBodyTooLarge`); a client that leaves raises
  :class:`~extkit.ClientDisconnected`.
- :class:`ResponseStream` sends a :class:`~extkit.StreamingResponse`: its head, then each chunk
  as the content yields it, a sync iterator's steps on the host's thread pool, an async one's on
  the event loop. It stops when the client leaves.
- Post hooks after the stream, with the engine unchanged: the loader wraps every HTTP function
  (:func:`sending_streams`), and when one answers with a ``StreamingResponse`` while a host
  answers its request (the host says which: :func:`answering`), the wrapper
  sends it before it returns. To the engine the function's call lasts until the stream has
  ended: the post hooks run after the last chunk, in the invocation's log scope and under its
  time limit, and whatever ended the stream early (the client leaving, the content raising, the
  time limit) is what they see as ``func_exc``. The host then sends the end of the body, with
  what post hooks appended, or, when the stream broke off, leaves the response incomplete so
  the client can tell.
- Outside a host (``extkit invoke``, ``extkit.testing``) there is nobody to stream to: the wrapper
  collects the content into an ordinary :class:`~extkit.HttpResponse` before the post hooks run.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from concurrent.futures import Executor, Future
from typing import Any, Final, final

from ._bridge import to_completion
from .correlation import current_invocation
from .errors import ClientDisconnected, RequestBodyTooLarge
from .http import Headers, HttpRequest, HttpResponse, Out, StreamingResponse, body_bytes

__all__ = [
    "Reply",
    "RequestBody",
    "ResponseStream",
    "Sending",
    "StreamedRequest",
    "answering",
    "done_answering",
    "sending_streams",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: The host's head of a response: the ``http.response.start`` message, and a body to send whole
#: instead of the content (``b""`` for HEAD, 204 and 304; a 500 for a response HTTP cannot
#: carry), or ``None`` to stream the content.
Starter = Callable[[Scope, HttpResponse], tuple[Message, bytes | None]]

_STREAMED: Final = (
    "the body of this request is read as it arrives (its function is declared with "
    "stream_request=True): iterate it with `async for chunk in req.stream()`; get_body() and "
    "get_json() are not available"
)
_END: Final = object()  # what next() gives at the end of a sync iterator
_LEFT: Final = "the client disconnected before the response was complete"


# --- request bodies -------------------------------------------------------------------------------


@final
class RequestBody:
    """A request body still on the connection, read as ``req.stream()`` is iterated."""

    __slots__ = ("_over", "_receive", "_started", "gone", "limit")

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self.limit = limit
        self._started = False
        self.gone = False  # the client disconnected while the body was read
        self._over = asyncio.Event()  # reading has ended: the body is complete, or it failed

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._started:
            raise RuntimeError("the request body is read once: req.stream() was iterated before")
        self._started = True
        size = 0
        try:
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    self.gone = True
                    raise ClientDisconnected(
                        "the client disconnected before it sent the whole request body"
                    )
                chunk: bytes = message.get("body", b"")
                size += len(chunk)
                if size > self.limit:
                    raise RequestBodyTooLarge(self.limit)
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    return
        finally:
            self._over.set()

    async def read(self) -> bool:
        """Wait until reading the body has ended; whether the client left meanwhile."""
        await self._over.wait()
        return self.gone


class StreamedRequest(HttpRequest):
    """A request whose body the host has not read: ``stream()`` reads it off the connection."""

    def __init__(
        self,
        body: RequestBody,
        method: str,
        url: str,
        *,
        headers: MutableMapping[str, str],
        params: dict[str, str],
        route_params: dict[str, Any],
    ) -> None:
        super().__init__(method, url, headers=headers, params=params, route_params=route_params)
        self._source = body

    def stream(self) -> AsyncIterator[bytes]:
        return self._source.chunks()

    def get_body(self) -> bytes:
        raise RuntimeError(_STREAMED)

    def get_json(self) -> Any:
        raise RuntimeError(_STREAMED)


# --- responses ------------------------------------------------------------------------------------

# How far a response has got. The sender moves it on the event loop, or from a sync function's
# pool thread; the host reads it once the invocation is over (``finish``), or, when the time
# limit ran out while that thread still streams, sets ``_BROKEN`` so the thread stops at its next
# chunk.
_IDLE, _SENDING, _SENT, _ENDED, _BROKEN = range(5)


class _Abandoned(Exception):
    """The host gave up on the response (the invocation's time ran out) while a thread sent it."""


@final
class Sending:
    """What every response stream of one host shares: how the host builds a response's head,
    and the thread pool that runs sync content."""

    __slots__ = ("executor", "start")

    def __init__(self, start: Starter, executor: Executor) -> None:
        self.start = start
        self.executor = executor


@final
class ResponseStream:
    """The sending side of one HTTP exchange, for a :class:`~extkit.StreamingResponse`: head and
    chunks as the content yields them (:meth:`send`), then the end (:meth:`finish`)."""

    __slots__ = (
        "_body",
        "_gone",
        "_loop",
        "_receive",
        "_scope",
        "_send",
        "_sending",
        "_state",
        "_watcher",
        "response",
    )
    response: StreamingResponse  # these are set when the head is sent
    _gone: asyncio.Event
    _watcher: asyncio.Task[None]

    def __init__(self, reply: Reply) -> None:
        self._sending = reply.sending
        self._loop = reply.loop
        self._scope = reply.scope
        self._receive = reply.receive
        self._send = reply.send
        self._body = reply.body  # a RequestBody when the function reads it as it comes
        self._state = _IDLE

    @property
    def started(self) -> bool:
        """Whether the response's head has been sent."""
        return self._state != _IDLE

    async def send(self, response: StreamingResponse) -> None:
        """Send the head and the content (not the end: :meth:`finish`), on the event loop.
        Raises :class:`~extkit.ClientDisconnected` if the client left, or what the content
        raised."""
        if not await self._begin(response):
            return
        content: Any = response.content
        try:
            if hasattr(content, "__aiter__"):
                await self._send_async(content, response.charset)
            else:
                await self._send_sync(iter(content), response.charset)
        except BaseException:
            self._state = _BROKEN
            raise
        self._state = _SENT

    def send_from_thread(self, response: StreamingResponse) -> None:
        """:meth:`send` from a sync function's pool thread: a sync iterator is iterated here."""
        loop = self._loop
        content: Any = response.content
        if hasattr(content, "__aiter__"):
            asyncio.run_coroutine_threadsafe(self.send(response), loop).result()
            return
        if not asyncio.run_coroutine_threadsafe(self._begin(response), loop).result():
            return
        chunks: Iterator[Any] = iter(content)
        charset = response.charset
        try:
            for chunk in chunks:
                data = body_bytes(chunk, charset)
                if data:
                    asyncio.run_coroutine_threadsafe(self._chunk(data), loop).result()
        except BaseException:
            self._state = _BROKEN
            raise
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        self._state = _SENT

    async def finish(self) -> None:
        """End the response once its invocation is over: send what post hooks appended and the
        end of the body, or, when the stream broke off, nothing more (the response stays
        incomplete, and the server closes the connection)."""
        if self._state == _IDLE:
            return
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            watcher.cancel()
        if self._state == _SENT:
            self._state = _ENDED
            tail = self.response.tail
            with contextlib.suppress(ClientDisconnected):  # too late to matter
                await self._sent({"type": "http.response.body", "body": tail, "more_body": False})
        elif self._state == _SENDING:  # the time ran out while a pool thread sends it
            self._state = _BROKEN
            self._gone.set()  # stops an async content waiting for its next chunk, too

    async def _begin(self, response: StreamingResponse) -> bool:
        """Send the head; whether the content is to be sent after it."""
        self.response = response
        response.stream = self
        start, whole = self._sending.start(self._scope, response)
        self._gone = asyncio.Event()
        self._state = _SENDING
        await self._sent(start)
        if whole is not None:
            self._state = _ENDED
            await _close(response.content)
            await self._sent({"type": "http.response.body", "body": whole})
            return False
        self._watcher = asyncio.get_running_loop().create_task(self._watch())
        return True

    async def _watch(self) -> None:
        """Wait for the client to leave (after the request body, if it is being read)."""
        body = self._body
        if not isinstance(body, RequestBody) or not await body.read():
            while (await self._receive())["type"] != "http.disconnect":
                pass  # the end of a body nobody read
        self._gone.set()

    async def _chunk(self, data: bytes) -> None:
        if self._gone.is_set():
            raise ClientDisconnected(_LEFT)
        if self._state == _BROKEN:
            raise _Abandoned
        await self._sent({"type": "http.response.body", "body": data, "more_body": True})

    async def _sent(self, message: Message) -> None:
        """Send ``message``; a server that says the client is gone (ASGI lets it raise
        ``OSError``; uvicorn returns quietly) means the client left."""
        try:
            await self._send(message)
        except OSError as exc:
            raise ClientDisconnected(_LEFT) from exc

    async def _send_async(self, content: Any, charset: str) -> None:
        """An async iterator's chunks, raced against the client leaving: an iterator waiting for
        its next chunk (an event stream between events) is cancelled when it does."""
        pump = asyncio.ensure_future(self._pump(content, charset))
        left = asyncio.ensure_future(self._gone.wait())
        try:
            await asyncio.wait((pump, left), return_when=asyncio.FIRST_COMPLETED)
        finally:
            left.cancel()
            if not pump.done():
                pump.cancel()
                await asyncio.wait((pump,))
        if pump.cancelled():
            raise ClientDisconnected(_LEFT)
        pump.result()

    async def _pump(self, content: Any, charset: str) -> None:
        try:
            async for chunk in content:
                data = body_bytes(chunk, charset)
                if data:
                    await self._chunk(data)
        finally:
            await _close(content)

    async def _send_sync(self, chunks: Iterator[Any], charset: str) -> None:
        """A sync iterator's chunks, each step on the pool (in this invocation's context), so an
        iterator that blocks holds a pool thread, never the event loop."""
        run = contextvars.copy_context().run
        executor = self._sending.executor
        step: Future[Any] | None = None
        try:
            while True:
                step = executor.submit(run, _next, chunks)
                chunk = await asyncio.wrap_future(step)
                if chunk is _END:
                    return
                data = body_bytes(chunk, charset)
                if data:
                    await self._chunk(data)
        finally:
            close = getattr(chunks, "close", None)
            if close is None or (step is not None and _ended(step)):
                pass  # nothing to close, or nothing left to close
            elif step is None or step.done():
                await asyncio.wrap_future(executor.submit(run, close))
            else:  # given up on (the client left, the time ran out) while it runs: close it after
                step.add_done_callback(lambda _: _closed_later(executor, run, close))


def _ended(step: Future[Any]) -> bool:
    """Whether an iterator's step ended it: it came to its end, or raised."""
    if not step.done() or step.cancelled():
        return False
    return step.exception() is not None or step.result() is _END


def _closed_later(executor: Executor, run: Callable[..., Any], close: Callable[[], Any]) -> None:
    with contextlib.suppress(RuntimeError):  # the pool has shut down: the host is stopping
        executor.submit(run, close)


def _next(chunks: Iterator[Any]) -> Any:
    return next(chunks, _END)


async def _close(content: Any) -> None:
    aclose = getattr(content, "aclose", None)
    if aclose is not None:
        await aclose()
        return
    close = getattr(content, "close", None)
    if close is not None:
        close()


# --- the function's side --------------------------------------------------------------------------


@final
class Reply:
    """The exchange one request's invocation answers, as the host hands it over: what a
    :class:`ResponseStream` is made of (the host's :class:`Sending`, its event loop, the
    request's ASGI scope, receive and send, and its body: bytes, or the :class:`RequestBody`
    the function reads), and the stream, once the function has started one."""

    __slots__ = ("body", "loop", "receive", "scope", "send", "sending", "stream")

    def __init__(
        self,
        sending: Sending,
        loop: asyncio.AbstractEventLoop,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes | RequestBody,
    ) -> None:
        self.sending, self.loop, self.scope = sending, loop, scope
        self.receive, self.send, self.body = receive, send, body
        self.stream: ResponseStream | None = None


#: The reply the running invocation answers. A context variable, so the invocation's pool
#: thread and tasks see it (they run in copies of the context the host set it in), and nothing
#: else does.
_reply: Final[contextvars.ContextVar[Reply | None]] = contextvars.ContextVar(
    "extkit_reply", default=None
)


def answering(reply: Reply) -> contextvars.Token[Reply | None]:
    """Make ``reply`` the one the invocation about to run answers (the host, per request): a
    StreamingResponse it answers with is sent there while it runs. Reset the token after."""
    return _reply.set(reply)


def done_answering(token: contextvars.Token[Reply | None]) -> None:
    _reply.reset(token)


def _stream_here() -> ResponseStream | None:
    """A new stream for the reply the running invocation answers; ``None`` outside a host, and
    in a task the invocation started that outlived it (its copy of the context still holds the
    reply, whose answer has gone)."""
    reply = _reply.get()
    if reply is None or current_invocation() is None:
        return None
    reply.stream = ResponseStream(reply)
    return reply.stream


def sending_streams(
    func: Callable[..., Any],
    output: str | None,
    settle: Callable[[Any, dict[str, Any]], Any] | None = None,
) -> Callable[..., Any]:
    """``func``, an HTTP function whose response is ``output`` (``"$return"``, an ``Out``
    parameter's name, or ``None``), such that a :class:`~extkit.StreamingResponse` it answers
    with is sent before it returns, or collected when no host is answering. Keeps its signature
    and its sync or async nature, as the engine reads them.

    ``settle(result, kwargs)``, when given, first turns what the function answered with into
    extkit's types (``FunctionSpec.convert_result``): one wrapper around the function, not two."""
    returns = output == "$return"
    if inspect.iscoroutinefunction(inspect.unwrap(func)):

        async def call_async(**kwargs: Any) -> Any:
            result = await func(**kwargs)
            if settle is not None:
                result = settle(result, kwargs)
            if type(result) is HttpResponse or (returns and type(result) is str):
                return result
            response = _streaming(result, kwargs, output)
            if response is None:
                return result
            stream = _stream_here()
            if stream is None:
                return _collected(result, response, await _joined(response), kwargs, output)
            await stream.send(response)
            return result

        return functools.wraps(func)(call_async)

    def call(**kwargs: Any) -> Any:
        result = func(**kwargs)
        if settle is not None:
            result = settle(result, kwargs)
        if type(result) is HttpResponse or (returns and type(result) is str):
            return result
        response = _streaming(result, kwargs, output)
        if response is None:
            return result
        stream = _stream_here()
        if stream is None:
            return _collected(result, response, _joined_sync(response), kwargs, output)
        stream.send_from_thread(response)
        return result

    return functools.wraps(func)(call)


def _streaming(result: Any, kwargs: dict[str, Any], output: str | None) -> StreamingResponse | None:
    if output == "$return":
        return result if isinstance(result, StreamingResponse) else None
    out = kwargs.get(output) if output is not None else None
    value = out.get() if isinstance(out, Out) else None
    return value if isinstance(value, StreamingResponse) else None


async def _joined(response: StreamingResponse) -> bytes:
    content: Any = response.content
    if not hasattr(content, "__aiter__"):
        return _joined_sync(response)
    return b"".join([body_bytes(chunk, response.charset) async for chunk in content])


def _joined_sync(response: StreamingResponse) -> bytes:
    content: Any = response.content
    if hasattr(content, "__aiter__"):
        return bytes(to_completion(lambda: _joined(response)))
    return b"".join(body_bytes(chunk, response.charset) for chunk in content)


def _collected(
    result: Any,
    response: StreamingResponse,
    body: bytes,
    kwargs: dict[str, Any],
    output: str | None,
) -> Any:
    """The function's result with ``response`` replaced by a whole one holding ``body``."""
    whole = HttpResponse(
        body,
        status_code=response.status_code,
        headers=Headers(response.headers),
        mimetype=response.mimetype,
        charset=response.charset,
    )
    if output == "$return":
        return whole
    kwargs[output].set(whole)  # type: ignore[index]
    return result
