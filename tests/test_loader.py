"""Loading function apps from disk: both layouts, host settings, and every way an app can be bad.

The fixture apps live in ``tests/apps``. Each test loads into its own registry (``extkit_registry``)
and unloads afterwards, so sys.path, sys.modules and the environment are as before.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from apputil import write_app as write

from extkit import FuncExtensionBase, Registry
from extkit.app import AuthLevel
from extkit.http import HttpRequest
from extkit.loader import APP_PACKAGE, AppLoadError, HostSettings, LoadedApp, load_app

APPS = Path(__file__).parent / "apps"
Load = Callable[..., LoadedApp]


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed extensions stay out (tests that want one say so); the gate comes from code."""
    monkeypatch.setenv("EXTKIT_DISABLED_EXTENSIONS", "timer,tracing")
    monkeypatch.delenv("PYTHON_ENABLE_WORKER_EXTENSIONS", raising=False)
    monkeypatch.delenv("PYTHON_SCRIPT_FILE_NAME", raising=False)


@pytest.fixture
def load(extkit_registry: Registry) -> Iterator[Load]:
    loaded: list[LoadedApp] = []

    def load_into_registry(path: str | Path, **kwargs: Any) -> LoadedApp:
        kwargs.setdefault("enabled", True)
        app = load_app(path, registry=extkit_registry, **kwargs)
        loaded.append(app)
        return app

    yield load_into_registry
    for app in reversed(loaded):
        app.unload()


def problems_of(path: str | Path, **kwargs: Any) -> list[str]:
    with pytest.raises(AppLoadError) as raised:
        load_app(path, registry=Registry(), enabled=True, **kwargs)
    return raised.value.problems


HTTP_BINDINGS = {
    "bindings": [
        {"type": "httpTrigger", "direction": "in", "name": "req"},
        {"type": "http", "direction": "out", "name": "$return"},
    ]
}


# --- the folder layout -------------------------------------------------------------------------


def test_folder_app_functions_and_their_specs(load: Load) -> None:
    app = load(APPS / "folder_app")
    specs = {fn.name: fn.spec for fn in app.functions}
    assert sorted(specs) == ["Custom", "Greet", "Store", "Tick"]

    greet = specs["Greet"]
    assert (greet.trigger, greet.trigger_arg, greet.route) == ("http", "req", "greet/{name}")
    assert greet.methods == ("GET", "POST")
    assert greet.auth_level is AuthLevel.ANONYMOUS
    assert greet.http_output == "$return"
    assert greet.layout == "folder"
    assert greet.directory == str(APPS.resolve() / "folder_app" / "Greet")
    assert greet.source_file == str(APPS.resolve() / "folder_app" / "Greet" / "__init__.py")
    assert greet.bindings[0]["type"] == "httpTrigger"

    custom = specs["Custom"]
    assert custom.func.__name__ == "run"  # entryPoint
    assert custom.source_file is not None and custom.source_file.endswith("handler.py")
    assert (custom.route, custom.methods, custom.auth_level) == ("Custom", None, AuthLevel.ADMIN)

    store = specs["Store"]
    assert (store.trigger_arg, store.http_output, store.outputs) == (
        "request",
        "response",
        ("response",),
    )

    tick = specs["Tick"]
    assert (tick.trigger, tick.trigger_arg) == ("timer", "mytimer")
    assert (tick.schedule, tick.run_on_startup) == ("0 */5 * * * *", True)
    assert tick.route is None and tick.auth_level is None


def test_host_json_settings(load: Load) -> None:
    settings = load(APPS / "folder_app").settings
    assert settings.route_prefix == "v1"
    assert settings.function_timeout == 30.0
    assert settings.log_levels == {"default": "Warning", "Function.Greet": "Debug"}
    assert settings.custom_headers == {"X-App": "folder"}
    assert settings.local_http_port == 7077
    assert settings.max_request_body_bytes == 100 * 1024 * 1024


