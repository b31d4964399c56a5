"""The decorator model: what ``FunctionApp`` and ``Blueprint`` record, in any decorator order."""

from __future__ import annotations

import dataclasses

import pytest

from extkit import HttpRequest, Out
from extkit.app import AuthLevel, Blueprint, FunctionApp, FunctionAppError, FunctionSpec


def test_route_defaults() -> None:
    app = FunctionApp()

    @app.route()
    def hello(req: HttpRequest) -> str:
        return "hi"

    (spec,) = app.get_functions()
    assert spec.name == "hello" and spec.func is hello
    assert (spec.trigger, spec.trigger_arg, spec.route) == ("http", "req", "hello")
    assert spec.methods is None
    assert spec.auth_level is AuthLevel.FUNCTION  # the app's default, as in the reference
    assert spec.http_output == "$return" and spec.outputs == ()
    assert spec.layout == "decorator"
    assert spec.source_file == __file__
    assert spec.bindings == (
        {
            "type": "httpTrigger",
            "direction": "in",
            "name": "req",
            "authLevel": "function",
            "route": "hello",
        },
        {"type": "http", "direction": "out", "name": "$return"},
    )


def test_decorated_function_is_returned_unchanged() -> None:
    app = FunctionApp()

    def hello(req: HttpRequest) -> str:
        return f"hi {req.params['name']}"

    assert app.route()(hello) is hello
    assert hello(HttpRequest("GET", "/", params={"name": "Ada"})) == "hi Ada"


@pytest.mark.parametrize("name_first", [True, False])
def test_function_name_stacks_above_or_below_route(name_first: bool) -> None:
    app = FunctionApp(http_auth_level="anonymous")

    def handler(request: HttpRequest) -> str:
        return "x"

    route = app.route(route="/items/{id:int}/", methods=["get", "Post"], trigger_arg_name="request")
    name = app.function_name("GetItem")
    if name_first:
        name(route(handler))
    else:
        route(name(handler))
    (spec,) = app.get_functions()
    assert spec.name == "GetItem"
    assert spec.route == "items/{id:int}"
    assert spec.methods == ("GET", "POST")
    assert spec.trigger_arg == "request"
    assert spec.auth_level is AuthLevel.ANONYMOUS
    assert spec.bindings[0]["methods"] == ["get", "post"]


def test_schedule() -> None:
    app = FunctionApp()

    @app.function_name("Nightly")
    @app.schedule("0 0 3 * * *", run_on_startup=True, use_monitor=False)
    def nightly(timer: object) -> None:
        return None

    (spec,) = app.get_functions()
    assert (spec.name, spec.trigger, spec.trigger_arg) == ("Nightly", "timer", "timer")
    assert (spec.schedule, spec.run_on_startup) == ("0 0 3 * * *", True)
    assert spec.route is None and spec.methods is None and spec.auth_level is None
    assert spec.http_output is None
    assert spec.bindings == (
        {
            "type": "timerTrigger",
            "direction": "in",
            "name": "timer",
            "schedule": "0 0 3 * * *",
            "runOnStartup": True,
            "useMonitor": False,
        },
    )


def test_timer_trigger_is_the_reference_spelling_of_schedule() -> None:
    app = FunctionApp()

    @app.timer_trigger(schedule="0 */5 * * * *", arg_name="mytimer")
    def tick(mytimer: object) -> None:
        return None

    (spec,) = app.get_functions()
    assert (spec.trigger, spec.trigger_arg) == ("timer", "mytimer")


def test_named_http_output() -> None:
    app = FunctionApp()

    @app.route(binding_arg_name="res")
    def store(req: HttpRequest, res: Out[str]) -> None:
        res.set("ok")

    (spec,) = app.get_functions()
    assert spec.http_output == "res" and spec.outputs == ("res",)
    assert {"type": "http", "direction": "out", "name": "res"} in spec.bindings


def test_generic_output_binding() -> None:
    app = FunctionApp()

    @app.generic_output_binding(arg_name="out", type="http")
    @app.route(binding_arg_name=None)
    def via_http(req: HttpRequest, out: Out[str]) -> None:
        out.set("ok")

    @app.generic_output_binding(arg_name="msg", type="queue", queueName="jobs")
    @app.route()
    def via_queue(req: HttpRequest, msg: Out[str]) -> str:
        return "queued"

    first, second = app.get_functions()
    assert first.http_output == "out" and first.outputs == ("out",)
    assert second.http_output == "$return" and second.outputs == ("msg",)
    assert {"type": "queue", "direction": "out", "name": "msg", "queueName": "jobs"} in (
        second.bindings
    )


