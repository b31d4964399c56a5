"""``extkit.testing``: the fixtures and helpers extension authors test with."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Generator
from typing import Any

import pytest

from extkit import (
    AppExtensionBase,
    Context,
    Engine,
    FuncExtensionBase,
    HttpRequest,
    HttpResponse,
    Registry,
    RejectInvocation,
    current_registry,
    isolated_registry,
)
from extkit.testing import (
    CapturedLogs,
    HookCall,
    RecordingRegistry,
    invoke,
    make_context,
    make_http_request,
)


def greet(req: HttpRequest) -> HttpResponse:
    return HttpResponse(f"Hello, {req.params.get('name', 'world')}")


def test_registry_fixture_is_isolated_and_current(extkit_registry: RecordingRegistry) -> None:
    assert current_registry() is extkit_registry
    assert len(extkit_registry) == 0

    class Defined(AppExtensionBase):
        pass

    assert [entry.name for entry in extkit_registry.entries()] == ["Defined"]


def test_engine_fixture_has_the_gate_on(extkit_engine: Engine, extkit_registry: Registry) -> None:
    assert extkit_engine.enabled is True
    assert extkit_engine.registry is extkit_registry


def test_hook_calls_are_recorded_in_the_order_they_ran(
    extkit_engine: Engine, extkit_hook_calls: list[HookCall]
) -> None:
    class Outer(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            pass

        @classmethod
        def post_invocation_app_level(cls) -> None:
            pass

    class Inner(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, logger: logging.Logger) -> None:
            pass

        @classmethod
        def post_invocation_app_level(cls, logger: Any, context: Any, func_args: Any) -> None:
            pass

    class PerFunction(FuncExtensionBase):
        def pre_invocation(self, context: Context) -> None:
            pass

        def post_invocation(self, func_ret: Any, func_exc: BaseException | None) -> None:
            pass

    PerFunction(functions=["greet"])
    loaded = extkit_engine.load(greet)
    outcome = invoke(loaded, {"req": make_http_request(params={"name": "Ada"})})

    assert outcome.result.get_body() == b"Hello, Ada"
    assert outcome.hook_names() == [
        "Outer.pre_invocation_app_level",
        "Inner.pre_invocation_app_level",
        "PerFunction.pre_invocation",
        "PerFunction.post_invocation",
        "Inner.post_invocation_app_level",
        "Outer.post_invocation_app_level",
    ]
    assert {call.invocation_id for call in outcome.hook_calls} == {outcome.invocation_id}
    assert {call.function_name for call in outcome.hook_calls} == {"greet"}
    scopes = [call.scope for call in outcome.hook_calls]
    assert scopes == ["app", "app", "function", "function", "app", "app"]
    assert extkit_hook_calls == outcome.hook_calls


def test_load_hooks_are_recorded_with_the_function_name(
    extkit_engine: Engine, extkit_hook_calls: list[HookCall]
) -> None:
    class OnLoad(AppExtensionBase):
        @classmethod
        def post_function_load_app_level(cls, function_name: str) -> None:
            pass

    extkit_engine.load(greet)
    assert extkit_hook_calls == [
        HookCall("OnLoad", "post_function_load_app_level", "app", "greet", None)
    ]


def test_around_hooks_are_recorded_on_entry_and_exit_and_keep_their_meaning(
    extkit_engine: Engine,
) -> None:
    class Replace(AppExtensionBase):
        @classmethod
        def around_invocation_app_level(cls) -> Generator[None, Any, Any]:
            result = yield
            return f"{result}!"

    class Swallow(AppExtensionBase):
        @classmethod
        def around_invocation_app_level(cls) -> Generator[None, Any, Any]:
            try:
                yield
            except ZeroDivisionError:
                return "recovered"
            return "unreachable"

    def divide() -> str:
        return str(1 / 0)

    outcome = invoke(extkit_engine.load(divide))
    assert outcome.result == "recovered!"
    assert outcome.hook_names() == [
        "Replace.around_invocation_app_level:enter",
        "Swallow.around_invocation_app_level:enter",
        "Swallow.around_invocation_app_level:exit",
        "Replace.around_invocation_app_level:exit",
    ]


def test_async_hooks_and_async_around_hooks_are_recorded(extkit_engine: Engine) -> None:
    seen: list[str] = []

    class Async(AppExtensionBase):
        @classmethod
        async def pre_invocation_app_level(cls) -> None:
            await asyncio.sleep(0)
            seen.append("pre awaited")

        @classmethod
        async def around_invocation_app_level(cls) -> AsyncGenerator[None, Any]:
            seen.append("around in")
            yield
            seen.append("around out")

    async def hello() -> str:
        return "hi"

    outcome = invoke(extkit_engine.load(hello))
    assert outcome.result == "hi"
    assert seen == ["pre awaited", "around in", "around out"]
    assert outcome.hook_names() == [
        "Async.pre_invocation_app_level",
        "Async.around_invocation_app_level:enter",
        "Async.around_invocation_app_level:exit",
    ]


def test_invoke_keeps_the_error_and_result_re_raises_it(extkit_engine: Engine) -> None:
    class Guard(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            raise RejectInvocation("no entry", status_code=401)

    outcome = invoke(extkit_engine.load(greet), {"req": make_http_request()})
    assert isinstance(outcome.error, RejectInvocation)
    assert outcome.error.status_code == 401
    with pytest.raises(RejectInvocation, match="no entry"):
        outcome.result  # noqa: B018 - the property raises


def test_invocation_logs_are_this_invocations_structured_lines(extkit_engine: Engine) -> None:
    class Talks(AppExtensionBase):
        @classmethod
        def post_invocation_app_level(cls, logger: logging.Logger, context: Context) -> None:
            logger.info("done with %s", context.function_name, extra={"size": 3})

    loaded = extkit_engine.load(greet)
    first = invoke(loaded, {"req": make_http_request()})
    second = invoke(loaded, {"req": make_http_request()})

    assert first.messages() == ["done with greet"]
    (line,) = second.logs
    assert line["event"] == "done with greet"
    assert line["level"] == "info"
    assert line["logger"] == "extkit.extensions.Talks"
    assert line["invocation_id"] == second.invocation_id != first.invocation_id
    assert line["function_name"] == "greet"
    assert line["size"] == 3
    assert "timestamp" in line


def test_a_failing_hook_is_visible_in_the_logs_with_its_exception(extkit_engine: Engine) -> None:
    class Broken(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            raise ValueError("bad config")

    outcome = invoke(extkit_engine.load(greet), {"req": make_http_request()})
    assert outcome.result.status_code == 200  # isolated: the invocation went on
    (line,) = outcome.logs
    assert line["level"] == "error"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("ValueError: bad config")


def test_add_registers_a_class_imported_before_the_test(
    extkit_registry: RecordingRegistry, extkit_engine: Engine
) -> None:
    with isolated_registry() as other:

        class Early(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls) -> None:
                pass

    assert [entry.name for entry in other.entries()] == ["Early"]
    assert len(extkit_registry) == 0
    extkit_registry.add(Early)
    extkit_registry.add(Early)  # once only
    outcome = invoke(extkit_engine.load(greet), {"req": make_http_request()})
    assert outcome.hook_names() == ["Early.pre_invocation_app_level"]


def test_the_registry_fixture_keeps_calls_only_when_asked(
    extkit_registry: RecordingRegistry, extkit_engine: Engine
) -> None:
    class Counted(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            pass

    loaded = extkit_engine.load(greet)
    for _ in range(3):
        assert len(invoke(loaded, {"req": make_http_request()}).hook_calls) == 1
    assert extkit_registry.keep_calls is False


def test_init_runs_once_even_when_another_registry_takes_the_class(
    extkit_registry: RecordingRegistry,
) -> None:
    runs: list[str] = []
    with isolated_registry():

        class Once(AppExtensionBase):
            @classmethod
            def init(cls) -> None:
                runs.append("init")

    extkit_registry.add(Once)
    assert runs == ["init"]
    assert [entry.name for entry in extkit_registry.entries()] == ["Once"]


def test_a_plain_registry_keeps_the_extensions_own_callables() -> None:
    """Recording is a testing-only registry, and it records what the engine does: neither kind
    of registry wraps an extension's hooks, and only the recording one has an observer."""
    with isolated_registry() as plain:

        class Plain(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls) -> None:
                pass

    (entry,) = plain.entries()
    fn, _ = entry.hooks["pre_invocation_app_level"]
    assert fn == Plain.pre_invocation_app_level
    assert plain.hook_observer is None

    recording = RecordingRegistry()
    recorded = recording.register(Plain, scope="app", key="k", name="Plain")
    same, _ = recorded.hooks["pre_invocation_app_level"]
    assert same == Plain.pre_invocation_app_level
    Engine(registry=recording, enabled=True).load(greet).invoke({"req": make_http_request()})
    assert recording.names() == ["Plain.pre_invocation_app_level"]