def test_log_level_falls_back_along_categories() -> None:
    import logging

    settings = HostSettings(log_levels={"default": "Warning", "Function.Greet": "Debug"})
    assert settings.log_level("Function.Greet.User") == logging.DEBUG
    assert settings.log_level("Function.Other") == logging.WARNING
    assert settings.log_level() == logging.WARNING
    assert HostSettings().log_level() is None
    assert HostSettings(log_levels={"default": "None"}).log_level() == logging.CRITICAL + 10


def test_imports_shared_code_legacy_alias_and_relative(load: Load) -> None:
    """Greet imports ``shared_code``, ``__app__.shared_code``, ``..shared_code`` and ``.texts``."""
    app = load(APPS / "folder_app")
    greet = app.get("greet")
    assert greet is not None
    request = HttpRequest("GET", "/v1/greet/Ada", route_params={"name": "Ada"})
    assert greet.loaded.invoke({"req": request}) == "Hello, Ada! (marked by Greet)"


def test_local_settings_become_environment_variables_process_wins(
    load: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLDER_APP_GREETING", "Hi")
    monkeypatch.delenv("FOLDER_APP_NUMBER", raising=False)
    app = load(APPS / "folder_app")
    assert os.environ["FOLDER_APP_GREETING"] == "Hi"  # already set in the process: it wins
    assert os.environ["FOLDER_APP_NUMBER"] == "7"
    assert os.environ["FOLDER_APP_FLAG"] == "true"
    assert os.environ["AzureWebJobsScriptRoot"] == str(app.root)  # noqa: SIM112 - its name
    greet = app.get("Greet")
    assert greet is not None
    request = HttpRequest("GET", "/v1/greet/Ada", route_params={"name": "Ada"})
    assert greet.loaded.invoke({"req": request}).startswith("Hi, Ada!")
    app.unload()
    assert "FOLDER_APP_NUMBER" not in os.environ
    assert os.environ["FOLDER_APP_GREETING"] == "Hi"


def test_gate_may_come_from_local_settings(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "local.settings.json": {"Values": {"PYTHON_ENABLE_WORKER_EXTENSIONS": "1"}},
            "Fn/function.json": HTTP_BINDINGS,
            "Fn/__init__.py": "def main(req):\n    return 'ok'\n",
        },
    )
    app = load_app(root, registry=Registry())
    try:
        assert app.engine.enabled is True
    finally:
        app.unload()
    assert "PYTHON_ENABLE_WORKER_EXTENSIONS" not in os.environ


def test_gate_off_with_registered_extensions_is_a_startup_note(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "Fn/function.json": HTTP_BINDINGS,
            "Fn/__init__.py": (
                "from extkit import AppExtensionBase\n"
                "class Quiet(AppExtensionBase):\n"
                "    @classmethod\n"
                "    def pre_invocation_app_level(cls):\n"
                "        pass\n"
                "def main(req):\n"
                "    return 'ok'\n"
            ),
        },
    )
    app = load_app(root, registry=Registry(), enabled=False)
    try:
        notes = " ".join(app.warnings)
        assert "Quiet" in notes and "PYTHON_ENABLE_WORKER_EXTENSIONS" in notes
    finally:
        app.unload()


def test_unrecognised_gate_value_is_a_note_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_ENABLE_WORKER_EXTENSIONS", "maybe")
    root = write(
        tmp_path, {"Fn/function.json": HTTP_BINDINGS, "Fn/__init__.py": "def main(req): ..."}
    )
    app = load_app(root, registry=Registry())
    try:
        assert app.engine.enabled is False
        assert any("'maybe'" in note for note in app.warnings)
    finally:
        app.unload()


def test_the_gate_note_says_the_environment_overrides_local_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_ENABLE_WORKER_EXTENSIONS", "maybe")
    root = write(
        tmp_path,
        {
            "local.settings.json": {"Values": {"PYTHON_ENABLE_WORKER_EXTENSIONS": "1"}},
            "Fn/function.json": HTTP_BINDINGS,
            "Fn/__init__.py": (
                "from extkit import AppExtensionBase\n"
                "class Quiet(AppExtensionBase):\n"
                "    @classmethod\n"
                "    def pre_invocation_app_level(cls):\n"
                "        pass\n"
                "def main(req):\n"
                "    return 'ok'\n"
            ),
        },
    )
    app = load_app(root, registry=Registry())
    try:
        (note,) = [note for note in app.warnings if "Quiet" in note]
        assert "PYTHON_ENABLE_WORKER_EXTENSIONS is 'maybe' in the environment" in note
        assert "which overrides local.settings.json" in note
    finally:
        app.unload()


