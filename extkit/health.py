"""The host's health endpoints, at the paths the reference host serves them, for load balancers,
container health checks and deploy scripts.

- ``GET /admin/host/ping`` (also ``POST`` and ``HEAD``): 200 with an empty body and
  ``Cache-Control: no-store, no-cache``; no key. It says the process serves HTTP.
- ``GET /admin/host/status`` (also ``HEAD``): JSON with ``state`` (``"Running"``), ``version``
  (extkit's) and ``functions`` (each one's ``name`` and ``trigger``). When keys are enforced
  it needs an admin key (:mod:`extkit.keys`), as in the reference, since it lists the app's
  functions.

The host asks :meth:`Health.answer` before it routes a request: a function route never shadows
these paths (not even a catch-all under ``routePrefix: ""``), and they are not counted by
``maxConcurrentRequests`` / ``maxOutstandingRequests``, so a busy host still answers its health
check. A function whose literal route is one of them is never called:
:func:`shadowed_functions` names it for the startup report.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final, final
from urllib.parse import parse_qsl

from .http import HttpResponse
from .keys import KEY_HEADER, KEY_QUERY_PARAMETER, Keys
from .loader import AppFunction

__all__ = ["PING_PATH", "STATUS_PATH", "Health", "shadowed_functions"]

PING_PATH: Final = "/admin/host/ping"
STATUS_PATH: Final = "/admin/host/status"
#: Each path's methods, as the reference's (plus ``HEAD``, which HTTP allows wherever GET is).
_METHODS: Final = {PING_PATH: ("GET", "HEAD", "POST"), STATUS_PATH: ("GET", "HEAD")}
_LONGEST: Final = max(len(path) for path in _METHODS) + 1  # a trailing slash


@final
class Health:
    """Answers the health endpoints of the host serving ``functions``."""

    __slots__ = ("_keys", "_status")

    def __init__(self, functions: Iterable[AppFunction], keys: Keys) -> None:
        from . import __version__  # the package imports the host, which imports this module

        self._keys = keys
        self._status = json.dumps(
            {
                "state": "Running",  # a host that answers HTTP has started
                "version": __version__,
                "functions": [{"name": fn.name, "trigger": fn.spec.trigger} for fn in functions],
            }
        )

    def answer(self, method: str, path: str, scope: Mapping[str, Any]) -> HttpResponse | None:
        """The answer when the raw ``path`` is a health endpoint, else ``None`` (route it)."""
        if len(path) > _LONGEST or path[:7].lower() != "/admin/":
            return None  # every other request pays for this test only
        endpoint = path.rstrip("/").lower()
        methods = _METHODS.get(endpoint)
        if methods is None:
            return None
        if method not in methods:
            return _text(405, "Method Not Allowed", {"Allow": ", ".join(methods)})
        if endpoint == PING_PATH:
            return _text(200, "", {"Cache-Control": "no-store, no-cache"})
        if self._keys.enforced and not self._keys.allows("admin", _presented_key(scope)):
            return _text(401, f"Unauthorized: {STATUS_PATH} needs an admin key")
        return HttpResponse(
            self._status,
            headers={"Cache-Control": "no-store, no-cache"},
            mimetype="application/json",
        )


def shadowed_functions(functions: Iterable[AppFunction], route_prefix: str) -> list[str]:
    """HTTP functions whose literal route is a health endpoint's path: never called."""
    found = []
    for fn in functions:
        if fn.route is None or not fn.route.is_literal:
            continue  # a route with parameters (a catch-all) also serves other paths
        parts = [part for part in (route_prefix.strip("/"), fn.route.template.strip("/")) if part]
        if "/" + "/".join(parts).lower() in _METHODS:
            found.append(fn.name)
    return found


def _presented_key(scope: Mapping[str, Any]) -> str | None:
    """The key a request presents, where the host looks for a function's."""
    header = KEY_HEADER.encode()
    for name, value in scope["headers"]:
        if name.lower() == header:
            return str(value.decode("latin-1"))
    query = scope.get("query_string", b"").decode("latin-1")
    return dict(parse_qsl(query, keep_blank_values=True)).get(KEY_QUERY_PARAMETER)


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(text, status_code=status, headers=headers, mimetype="text/plain")