def test_two_http_outputs_are_an_error() -> None:
    app = FunctionApp()

    @app.generic_output_binding(arg_name="b", type="http")
    @app.route(binding_arg_name="a")
    def two_outputs(req: HttpRequest, a: Out[str], b: Out[str]) -> None:
        return None

    with pytest.raises(FunctionAppError, match="'two_outputs' has two http outputs"):
        app.get_functions()


def test_blueprints_take_the_apps_auth_level_and_come_after_its_functions() -> None:
    bp = Blueprint()

    @bp.route(route="bp/one")
    def one(req: HttpRequest) -> str:
        return "1"

    @bp.route(route="bp/admin", auth_level=AuthLevel.ADMIN)
    def admin(req: HttpRequest) -> str:
        return "a"

    app = FunctionApp(http_auth_level=AuthLevel.ANONYMOUS)
    app.register_functions(bp)
    app.register_blueprint(bp)  # the reference's other name; registering twice adds nothing

    @app.route()
    def own(req: HttpRequest) -> str:
        return "own"

    @bp.route(route="bp/late")  # declared after registration: still part of the app
    def late(req: HttpRequest) -> str:
        return "late"

    specs = {spec.name: spec for spec in app.get_functions()}
    assert list(specs) == ["own", "one", "admin", "late"]
    assert specs["one"].auth_level is AuthLevel.ANONYMOUS
    assert specs["admin"].auth_level is AuthLevel.ADMIN


def test_function_spec_is_frozen() -> None:
    app = FunctionApp()

    @app.route()
    def hello(req: HttpRequest) -> str:
        return "hi"

    (spec,) = app.get_functions()
    assert isinstance(spec, FunctionSpec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]


def test_auth_level_parsing() -> None:
    assert AuthLevel.parse("Anonymous") is AuthLevel.ANONYMOUS
    assert AuthLevel.parse(AuthLevel.ADMIN) is AuthLevel.ADMIN
    assert str(AuthLevel.FUNCTION) == "function"
    with pytest.raises(FunctionAppError, match="'system' is not an auth level"):
        AuthLevel.parse("system")
    with pytest.raises(FunctionAppError, match="http_auth_level"):
        FunctionApp(http_auth_level="everyone")


def test_two_triggers_are_an_error() -> None:
    app = FunctionApp()
    with pytest.raises(FunctionAppError, match=r"already has a trigger \(http\)"):

        @app.schedule("0 * * * * *")
        @app.route()
        def both(req: HttpRequest) -> None:
            return None


def test_no_trigger_is_an_error_naming_the_function() -> None:
    app = FunctionApp()

    @app.function_name("Lonely")
    def lonely(req: HttpRequest) -> None:
        return None

    with pytest.raises(FunctionAppError, match="'Lonely' has no trigger"):
        app.get_functions()


def test_bad_declarations() -> None:
    app = FunctionApp()
    with pytest.raises(FunctionAppError, match="'FETCH' is not an HTTP method"):
        app.route(methods=["FETCH"])(lambda req: None)
    with pytest.raises(FunctionAppError, match="must decorate a function"):
        app.route()("not callable")
    with pytest.raises(FunctionAppError, match="non-empty name"):
        app.function_name("")
    with pytest.raises(FunctionAppError, match="NCRONTAB"):
        app.schedule("")(lambda timer: None)
    with pytest.raises(FunctionAppError, match="expects a Blueprint"):
        app.register_functions(FunctionApp())  # type: ignore[arg-type]

    def twice(req: HttpRequest) -> None:
        return None

    app.function_name("One")(twice)
    with pytest.raises(FunctionAppError, match="named twice"):
        app.function_name("Two")(twice)


def test_methods_may_be_a_single_string() -> None:
    app = FunctionApp()

    @app.route(methods="post")
    def only_post(req: HttpRequest) -> None:
        return None

    (spec,) = app.get_functions()
    assert spec.methods == ("POST",)


def test_specs_can_key_a_dict() -> None:
    app = FunctionApp()

    @app.route()
    def hello(req: HttpRequest) -> str:
        return "hi"

    (spec,) = app.get_functions()
    assert {spec: "target"}[spec] == "target"
