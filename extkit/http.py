"""HTTP request and response objects with the reference library's shape, plus ``Out`` bindings.

Both are plain objects, constructible in a unit test exactly as the reference guide shows, so a
function can be tested without a host::

    req = HttpRequest(method="GET", body=None, url="/api/HttpTrigger", params={"name": "Test"})

:class:`StreamingResponse` is a response whose body is sent as it is produced; how the host
streams in both directions is :mod:`extkit.streaming`.
"""

from __future__ import annotations

import json
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
)
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .redaction import redact

if TYPE_CHECKING:
    from .streaming import ResponseStream

__all__ = ["Headers", "HttpRequest", "HttpResponse", "Out", "StreamingResponse"]

T = TypeVar("T")


class Headers(MutableMapping[str, str]):
    """Case-insensitive header mapping that keeps the spelling it was given.

    A name may carry more than one value (``Set-Cookie``): :meth:`add_header` adds one. Looking a
    name up gives its first value; setting it replaces all of them; deleting it removes all."""

    __slots__ = ("_items", "_more")

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        # Further values of names already in ``_items``, in the order they were added; ``None``
        # until a second value is added, so a response with single values pays nothing for it.
        self._more: list[tuple[str, str]] | None = None
        if not initial:
            self._items: dict[str, tuple[str, str]] = {}
        elif type(initial) is Headers:  # a copy keeps every value
            self._items = dict(initial._items)
            self._more = list(initial._more) if initial._more else None
        else:
            # One comprehension rather than a ``__setitem__`` call per header: every request
            # and response builds one of these.
            self._items = {key.lower(): (key, str(value)) for key, value in initial.items()}

    @classmethod
    def from_items(cls, items: Iterable[tuple[str, str]]) -> Headers:
        """Headers holding every (name, value) pair of ``items``, as :meth:`add_header` one
        after another would (built without a call per header: a framework's every answer is)."""
        headers = cls()
        first = headers._items
        for key, value in items:
            folded = key.lower()
            if folded in first:
                headers.add_header(key, value)
            else:
                first[folded] = (key, str(value))
        return headers

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __setitem__(self, key: str, value: str) -> None:
        folded = key.lower()
        if self._more is not None:
            self._drop_more(folded)
        self._items[folded] = (key, str(value))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __delitem__(self, key: str) -> None:
        folded = key.lower()
        del self._items[folded]
        if self._more is not None:
            self._drop_more(folded)

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"{self.all_items()!r}" if self._more else f"{dict(self.items())!r}"

    def add_header(self, key: str, value: str) -> None:
        """Add a value for ``key``, keeping those it has (``Set-Cookie`` given twice)."""
        folded = key.lower()
        if folded not in self._items:
            self._items[folded] = (key, str(value))
        elif self._more is None:
            self._more = [(key, str(value))]
        else:
            self._more.append((key, str(value)))

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key``, first to last; empty when it has none."""
        folded = key.lower()
        first = self._items.get(folded)
        if first is None:
            return []
        return [first[1], *(v for k, v in self._more or () if k.lower() == folded)]

    def all_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, a name with several values once per value."""
        return [*self._items.values(), *(self._more or ())]

    @property
    def repeated(self) -> bool:
        """Whether some name has more than one value."""
        return self._more is not None

    def first_values(self) -> dict[str, str]:
        """Each name's first value, under the spelling it was given, as a plain dict (built
        without a lookup per header: every request converted for other code pays for it)."""
        return dict(self._items.values())

    def wire_items(self) -> Iterable[tuple[str, tuple[str, str]]]:
        """(lower-case name, (name as given, value)) for every value: what goes on the wire."""
        if self._more is None:
            return self._items.items()
        return [(name.lower(), (name, value)) for name, value in self.all_items()]

    def _drop_more(self, folded: str) -> None:
        more = [(k, v) for k, v in self._more or () if k.lower() != folded]
        self._more = more or None


def body_bytes(body: str | bytes | bytearray | None, charset: str = "utf-8") -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode(charset)
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    raise TypeError(f"an HTTP body must be str or bytes, got {type(body).__name__}")


class HttpRequest:
    """An incoming HTTP request, as a function receives it."""

    def __init__(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        route_params: Mapping[str, Any] | None = None,
        body: str | bytes | None = None,
    ) -> None:
        self.method = method.upper()
        self.url = url
        self.headers: MutableMapping[str, str] = Headers(headers)
        self.params: dict[str, str] = dict(params or {})
        self.route_params: dict[str, Any] = dict(route_params or {})
        self._body = body if type(body) is bytes else body_bytes(body)

    def get_body(self) -> bytes:
        return self._body

    def stream(self) -> AsyncIterator[bytes]:
        """The body in pieces: ``async for chunk in req.stream()``. They come as the client sends
        them when the function is declared with ``stream_request=True`` (the host has not read
        the body before calling it); for any other request the whole body is one piece."""
        return _whole(self._body)

    def get_json(self) -> Any:
        """The body parsed as JSON; ``ValueError`` naming the problem when it is not JSON
        (also for JSON nested too deeply for Python's parser, a client's input like any other)."""
        try:
            return json.loads(self._body)
        except ValueError as exc:
            raise ValueError(f"HTTP request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise ValueError(
                "HTTP request body is not valid JSON: nested too deeply (arrays or objects)"
            ) from None

    def __repr__(self) -> str:
        return f"HttpRequest(method={self.method!r}, url={redact(self.url)!r})"


