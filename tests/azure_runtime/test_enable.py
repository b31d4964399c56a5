"""What Azure's workers see of a function once ``extkit.azure.enable(app)`` ran.

The worker indexes ``app.get_functions()`` and inspects each ``get_user_function()`` (its
signature, its annotations with ``typing.get_type_hints``, ``inspect.iscoroutinefunction``,
``inspect.getfile``) before it calls it with keyword arguments. These tests inspect and call it
the same way, with any ``azure-functions`` release (1.x on Python 3.12 and earlier, where
Azure's classic worker does the indexing, 2.x from 3.13 on).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import textwrap
import traceback
import typing
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("azure.functions")

import azure.functions as func

import extkit.azure
from extkit import Context, invocation_scope
from extkit.testing import HookCall

APP_SOURCE = """
    from __future__ import annotations

    import azure.functions as func

    import extkit.azure
    from extkit import AppExtensionBase

    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    extkit.azure.enable(app)


    class Noted(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, logger, context, func_args):
            logger.info("before %s", context.function_name)


    @app.route(route="plain")
    def plain(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("plain")


    @app.route(route="with-context")
    def with_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return func.HttpResponse(context.invocation_id)


    @app.route(route="later")
    async def later(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("later")


    @app.route(route="broken")
    def broken(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("broken")
"""


@pytest.fixture
def app_module(tmp_path: Path, extkit_registry: Any) -> Iterator[ModuleType]:
    """``function_app`` written with string annotations, imported as Azure's workers do."""
    path = tmp_path / "function_app.py"
    path.write_text(textwrap.dedent(APP_SOURCE))
    spec = importlib.util.spec_from_file_location("function_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["function_app"]


def indexed(module: ModuleType) -> dict[str, Any]:
    """What the worker calls, by function name (``get_functions()`` is called once, as the
    worker calls it: the library refuses a second call)."""
    return {f.get_function_name(): f.get_user_function() for f in module.app.get_functions()}


def request() -> Any:
    return func.HttpRequest("GET", "http://localhost/api/plain", headers={}, body=b"")


def runtime_context(invocation_id: str) -> Any:
    """The invocation context Azure's worker passes to a ``context`` parameter."""
    return SimpleNamespace(
        invocation_id=invocation_id,
        trace_context=SimpleNamespace(trace_parent="", trace_state="", attributes={}),
        retry_context=SimpleNamespace(retry_count=0, max_retry_count=0),
    )


def test_the_worker_sees_the_users_signature_and_annotations(app_module: ModuleType) -> None:
    entries = indexed(app_module)
    plain, with_context = app_module.plain, app_module.with_context

    user = entries["with_context"].__wrapped__
    assert inspect.signature(entries["with_context"]) == inspect.signature(user)
    assert typing.get_type_hints(entries["with_context"]) == {
        "req": func.HttpRequest,
        "context": func.Context,
        "return": func.HttpResponse,
    }
    # Without a context parameter, one is added, so the worker hands its context over.
    assert list(inspect.signature(entries["plain"]).parameters) == ["req", "context"]
    assert typing.get_type_hints(entries["plain"]) == {
        "req": func.HttpRequest,
        "return": func.HttpResponse,
    }
    assert inspect.iscoroutinefunction(entries["later"])
    assert not inspect.iscoroutinefunction(entries["plain"])
    assert inspect.getfile(entries["plain"]) == app_module.__file__
    # Calling the decorated name directly (a unit test of the function) stays a plain call.
    assert plain(request()).get_body() == b"plain"
    assert with_context(request(), runtime_context("id")).get_body() == b"id"


def test_the_function_is_called_with_its_own_parameters(
    app_module: ModuleType, extkit_hook_calls: list[HookCall]
) -> None:
    entries = indexed(app_module)

    plain = entries["plain"](req=request(), context=runtime_context("inv-1"))
    own = entries["with_context"](req=request(), context=runtime_context("inv-2"))

    assert plain.get_body() == b"plain"
    assert own.get_body() == b"inv-2"
    assert [(str(call), call.invocation_id) for call in extkit_hook_calls] == [
        ("Noted.pre_invocation_app_level", "inv-1"),
        ("Noted.pre_invocation_app_level", "inv-2"),
    ]


def test_a_traceback_points_at_the_decorated_function(app_module: ModuleType) -> None:
    entries = indexed(app_module)

    with pytest.raises(RuntimeError) as raised:
        entries["broken"](req=request(), context=runtime_context("inv"))

    frames = traceback.extract_tb(raised.value.__traceback__)
    # The frame extkit enters through is shown at the decorator line of the function.
    entry_frame = frames[1]
    assert (entry_frame.filename, entry_frame.name) == (app_module.__file__, "broken")
    assert entry_frame.line == '@app.route(route="broken")'
    assert (frames[-1].filename, frames[-1].name) == (app_module.__file__, "broken")
    assert frames[-1].line == 'raise RuntimeError("broken")'


def test_inside_extkits_own_invocation_the_function_runs_bare(
    app_module: ModuleType, extkit_hook_calls: list[HookCall]
) -> None:
    """On ``extkit start`` extkit's engine already runs the hooks: never twice."""
    entries = indexed(app_module)
    context = Context("with_context", invocation_id="from-extkit")

    with invocation_scope(context):
        answer = entries["with_context"](req=request(), context=context)
        plain = entries["plain"](req=request(), context=context)

    assert answer.get_body() == b"from-extkit"
    assert plain.get_body() == b"plain"
    assert extkit_hook_calls == []


def test_enabling_twice_changes_nothing(app_module: ModuleType) -> None:
    indexer = app_module.app.get_functions

    extkit.azure.enable(app_module.app)

    assert app_module.app.get_functions is indexer


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            func.Blueprint(),
            "extkit.azure.enable() takes the azure.functions.FunctionApp that function_app.py "
            "defines, got Blueprint; a Blueprint's functions are covered once "
            "app.register_functions(bp) adds them",
        ),
        (
            object(),
            "extkit.azure.enable() takes the azure.functions.FunctionApp that function_app.py "
            "defines, got object",
        ),
    ],
)
def test_anything_but_a_function_app_is_refused(given: Any, message: str) -> None:
    with pytest.raises(TypeError) as raised:
        extkit.azure.enable(given)

    assert str(raised.value) == message


AZURE_WRITTEN = """
import azure.functions as func


class Legacy(func.AppExtensionBase):
    @classmethod
    def pre_invocation_app_level(cls, logger, context, func_args, *args, **kwargs):
        logger.info("legacy pre")
"""


def test_azure_written_extensions_run_where_azures_worker_runs_none(
    app_module: ModuleType,
    tmp_path: Path,
    extkit_hook_calls: list[HookCall],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From Python 3.13 on the worker runs no extension at all: ``enable`` runs them. On 3.12
    and earlier Azure's classic worker runs them itself, so ``enable`` leaves them to it."""
    (tmp_path / "legacy_extension.py").write_text(AZURE_WRITTEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("legacy_extension")  # function code importing it, before indexing
    try:
        entries = indexed(app_module)
        entries["plain"](req=request(), context=runtime_context("inv"))
    finally:
        del sys.modules["legacy_extension"]  # so later apps do not adopt it

    expected = ["Noted.pre_invocation_app_level"]
    if sys.version_info >= (3, 13):
        expected.append("Legacy.pre_invocation_app_level")
    assert [str(call) for call in extkit_hook_calls] == expected