def test_make_http_request_parses_the_query_and_serialises_json() -> None:
    req = make_http_request(
        "post", "/api/items?name=Ada&x=", json_body={"n": 1}, headers={"X-A": "b"}
    )
    assert req.method == "POST"
    assert req.params == {"name": "Ada", "x": ""}
    assert req.get_json() == {"n": 1}
    assert req.headers["content-type"] == "application/json"
    assert req.headers["x-a"] == "b"
    with pytest.raises(ValueError, match="not both"):
        make_http_request(body="x", json_body={})


def test_make_context_builds_what_the_host_builds() -> None:
    context = make_context(
        "HttpTrigger",
        invocation_id="abc",
        trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        retry_count=1,
        max_retry_count=3,
        trigger="http",
    )
    assert context.invocation_id == "abc"
    assert context.function_name == "HttpTrigger"
    assert context.trace_context.Traceparent.startswith("00-0af7")
    assert (context.retry_context.retry_count, context.retry_context.max_retry_count) == (1, 3)


def test_capture_logs_collects_records_with_correlation(extkit_logs: CapturedLogs) -> None:
    logging.getLogger("user.code").warning("outside any invocation")
    (record,) = [r for r in extkit_logs.records if r.name == "user.code"]
    assert record.invocation_id is None  # type: ignore[attr-defined]
    assert extkit_logs.messages("user") == ["outside any invocation"]
    assert extkit_logs.lines("user")[0]["level"] == "warning"


