"""HTTP request and response objects with the reference library's shape, plus ``Out`` bindings.

Both are plain objects, constructible in a unit test exactly as the reference guide shows, so a
function can be tested without a host::

    req = HttpRequest(method="GET", body=None, url="/api/HttpTrigger", params={"name": "Test"})
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Generic, TypeVar

from .redaction import redact

__all__ = ["HttpRequest", "HttpResponse", "Out"]

T = TypeVar("T")


class _Headers(MutableMapping[str, str]):
    """Case-insensitive header mapping that keeps the spelling it was given."""

    __slots__ = ("_items",)

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        # One comprehension rather than a ``__setitem__`` call per header: every request and
        # response builds one of these.
        self._items: dict[str, tuple[str, str]] = (
            {key.lower(): (key, str(value)) for key, value in initial.items()} if initial else {}
        )

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __setitem__(self, key: str, value: str) -> None:
        self._items[key.lower()] = (key, str(value))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __delitem__(self, key: str) -> None:
        del self._items[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"{dict(self.items())!r}"


def _to_bytes(body: str | bytes | bytearray | None, charset: str = "utf-8") -> bytes:
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
        self.headers: MutableMapping[str, str] = _Headers(headers)
        self.params: dict[str, str] = dict(params or {})
        self.route_params: dict[str, Any] = dict(route_params or {})
        self._body = body if type(body) is bytes else _to_bytes(body)

    def get_body(self) -> bytes:
        return self._body

    def get_json(self) -> Any:
        """The body parsed as JSON; ``ValueError`` naming the problem when it is not JSON."""
        try:
            return json.loads(self._body)
        except ValueError as exc:
            raise ValueError(f"HTTP request body is not valid JSON: {exc}") from None

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
        self.headers: MutableMapping[str, str] = _Headers(headers)
        self.charset = charset or "utf-8"
        self.mimetype = mimetype or (
            "application/octet-stream" if isinstance(body, (bytes, bytearray)) else "text/plain"
        )
        # Text, the common body, is encoded inline: a response is built for every invocation.
        charset = self.charset
        self._body = body.encode(charset) if type(body) is str else _to_bytes(body, charset)

    def get_body(self) -> bytes:
        return self._body

    def set_body(self, body: str | bytes) -> None:
        """Replace the body (extensions use this instead of touching private fields)."""
        self._body = _to_bytes(body, self.charset)

    def append_body(self, extra: str | bytes) -> None:
        """Append to the body, encoding text with the response's charset."""
        self._body += _to_bytes(extra, self.charset)

    def set_header(self, name: str, value: str) -> None:
        self.headers[name] = value

    def __repr__(self) -> str:
        return f"HttpResponse(status_code={self.status_code}, mimetype={self.mimetype!r})"


class Out(Generic[T]):
    """A named output binding: the function calls ``.set(value)``; the host reads ``.get()``."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, value: T) -> None:
        self._value = value

    def get(self) -> T | None:
        return self._value