def test_function_extension_binds_to_its_folder_only(load: Load, extkit_registry: Registry) -> None:
    app = load(APPS / "folder_app")
    markers = [e for e in extkit_registry.entries("function") if e.name == "Marker"]
    assert len(markers) == 1
    bound = [fn.name for fn in app.functions if markers[0].binds_to(fn.loaded.info)]
    assert bound == ["Greet"]


def test_load_hooks_run_once_per_function_after_all_imports(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "shared_code/__init__.py": (
                "from extkit import AppExtensionBase\n"
                "LOADED = []\n"
                "class Loads(AppExtensionBase):\n"
                "    @classmethod\n"
                "    def post_function_load_app_level(cls, function_name, function_directory):\n"
                "        LOADED.append(function_name)\n"
            ),
            "A/function.json": HTTP_BINDINGS,
            "A/__init__.py": "import shared_code\ndef main(req): ...\n",
            "B/function.json": HTTP_BINDINGS,
            "B/__init__.py": (
                "import shared_code\nassert shared_code.LOADED == []\ndef main(req): ...\n"
            ),
        },
    )
    app = load_app(root, registry=Registry(), enabled=True)
    try:
        assert sys.modules["shared_code"].LOADED == ["A", "B"]
    finally:
        app.unload()


def test_disabled_function_json_and_app_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write(
        tmp_path,
        {
            "On/function.json": HTTP_BINDINGS,
            "On/__init__.py": "def main(req): ...",
            "Off/function.json": {**HTTP_BINDINGS, "disabled": True},
            "Off/__init__.py": "raise RuntimeError('a disabled function is not imported')",
            "Muted/function.json": HTTP_BINDINGS,
            "Muted/__init__.py": "def main(req): ...",
        },
    )
    monkeypatch.setenv("AzureWebJobs.Muted.Disabled", "true")
    app = load_app(root, registry=Registry())
    try:
        assert [fn.name for fn in app.functions] == ["On"]
        assert any("AzureWebJobs.Muted.Disabled" in note for note in app.warnings)
    finally:
        app.unload()


def test_host_json_functions_selects_and_names_unknown_ones(tmp_path: Path) -> None:
    files: dict[str, str | dict[str, Any]] = {
        "host.json": {"version": "2.0", "functions": ["b"]},
        "A/function.json": HTTP_BINDINGS,
        "A/__init__.py": "def main(req): ...",
        "B/function.json": HTTP_BINDINGS,
        "B/__init__.py": "def main(req): ...",
    }
    app = load_app(write(tmp_path / "ok", files), registry=Registry())
    try:
        assert [fn.name for fn in app.functions] == ["B"]
    finally:
        app.unload()
    files["host.json"] = {"version": "2.0", "functions": ["B", "Nope"]}
    (problem,) = problems_of(write(tmp_path / "bad", files))
    assert "host.json" in problem and "Nope" in problem and "A, B" in problem


def test_host_json_absent_means_defaults_and_a_note(load: Load) -> None:
    app = load(APPS / "other_app")
    assert app.settings.route_prefix == "api" and app.settings.function_timeout is None
    assert any("host.json not found" in note for note in app.warnings)


@pytest.mark.parametrize(
    ("timeout", "seconds"),
    [("00:05:00", 300.0), ("1.00:00:00", 86400.0), ("00:00:01.5", 1.5), ("-1", None)],
)
def test_function_timeout_formats(tmp_path: Path, timeout: str, seconds: float | None) -> None:
    root = write(
        tmp_path,
        {
            "host.json": {"version": "2.0", "functionTimeout": timeout},
            "Fn/function.json": HTTP_BINDINGS,
            "Fn/__init__.py": "def main(req): ...",
        },
    )
    app = load_app(root, registry=Registry())
    try:
        assert app.settings.function_timeout == seconds
    finally:
        app.unload()


