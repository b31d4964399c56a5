"""Extensions written against ``azure.functions`` run on extkit's engine, unchanged.

Each extension here is a module file, imported as function code imports one, and forgotten after
the test (the library's registry is process-wide: a forgotten module's extensions are not
adopted again). The real ``azure-functions`` package is used throughout.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func
import pytest

from extkit import (
    AppExtensionBase,
    Engine,
    HttpRequest,
    HttpResponse,
    Registry,
    StreamingResponse,
    TraceContext,
    isolated_registry,
)
from extkit.azure._convert import convert_trigger, returning_extkit_types
from extkit.azure._extensions import adopt_azure_extensions
from extkit.testing import CapturedLogs

TUTORIAL_TIMER = (
    Path(__file__).parent
    / "apps"
    / "azure_timer_extension"
    / "python_worker_extension_timer"
    / "__init__.py"
)

ModuleWriter = Callable[..., ModuleType]


@pytest.fixture
def app_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An app folder, set as ``AzureWebJobsScriptRoot`` (the library needs it for function
    extensions, as the reference host sets it)."""
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(tmp_path))
    return tmp_path


@pytest.fixture
def module(app_root: Path) -> Iterator[ModuleWriter]:
    """``module("Folder/file.py", source)`` writes and imports a module of the app."""
    names: list[str] = []

    def write(
        relative: str, source: str = "", *, path: Path | None = None, name: str | None = None
    ) -> ModuleType:
        file = path if path is not None else app_root / relative
        if path is None:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(textwrap.dedent(source), encoding="utf-8")
        name = name or f"azure_ext_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec is not None and spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        names.append(name)
        spec.loader.exec_module(loaded)
        return loaded

    yield write
    for name in names:
        sys.modules.pop(name, None)


def adopted(*, enabled: bool = True) -> tuple[Registry, Engine]:
    registry = Registry()
    adopt_azure_extensions(registry)
    return registry, Engine(registry=registry, enabled=enabled)


def request(**params: str) -> Any:
    return convert_trigger(HttpRequest("GET", "http://localhost/api/fn", params=params))


def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"Hello, {req.params.get('name')}.")


RECORDER = """
    import azure.functions as func
    from azure.functions import AppExtensionBase

    calls = []

    class Recorder(AppExtensionBase):
        @classmethod
        def init(cls):
            calls.append(("init",))

        @classmethod
        def post_function_load_app_level(cls, function_name, function_directory, *args, **kwargs):
            calls.append(("load", function_name, function_directory))

        @classmethod
        def pre_invocation_app_level(cls, logger, context, func_args, *args, **kwargs):
            calls.append(("pre", logger.name, context.function_name, dict(func_args)))

        @classmethod
        def post_invocation_app_level(cls, logger, context, func_args, func_ret, *args, **kwargs):
            calls.append(("post", context.function_name, func_ret))
"""


# --- the reference tutorial's timer -------------------------------------------------------------


def test_the_tutorial_s_timer_runs_unchanged(module: ModuleWriter) -> None:
    timer = module("", path=TUTORIAL_TIMER)
    timer.TimerExtension.configure(append_to_http_response=True)
    registry, engine = adopted()
    (entry,) = registry.entries()
    assert entry.name == "TimerExtension"
    assert sorted(entry.hooks) == ["post_invocation_app_level", "pre_invocation_app_level"]

    result = engine.load(returning_extkit_types(hello), name="HttpTrigger").invoke(
        {"req": request(name="Ada")}
    )
    assert isinstance(result, HttpResponse)
    body = result.get_body().decode()
    assert body.startswith("Hello, Ada. (TimeElapsed: ") and body.endswith(" sec)")
    assert timer.TimerExtension.start_timestamps == {}  # its pre and post hooks both ran


# --- the reference's calls ----------------------------------------------------------------------


def test_hooks_get_the_reference_s_positional_arguments(module: ModuleWriter) -> None:
    recorder = module("ext.py", RECORDER)
    _, engine = adopted()
    loaded = engine.load(returning_extkit_types(hello), name="Fn", directory="/app/Fn")
    req = request(name="Ada")
    result = loaded.invoke({"req": req})
    (init, load, pre, post) = recorder.calls
    assert init == ("init",)
    assert load == ("load", "Fn", "/app/Fn")
    assert pre == ("pre", "extkit.extensions.Recorder", "Fn", {"req": req})
    assert post[:2] == ("post", "Fn") and isinstance(post[2], func.HttpResponse)
    assert post[2].get_body() == result.get_body()