class HttpResponse:
    """An HTTP response a function returns (or sets on an ``Out[HttpResponse]``)."""

    def __init__(
        self,
        body: str | bytes | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        mimetype: str | None = None,
        charset: str | None = None,
    ) -> None:
        self.status_code = int(status_code)
        self.headers: MutableMapping[str, str] = Headers(headers)
        self.charset = charset or "utf-8"
        self.mimetype = mimetype or (
            "application/octet-stream" if isinstance(body, (bytes, bytearray)) else "text/plain"
        )
        # Text, the common body, is encoded inline: a response is built for every invocation.
        if type(body) is str:
            self._body = body.encode(self.charset)
        else:
            self._body = body if type(body) is bytes else body_bytes(body, self.charset)

    def get_body(self) -> bytes:
        return self._body

    def set_body(self, body: str | bytes) -> None:
        """Replace the body (extensions use this instead of touching private fields)."""
        self._body = body_bytes(body, self.charset)

    def append_body(self, extra: str | bytes) -> None:
        """Append to the body, encoding text with the response's charset."""
        self._body += body_bytes(extra, self.charset)

    def set_header(self, name: str, value: str) -> None:
        """Set a header, replacing every value it had."""
        self.headers[name] = value

    def add_header(self, name: str, value: str) -> None:
        """Add a header value, keeping the values the name already has: several ``Set-Cookie``
        headers reach the client as several headers."""
        headers = self.headers
        if not isinstance(headers, Headers):  # a plain mapping a function assigned
            headers = Headers(headers)
            self.headers = headers
        headers.add_header(name, value)

    def header_values(self, name: str) -> list[str]:
        """Every value of the header ``name`` (case-insensitive), in order; empty when absent."""
        headers = self.headers
        if isinstance(headers, Headers):
            return headers.get_all(name)
        folded = name.lower()
        return [value for key, value in headers.items() if key.lower() == folded]

    def __repr__(self) -> str:
        return f"HttpResponse(status_code={self.status_code}, mimetype={self.mimetype!r})"


async def _whole(body: bytes) -> AsyncIterator[bytes]:
    if body:
        yield body


class StreamingResponse(HttpResponse):
    """A response whose body is sent while it is produced: each ``bytes`` or ``str`` chunk that
    ``content`` (an iterator or async iterator) yields reaches the client as soon as it is
    yielded, with chunked transfer encoding; text is encoded with ``charset`` (UTF-8). Status and
    headers go out before the first chunk. A sync iterator runs on the host's thread pool, so it
    may block (``time.sleep``) without holding up other requests.

    Extensions' post hooks run once the content is exhausted (or the client has left). It has no
    body to get or replace; ``append_body`` adds bytes sent after the content's last chunk, and
    headers set once the first chunk has gone are not sent.
    """

    def __init__(
        self,
        content: Iterable[bytes | str] | AsyncIterable[bytes | str],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        if isinstance(content, (str, bytes, bytearray, memoryview)) or not (
            hasattr(content, "__aiter__") or hasattr(content, "__iter__")
        ):
            raise TypeError(
                "StreamingResponse content must be an iterator or async iterator of bytes or str "
                f"chunks, got {type(content).__name__}; for a body you have whole, return an "
                "HttpResponse"
            )
        super().__init__(
            None, status_code=status_code, headers=headers, mimetype=media_type or "text/plain"
        )
        self.content = content
        #: The host's stream sending it, once its head has gone (``None`` before, and outside
        #: a host).
        self.stream: ResponseStream | None = None

    @property
    def tail(self) -> bytes:
        """What ``append_body`` added: sent after the content's last chunk."""
        return self._body

    def get_body(self) -> bytes:
        raise TypeError(
            "a StreamingResponse has no body to get: its content is sent as it is produced"
        )

    def set_body(self, body: str | bytes) -> None:
        raise TypeError(
            "a StreamingResponse's body cannot be replaced: its content is sent as it is produced "
            "(append_body adds to its end)"
        )

    def __repr__(self) -> str:
        return f"StreamingResponse(status_code={self.status_code}, mimetype={self.mimetype!r})"


class Out(Generic[T]):
    """A named output binding: the function calls ``.set(value)``; the host reads ``.get()``."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, value: T) -> None:
        self._value = value

    def get(self) -> T | None:
        return self._value