def test_connection_limits_default_to_a_30_s_header_timeout_and_no_request_caps(
    load: Load,
) -> None:
    settings = load(APPS / "other_app").settings
    assert settings.request_headers_timeout == 30.0
    assert settings.max_concurrent_requests is None and settings.max_outstanding_requests is None


@pytest.mark.parametrize(
    ("http", "expected"),
    [
        ({"requestHeadersTimeout": "00:00:02.5"}, (2.5, None, None)),
        ({"maxConcurrentRequests": 4, "maxOutstandingRequests": 10}, (30.0, 4, 10)),
        ({"maxConcurrentRequests": -1, "maxOutstandingRequests": -1}, (30.0, None, None)),
    ],
)
def test_connection_limits_from_host_json(
    tmp_path: Path, http: dict[str, Any], expected: tuple[float, int | None, int | None]
) -> None:
    root = write(
        tmp_path,
        {
            "host.json": {"version": "2.0", "extensions": {"http": http}},
            "Fn/function.json": HTTP_BINDINGS,
            "Fn/__init__.py": "def main(req): ...",
        },
    )
    app = load_app(root, registry=Registry())
    try:
        settings = app.settings
        found = (
            settings.request_headers_timeout,
            settings.max_concurrent_requests,
            settings.max_outstanding_requests,
        )
        assert found == expected
    finally:
        app.unload()


# --- the decorator model -----------------------------------------------------------------------


def test_decorator_app(load: Load) -> None:
    app = load(APPS / "decorator_app")
    specs = {fn.name: fn.spec for fn in app.functions}
    assert list(specs) == ["Item", "plain", "Hourly", "echo"]
    assert all(spec.layout == "decorator" for spec in specs.values())
    assert specs["Item"].route == "items/{id:int}" and specs["Item"].methods == ("GET",)
    assert specs["Item"].auth_level is AuthLevel.ANONYMOUS
    assert specs["plain"].auth_level is AuthLevel.FUNCTION
    assert specs["echo"].source_file == str(APPS.resolve() / "decorator_app" / "blueprint_funcs.py")
    assert specs["Hourly"].schedule == "0 0 * * * *"

    item = app.get("Item")
    assert item is not None
    request = HttpRequest("GET", "/api/items/5", route_params={"id": 5})
    assert item.loaded.invoke({"req": request}) == {
        "id": 5,
        "origin": "decorator_app",
        "named": True,
    }


def test_function_extensions_bind_by_file_and_by_name(
    load: Load, extkit_registry: Registry
) -> None:
    app = load(APPS / "decorator_app")
    bound = {
        entry.name: [fn.name for fn in app.functions if entry.binds_to(fn.loaded.info)]
        for entry in extkit_registry.entries("function")
    }
    assert bound == {"Named": ["Item"], "ByFile": ["echo"]}
    echo = app.get("echo")
    assert echo is not None
    request = HttpRequest("GET", "/api/bp/echo", params={"say": "hi"})
    assert echo.loaded.invoke({"request": request}) == "echo hi by_file=True"


def test_script_file_name_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write(
        tmp_path,
        {
            "main_app.py": (
                "from extkit.app import FunctionApp\n"
                "app = FunctionApp()\n"
                "@app.route()\n"
                "def hello(req):\n"
                "    return 'hi'\n"
            )
        },
    )
    monkeypatch.setenv("PYTHON_SCRIPT_FILE_NAME", "main_app.py")
    app = load_app(root, registry=Registry())
    try:
        assert [fn.name for fn in app.functions] == ["hello"]
    finally:
        app.unload()


# --- isolation between loads -------------------------------------------------------------------