# --- apps loaded in-process -------------------------------------------------------------------

APP_CODE = """
import logging

from extkit import AppExtensionBase, FuncExtensionBase, HttpRequest, HttpResponse
from extkit.app import FunctionApp

app = FunctionApp(http_auth_level="anonymous")
log = logging.getLogger("sample.app")


class Audit(AppExtensionBase):
    @classmethod
    def pre_invocation_app_level(cls, context):
        context.app_ext_attributes["audited"] = True

    @classmethod
    def post_invocation_app_level(cls, logger, context, func_exc):
        logger.info("audited %s failed=%s", context.function_name, func_exc is not None)


class Greeting(FuncExtensionBase):
    def pre_invocation(self, func_args):
        func_args["req"].params.setdefault("name", "stranger")


Greeting(functions=["greet"])


@app.function_name("greet")
@app.route(route="greet")
def greet(req: HttpRequest, context) -> HttpResponse:
    log.info("greeting %s", req.params["name"])
    return HttpResponse(f"Hello, {req.params['name']} ({context.app_ext_attributes['audited']})")


@app.route(route="items/{id:int}")
def item(req: HttpRequest) -> dict:
    return {"id": req.route_params["id"]}


@app.route(route="boom")
def boom(req: HttpRequest) -> str:
    raise RuntimeError("boom")


@app.schedule(schedule="0 */5 * * * *", arg_name="timer")
def tick(timer) -> None:
    log.info("tick past_due=%s", timer.past_due)
"""


@pytest.fixture
def sample_app(tmp_path: Any) -> Any:
    root = tmp_path / "sample"
    root.mkdir()
    (root / "host.json").write_text('{"version": "2.0"}', encoding="utf-8")
    (root / "function_app.py").write_text(APP_CODE, encoding="utf-8")
    return root


def test_an_app_is_invoked_as_the_host_would(extkit_app: Any, sample_app: Any) -> None:
    app = extkit_app(sample_app, extensions=[])
    assert sorted(app.function_names) == ["boom", "greet", "item", "tick"]

    outcome = app.invoke("greet", make_http_request("GET", "/api/greet"))
    assert outcome.response.status_code == 200
    assert outcome.response.get_body() == b"Hello, stranger (True)"
    assert outcome.response.headers["x-invocation-id"] == outcome.invocation_id
    assert outcome.hook_names() == [
        "Audit.pre_invocation_app_level",
        "Greeting.pre_invocation",
        "Audit.post_invocation_app_level",
    ]
    assert outcome.messages() == ["greeting stranger", "audited greet failed=False"]
    assert {line["invocation_id"] for line in outcome.logs} == {outcome.invocation_id}
    assert {line["function_name"] for line in outcome.logs} == {"greet"}