def test_a_streaming_response_reaches_azure_written_post_hooks_as_it_is(
    module: ModuleWriter,
) -> None:
    """A ``func.HttpResponse`` view cannot hold a body that is still being produced: the hook
    gets the ``StreamingResponse`` itself."""
    recorder = module("ext.py", RECORDER)
    _, engine = adopted()
    streamed = StreamingResponse(iter([b"a", b"b"]))
    loaded = engine.load(returning_extkit_types(lambda req: streamed), name="Fn")
    assert loaded.invoke({"req": request()}) is streamed
    assert recorder.calls[-1] == ("post", "Fn", streamed)


def test_func_args_hold_the_library_s_objects_and_hooks_may_change_them(
    module: ModuleWriter,
) -> None:
    module(
        "ext.py",
        """
        import azure.functions as func
        from azure.functions import AppExtensionBase

        class Renamer(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls, logger, context, func_args, *args, **kwargs):
                assert isinstance(func_args["req"], func.HttpRequest)
                func_args["req"] = func.HttpRequest("GET", "/", params={"name": "Bob"}, body=b"")
        """,
    )
    _, engine = adopted()
    loaded = engine.load(returning_extkit_types(hello), name="Fn")
    assert loaded.invoke({"req": request(name="Ada")}).get_body() == b"Hello, Bob."


def test_hooks_are_called_positionally_whatever_their_parameters_are_called(
    module: ModuleWriter,
) -> None:
    ext = module(
        "ext.py",
        """
        from azure.functions import AppExtensionBase

        seen = []

        class Terse(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls, log, ctx, args):
                seen.append((log.name, ctx.function_name, sorted(args)))
        """,
    )
    _, engine = adopted()
    engine.load(returning_extkit_types(hello), name="Fn").invoke({"req": request()})
    assert ext.seen == [("extkit.extensions.Terse", "Fn", ["req"])]


def test_static_method_hooks_work_as_the_library_s_docstrings_suggest(
    module: ModuleWriter,
) -> None:
    ext = module(
        "ext.py",
        """
        from azure.functions import AppExtensionBase

        seen = []

        class Static(AppExtensionBase):
            @staticmethod
            def pre_invocation_app_level(logger, context, func_args, *args, **kwargs):
                seen.append(context.function_name)
        """,
    )
    registry, engine = adopted()
    assert [entry.name for entry in registry.entries()] == ["Static"]
    engine.load(returning_extkit_types(hello), name="Fn").invoke({"req": request()})
    assert ext.seen == ["Fn"]


def test_only_the_hooks_an_extension_overrides_are_called(module: ModuleWriter) -> None:
    module(
        "ext.py",
        """
        from azure.functions import AppExtensionBase

        class PreOnly(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls, logger, context, func_args, *args, **kwargs):
                pass
        """,
    )
    registry, _ = adopted()
    (entry,) = registry.entries()
    assert list(entry.hooks) == ["pre_invocation_app_level"]


def test_async_hooks_are_awaited(module: ModuleWriter) -> None:
    ext = module(
        "ext.py",
        """
        import asyncio
        from azure.functions import AppExtensionBase

        seen = []

        class Awaited(AppExtensionBase):
            @classmethod
            async def pre_invocation_app_level(cls, logger, context, func_args, *args, **kwargs):
                await asyncio.sleep(0)
                seen.append("pre")

            @classmethod
            async def post_invocation_app_level(
                cls, logger, context, func_args, func_ret, *args, **kwargs
            ):
                seen.append("post")
                func_ret.headers["X-Awaited"] = "yes"
        """,
    )
    _, engine = adopted()
    result = engine.load(returning_extkit_types(hello), name="Fn").invoke({"req": request()})
    assert ext.seen == ["pre", "post"]
    assert result.headers["X-Awaited"] == "yes"