def test_two_apps_with_the_same_module_names_do_not_collide(load: Load) -> None:
    folder = load(APPS / "folder_app")
    other = load(APPS / "other_app")
    origin = other.get("Origin")
    assert origin is not None
    assert origin.loaded.invoke({"req": HttpRequest("GET", "/")}) == "other_app"
    decorator = load(APPS / "decorator_app")
    item = decorator.get("Item")
    assert item is not None
    result = item.loaded.invoke({"req": HttpRequest("GET", "/", route_params={"id": 1})})
    assert result["origin"] == "decorator_app"
    assert folder.root != other.root


def test_loading_the_same_app_twice_imports_it_afresh(extkit_registry: Registry) -> None:
    """Each load re-runs the app's code, so its extensions register into that load's registry."""
    first_registry, second_registry = Registry(), Registry()
    first = load_app(APPS / "folder_app", registry=first_registry, enabled=True)
    first.unload()
    second = load_app(APPS / "folder_app", registry=second_registry, enabled=True)
    try:
        for registry in (first_registry, second_registry):
            assert [e.name for e in registry.entries("function")] == ["Marker"]
        first_func = first.get("Greet")
        second_func = second.get("Greet")
        assert first_func is not None and second_func is not None
        assert first_func.spec.func is not second_func.spec.func
    finally:
        second.unload()


def test_unload_restores_sys_path_and_modules(tmp_path: Path) -> None:
    before_path = list(sys.path)
    app = load_app(APPS / "folder_app", registry=Registry())
    assert str(app.root) in sys.path
    assert f"{APP_PACKAGE}.Greet" in sys.modules and "shared_code" in sys.modules
    app.unload()
    assert sys.path == before_path
    assert f"{APP_PACKAGE}.Greet" not in sys.modules and APP_PACKAGE not in sys.modules
    assert "shared_code" not in sys.modules