def test_route_parameters_results_and_failures_become_responses(
    extkit_app: Any, sample_app: Any
) -> None:
    app = extkit_app(sample_app, extensions=[])
    outcome = app.invoke("item", make_http_request("GET", "/api/items/7", route_params={"id": 7}))
    assert outcome.result == {"id": 7}
    assert outcome.response.mimetype == "application/json"
    assert outcome.hook_names() == [
        "Audit.pre_invocation_app_level",
        "Audit.post_invocation_app_level",
    ]

    failed = app.invoke("boom")
    assert isinstance(failed.error, RuntimeError)
    assert failed.response.status_code == 500
    assert failed.messages("extkit.extensions") == ["audited boom failed=True"]


def test_a_timer_function_gets_timer_info(extkit_app: Any, sample_app: Any) -> None:
    app = extkit_app(sample_app, extensions=[])
    outcome = app.invoke("tick")
    assert outcome.error is None and outcome.response is None
    assert "tick past_due=False" in outcome.messages()
    from extkit.testing import make_timer_request

    late = app.invoke("tick", timer=make_timer_request(past_due=True))
    assert "tick past_due=True" in late.messages()


def test_the_gate_can_be_turned_off(extkit_app: Any, sample_app: Any) -> None:
    app = extkit_app(sample_app, extensions=[], enabled=False)
    outcome = app.invoke("item", make_http_request("GET", "/api/items/1", route_params={"id": 1}))
    assert outcome.result == {"id": 1}
    assert outcome.hook_calls == []


def test_an_unknown_function_is_named_in_the_error(extkit_app: Any, sample_app: Any) -> None:
    app = extkit_app(sample_app, extensions=[])
    with pytest.raises(KeyError, match="no function 'nope' in the app; it has"):
        app.invoke("nope")


def test_extensions_limits_installed_ones_and_registers_them_first(
    extkit_app: Any, sample_app: Any
) -> None:
    with isolated_registry():

        class Early(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls) -> None:
                pass

    app = extkit_app(sample_app, extensions=[Early])
    names = app.invoke("boom").hook_names()
    assert names == [
        "Early.pre_invocation_app_level",
        "Audit.pre_invocation_app_level",
        "Audit.post_invocation_app_level",
    ]


def test_the_app_is_forgotten_after_the_test(extkit_app: Any, sample_app: Any) -> None:
    import sys

    app = extkit_app(sample_app, extensions=[])
    assert "function_app" in sys.modules
    app.loaded.unload()
    assert "function_app" not in sys.modules


def test_hook_calls_of_an_engine_that_does_not_record_raise_and_say_how_to_record() -> None:
    """A plain registry records nothing: asking for its calls is an error, not an empty list."""
    with isolated_registry() as plain:

        class Quiet(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls) -> None:
                pass

    outcome = invoke(Engine(registry=plain, enabled=True).load(greet), {"req": make_http_request()})
    assert outcome.error is None
    with pytest.raises(RuntimeError, match="not a RecordingRegistry") as raised:
        outcome.hook_names()
    assert "isolated_registry(RecordingRegistry())" in str(raised.value)
    with pytest.raises(RuntimeError, match="not a RecordingRegistry"):
        _ = outcome.hook_calls


def test_a_registry_that_keeps_no_calls_says_so_when_asked_for_them(
    extkit_registry: RecordingRegistry, extkit_engine: Engine
) -> None:
    class Counted(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            pass

    invoke(extkit_engine.load(greet), {"req": make_http_request()})
    with pytest.raises(RuntimeError, match="keep_calls"):
        extkit_registry.names()
    with pytest.raises(RuntimeError, match="extkit_hook_calls"):
        _ = extkit_registry.calls
    extkit_registry.keep_calls = True
    invoke(extkit_engine.load(greet), {"req": make_http_request()})
    assert extkit_registry.names() == ["Counted.pre_invocation_app_level"]