def test_context_keeps_what_a_pre_hook_sets_and_has_the_reference_s_fields(
    module: ModuleWriter,
) -> None:
    ext = module(
        "ext.py",
        """
        from azure.functions import AppExtensionBase

        seen = {}

        class Tracer(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls, logger, context, func_args, *args, **kwargs):
                context.tracer = ("tracer of", context.invocation_id)  # as opencensus does

            @classmethod
            def post_invocation_app_level(
                cls, logger, context, func_args, func_ret, *args, **kwargs
            ):
                trace = context.trace_context
                seen.update(
                    tracer=context.tracer,
                    invocation_id=context.invocation_id,
                    function_directory=context.function_directory,
                    thread_local=context.thread_local_storage.invocation_id,
                    spellings=(trace.Traceparent, trace.trace_parent, trace.Tracestate,
                               trace.trace_state, trace.attributes),
                    retry=(context.retry_context.retry_count,
                           context.retry_context.max_retry_count),
                )
        """,
    )
    _, engine = adopted()
    loaded = engine.load(returning_extkit_types(hello), name="Fn", directory="/app/Fn")
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    context = loaded.new_context(trace_context=TraceContext(parent, "k=v"))
    loaded.invoke({"req": request()}, context)
    assert ext.seen["tracer"] == ("tracer of", context.invocation_id)
    assert ext.seen["function_directory"] == "/app/Fn"
    assert ext.seen["thread_local"] in (None, context.invocation_id)
    assert ext.seen["spellings"] == (parent, parent, "k=v", "k=v", {})
    assert ext.seen["retry"] == (0, 0)


# --- extkit's semantics -------------------------------------------------------------------------