def test_packages_installed_inside_the_app_folder_are_not_app_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app's own virtualenv (``.venv``) or Azure's ``.python_packages`` sits in the app folder;
    the packages there (extkit itself, with the ``FunctionApp`` class) are kept across loads."""
    site = tmp_path / ".venv" / "lib" / "site-packages"
    root = write(
        tmp_path,
        {
            ".venv/lib/site-packages/vendored_lib/__init__.py": "class Marker:\n    pass\n",
            "function_app.py": (
                "import vendored_lib\n"
                "from extkit import FunctionApp\n"
                "app = FunctionApp(http_auth_level='anonymous')\n"
                "@app.route(route='marker')\n"
                "def marker(req):\n"
                "    return vendored_lib.Marker.__module__\n"
            ),
        },
    )
    monkeypatch.syspath_prepend(str(site))
    import vendored_lib  # type: ignore[import-not-found]  # the app's packages, imported first

    for _ in range(2):  # a second load forgets the first load's app modules, not the packages
        app = load_app(root, registry=Registry())
        try:
            assert sys.modules["vendored_lib"] is vendored_lib
            assert [function.name for function in app.functions] == ["marker"]
        finally:
            app.unload()
    assert sys.modules["vendored_lib"] is vendored_lib
    monkeypatch.delitem(sys.modules, "vendored_lib")


# --- broken apps: every problem, in one report ---------------------------------------------------


def test_broken_app_reports_every_problem_at_once() -> None:
    before_path, before_modules = list(sys.path), set(sys.modules)
    problems = problems_of(APPS / "broken_app")
    text = "\n".join(problems)
    expectations = {
        "local.settings.json:2:": "local.settings.json with a bad line",
        "host.json:4:3: not valid JSON": "host.json with a missing comma",
        "BadJson/function.json:4:21: not valid JSON": "a function.json with a missing comma",
        "UnknownType/function.json: bindings[0] has type 'queueTrigger'": "unknown type",
        "NoEntry/__init__.py: entry point 'main' not found; the module defines handler, helper": (
            "missing entry point with the candidates"
        ),
        "RuntimeError: boom at import time": "import error",
        'Raises/__init__.py", line 2, in _configure': "the import error's traceback",
        "BadSchedule/function.json: timer function 'BadSchedule'": "bad schedule",
        "WrongParam/function.json: function 'WrongParam': binding(s) req have no parameter": (
            "binding without parameter"
        ),
        "BadRoute/function.json: function 'BadRoute': route 'items/{id:nope}'": "bad route",
    }
    missing = [why for needle, why in expectations.items() if needle not in text]
    assert missing == [], text
    assert len(problems) == 9, text
    assert "local.settings.json" in problems[0] and "not valid JSON" in problems[0]
    assert "HttpRequest" not in problems[3]  # only callables the module defines are offered
    assert "Fine" not in text
    # Nothing half-loaded: the process is as it was.
    assert sys.path == before_path
    leftovers = [
        name
        for name in set(sys.modules) - before_modules
        if "broken_app" in str(getattr(sys.modules[name], "__file__", ""))
    ]
    assert leftovers == []
    assert APP_PACKAGE not in sys.modules
    assert "A" not in os.environ


def test_broken_app_runs_no_load_hook(tmp_path: Path) -> None:
    seen: list[str] = []
    registry = Registry()

    from extkit import AppExtensionBase, isolated_registry

    with isolated_registry(registry):

        class Loads(AppExtensionBase):
            @classmethod
            def post_function_load_app_level(cls, function_name: str) -> None:
                seen.append(function_name)

    root = write(
        tmp_path,
        {
            "Good/function.json": HTTP_BINDINGS,
            "Good/__init__.py": "def main(req): ...",
            "Bad/function.json": HTTP_BINDINGS,
            "Bad/__init__.py": "import not_a_module_anywhere\n",
        },
    )
    with pytest.raises(AppLoadError) as raised:
        load_app(root, registry=registry, enabled=True)
    assert "No module named 'not_a_module_anywhere'" in str(raised.value)
    assert seen == []


def test_duplicate_names_and_routes() -> None:
    problems = problems_of(APPS / "dupes_app")
    assert len(problems) == 2
    name, route = problems
    assert "duplicate function name 'FIRST'" in name
    assert "First/function.json" in name and "function_app.py" in name
    assert "duplicate route" in route and "'Second'" in route and "'First'" in route
    assert "Second/function.json" in route and "for GET" in route


def test_routes_with_other_methods_do_not_collide(tmp_path: Path) -> None:
    def http(route: str, methods: list[str]) -> dict[str, Any]:
        return {
            "bindings": [
                {"type": "httpTrigger", "name": "req", "route": route, "methods": methods},
                {"type": "http", "direction": "out", "name": "$return"},
            ]
        }

    root = write(
        tmp_path,
        {
            "Read/function.json": http("things/{id}", ["get"]),
            "Read/__init__.py": "def main(req): ...",
            "Write/function.json": http("things/{key}", ["put", "post"]),
            "Write/__init__.py": "def main(req): ...",
        },
    )
    app = load_app(root, registry=Registry())
    try:
        assert len(app.functions) == 2
    finally:
        app.unload()


def test_missing_and_unreadable_app_folder(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path / "nowhere")
    assert "nowhere" in problem and "does not exist" in problem
    a_file = tmp_path / "file.txt"
    a_file.write_text("not an app")
    (problem,) = problems_of(a_file)
    assert "file.txt" in problem and "not a folder" in problem


def test_no_functions_found(tmp_path: Path) -> None:
    root = write(tmp_path, {"host.json": {"version": "2.0"}, "notes/readme.txt": "hi"})
    (problem,) = problems_of(root)
    assert "no functions found" in problem and "function.json" in problem
    assert "function_app.py" in problem and "notes" in problem


def test_a_function_app_without_functions_is_told_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_app = "from extkit import FunctionApp\napp = FunctionApp()\n"
    root = write(tmp_path, {"function_app.py": empty_app})
    monkeypatch.chdir(tmp_path)
    (problem,) = problems_of(root)
    assert problem.startswith("function_app.py: its FunctionApp declares no functions: ")
    assert "@app.route(" in problem and "app.register_functions(" in problem
    assert "lacks" not in problem and "expected folders" not in problem


@pytest.mark.parametrize(
    ("host", "needle"),
    [
        ({"version": "1.0"}, '"version" is \'1.0\'; expected "2.0"'),
        ({"version": "2.0", "functionTimeout": "5 minutes"}, "functionTimeout '5 minutes'"),
        ({"version": "2.0", "functionTimeout": "00:61:00"}, "below 60"),
        ({"version": "2.0", "logging": {"logLevel": {"default": "Loud"}}}, "logLevel.default"),
        ({"version": "2.0", "extensions": {"http": {"routePrefix": 5}}}, "routePrefix"),
        (
            {"version": "2.0", "extensions": {"http": {"requestHeadersTimeout": "2s"}}},
            "extensions.http.requestHeadersTimeout '2s' is not a duration",
        ),
        (
            {"version": "2.0", "extensions": {"http": {"requestHeadersTimeout": "-1"}}},
            "requestHeadersTimeout '-1' must be longer than zero",
        ),
        (
            {"version": "2.0", "extensions": {"http": {"maxConcurrentRequests": 0}}},
            "extensions.http.maxConcurrentRequests must be a whole number above 0 (or -1 for "
            "no limit), got 0",
        ),
        (
            {"version": "2.0", "extensions": {"http": {"maxOutstandingRequests": "many"}}},
            "extensions.http.maxOutstandingRequests must be a whole number",
        ),
        ({"version": "2.0", "extkit": {"maxRequestBodyBytes": 0}}, "maxRequestBodyBytes"),
        ({"version": "2.0", "extkit": {"nope": 1}}, "extkit.nope is not an extkit setting"),
        ({"version": "2.0", "functions": "Fn"}, "functions must be a list of strings"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_bad_host_json_values(tmp_path: Path, host: Any, needle: str) -> None:
    root = write(
        tmp_path,
        {
            "host.json": json.dumps(host),
            "Fn/function.json": HTTP_BINDINGS,
            "Fn/__init__.py": "def main(req): ...",
        },
    )
    problems = problems_of(root)
    assert len(problems) == 1 and "host.json" in problems[0] and needle in problems[0], problems


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"bindings": []}, '"bindings" must be a non-empty list'),
        ({"bindings": [{"type": "http", "name": "$return"}]}, "exactly one trigger binding"),
        (
            {"bindings": [{"type": "httpTrigger", "name": "req", "methods": ["FETCH"]}]},
            "'FETCH' is not an HTTP method",
        ),
        (
            {"bindings": [{"type": "httpTrigger", "name": "req", "authLevel": "system"}]},
            "'system' is not an auth level; expected one of anonymous, function, admin",
        ),
        ({"bindings": [{"type": "httpTrigger"}]}, 'needs a "name"'),
        ({"bindings": [{"type": "httpTrigger", "name": "req"}], "scriptFile": "x.js"}, ".py file"),
        (
            {"bindings": [{"type": "httpTrigger", "name": "req"}], "scriptFile": "missing.py"},
            "scriptFile 'missing.py' not found",
        ),
        (
            {"bindings": [{"type": "timerTrigger", "name": "t"}, {"type": "http", "name": "x"}]},
            "needs an httpTrigger",
        ),
        (
            {"bindings": [{"type": "timerTrigger", "name": "t", "schedule": "%NO_SUCH_SETTING%"}]},
            "NO_SUCH_SETTING",
        ),
    ],
)
def test_bad_function_json(tmp_path: Path, config: dict[str, Any], needle: str) -> None:
    root = write(
        tmp_path,
        {"Fn/function.json": config, "Fn/__init__.py": "def main(req=None, t=None, x=None): ..."},
    )
    problems = problems_of(root)
    assert len(problems) == 1, problems
    assert "Fn/function.json" in problems[0] and needle in problems[0], problems


def test_bad_local_settings_values(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "local.settings.json": {"Values": {"NESTED": {"a": 1}}, "Host": {"LocalHttpPort": "x"}},
            "Fn/function.json": HTTP_BINDINGS,
            "Fn/__init__.py": "def main(req): ...",
        },
    )
    problems = problems_of(root)
    assert len(problems) == 2
    assert "local.settings.json: Values.NESTED must be a string" in problems[0]
    assert "Host.LocalHttpPort" in problems[1]


def test_decorator_model_problems(tmp_path: Path) -> None:
    no_app = write(tmp_path / "no_app", {"function_app.py": "x = 1\n"})
    (problem,) = problems_of(no_app)
    assert "function_app.py" in problem and "exactly one FunctionApp" in problem

    no_trigger = write(
        tmp_path / "no_trigger",
        {
            "function_app.py": (
                "from extkit.app import FunctionApp\n"
                "app = FunctionApp()\n"
                "@app.function_name('Lonely')\n"
                "def lonely(req): ...\n"
            )
        },
    )
    (problem,) = problems_of(no_trigger)
    assert "function_app.py" in problem and "'Lonely' has no trigger" in problem

    raises = write(
        tmp_path / "raises",
        {
            "function_app.py": (
                "from extkit.app import FunctionApp\n"
                "app = FunctionApp()\n"
                "@app.route(methods=['FETCH'])\n"
                "def bad(req): ...\n"
            )
        },
    )
    (problem,) = problems_of(raises)
    assert "function_app.py" in problem and "'FETCH' is not an HTTP method" in problem
    assert 'function_app.py", line ' in problem  # the traceback (line varies by version)


def test_installed_extension_that_fails_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken installed extension is reported with the app's other problems."""
    import extkit.loader as loader

    def broken(registry: Registry | None = None, *, disabled: object = ()) -> list[Any]:
        raise ImportError("cannot import name 'Gone' from 'extkit_broken'")

    monkeypatch.setattr(loader, "load_installed", broken)
    root = write(tmp_path, {"Fn/function.json": HTTP_BINDINGS, "Fn/__init__.py": "import nope\n"})
    problems = problems_of(root)
    assert len(problems) == 2
    assert "an installed extension failed to import" in problems[0] and "Gone" in problems[0]


