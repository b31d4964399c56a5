"""Code written against ``azure.functions`` gets that library's types; its answers become extkit's.

The conversions of ``extkit.azure._convert``, against the real ``azure-functions`` package.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any

import azure.functions as func
import pytest

from extkit import Context, Engine, HttpRequest, HttpResponse, Out
from extkit.app import FunctionSpec
from extkit.azure._app import wants_library_types
from extkit.azure._convert import (
    AzureHttpRequest,
    azure_http_request,
    azure_response,
    convert_trigger,
    copy_back,
    extkit_response,
    returning_extkit_types,
    settling,
)
from extkit.bindings import build_args, to_http_response
from extkit.schedule import ScheduleStatus, TimerRequest, parse_schedule
from extkit.streaming import sending_streams
from extkit.testing import CapturedLogs


def host_request(**overrides: Any) -> HttpRequest:
    fields: dict[str, Any] = {
        "headers": {"Content-Type": "application/json", "X-Custom": "yes"},
        "params": {"name": "Ada"},
        "route_params": {"id": 7},
        "body": '{"n": 1}',
    }
    fields.update(overrides)
    return HttpRequest("post", "http://localhost/api/items/7?name=Ada", **fields)


def built_by_the_host() -> AzureHttpRequest:
    """The request as the host builds it for an azure-typed function: from what it read."""
    return azure_http_request(
        "post",
        "http://localhost/api/items/7?name=Ada",
        headers={"content-type": "application/json", "x-custom": "yes"},
        params={"name": "Ada"},
        route_params={"id": 7},
        body=b'{"n": 1}',
    )


@pytest.mark.parametrize(
    "made",
    [lambda: convert_trigger(host_request()), built_by_the_host],
    ids=["converted", "built by the host"],
)
def test_the_request_is_the_library_s_own_type_with_its_behaviour(made: Any) -> None:
    request = made()
    assert isinstance(request, func.HttpRequest) and isinstance(request, HttpRequest)
    assert convert_trigger(request) is request
    assert request.method == "POST"
    assert request.url == "http://localhost/api/items/7?name=Ada"
    assert request.get_body() == b'{"n": 1}' and type(request.get_body()) is bytes
    assert request.get_json() == {"n": 1}
    assert request.headers["x-custom"] == "yes" and request.headers.get("content-type")
    assert request.route_params == {"id": "7"}  # route values are text, as in the reference
    with pytest.raises(TypeError):
        request.params["name"] = "Bob"  # type: ignore[index]
    with pytest.raises(TypeError):
        request.route_params["id"] = "8"  # type: ignore[index]


def test_get_json_of_a_body_that_is_not_json_raises_value_error() -> None:
    request = convert_trigger(host_request(body="not json"))
    with pytest.raises(ValueError):
        request.get_json()


def test_the_request_is_also_an_extkit_request_for_extkit_extensions() -> None:
    request = convert_trigger(host_request())
    assert isinstance(request, AzureHttpRequest) and isinstance(request, HttpRequest)
    assert "AzureHttpRequest(method='POST'" in repr(request)


def test_a_request_of_the_library_passes_unchanged() -> None:
    given = func.HttpRequest("GET", "/api/x", body=b"")
    assert convert_trigger(given) is given


def test_the_timer_request_is_the_library_s_with_the_reference_schedule_status() -> None:
    last = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    status = ScheduleStatus(last=last, next=last.replace(hour=13), last_updated=last)
    timer = convert_trigger(
        TimerRequest(past_due=True, schedule=parse_schedule("0 0 * * * *"), schedule_status=status)
    )
    assert isinstance(timer, func.TimerRequest)
    assert timer.past_due is True
    assert timer.schedule_status == {
        "Last": "2026-01-01T12:00:00+00:00",
        "Next": "2026-01-01T13:00:00+00:00",
        "LastUpdated": "2026-01-01T12:00:00+00:00",
    }
    assert timer.schedule == {"AdjustForDST": True}


def test_a_library_response_becomes_the_http_answer() -> None:
    given = func.HttpResponse(
        "Grüße",
        status_code=201,
        headers={"X-One": "1"},
        mimetype="text/html",
        charset="iso-8859-1",
    )
    response = extkit_response(given)
    assert response is not None
    assert (response.status_code, response.mimetype, response.charset) == (
        201,
        "text/html",
        "iso-8859-1",
    )
    assert response.get_body() == "Grüße".encode("iso-8859-1")
    assert dict(response.headers) == {"X-One": "1"}
    assert extkit_response("text") is None


def test_a_library_response_with_odd_values_converts_as_extkit_s_constructor_would() -> None:
    """Values the library keeps as given (an empty mimetype or charset) get extkit's defaults,
    as an ``extkit.HttpResponse`` made of them would."""
    response = extkit_response(func.HttpResponse(b"raw", mimetype="", charset=""))
    expected = HttpResponse(b"raw", mimetype="", charset="")
    assert response is not None
    assert (response.mimetype, response.charset) == (expected.mimetype, expected.charset)
    assert (response.mimetype, response.charset) == ("application/octet-stream", "utf-8")
    assert dict(response.headers) == {} and response.get_body() == b"raw"


def test_an_azure_written_hook_s_changes_to_its_view_reach_the_response() -> None:
    response = HttpResponse("body", headers={"X-Keep": "1"})
    view = azure_response(response)
    assert isinstance(view, func.HttpResponse) and view.get_body() == b"body"
    view._HttpResponse__body += b" more"  # type: ignore[attr-defined] # the tutorial's own line
    view.headers["X-Added"] = "2"
    copy_back(view, response)
    assert response.get_body() == b"body more"
    assert dict(response.headers) == {"X-Keep": "1", "X-Added": "2"}


def test_repeated_headers_keep_every_value_both_ways() -> None:
    given = func.HttpResponse("x")
    given.headers.add_header("Set-Cookie", "a=1")
    given.headers.add_header("Set-Cookie", "b=2")
    response = extkit_response(given)
    assert response is not None
    assert response.header_values("set-cookie") == ["a=1", "b=2"]
    view = azure_response(response)  # what an Azure-written post hook sees
    assert view.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    view.headers["X-Added"] = "3"
    copy_back(view, response)
    assert response.header_values("set-cookie") == ["a=1", "b=2"]
    assert response.headers["x-added"] == "3"


def spec(func_: Any, **fields: Any) -> FunctionSpec:
    defaults: dict[str, Any] = {"trigger": "http", "trigger_arg": "req", "http_output": "$return"}
    defaults.update(fields)
    return FunctionSpec(name="Fn", func=func_, **defaults)


def test_a_function_s_library_response_is_extkit_s_before_post_hooks_run() -> None:
    def main(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("hi", status_code=203)

    wrapped = returning_extkit_types(main)
    result = wrapped(req=None)
    assert type(result) is HttpResponse and result.status_code == 203
    assert wrapped.__wrapped__ is main  # type: ignore[attr-defined]


def test_a_library_response_set_on_an_out_becomes_extkit_s() -> None:
    def main(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> None:
        res.set(func.HttpResponse("out", status_code=202))

    out: Out[Any] = Out()
    assert returning_extkit_types(main, ["res"])(req=None, res=out) is None
    value = out.get()
    assert isinstance(value, HttpResponse) and value.status_code == 202


@pytest.mark.parametrize("is_async", [False, True])
def test_the_loader_s_one_wrapper_of_an_http_function_settles_its_answer(is_async: bool) -> None:
    """How the loader wraps an azure-typed HTTP function: the streaming wrapper settles first."""

    def main(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> func.HttpResponse:
        res.set(func.HttpResponse("out", status_code=202))
        return func.HttpResponse("returned", status_code=203)

    async def main_async(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> Any:
        return main(req, res)

    wrapped = sending_streams(main_async if is_async else main, "$return", settling(["res"]))
    out: Out[Any] = Out()
    result = asyncio.run(wrapped(req=None, res=out)) if is_async else wrapped(req=None, res=out)
    assert type(result) is HttpResponse and result.status_code == 203
    value = out.get()
    assert type(value) is HttpResponse and value.get_body() == b"out"


def test_an_async_function_stays_async() -> None:
    async def main(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("async")

    wrapped = returning_extkit_types(main)
    assert asyncio.iscoroutinefunction(wrapped)
    assert asyncio.run(wrapped(req=None)).get_body() == b"async"


def test_build_args_converts_the_trigger_of_an_azure_typed_spec() -> None:
    args = build_args(spec(lambda req: None, convert_trigger=convert_trigger), host_request())
    assert isinstance(args["req"], func.HttpRequest)


def test_an_unconverted_library_response_still_becomes_the_answer() -> None:
    """A function not detected as azure-typed that returns ``func.HttpResponse`` anyway."""
    response = to_http_response(spec(lambda req: None), func.HttpResponse("x", status_code=202), {})
    assert (response.status_code, response.get_body()) == (202, b"x")


def test_an_unsendable_result_names_its_type_and_the_accepted_ones(
    extkit_logs: CapturedLogs,
) -> None:
    class Reply:
        pass

    response = to_http_response(spec(lambda req: None), Reply(), {}, invocation_id="inv-1")
    assert response.status_code == 500
    (message,) = extkit_logs.messages("extkit.invocation")
    assert (
        f"the return value of 'Fn' is a {__name__}.test_an_unsendable_result_names_its_type_and_"
        "the_accepted_ones.<locals>.Reply; an HTTP function returns extkit.HttpResponse or "
        "azure.functions.HttpResponse, str, bytes, dict or list (or None for 204 No Content)"
    ) in message


def test_post_hooks_of_extkit_extensions_see_an_extkit_response(extkit_engine: Engine) -> None:
    from extkit import AppExtensionBase

    seen: list[Any] = []

    class Watch(AppExtensionBase):
        @classmethod
        def post_invocation_app_level(cls, func_ret: Any) -> None:
            seen.append(type(func_ret))

    def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        assert isinstance(context, Context)
        return func.HttpResponse(json.dumps({"ok": True}), mimetype="application/json")

    loaded = extkit_engine.load(returning_extkit_types(main), name="Fn")
    result = loaded.invoke({"req": convert_trigger(host_request())})
    assert seen == [HttpResponse] and result.mimetype == "application/json"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def main(req: func.HttpRequest) -> func.HttpResponse: ...", True),
        ("def main(req, out: func.Out[func.HttpResponse]): ...", True),
        ("def main(req: 'func.HttpRequest'): ...", True),
        ("def main(req): ...", True),  # unannotated, in a module that imports azure.functions
        ("def main(req: extkit.HttpRequest) -> func.HttpResponse: ...", False),
        ("def main(req: extkit.HttpRequest): ...", False),
    ],
)
def test_which_folder_functions_get_the_library_s_types(source: str, expected: bool) -> None:
    import extkit

    scope: dict[str, Any] = {"func": func, "extkit": extkit}
    exec(source, scope)
    found = spec(scope["main"], outputs=("out",), layout="folder")
    assert wants_library_types(found) is expected


def test_an_unannotated_function_of_a_module_without_the_library_keeps_extkit_types() -> None:
    scope: dict[str, Any] = {}
    exec("def main(req): ...", scope)
    assert wants_library_types(spec(scope["main"], layout="folder")) is False
