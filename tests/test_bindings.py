"""Arguments in, responses out: the conversions the host and ``extkit invoke`` share."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from extkit import (
    AppExtensionBase,
    Context,
    Engine,
    HttpRequest,
    HttpResponse,
    InvocationTimeout,
    Out,
    RejectInvocation,
)
from extkit.app import FunctionApp, FunctionSpec
from extkit.bindings import (
    INVOCATION_ID_HEADER,
    build_args,
    error_response,
    invoke_http,
    invoke_timer,
    to_http_response,
    trace_context_of,
)
from extkit.loader import AppFunction
from extkit.testing import CapturedLogs

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def spec_of(register: Callable[[FunctionApp], object]) -> FunctionSpec:
    app = FunctionApp(http_auth_level="anonymous")
    register(app)
    (spec,) = app.get_functions()
    return spec


def loaded(spec: FunctionSpec, engine: Engine) -> AppFunction:
    return AppFunction(
        spec,
        engine.load(
            spec.func,
            name=spec.name,
            directory=spec.directory,
            source_file=spec.source_file,
            trigger=spec.trigger,
            layout=spec.layout,
            bindings=spec.bindings,
        ),
    )


def returning(value: Any, **route: Any) -> FunctionSpec:
    def register(app: FunctionApp) -> None:
        @app.route(**route)
        def fn(req: HttpRequest) -> Any:
            return value

    return spec_of(register)


def request(**kwargs: Any) -> HttpRequest:
    return HttpRequest(kwargs.pop("method", "GET"), kwargs.pop("url", "/api/fn"), **kwargs)


# --- arguments -----------------------------------------------------------------------------------


def test_build_args_gives_each_out_parameter_a_fresh_out() -> None:
    def register(app: FunctionApp) -> None:
        @app.generic_output_binding(arg_name="extra", type="queue")
        @app.route(binding_arg_name="res")
        def fn(req: HttpRequest, res: Out[str], extra: Out[str]) -> None:
            return None

    spec = spec_of(register)
    req = request()
    first = build_args(spec, req)
    second = build_args(spec, req, more=1)
    assert first["req"] is req
    assert isinstance(first["res"], Out) and first["res"].get() is None
    assert isinstance(first["extra"], Out)
    assert first["res"] is not second["res"]
    assert second["more"] == 1
    assert "context" not in first  # the engine fills it


def test_build_args_accepts_an_app_function(extkit_engine: Engine) -> None:
    fn = loaded(returning("x"), extkit_engine)
    assert build_args(fn, "trigger") == {"req": "trigger"}


def test_trace_context_from_headers() -> None:
    found = trace_context_of(request(headers={"TraceParent": TRACEPARENT, "tracestate": "a=1"}))
    assert (found.trace_parent, found.trace_state) == (TRACEPARENT, "a=1")
    assert trace_context_of(request()).trace_parent is None


# --- results -------------------------------------------------------------------------------------


def test_http_response_is_returned_as_is() -> None:
    response = HttpResponse("made", status_code=202, headers={"X-A": "1"})
    assert to_http_response(returning(response), response, {}) is response


@pytest.mark.parametrize(
    ("value", "status", "mimetype", "body"),
    [
        ("text", 200, "text/plain", b"text"),
        (b"\x00\x01", 200, "application/octet-stream", b"\x00\x01"),
        (bytearray(b"ab"), 200, "application/octet-stream", b"ab"),
        ({"a": [1, 2]}, 200, "application/json", b'{"a": [1, 2]}'),
        ([1, "two"], 200, "application/json", b'[1, "two"]'),
        (None, 204, None, b""),
    ],
)
def test_return_values_become_responses(
    value: Any, status: int, mimetype: str | None, body: bytes
) -> None:
    response = to_http_response(returning(value), value, {})
    assert response.status_code == status
    assert response.get_body() == body
    if mimetype is not None:
        assert response.mimetype == mimetype


def test_named_http_output() -> None:
    def register(app: FunctionApp) -> None:
        @app.route(binding_arg_name="res")
        def fn(req: HttpRequest, res: Out[Any]) -> None:
            return None

    spec = spec_of(register)
    args = build_args(spec, request())
    assert to_http_response(spec, None, args).status_code == 204  # never set
    args["res"].set({"ok": True})
    response = to_http_response(spec, None, args)
    assert (response.status_code, json.loads(response.get_body())) == (200, {"ok": True})


def test_value_returned_without_return_binding_is_a_500(extkit_logs: CapturedLogs) -> None:
    def register(app: FunctionApp) -> None:
        @app.route(binding_arg_name="res")
        def fn(req: HttpRequest, res: Out[Any]) -> str:
            return "lost"

    spec = spec_of(register)
    response = to_http_response(spec, "lost", build_args(spec, request()), invocation_id="inv-1")
    assert response.status_code == 500
    assert b"inv-1" in response.get_body()
    assert any("has no $return binding" in m for m in extkit_logs.messages("extkit.invocation"))


def test_no_http_output_binding() -> None:
    spec = returning(None)
    bare = FunctionSpec(**{**spec.__dict__, "http_output": None})
    assert to_http_response(bare, None, {}).status_code == 204
    assert to_http_response(bare, "something", {}).status_code == 500


@pytest.mark.parametrize("value", [42, {"when": object()}])
def test_values_that_fit_no_response_are_500_and_logged(
    value: Any, extkit_logs: CapturedLogs
) -> None:
    response = to_http_response(returning(value), value, {}, invocation_id="inv-2")
    assert response.status_code == 500
    assert response.get_body() == b"Function 'fn' failed (invocation inv-2). " + (
        b"The details are in the host's log."
    )
    (message,) = extkit_logs.messages("extkit.invocation")
    assert "return value of 'fn'" in message and "inv-2" in message


# --- failures ------------------------------------------------------------------------------------


def test_rejection_with_a_response() -> None:
    given = HttpResponse("go away", status_code=401, headers={"WWW-Authenticate": "Bearer"})
    response = error_response(
        RejectInvocation("no token", status_code=401, response=given), function_name="fn"
    )
    assert response is given


def test_rejection_with_a_plain_value_response() -> None:
    response = error_response(
        RejectInvocation("nope", response={"error": "nope"}), function_name="fn"
    )
    assert (response.status_code, response.mimetype) == (200, "application/json")


def test_rejection_with_status_and_reason() -> None:
    response = error_response(RejectInvocation("no key", status_code=401), function_name="fn")
    assert (response.status_code, response.get_body()) == (401, b"no key")
    assert error_response(RejectInvocation("denied"), function_name="fn").status_code == 403


def test_timeout_is_504() -> None:
    response = error_response(
        InvocationTimeout("fn", 2.5), function_name="fn", invocation_id="inv-3"
    )
    assert response.status_code == 504
    assert response.get_body() == b"Function 'fn' timed out after 2.5 s (invocation inv-3)."


def test_other_exceptions_are_a_generic_500() -> None:
    spec = returning(None)
    response = to_http_response(spec, None, {}, ValueError("secret detail"), invocation_id="inv-4")
    assert response.status_code == 500
    assert b"secret detail" not in response.get_body()
    assert b"inv-4" in response.get_body()


def test_invocation_id_is_taken_from_the_context_argument() -> None:
    context = Context("fn", invocation_id="from-context")
    response = to_http_response(returning(None), None, {"context": context}, RuntimeError())
    assert b"from-context" in response.get_body()


# --- whole invocations ---------------------------------------------------------------------------


def test_invoke_http_answers_with_the_invocation_id_and_trace_context(
    extkit_engine: Engine,
) -> None:
    seen: list[Context] = []

    def register(app: FunctionApp) -> None:
        @app.route()
        def fn(req: HttpRequest, context: Context) -> dict[str, str]:
            seen.append(context)
            return {"name": req.params["name"]}

    fn = loaded(spec_of(register), extkit_engine)
    req = request(params={"name": "Ada"}, headers={"traceparent": TRACEPARENT})
    response = asyncio.run(invoke_http(fn, req))
    assert json.loads(response.get_body()) == {"name": "Ada"}
    (context,) = seen
    assert response.headers[INVOCATION_ID_HEADER] == context.invocation_id
    assert context.trace_context.trace_parent == TRACEPARENT


def test_invoke_http_async_function(extkit_engine: Engine) -> None:
    def register(app: FunctionApp) -> None:
        @app.route()
        async def fn(req: HttpRequest) -> str:
            await asyncio.sleep(0)
            return "async"

    response = asyncio.run(invoke_http(loaded(spec_of(register), extkit_engine), request()))
    assert response.get_body() == b"async"


def test_invoke_http_failure_is_logged_with_the_invocation_id(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    def register(app: FunctionApp) -> None:
        @app.route()
        def fn(req: HttpRequest) -> str:
            raise KeyError("missing thing")

    response = asyncio.run(invoke_http(loaded(spec_of(register), extkit_engine), request()))
    invocation_id = response.headers[INVOCATION_ID_HEADER]
    assert response.status_code == 500
    assert invocation_id.encode() in response.get_body()
    (record,) = [
        r for r in extkit_logs.records if r.name == "extkit.invocation" and r.levelname == "ERROR"
    ]
    assert getattr(record, "invocation_id", None) == invocation_id
    assert record.exc_info is not None and "missing thing" in record.getMessage()


def test_invoke_http_rejection_by_an_extension(extkit_engine: Engine) -> None:
    class Guard(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, func_args: dict[str, Any]) -> None:
            if "x-functions-key" not in func_args["req"].headers:
                raise RejectInvocation("a key is required", status_code=401)

    calls: list[str] = []

    def register(app: FunctionApp) -> None:
        @app.route()
        def fn(req: HttpRequest) -> str:
            calls.append("ran")
            return "secret"

    fn = loaded(spec_of(register), extkit_engine)
    denied = asyncio.run(invoke_http(fn, request()))
    assert (denied.status_code, denied.get_body(), calls) == (401, b"a key is required", [])
    allowed = asyncio.run(invoke_http(fn, request(headers={"x-functions-key": "k"})))
    assert (allowed.status_code, calls) == (200, ["ran"])
    assert INVOCATION_ID_HEADER in denied.headers


def test_invoke_http_timeout_is_504_and_post_hooks_run(extkit_engine: Engine) -> None:
    outcomes: list[BaseException | None] = []

    release = threading.Event()

    class Watch(AppExtensionBase):
        @classmethod
        def post_invocation_app_level(cls, func_exc: BaseException | None) -> None:
            outcomes.append(func_exc)
            release.set()  # the timed-out function may finish now

    def register(app: FunctionApp) -> None:
        @app.route()
        def fn(req: HttpRequest) -> str:
            release.wait(30)  # held until the post hook has seen the timeout
            return "late"

    try:
        response = asyncio.run(
            invoke_http(loaded(spec_of(register), extkit_engine), request(), timeout=0.05)
        )
    finally:
        release.set()
    assert response.status_code == 504
    (outcome,) = outcomes
    assert isinstance(outcome, InvocationTimeout)


def test_invoke_timer(extkit_engine: Engine, extkit_logs: CapturedLogs) -> None:
    ticks: list[object] = []

    def register(app: FunctionApp) -> None:
        @app.schedule("0 * * * * *", arg_name="mytimer")
        def tick(mytimer: object) -> None:
            ticks.append(mytimer)
            if len(ticks) == 2:
                raise RuntimeError("second tick fails")

    fn = loaded(spec_of(register), extkit_engine)
    assert asyncio.run(invoke_timer(fn, "first")) is None
    error = asyncio.run(invoke_timer(fn, "second"))
    assert isinstance(error, RuntimeError) and ticks == ["first", "second"]
    assert any("second tick fails" in m for m in extkit_logs.messages("extkit.invocation"))


def test_timer_request_is_offered_by_bindings() -> None:
    from extkit import bindings
    from extkit.schedule import TimerRequest

    assert bindings.TimerRequest is TimerRequest
    with pytest.raises(AttributeError):
        _ = bindings.NoSuchThing
