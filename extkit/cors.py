"""Cross-origin requests from browsers (CORS), as ``local.settings.json`` configures them.

``Host.CORS`` lists the origins (``scheme://host[:port]``, comma-separated) whose pages may read
the host's answers, or is ``*`` for any page; ``Host.CORSCredentials`` lets those pages send
cookies and ``Authorization`` along. These are the keys the reference's local tools
(``func start``) read, with their meaning there (ASP.NET Core's CORS): ``*`` together with
credentials is refused at startup, as ASP.NET Core refuses it, since browsers never send
credentials to a page allowed only as "any origin"; list the origins instead.

The browser enforces CORS; the host says what it allows and serves every request as before:

- A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered by
  the host, 204, and reaches no function (it carries no key, so it needs none). It allows the
  request when the origin is allowed and a function serves the requested method at that path:
  the origin (or ``*``), that function's methods (every method, for a function of any method),
  the requested headers, credentials when configured, and a ``Max-Age``. Otherwise it carries no
  ``Access-Control-Allow-*`` header, and the browser does not send the request.
- Every other answer, the host's own (401, 404, 405, 429) included, gets ``Vary: Origin`` (caches
  must keep the answers to different origins apart) and, for an allowed origin, the origin (or
  ``*``), credentials when configured, and ``Access-Control-Expose-Headers: x-invocation-id``, so
  the page can read the id that finds the invocation's logs.
- With ``Host.CORS`` set the host's CORS wins: the ``Access-Control-*`` headers of functions and
  of ``customHeaders`` are dropped (``Access-Control-Expose-Headers`` stays: on its own it allows
  nothing). Without it the host adds nothing and does no work for CORS.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from dataclasses import dataclass
from typing import Any, Concatenate, Final, ParamSpec, Protocol, TypeVar, final
from urllib.parse import urlsplit

from .app import HTTP_METHODS
from .http import HttpResponse

__all__ = ["ANY_ORIGIN", "PREFLIGHT_MAX_AGE", "Cors", "CorsPolicy", "parse_cors"]

ANY_ORIGIN: Final = "*"
#: How long a browser may keep a preflight's answer, in seconds (Chromium keeps it 2 hours at
#: most): a changed setting or function reaches an open browser within ten minutes.
PREFLIGHT_MAX_AGE: Final = 600

#: A function of any method: every method a page can send (fetch() refuses CONNECT and TRACE).
_EVERY_METHOD: Final = ", ".join(sorted(HTTP_METHODS - {"CONNECT", "TRACE"}))
_PREFLIGHT_VARY: Final = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
_EXPOSE: Final = "access-control-expose-headers"
_ORIGIN: Final = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://"
    r"(?P<host>\[[0-9a-f:.]+\]|[a-z0-9-]+(?:\.[a-z0-9-]+)*)"
    r"(?::(?P<port>[0-9]{1,5}))?",
    re.IGNORECASE,
)
_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}


@final
@dataclass(frozen=True)
class CorsPolicy:
    """Which origins may read the host's answers, and whether their requests carry credentials.

    ``origins`` holds them as browsers send them (lower case, no default port); ``None`` is any
    origin (``*``), which never goes with ``credentials``."""

    origins: frozenset[str] | None
    credentials: bool = False

    def allows(self, origin: str) -> bool:
        return self.origins is None or origin.lower() in self.origins


def parse_cors(value: str, credentials: bool) -> CorsPolicy | None:
    """The policy ``Host.CORS`` and ``Host.CORSCredentials`` describe; ``None`` for no origin
    (an empty ``Host.CORS``, as the reference's tools read it). ``ValueError`` says what is wrong
    with ``value``."""
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    if not entries:
        return None
    if ANY_ORIGIN in entries:
        if len(entries) > 1:
            raise ValueError(f'{value!r}: "*" (any origin) must stand alone')
        if credentials:
            raise ValueError(
                '"*" with Host.CORSCredentials true: browsers never send credentials to any '
                "origin; list the origins that may send them"
            )
        return CorsPolicy(None)
    return CorsPolicy(frozenset(_origin(entry) for entry in entries), credentials)


def _origin(text: str) -> str:
    """``text`` as browsers send an origin: ``HTTPS://App.Example:443`` -> ``https://app.example``."""
    found = _ORIGIN.fullmatch(text)
    port: str | None = found["port"] if found is not None else None
    if found is None or (port is not None and not 0 < int(port) < 65536):
        raise ValueError(f"{text!r} is not an origin (scheme://host[:port]){_did_you_mean(text)}")
    scheme, host = found["scheme"].lower(), found["host"].lower()
    if port is None or _DEFAULT_PORTS.get(scheme) == str(int(port)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{int(port)}"


def _did_you_mean(text: str) -> str:
    """The origin ``text`` most likely means: without its path, with a scheme, in ASCII."""
    if text.lower() == "null":
        return ' (the "null" origin of sandboxed pages and file: URLs is allowed by "*" only)'
    if "*" in text:
        return ' (list each origin in full: there are no wildcards but "*" alone)'
    guess = text if "://" in text else f"http://{text}"
    try:
        parts = urlsplit(guess)
        host = (parts.hostname or "").encode("idna").decode("ascii")
        port = parts.port
    except (ValueError, UnicodeError):
        return ""
    origin = f"{parts.scheme}://{host}" + ("" if port is None else f":{port}")
    if not host or origin == text or not _ORIGIN.fullmatch(origin):
        return ""
    return f" (did you mean {origin!r}?)"


class _Answer(Protocol):
    headers: MutableMapping[str, str]


Scope = MutableMapping[str, Any]
#: The methods of the function serving a method at a request's path (empty: any method), or
#: ``None`` when no function serves that method there.
MethodsAt = Callable[[str, Scope], Collection[str] | None]
P = ParamSpec("P")
R = TypeVar("R", bound=_Answer)


@final
class Cors:
    """A :class:`CorsPolicy` applied to an ASGI request handler (:meth:`around`)."""

    __slots__ = ("_exposed", "_methods_at", "policy")

    def __init__(self, policy: CorsPolicy, methods_at: MethodsAt, *, exposed: str) -> None:
        """``exposed``: a header of the host's own that allowed pages may read."""
        self.policy = policy
        self._methods_at = methods_at
        self._exposed = exposed

    @staticmethod
    def owns(header: str) -> bool:
        """Whether the host's CORS replaces ``header`` set by a function or ``customHeaders``."""
        folded = header.lower()
        return folded.startswith("access-control-") and folded != _EXPOSE

    def around(
        self, handle: Callable[Concatenate[Scope, P], Awaitable[R | None]]
    ) -> Callable[Concatenate[Scope, P], Awaitable[R | HttpResponse | None]]:
        """``handle`` (which answers one request, ``None`` when the client left) with preflights
        answered here and every answer it gives marked for the request's origin."""

        async def handle_with_cors(
            scope: Scope, /, *args: P.args, **kwargs: P.kwargs
        ) -> R | HttpResponse | None:
            origin = method = asked = None
            for name, value in scope["headers"]:
                folded = name.lower()
                if folded == b"origin":
                    origin = value.decode("latin-1")
                elif folded == b"access-control-request-method":
                    method = value.decode("latin-1")
                elif folded == b"access-control-request-headers":
                    asked = value.decode("latin-1")
            if origin is not None and method is not None and scope["method"] == "OPTIONS":
                return self._preflight(scope, origin, method.strip(), asked)
            response = await handle(scope, *args, **kwargs)
            if response is not None:
                self._mark(origin, response.headers)
            return response

        return handle_with_cors

    def mark(self, scope: Scope, headers: MutableMapping[str, str]) -> None:
        """Mark an answer's headers for the request's origin as :meth:`around` does, for an
        answer whose head goes out before ``around`` sees it (a streamed response's)."""
        found = (value for name, value in scope["headers"] if name.lower() == b"origin")
        origin = next(found, None)
        self._mark(None if origin is None else origin.decode("latin-1"), headers)

    def _preflight(self, scope: Scope, origin: str, method: str, asked: str | None) -> HttpResponse:
        headers = {"Vary": _PREFLIGHT_VARY}
        methods = self._methods_at(method, scope) if self.policy.allows(origin) else None
        if methods is not None:
            self._allow(origin, headers)
            headers["Access-Control-Allow-Methods"] = ", ".join(methods) or _EVERY_METHOD
            if asked:
                headers["Access-Control-Allow-Headers"] = asked
            headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
        return HttpResponse(None, status_code=204, headers=headers)

    def _mark(self, origin: str | None, headers: MutableMapping[str, str]) -> None:
        for name in [name for name in headers if self.owns(name)]:
            del headers[name]
        vary = headers.get("Vary")
        if not vary:
            headers["Vary"] = "Origin"
        elif not {token.strip().lower() for token in vary.split(",")} & {"origin", "*"}:
            headers["Vary"] = f"{vary}, Origin"
        if origin is None or not self.policy.allows(origin):
            return
        self._allow(origin, headers)
        exposed = headers.get("Access-Control-Expose-Headers")
        headers["Access-Control-Expose-Headers"] = (
            f"{exposed}, {self._exposed}" if exposed else self._exposed
        )

    def _allow(self, origin: str, headers: MutableMapping[str, str]) -> None:
        any_origin = self.policy.origins is None
        headers["Access-Control-Allow-Origin"] = ANY_ORIGIN if any_origin else origin
        if self.policy.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
