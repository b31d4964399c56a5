"""The OpenTelemetry semantic conventions this extension speaks: FaaS, HTTP server, errors.

Everything that turns an invocation (its ``Context``, arguments and outcome) into span names,
kinds and attributes lives here, as plain functions of plain values, so the rules can be read and
tested without a tracer. Attribute names are spelled out rather than imported from
``opentelemetry-semantic-conventions``, whose FaaS and HTTP modules are still marked incubating
and move between releases.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Final

from opentelemetry.trace import SpanKind

from extkit import HttpRequest, HttpResponse, Out
from extkit.redaction import redact_query

__all__ = [
    "ERROR_TYPE",
    "FAAS_COLDSTART",
    "FAAS_CRON",
    "FAAS_INVOCATION_ID",
    "FAAS_NAME",
    "FAAS_TIME",
    "FAAS_TRIGGER",
    "HTTP_REQUEST_METHOD",
    "HTTP_RESPONSE_STATUS_CODE",
    "HTTP_ROUTE",
    "INVOKE_DURATION",
    "INVOKE_DURATION_BUCKETS",
    "URL_PATH",
    "USER_AGENT",
    "add_http_request_attributes",
    "error_type",
    "find_http_request",
    "metric_attributes",
    "response_status",
    "span_kind",
    "timer_attributes",
]

FAAS_TRIGGER: Final = "faas.trigger"
FAAS_INVOCATION_ID: Final = "faas.invocation_id"
FAAS_NAME: Final = "faas.name"
FAAS_COLDSTART: Final = "faas.coldstart"
FAAS_CRON: Final = "faas.cron"
FAAS_TIME: Final = "faas.time"
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_ROUTE: Final = "http.route"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
URL_PATH: Final = "url.path"
URL_QUERY: Final = "url.query"
URL_SCHEME: Final = "url.scheme"
USER_AGENT: Final = "user_agent.original"
ERROR_TYPE: Final = "error.type"

INVOKE_DURATION: Final = "faas.invoke_duration"
#: The bucket boundaries the FaaS metric conventions ask for, in seconds.
INVOKE_DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip

#: Methods the HTTP conventions know; any other is reported as ``_OTHER``.
_KNOWN_METHODS: Final = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "QUERY"}
)
#: Triggers whose incoming span is a CONSUMER (one message processed), per the conventions.
_CONSUMER_TRIGGERS: Final = frozenset({"pubsub"})


def span_kind(trigger: str) -> SpanKind:
    """SERVER for the incoming side of an invocation (HTTP, timer, datasource, other); CONSUMER
    for messages, as the FaaS and messaging conventions say."""
    return SpanKind.CONSUMER if trigger in _CONSUMER_TRIGGERS else SpanKind.SERVER


def find_http_request(func_args: Mapping[str, Any]) -> HttpRequest | None:
    """The ``HttpRequest`` among the function's arguments, whatever its parameter is called."""
    for value in func_args.values():
        if isinstance(value, HttpRequest):
            return value
    return None


def add_http_request_attributes(
    attributes: dict[str, Any], request: HttpRequest, route: str | None
) -> None:
    """Add the HTTP server attributes known before the function runs to ``attributes`` (the
    span's, so no second dict is built and merged per request).

    The URL is split by hand (``scheme://host/path?query``): ``urlsplit`` and its ``hostname`` /
    ``port`` properties cost more than the rest of this function together, on every request.
    """
    method = request.method
    attributes[HTTP_REQUEST_METHOD] = method if method in _KNOWN_METHODS else "_OTHER"
    url = request.url
    scheme, sep, rest = url.partition("://")
    if sep:
        attributes[URL_SCHEME] = scheme
        slash = rest.find("/")
        url = rest[slash:] if slash >= 0 else "/"
    path, _, query = url.partition("?")
    attributes[URL_PATH] = path.partition("#")[0] or "/"
    if query:
        attributes[URL_QUERY] = redact_query(query.partition("#")[0])
    if route:
        attributes[HTTP_ROUTE] = route
    agent = request.headers.get("user-agent")
    if agent:
        attributes[USER_AGENT] = agent


def response_status(result: Any, error: BaseException | None, func_args: Mapping[str, Any]) -> int:
    """The HTTP status the host answers this outcome with.

    Failures go through the host's own policy (``extkit.bindings.error_response``: a deliberate
    rejection its status, a timeout 504, anything else 500). A returned ``HttpResponse`` (or one
    set on an ``Out`` argument) gives its own status, other bodies 200, nothing at all 204.
    """
    if error is not None:
        from extkit.bindings import error_response

        return error_response(error, function_name="").status_code
    if result is None:
        for value in func_args.values():
            if isinstance(value, Out):
                result = value.get()
                if result is not None:
                    break
    if isinstance(result, HttpResponse):
        return result.status_code
    return 204 if result is None else 200


def metric_attributes(trigger: str, error_type: str | None = None) -> dict[str, str]:
    """The duration histogram's attributes for one invocation's outcome."""
    if error_type is None:
        return {FAAS_TRIGGER: trigger}
    return {FAAS_TRIGGER: trigger, ERROR_TYPE: error_type}


def error_type(error: BaseException) -> str:
    """The fully qualified class name, as ``error.type`` wants for exceptions."""
    cls = type(error)
    module = cls.__module__
    return cls.__qualname__ if module in (None, "builtins") else f"{module}.{cls.__qualname__}"


def timer_attributes(func_args: Mapping[str, Any], started: float) -> dict[str, Any]:
    """``faas.cron`` from the timer argument's schedule (when it exposes one) and ``faas.time``."""
    attributes: dict[str, Any] = {
        FAAS_TIME: datetime.fromtimestamp(started, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    }
    for value in func_args.values():
        cron = _schedule_expression(value)
        if cron:
            attributes[FAAS_CRON] = cron
            break
    return attributes


def _schedule_expression(value: Any) -> str | None:
    """The NCRONTAB expression a timer argument carries, under the names timer requests use."""
    if value is None or isinstance(value, (str, bytes, int, float, dict, list)):
        return None
    for name in ("schedule_expression", "cron", "schedule"):
        found = getattr(value, name, None)
        if isinstance(found, str) and found:
            return found
        expression = getattr(found, "expression", None)
        if isinstance(expression, str) and expression:
            return expression
    return None
