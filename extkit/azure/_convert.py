"""Per-invocation conversion between extkit's HTTP and timer types and ``azure.functions``' own.

Inside extkit an invocation's data are extkit types; code written against ``azure.functions``
sees that library's types. The seams, each crossed once per invocation (or per Azure-written
post hook):

- in: the host builds an :class:`AzureHttpRequest` from what it read
  (:func:`azure_http_request`), and an :class:`extkit.HttpRequest` made by other code becomes
  one (:func:`convert_trigger`), before the hooks run, so the function and every hook see the
  same object in ``func_args``; a timer's :class:`extkit.TimerRequest` becomes an
  ``azure.functions.TimerRequest``;
- out: a ``func.HttpResponse`` the function returns (or sets on an ``Out``) becomes an
  :class:`extkit.HttpResponse` as soon as the function returns (:func:`settling`, run in the
  loader's wrapper of an HTTP function; :func:`returning_extkit_types` for others), so extkit
  extensions' post hooks and the host read it as they read any response;
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
    "azure_http_request",
    "azure_response",
    "azure_timer",
    "convert_trigger",
    "copy_back",
    "extkit_response",
    "returning_extkit_types",
    "settling",
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

    For a request made by other code than the host (``extkit invoke``, a test): extkit's own
    header mapping is read as the plain dict it holds underneath (the generic
    ``Mapping.items()`` costs a lookup per header)."""
    headers = request.headers
    return azure_http_request(
        request.method,
        request.url,
        headers=headers.first_values() if type(headers) is Headers else headers,
        params=request.params,
        route_params=request.route_params,
        body=request.get_body(),
    )


def azure_http_request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    params: Mapping[str, str],
    route_params: Mapping[str, Any],
    body: bytes,
) -> AzureHttpRequest:
    """The request of an azure-typed function, made from the parts the host has read, with
    :class:`extkit.HttpRequest`'s keywords: the host builds it instead of an extkit request,
    which would only be converted (every request pays for it). Route values become text, as
    the reference worker gives them."""
    return AzureHttpRequest(
        method,
        url,
        headers=headers,
        params=params,
        route_params={name: str(value) for name, value in route_params.items()}
        if route_params
        else route_params,
        body=body,
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
    if kind is AzureHttpRequest:  # the host's, for an azure-typed function
        return value
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
    return Headers.from_items(headers.items()) if headers else None


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


def settling(outputs: Iterable[str] = ()) -> Callable[[Any, Mapping[str, Any]], Any]:
    """What turns an azure-typed function's outcome into extkit's types: ``settle(result,
    kwargs)`` gives the result, a ``func.HttpResponse`` as an :class:`extkit.HttpResponse`, after
    doing the same to the value of each ``Out`` parameter named in ``outputs``. The loader runs
    it in the one wrapper it puts around an HTTP function (``FunctionSpec.convert_result``)."""
    names = tuple(outputs)

    def settle(result: Any, kwargs: Mapping[str, Any]) -> Any:
        if names:
            _settle_outputs(kwargs, names)
        if type(result) is HttpResponse or result is None:
            return result
        converted = extkit_response(result)
        return result if converted is None else converted

    return settle


def _settle_outputs(kwargs: Mapping[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        out = kwargs.get(name)
        if isinstance(out, Out):
            converted = extkit_response(out.get())
            if converted is not None:
                out.set(converted)


def returning_extkit_types(
    function: Callable[..., Any], outputs: Iterable[str] = ()
) -> Callable[..., Any]:
    """Wrap ``function`` so a ``func.HttpResponse`` it returns, or sets on one of the ``Out``
    parameters named in ``outputs``, is an :class:`extkit.HttpResponse` by the time post hooks
    run (:func:`settling`; for a function the loader does not wrap for HTTP itself). The wrapper
    keeps the function's signature (``inspect.signature`` follows it) and its sync or async
    nature."""
    settle = settling(outputs)
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            return settle(await function(*args, **kwargs), kwargs)

        return call_async

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        return settle(function(*args, **kwargs), kwargs)

    return call