def test_installed_extensions_are_loaded_unless_disabled(
    load: Load, monkeypatch: pytest.MonkeyPatch, extkit_registry: Registry
) -> None:
    pytest.importorskip("extkit_timer")
    monkeypatch.setenv("EXTKIT_DISABLED_EXTENSIONS", "tracing")
    app = load(APPS / "other_app")
    assert [item.name for item, _ in app.extensions_loaded] == ["timer"]
    assert "TimerExtension" in [entry.name for entry in extkit_registry.entries("app")]


def test_host_json_disabled_extensions_beat_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("extkit_timer")
    monkeypatch.setenv("EXTKIT_DISABLED_EXTENSIONS", "")
    root = write(
        tmp_path,
        {
            "host.json": {"version": "2.0", "extkit": {"disabledExtensions": ["timer", "tracing"]}},
            "Fn/function.json": HTTP_BINDINGS,
            "Fn/__init__.py": "def main(req): ...",
        },
    )
    app = load_app(root, registry=Registry())
    try:
        assert app.extensions_loaded == []
        assert app.settings.disabled_extensions == ("timer", "tracing")
    finally:
        app.unload()


def test_function_extension_instances_in_function_code_register_per_load(
    load: Load, extkit_registry: Registry
) -> None:
    load(APPS / "folder_app")
    (entry,) = extkit_registry.entries("function")
    assert isinstance(entry.extension, FuncExtensionBase)


def test_failed_load_takes_back_the_environment_it_set(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "local.settings.json": {"Values": {"EXTKIT_TEST_ROLLBACK": "set-by-the-app"}},
            "Fn/function.json": HTTP_BINDINGS,
            "Fn/__init__.py": (
                "import os\nassert os.environ['EXTKIT_TEST_ROLLBACK']\nraise SystemExit(3)\n"
            ),
        },
    )
    before_path = list(sys.path)
    problems = problems_of(root)
    assert len(problems) == 1 and "SystemExit: 3" in problems[0]
    assert "EXTKIT_TEST_ROLLBACK" not in os.environ
    assert sys.path == before_path
