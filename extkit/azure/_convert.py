"""Per-invocation conversion between extkit's HTTP and timer types and ``azure.functions``' own.

Inside extkit an invocation's data are extkit types; code written against ``azure.functions``
sees that library's types. The seams, each crossed once per invocation (or per Azure-written
post hook):

- in: the host's :class:`extkit.HttpRequest` becomes an :class:`AzureHttpRequest` before the
  hooks run, so the function and every hook see the same object in ``func_args``; a timer's
  :class:`extkit.TimerRequest` becomes an ``azure.functions.TimerRequest``;
- out: a ``func.HttpResponse`` the function returns (or sets on an ``Out``) becomes an
  :class:`extkit.HttpResponse` as soon as the function returns (:func:`returning_extkit_types`),
  so extkit extensions' post hooks and the host read it as they read any response;
- Azure-written post hooks get a ``func.HttpResponse`` built from that response, and what they
  change in it is copied back (:func:`azure_response`, :func:`copy_back`).

Only the public surface of ``azure.functions`` is read: constructors, ``get_body()``,
``status_code``, ``headers``, ``mimetype``, ``charset``. This module imports ``azure.functions``;
the rest of extkit imports it only once the app has imported that library.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final
from wsgiref.headers import Headers as WsgiHeaders

import azure.functions as func
from azure.functions.timer import TimerRequest as _AzureTimerRequest

from ..http import Headers, HttpRequest, HttpResponse, Out
from ..redaction import redact
from ..schedule import ScheduleStatus, TimerRequest

__all__ = [
    "AzureHttpRequest",
    "azure_response",
    "azure_timer",
    "convert_trigger",
    "copy_back",
    "extkit_response",
    "returning_extkit_types",
]

_AzureResponse: Final = func.HttpResponse


class AzureHttpRequest(func.HttpRequest, HttpRequest):  # type: ignore[override]
    """An ``azure.functions.HttpRequest`` that is also an :class:`extkit.HttpRequest`.

    Code written against ``azure.functions`` gets the library's own request: read-only
    ``params``/``route_params``, bytes body, ``get_json()`` raising ``ValueError``, ``form`` and
    ``files``. Every attribute comes from the library's class (it is first in the MRO); the extkit
    base only makes ``isinstance(arg, extkit.HttpRequest)`` true, so extkit extensions that look
    for the request among ``func_args`` (tracing's HTTP attributes) find it as for any function.
    """

    def __repr__(self) -> str:
        return f"AzureHttpRequest(method={self.method!r}, url={redact(self.url)!r})"


def azure_request(request: HttpRequest) -> AzureHttpRequest:
    """The request as the reference worker hands it to a function (route values as text).

    Runs for every request: extkit's own header mapping is read as the plain dict it holds
    underneath (the generic ``Mapping.items()`` costs a lookup per header), and empty mappings
    are not copied."""
    headers = request.headers
    route = request.route_params
    return AzureHttpRequest(
        request.method,
        request.url,
        headers=headers.first_values() if type(headers) is Headers else headers,
        params=request.params or None,
        route_params={name: str(value) for name, value in route.items()} if route else None,
        body=request.get_body(),
    )


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat()


def azure_timer(timer: TimerRequest) -> _AzureTimerRequest:
    """``func.TimerRequest`` with the reference's ``ScheduleStatus`` keys (ISO 8601 times)."""
    status: ScheduleStatus | None = timer.schedule_status
    return _AzureTimerRequest(
        past_due=timer.past_due,
        schedule_status=None
        if status is None
        else {
            "Last": _iso(status.last),
            "Next": _iso(status.next),
            "LastUpdated": _iso(status.last_updated),
        },
        schedule={"AdjustForDST": True} if timer.schedule is not None else None,
    )


def convert_trigger(value: Any) -> Any:
    """The trigger value an azure-typed function receives; values already of the library's
    types (a test passing a ``func.HttpRequest``) pass unchanged."""
    kind = type(value)  # exact types first: ABC isinstance checks cost more than the rest
    if kind is HttpRequest:
        return azure_request(value)
    if kind is TimerRequest:
        return azure_timer(value)
    if isinstance(value, HttpRequest) and not isinstance(value, func.HttpRequest):
        return azure_request(value)
    if isinstance(value, TimerRequest):
        return azure_timer(value)
    return value


# --- responses ----------------------------------------------------------------------------------


def extkit_response(value: Any) -> HttpResponse | None:
    """``value`` as an extkit response when it is a ``func.HttpResponse``, else ``None``.

    A header name given twice in the library's response (its headers are a multi-dict: two
    ``Set-Cookie`` from ``func.AsgiMiddleware``) keeps every value."""
    if type(value) is not _AzureResponse and not isinstance(value, _AzureResponse):
        return None
    return HttpResponse(
        value.get_body(),
        status_code=value.status_code,
        headers=_extkit_headers(value.headers),
        mimetype=value.mimetype,
        charset=value.charset,
    )


def _extkit_headers(headers: Any) -> Headers | None:
    """The library's response headers (``items()`` lists a repeated name once per value)."""
    if not headers:
        return None
    converted = Headers()
    for name, value in headers.items():
        converted.add_header(name, value)
    return converted


def azure_response(response: HttpResponse) -> func.HttpResponse:
    """A ``func.HttpResponse`` holding what ``response`` holds (for an Azure-written hook)."""
    headers = response.headers
    return _AzureResponse(
        response.get_body(),
        status_code=response.status_code,
        # The library copies ``items()``: wsgiref's Headers lists a repeated name once per value.
        headers=WsgiHeaders(headers.all_items())  # type: ignore[arg-type]
        if type(headers) is Headers and headers.repeated
        else headers,
        mimetype=response.mimetype,
        charset=response.charset,
    )


def copy_back(view: func.HttpResponse, response: HttpResponse) -> None:
    """Put what an Azure-written hook changed in ``view`` into ``response`` (the same object
    the host answers with). The tutorial's ``func_ret._HttpResponse__body += ...`` is read back
    through ``get_body()``."""
    body = view.get_body()
    if body is not response.get_body():
        response.set_body(body)
    response.status_code = int(view.status_code)
    response.mimetype = view.mimetype
    response.charset = view.charset
    response.headers = _extkit_headers(view.headers) or Headers()


def _settle(result: Any, kwargs: Mapping[str, Any], outputs: tuple[str, ...]) -> Any:
    for name in outputs:
        out = kwargs.get(name)
        if isinstance(out, Out):
            converted = extkit_response(out.get())
            if converted is not None:
                out.set(converted)
    if type(result) is HttpResponse or result is None:
        return result
    converted = extkit_response(result)
    return result if converted is None else converted


def returning_extkit_types(
    function: Callable[..., Any], outputs: Iterable[str] = ()
) -> Callable[..., Any]:
    """Wrap ``function`` so a ``func.HttpResponse`` it returns, or sets on one of the ``Out``
    parameters named in ``outputs``, is an :class:`extkit.HttpResponse` by the time post hooks
    run. The wrapper keeps the function's signature (``inspect.signature`` follows it) and its
    sync or async nature."""
    names = tuple(outputs)
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            return _settle(await function(*args, **kwargs), kwargs, names)

        return call_async

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        return _settle(function(*args, **kwargs), kwargs, names)

    return call