def test_post_hooks_also_run_when_the_function_raised(module: ModuleWriter) -> None:
    recorder = module("ext.py", RECORDER)
    _, engine = adopted()

    def fails(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("failed on purpose")

    with pytest.raises(RuntimeError, match="failed on purpose"):
        engine.load(returning_extkit_types(fails), name="Fails").invoke({"req": request()})
    assert recorder.calls[-1] == ("post", "Fails", None)


def test_a_hook_error_is_logged_with_the_extension_s_name_and_the_invocation_goes_on(
    module: ModuleWriter, extkit_logs: CapturedLogs
) -> None:
    module(
        "ext.py",
        """
        from azure.functions import AppExtensionBase

        class Broken(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls, logger, context, func_args, *args, **kwargs):
                raise ValueError("broken on purpose")
        """,
    )
    _, engine = adopted()
    result = engine.load(returning_extkit_types(hello), name="Fn").invoke({"req": request()})
    assert result.get_body() == b"Hello, None."
    (message,) = extkit_logs.messages("extkit.extensions.Broken")
    assert "extension Broken failed in pre_invocation_app_level for function Fn" in message
    assert "broken on purpose" in message


def test_layers_nest_with_extkit_extensions(module: ModuleWriter) -> None:
    order: list[str] = []
    ext = module(
        "ext.py",
        """
        from azure.functions import AppExtensionBase

        order = []

        class AzureFirst(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls, logger, context, func_args, *args, **kwargs):
                order.append("AzureFirst.pre")

            @classmethod
            def post_invocation_app_level(
                cls, logger, context, func_args, func_ret, *args, **kwargs
            ):
                order.append("AzureFirst.post")

        class AzureSecond(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls, logger, context, func_args, *args, **kwargs):
                order.append("AzureSecond.pre")

            @classmethod
            def post_invocation_app_level(
                cls, logger, context, func_args, func_ret, *args, **kwargs
            ):
                order.append("AzureSecond.post")
        """,
    )
    registry = Registry()
    with isolated_registry(registry):

        class Native(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls) -> None:
                order.append("Native.pre")

            @classmethod
            def post_invocation_app_level(cls) -> None:
                order.append("Native.post")

    adopt_azure_extensions(registry)
    ext.order = order  # one list for all three extensions
    engine = Engine(registry=registry, enabled=True)
    engine.load(returning_extkit_types(hello), name="Fn").invoke({"req": request()})
    assert order == [
        "Native.pre",
        "AzureFirst.pre",
        "AzureSecond.pre",
        "AzureSecond.post",
        "AzureFirst.post",
        "Native.post",
    ]


def test_a_subclass_supersedes_its_parent_so_inherited_hooks_run_once(
    module: ModuleWriter,
) -> None:
    ext = module(
        "ext.py",
        """
        from azure.functions import AppExtensionBase

        runs = []

        class Base(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls, logger, context, func_args, *args, **kwargs):
                runs.append(cls.__name__)

        class Derived(Base):
            pass
        """,
    )
    registry, engine = adopted()
    assert [entry.name for entry in registry.entries()] == ["Derived"]
    (parent,) = [e for e in registry.entries(include_superseded=True) if e.name == "Base"]
    assert parent.superseded_by == "Derived"
    engine.load(returning_extkit_types(hello), name="Fn").invoke({"req": request()})
    assert ext.runs == ["Derived"]  # the reference would run it twice: Base and Derived


def test_hooks_do_not_run_with_the_gate_off(module: ModuleWriter) -> None:
    recorder = module("ext.py", RECORDER)
    _, engine = adopted(enabled=False)
    result = engine.load(returning_extkit_types(hello), name="Fn").invoke({"req": request()})
    assert result.get_body() == b"Hello, None." and recorder.calls == [("init",)]


# --- adoption -----------------------------------------------------------------------------------


def test_adoption_is_idempotent(module: ModuleWriter) -> None:
    module("ext.py", RECORDER)
    registry, _ = adopted()
    version = registry.version
    adopt_azure_extensions(registry)
    assert len(registry) == 1 and registry.version == version


def test_a_module_imported_again_replaces_its_extensions_in_place(module: ModuleWriter) -> None:
    first = module("ext.py", RECORDER, name="azure_ext_reimported")
    registry, _ = adopted()
    second = module("ext.py", RECORDER, name="azure_ext_reimported")
    assert second.Recorder is not first.Recorder
    adopt_azure_extensions(registry)
    (entry,) = registry.entries()
    assert entry.extension.azure_extension is second.Recorder


def test_a_forgotten_module_s_extensions_are_not_adopted_again(module: ModuleWriter) -> None:
    recorder = module("ext.py", RECORDER)
    sys.modules.pop(recorder.__name__)
    registry, _ = adopted()
    assert len(registry) == 0


# --- function extensions ------------------------------------------------------------------------

STAMP = """
    import azure.functions as func
    from azure.functions import FuncExtensionBase

    class Stamp(FuncExtensionBase):
        def __init__(self, file_path):
            super().__init__(file_path)

        def post_invocation(self, logger, context, func_args, func_ret, *args, **kwargs):
            func_ret.headers["X-Stamp"] = context.function_name
"""


def stamped(engine: Engine, name: str, **where: Any) -> bool:
    loaded = engine.load(returning_extkit_types(hello), name=name, **where)
    return "X-Stamp" in loaded.invoke({"req": request()}).headers


def test_a_function_extension_serves_its_own_folder_s_function(
    module: ModuleWriter, app_root: Path
) -> None:
    stamp_module = module("shared/stamp.py", STAMP)
    (app_root / "Other").mkdir()
    module("Mine/__init__.py", f"from {stamp_module.__name__} import Stamp\next = Stamp(__file__)")
    _, engine = adopted()
    assert stamped(engine, "Mine", layout="folder", directory=str(app_root / "Mine"))
    assert not stamped(engine, "Other", layout="folder", directory=str(app_root / "Other"))


def test_a_function_extension_in_function_app_py_serves_that_file_s_functions(
    module: ModuleWriter, app_root: Path
) -> None:
    """The reference keys it by ``function_app.py``, which never names a function."""
    stamp_module = module("shared/stamp.py", STAMP)
    module(
        "function_app.py",
        f"from {stamp_module.__name__} import Stamp\next = Stamp(__file__)",
    )
    module(
        "blueprints/orders.py",
        f"from {stamp_module.__name__} import Stamp\nbp_ext = Stamp(__file__)",
    )
    (app_root / "blueprints" / "users.py").write_text("", encoding="utf-8")
    registry, engine = adopted()
    assert len(registry.entries("function")) == 2
    decorator: dict[str, Any] = {"layout": "decorator"}
    app_file = str(app_root / "function_app.py")
    assert stamped(engine, "FromApp", source_file=app_file, **decorator)
    orders = str(app_root / "blueprints" / "orders.py")
    assert stamped(engine, "FromOrders", source_file=orders, **decorator)
    users = str(app_root / "blueprints" / "users.py")
    assert not stamped(engine, "FromUsers", source_file=users, **decorator)


def test_a_relative_script_root_is_read_against_the_working_folder(
    module: ModuleWriter, app_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(app_root.parent)
    monkeypatch.setenv("AzureWebJobsScriptRoot", app_root.name)
    stamp_module = module("shared/stamp.py", STAMP)
    source = f"from {stamp_module.__name__} import Stamp\next = Stamp(__file__)"
    module("blueprints/orders.py", source)
    (app_root / "blueprints" / "users.py").write_text("", encoding="utf-8")
    _, engine = adopted()
    orders, users = (str(app_root / "blueprints" / name) for name in ("orders.py", "users.py"))
    assert stamped(engine, "FromOrders", source_file=orders, layout="decorator")
    assert not stamped(engine, "FromUsers", source_file=users, layout="decorator")
