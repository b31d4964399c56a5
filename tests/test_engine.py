"""Engine semantics (design §3): order, failures, isolation, control flow, around, async."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import extkit
from extkit import (
    AppExtensionBase,
    Context,
    Engine,
    FuncExtensionBase,
    InvocationTimeout,
    Registry,
    RejectInvocation,
    ShortCircuit,
)
from extkit.testing import CapturedLogs

pytestmark = pytest.mark.usefixtures("no_invocation_outlives_the_test")


def _errors(logs: CapturedLogs, extension: str) -> list[logging.LogRecord]:
    return [
        record
        for record in logs.records
        if record.name == f"extkit.extensions.{extension}" and record.levelno >= logging.ERROR
    ]


def assert_reported_once(
    logs: CapturedLogs,
    extension: str,
    hook: str,
    function: str,
    exc: BaseException,
    invocation_id: str | None = None,
) -> None:
    """The hook's failure is one ERROR record on the extension's logger naming everything the app
    owner needs, with the traceback, and no other record reports the same exception."""
    records = _errors(logs, extension)
    assert len(records) == 1, [record.getMessage() for record in logs.records]
    message = records[0].getMessage()
    assert extension in message
    assert hook in message
    assert function in message
    if invocation_id is not None:
        assert invocation_id in message
    exc_info = records[0].exc_info
    assert exc_info is not None and exc_info[1] is exc and exc_info[2] is not None
    assert [r for r in logs.records if r.exc_info and r.exc_info[1] is exc] == records


# --- order ---------------------------------------------------------------------------------------


def test_hooks_run_app_pre_func_pre_function_func_post_app_post(extkit_engine: Engine) -> None:
    calls: list[str] = []

    class FuncLayer(FuncExtensionBase):  # registered first, still runs inside the app layer
        def pre_invocation(self) -> None:
            calls.append("func pre")

        def post_invocation(self) -> None:
            calls.append("func post")

    FuncLayer(functions=["work"])

    class AppLayer(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append("app pre")

        @classmethod
        def post_invocation_app_level(cls) -> None:
            calls.append("app post")

    def work() -> str:
        calls.append("function")
        return "done"

    assert extkit_engine.load(work).invoke() == "done"
    assert calls == ["app pre", "func pre", "function", "func post", "app post"]


def _recorders(calls: list[str], *names: str) -> None:
    """App extensions named ``names``, defined in that order, each recording its pre and post."""
    for name in names:

        def pre(cls: type, name: str = name) -> None:
            calls.append(f"{name} pre")

        def post(cls: type, name: str = name) -> None:
            calls.append(f"{name} post")

        type(
            name,
            (AppExtensionBase,),
            {
                "__qualname__": name,
                "pre_invocation_app_level": classmethod(pre),
                "post_invocation_app_level": classmethod(post),
            },
        )


def test_pre_hooks_run_in_registration_order_and_post_hooks_in_reverse(
    extkit_engine: Engine,
) -> None:
    calls: list[str] = []
    _recorders(calls, "First", "Second", "Third")

    class FuncA(FuncExtensionBase):
        def pre_invocation(self) -> None:
            calls.append("FuncA pre")

        def post_invocation(self) -> None:
            calls.append("FuncA post")

    class FuncB(FuncExtensionBase):
        def pre_invocation(self) -> None:
            calls.append("FuncB pre")

        def post_invocation(self) -> None:
            calls.append("FuncB post")

    FuncA(functions="work")
    FuncB(functions="work")
    extkit_engine.load(lambda: calls.append("function"), name="work").invoke()
    assert calls == [
        "First pre",
        "Second pre",
        "Third pre",
        "FuncA pre",
        "FuncB pre",
        "function",
        "FuncB post",
        "FuncA post",
        "Third post",
        "Second post",
        "First post",
    ]


def test_tryfirst_moves_an_extension_outward_and_trylast_inward(extkit_engine: Engine) -> None:
    calls: list[str] = []

    class Innermost(AppExtensionBase):  # defined first, runs innermost
        @extkit.hookimpl(trylast=True)
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append("Innermost pre")

        @classmethod
        def post_invocation_app_level(cls) -> None:
            calls.append("Innermost post")

    class Plain(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append("Plain pre")

        @classmethod
        def post_invocation_app_level(cls) -> None:
            calls.append("Plain post")

    class Outermost(AppExtensionBase):  # defined last, runs first
        @classmethod
        @extkit.hookimpl(tryfirst=True)
        def pre_invocation_app_level(cls) -> None:
            calls.append("Outermost pre")

        @classmethod
        def post_invocation_app_level(cls) -> None:
            calls.append("Outermost post")

    extkit_engine.load(lambda: calls.append("function"), name="work").invoke()
    assert calls == [
        "Outermost pre",
        "Plain pre",
        "Innermost pre",
        "function",
        "Innermost post",
        "Plain post",
        "Outermost post",
    ]


def test_load_hooks_run_once_per_function_per_extension_with_name_and_directory(
    extkit_engine: Engine,
) -> None:
    calls: list[tuple[str, str, str]] = []

    class AppOne(AppExtensionBase):
        @classmethod
        def post_function_load_app_level(cls, function_name: str, function_directory: str) -> None:
            calls.append(("AppOne", function_name, function_directory))

    class AppTwo(AppExtensionBase):
        @classmethod
        def post_function_load_app_level(
            cls, function_name: str, function_directory: str, *args: Any, **kwargs: Any
        ) -> None:
            calls.append(("AppTwo", function_name, function_directory))

    class OnlyFirst(FuncExtensionBase):
        def post_function_load(self, function_directory: str, function_name: str) -> None:
            calls.append(("OnlyFirst", function_name, function_directory))

    OnlyFirst(functions=["first"])
    first = extkit_engine.load(lambda: 1, name="first", directory="/app/first")
    extkit_engine.load(lambda: 2, name="second", directory="/app/second")
    first.invoke()
    first.invoke()
    assert sorted(calls) == sorted(
        [
            ("AppOne", "first", "/app/first"),
            ("AppTwo", "first", "/app/first"),
            ("OnlyFirst", "first", "/app/first"),
            ("AppOne", "second", "/app/second"),
            ("AppTwo", "second", "/app/second"),
        ]
    )


# --- a failing function ------------------------------------------------------------------------


def test_a_raising_function_still_runs_every_post_hook_then_its_exception_propagates(
    extkit_engine: Engine,
) -> None:
    seen: list[tuple[str, Any, BaseException | None]] = []

    class AppPost(AppExtensionBase):
        @classmethod
        def post_invocation_app_level(cls, func_ret: Any, func_exc: BaseException | None) -> None:
            seen.append(("app", func_ret, func_exc))

    class FuncPost(FuncExtensionBase):
        def post_invocation(self, func_ret: Any, func_exc: BaseException | None) -> None:
            seen.append(("func", func_ret, func_exc))

    FuncPost(functions=["fails"])
    boom = ValueError("the function failed")

    def fails() -> str:
        raise boom

    with pytest.raises(ValueError) as raised:
        extkit_engine.load(fails).invoke()
    assert raised.value is boom
    assert seen == [("func", None, boom), ("app", None, boom)]


def test_a_raising_async_function_still_runs_every_post_hook_then_its_exception_propagates(
    extkit_engine: Engine,
) -> None:
    seen: list[tuple[str, Any, BaseException | None]] = []

    class SyncPost(AppExtensionBase):
        @classmethod
        def post_invocation_app_level(cls, func_ret: Any, func_exc: BaseException | None) -> None:
            seen.append(("sync", func_ret, func_exc))

    class AsyncPost(AppExtensionBase):
        @classmethod
        async def post_invocation_app_level(
            cls, func_ret: Any, func_exc: BaseException | None
        ) -> None:
            seen.append(("async", func_ret, func_exc))

    boom = LookupError("the async function failed")

    async def fails() -> str:
        await asyncio.sleep(0)
        raise boom

    with pytest.raises(LookupError) as raised:
        asyncio.run(extkit_engine.load(fails).invoke_async())
    assert raised.value is boom
    assert seen == [("async", None, boom), ("sync", None, boom)]


def test_reference_style_signatures_receive_the_reference_arguments(extkit_engine: Engine) -> None:
    seen: list[tuple[Any, ...]] = []

    class ReferenceApp(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(
            cls,
            logger: logging.Logger,
            context: Context,
            func_args: Any = None,
            *args: Any,
            **kwargs: Any,
        ) -> None:
            seen.append(
                ("app pre", logger.name, context.function_name, dict(func_args), args, kwargs)
            )

        @classmethod
        def post_invocation_app_level(
            cls,
            logger: logging.Logger,
            context: Context,
            func_args: Any = None,
            func_ret: Any = None,
            *args: Any,
            **kwargs: Any,
        ) -> None:
            seen.append(("app post", logger.name, func_ret, args, kwargs))

    class ReferenceFunc(FuncExtensionBase):
        def __init__(self, file_path: str) -> None:
            super().__init__(file_path)

        def pre_invocation(
            self,
            logger: logging.Logger,
            context: Context,
            func_args: Any = None,
            *args: Any,
            **kwargs: Any,
        ) -> None:
            seen.append(("func pre", logger.name, dict(func_args)))

        def post_invocation(
            self,
            logger: logging.Logger,
            context: Context,
            func_args: Any = None,
            func_ret: Any = None,
            *args: Any,
            **kwargs: Any,
        ) -> None:
            seen.append(("func post", logger.name, func_ret))

    ReferenceFunc(__file__)

    def greet(name: str) -> str:
        return f"Hello, {name}"

    assert extkit_engine.load(greet).invoke({"name": "Ada"}) == "Hello, Ada"
    assert seen == [
        ("app pre", "extkit.extensions.ReferenceApp", "greet", {"name": "Ada"}, (), {}),
        ("func pre", "extkit.extensions.ReferenceFunc", {"name": "Ada"}),
        ("func post", "extkit.extensions.ReferenceFunc", "Hello, Ada"),
        ("app post", "extkit.extensions.ReferenceApp", "Hello, Ada", (), {}),
    ]


def test_hooks_may_accept_any_subset_of_arguments_by_name_in_any_order(
    extkit_engine: Engine,
) -> None:
    seen: list[tuple[Any, ...]] = []

    class Subset(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, func_args: dict[str, Any], context: Context) -> None:
            seen.append(("pre", dict(func_args), context.function_name))

        @classmethod
        def post_invocation_app_level(cls, *, func_exc: Any, func_ret: Any) -> None:
            seen.append(("post", func_ret, func_exc))

    class NoArguments(FuncExtensionBase):
        def pre_invocation(self) -> None:
            seen.append(("func pre",))

        def post_invocation(self, func_ret: Any) -> None:
            seen.append(("func post", func_ret))

    NoArguments(functions=["double"])
    assert extkit_engine.load(lambda x: 2 * x, name="double").invoke({"x": 21}) == 42
    assert seen == [
        ("pre", {"x": 21}, "double"),
        ("func pre",),
        ("func post", 42),
        ("post", 42, None),
    ]


def test_a_pre_hook_may_add_arguments_to_the_function_call(extkit_engine: Engine) -> None:
    class Injects(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, func_args: dict[str, Any]) -> None:
            func_args["user"] = "ada"

    assert extkit_engine.load(lambda user: user.upper(), name="who").invoke() == "ADA"


# --- isolation ----------------------------------------------------------------------------------


def test_a_raising_pre_hook_is_logged_once_and_does_not_stop_others_or_the_invocation(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    calls: list[str] = []
    boom = ValueError("pre broke")

    class Broken(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            raise boom

        @classmethod
        def post_invocation_app_level(cls) -> None:
            calls.append("Broken post")

    class Healthy(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append("Healthy pre")

        @classmethod
        def post_invocation_app_level(cls, func_exc: Any) -> None:
            calls.append(f"Healthy post {func_exc}")

    loaded = extkit_engine.load(lambda: calls.append("function") or "ok", name="work")
    context = loaded.new_context()
    assert loaded.invoke(context=context) == "ok"
    assert calls == ["Healthy pre", "function", "Healthy post None", "Broken post"]
    assert_reported_once(
        extkit_logs, "Broken", "pre_invocation_app_level", "work", boom, context.invocation_id
    )


def test_a_raising_post_hook_is_logged_once_and_does_not_stop_others_or_the_result(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    calls: list[str] = []
    boom = RuntimeError("post broke")

    class Healthy(AppExtensionBase):
        @classmethod
        def post_invocation_app_level(cls) -> None:
            calls.append("Healthy post")

    class Broken(FuncExtensionBase):
        def post_invocation(self) -> None:
            raise boom

    Broken(functions=["work"])
    loaded = extkit_engine.load(lambda: "ok", name="work")
    context = loaded.new_context()
    assert loaded.invoke(context=context) == "ok"
    assert calls == ["Healthy post"]
    assert_reported_once(
        extkit_logs, "Broken", "post_invocation", "work", boom, context.invocation_id
    )


def test_a_raising_load_hook_is_logged_once_and_does_not_stop_others_or_the_load(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    loaded_by: list[str] = []
    boom = OSError("load broke")

    class Broken(AppExtensionBase):
        @classmethod
        def post_function_load_app_level(cls) -> None:
            raise boom

    class Healthy(AppExtensionBase):
        @classmethod
        def post_function_load_app_level(cls, function_name: str) -> None:
            loaded_by.append(function_name)

    loaded = extkit_engine.load(lambda: "ok", name="work")
    assert loaded.invoke() == "ok"
    assert loaded_by == ["work"]
    assert_reported_once(extkit_logs, "Broken", "post_function_load_app_level", "work", boom)


def test_a_raising_around_hook_is_logged_once_and_does_not_stop_others_or_the_invocation(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    calls: list[str] = []
    boom = KeyError("around broke")

    class Broken(AppExtensionBase):
        @classmethod
        def around_invocation_app_level(cls) -> Generator[None, Any, Any]:
            raise boom
            yield  # pragma: no cover - makes this a generator

    class Healthy(AppExtensionBase):
        @classmethod
        def around_invocation_app_level(cls) -> Generator[None, Any, Any]:
            calls.append("Healthy before")
            result = yield
            calls.append(f"Healthy after {result}")
            return result

    loaded = extkit_engine.load(lambda: "ok", name="work")
    context = loaded.new_context()
    assert loaded.invoke(context=context) == "ok"
    assert calls == ["Healthy before", "Healthy after ok"]
    assert_reported_once(
        extkit_logs, "Broken", "around_invocation_app_level", "work", boom, context.invocation_id
    )


@pytest.mark.parametrize("hook", ["pre", "post", "around"])
@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_keyboard_interrupt_and_system_exit_from_a_hook_are_not_swallowed(
    extkit_engine: Engine, hook: str, exc_type: type[BaseException]
) -> None:
    if hook == "around":

        def around_invocation_app_level(cls: type) -> Generator[None, Any, Any]:
            raise exc_type()
            yield  # pragma: no cover - makes this a generator

        namespace: dict[str, Any] = {"around_invocation_app_level": around_invocation_app_level}
    else:

        def raises(cls: type) -> None:
            raise exc_type()

        namespace = {f"{hook}_invocation_app_level": raises}
    type(
        "Stops",
        (AppExtensionBase,),
        {name: classmethod(fn) for name, fn in namespace.items()},
    )
    with pytest.raises(exc_type):
        extkit_engine.load(lambda: "ok", name="work").invoke()


# --- deliberate control flow -------------------------------------------------------------------


def test_reject_invocation_skips_the_function_and_inner_layers_and_unwinds_entered_ones(
    extkit_engine: Engine,
) -> None:
    calls: list[str] = []
    rejection = RejectInvocation("missing key", status_code=401)

    class Outer(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append("Outer pre")

        @classmethod
        def post_invocation_app_level(cls, func_ret: Any, func_exc: Any) -> None:
            calls.append(f"Outer post ret={func_ret} exc={func_exc!r}")

    class Guard(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            raise rejection

    class Inner(FuncExtensionBase):
        def pre_invocation(self) -> None:
            calls.append("Inner pre")

        def post_invocation(self) -> None:
            calls.append("Inner post")

    Inner(functions=["work"])

    with pytest.raises(RejectInvocation) as raised:
        extkit_engine.load(lambda: calls.append("function"), name="work").invoke()
    assert raised.value is rejection
    assert raised.value.status_code == 401
    assert calls == ["Outer pre", f"Outer post ret=None exc={rejection!r}"]


def test_reject_invocation_from_an_async_pre_hook_fails_the_async_invocation(
    extkit_engine: Engine,
) -> None:
    seen: list[Any] = []

    class Guard(AppExtensionBase):
        @classmethod
        async def pre_invocation_app_level(cls) -> None:
            await asyncio.sleep(0)
            raise RejectInvocation("denied")

        @classmethod
        async def post_invocation_app_level(cls, func_exc: Any) -> None:
            seen.append(func_exc)

    async def work() -> str:
        seen.append("function")
        return "ok"

    loaded = extkit_engine.load(work)
    with pytest.raises(RejectInvocation, match="denied"):
        asyncio.run(loaded.invoke_async())
    assert len(seen) == 1 and isinstance(seen[0], RejectInvocation)


def test_short_circuit_answers_without_running_the_function(extkit_engine: Engine) -> None:
    seen: list[tuple[str, Any, Any]] = []

    class Cache(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            raise ShortCircuit("cached answer")

        @classmethod
        def post_invocation_app_level(cls, func_ret: Any, func_exc: Any) -> None:
            seen.append(("Cache post", func_ret, func_exc))

    class Inner(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            seen.append(("Inner pre", None, None))

    def work() -> str:
        seen.append(("function", None, None))
        return "computed"

    assert extkit_engine.load(work).invoke() == "cached answer"
    assert seen == [("Cache post", "cached answer", None)]


@pytest.mark.parametrize("path", ["simple", "around"])
def test_a_short_circuit_raised_by_the_function_itself_is_an_ordinary_failure(
    extkit_engine: Engine, path: str
) -> None:
    seen: list[Any] = []

    class Observer(AppExtensionBase):
        @classmethod
        def post_invocation_app_level(cls, func_exc: Any) -> None:
            seen.append(func_exc)

    if path == "around":

        class Wrapper(AppExtensionBase):
            @classmethod
            def around_invocation_app_level(cls) -> Generator[None, Any, Any]:
                return (yield)

    misuse = ShortCircuit("only hooks answer for the function")

    def work() -> None:
        raise misuse

    with pytest.raises(ShortCircuit) as raised:
        extkit_engine.load(work).invoke()
    assert raised.value is misuse
    assert seen == [misuse]


# --- around hooks -----------------------------------------------------------------------------


def test_an_around_hook_wraps_inner_layers_and_keeps_the_result_with_return_yield(
    extkit_engine: Engine,
) -> None:
    calls: list[str] = []

    class Wrapper(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append("Wrapper pre")

        @classmethod
        def around_invocation_app_level(cls, context: Context) -> Generator[None, Any, Any]:
            calls.append(f"Wrapper enter {context.function_name}")
            try:
                return (yield)
            finally:
                calls.append("Wrapper exit")

        @classmethod
        def post_invocation_app_level(cls, func_ret: Any) -> None:
            calls.append(f"Wrapper post {func_ret}")

    class Inner(FuncExtensionBase):
        def pre_invocation(self) -> None:
            calls.append("Inner pre")

        def post_invocation(self) -> None:
            calls.append("Inner post")

    Inner(functions=["work"])

    def work() -> str:
        calls.append("function")
        return "result"

    assert extkit_engine.load(work).invoke() == "result"
    assert calls == [
        "Wrapper pre",
        "Wrapper enter work",
        "Inner pre",
        "function",
        "Inner post",
        "Wrapper exit",
        "Wrapper post result",
    ]


def test_an_around_hook_that_returns_a_different_value_replaces_the_result(
    extkit_engine: Engine,
) -> None:
    seen: list[Any] = []

    class Outer(AppExtensionBase):
        @classmethod
        def post_invocation_app_level(cls, func_ret: Any) -> None:
            seen.append(func_ret)

    class Doubler(AppExtensionBase):
        @classmethod
        def around_invocation_app_level(cls) -> Generator[None, Any, Any]:
            result = yield
            return result * 2

    assert extkit_engine.load(lambda: 21, name="work").invoke() == 42
    assert seen == [42]


def test_an_around_hook_that_catches_the_exception_turns_failure_into_a_result(
    extkit_engine: Engine,
) -> None:
    seen: list[tuple[str, Any, Any]] = []

    class Outer(AppExtensionBase):
        @classmethod
        def post_invocation_app_level(cls, func_ret: Any, func_exc: Any) -> None:
            seen.append(("outer", func_ret, func_exc))

    class Fallback(AppExtensionBase):
        @classmethod
        def around_invocation_app_level(cls) -> Generator[None, Any, Any]:
            try:
                return (yield)
            except LookupError as exc:
                return f"fallback after {exc!r}"

    class Inner(AppExtensionBase):
        @classmethod
        def post_invocation_app_level(cls, func_ret: Any, func_exc: Any) -> None:
            seen.append(("inner", func_ret, type(func_exc).__name__))

    def work() -> str:
        raise KeyError("x")

    assert extkit_engine.load(work).invoke() == "fallback after KeyError('x')"
    assert seen == [
        ("inner", None, "KeyError"),
        ("outer", "fallback after KeyError('x')", None),
    ]


def test_an_around_hook_that_lets_the_exception_escape_keeps_the_failure(
    extkit_engine: Engine,
) -> None:
    seen: list[str] = []

    class Observer(AppExtensionBase):
        @classmethod
        def around_invocation_app_level(cls) -> Generator[None, Any, Any]:
            try:
                return (yield)
            except ValueError:
                seen.append("saw it")
                raise

    boom = ValueError("kept")

    def work() -> None:
        raise boom

    with pytest.raises(ValueError) as raised:
        extkit_engine.load(work).invoke()
    assert raised.value is boom
    assert seen == ["saw it"]


def test_an_async_generator_around_hook_wraps_the_function_and_may_replace_the_result(
    extkit_engine: Engine,
) -> None:
    calls: list[str] = []

    class Keeps(AppExtensionBase):
        @classmethod
        async def around_invocation_app_level(cls) -> AsyncGenerator[None, Any]:
            calls.append("Keeps enter")
            await asyncio.sleep(0)
            result = yield
            calls.append(f"Keeps exit {result}")

    class Replaces(AppExtensionBase):
        @classmethod
        async def around_invocation_app_level(cls) -> AsyncGenerator[None, Any]:
            result = yield
            raise ShortCircuit(result + 1)

    async def work() -> int:
        calls.append("function")
        return 1

    assert asyncio.run(extkit_engine.load(work).invoke_async()) == 2
    assert calls == ["Keeps enter", "function", "Keeps exit 2"]


def test_an_async_generator_around_hook_also_wraps_a_sync_function_through_invoke(
    extkit_engine: Engine,
) -> None:
    calls: list[str] = []

    class Wrapper(AppExtensionBase):
        @classmethod
        async def around_invocation_app_level(cls) -> AsyncGenerator[None, Any]:
            calls.append("enter")
            try:
                yield
            except ValueError:
                calls.append("caught")

    def work() -> None:
        calls.append("function")
        raise ValueError

    assert extkit_engine.load(work).invoke() is None  # the failure became a (None) result
    assert calls == ["enter", "function", "caught"]


def _buggy_around(kind: str) -> Callable[..., Any]:
    def raises_after_yield(cls: type) -> Generator[None, Any, Any]:
        yield
        raise RuntimeError("after yield")

    def never_yields(cls: type) -> Generator[None, Any, Any]:
        if False:  # pragma: no cover - makes this a generator that finishes without yielding
            yield
        return "ignored"

    def yields_twice(cls: type) -> Generator[None, Any, Any]:
        yield
        yield

    async def async_raises(cls: type) -> AsyncGenerator[None, Any]:
        await asyncio.sleep(0)
        raise RuntimeError("before yield")
        yield  # pragma: no cover - makes this an async generator

    async def async_yields_twice(cls: type) -> AsyncGenerator[None, Any]:
        yield
        yield

    return {
        "raises after yield": raises_after_yield,
        "never yields": never_yields,
        "yields twice": yields_twice,
        "async raises": async_raises,
        "async yields twice": async_yields_twice,
    }[kind]


@pytest.mark.parametrize(
    "kind",
    ["raises after yield", "never yields", "yields twice", "async raises", "async yields twice"],
)
def test_a_buggy_around_hook_is_isolated_and_logged(
    extkit_engine: Engine, extkit_logs: CapturedLogs, kind: str
) -> None:
    calls: list[str] = []

    class Healthy(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append("Healthy pre")

        @classmethod
        def post_invocation_app_level(cls, func_ret: Any) -> None:
            calls.append(f"Healthy post {func_ret}")

    type(
        "Buggy",
        (AppExtensionBase,),
        {"around_invocation_app_level": classmethod(_buggy_around(kind))},
    )
    loaded = extkit_engine.load(lambda: calls.append("function") or "ok", name="work")
    context = loaded.new_context()
    assert loaded.invoke(context=context) == "ok"
    assert calls == ["Healthy pre", "function", "Healthy post ok"]
    records = _errors(extkit_logs, "Buggy")
    assert len(records) == 1
    message = records[0].getMessage()
    assert "around_invocation_app_level" in message and context.invocation_id in message
    assert records[0].exc_info is not None


# --- async hooks and the event loop ----------------------------------------------------------


def _async_recorder(calls: list[str]) -> None:
    class AsyncHooks(AppExtensionBase):
        @classmethod
        async def pre_invocation_app_level(cls, context: Context) -> None:
            await asyncio.sleep(0)
            calls.append(f"pre {context.function_name}")

        @classmethod
        async def post_invocation_app_level(cls, func_ret: Any) -> None:
            await asyncio.sleep(0)
            calls.append(f"post {func_ret}")


def test_async_hooks_are_awaited_for_async_functions(extkit_engine: Engine) -> None:
    calls: list[str] = []
    _async_recorder(calls)

    async def work() -> str:
        calls.append("function")
        return "ok"

    assert asyncio.run(extkit_engine.load(work).invoke_async()) == "ok"
    assert calls == ["pre work", "function", "post ok"]


def test_async_hooks_are_awaited_for_sync_functions_through_invoke(extkit_engine: Engine) -> None:
    calls: list[str] = []
    _async_recorder(calls)

    def work() -> str:
        calls.append("function")
        return "ok"

    assert extkit_engine.load(work).invoke() == "ok"
    assert calls == ["pre work", "function", "post ok"]


def test_async_hooks_are_awaited_when_sync_invoke_is_called_from_async_code(
    extkit_engine: Engine,
) -> None:
    calls: list[str] = []
    _async_recorder(calls)
    loaded = extkit_engine.load(lambda: "ok", name="work")

    async def caller() -> Any:
        return loaded.invoke()

    assert asyncio.run(caller()) == "ok"
    assert calls == ["pre work", "post ok"]


def test_sync_invoke_runs_an_async_function_to_completion(extkit_engine: Engine) -> None:
    calls: list[str] = []
    _async_recorder(calls)

    async def work() -> str:
        await asyncio.sleep(0)
        return "ok"

    assert extkit_engine.load(work).invoke() == "ok"
    assert calls == ["pre work", "post ok"]


def test_a_load_hook_defined_async_is_awaited(extkit_engine: Engine) -> None:
    loaded_by: list[str] = []

    class AsyncLoad(AppExtensionBase):
        @classmethod
        async def post_function_load_app_level(cls, function_name: str) -> None:
            await asyncio.sleep(0)
            loaded_by.append(function_name)

    extkit_engine.load(lambda: None, name="work")
    assert loaded_by == ["work"]


request_user: contextvars.ContextVar[str] = contextvars.ContextVar("request_user", default="-")


def _sets_context_variable(seen: list[str], *, async_hook: bool) -> None:
    if async_hook:

        class SetsVariable(AppExtensionBase):
            @classmethod
            async def pre_invocation_app_level(cls) -> None:
                await asyncio.sleep(0)
                request_user.set("ada")

            @classmethod
            def post_invocation_app_level(cls) -> None:
                seen.append(f"post sees {request_user.get()}")

    else:

        class SetsVariable(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls) -> None:
                request_user.set("ada")

            @classmethod
            def post_invocation_app_level(cls) -> None:
                seen.append(f"post sees {request_user.get()}")


def _reads_variable() -> str:
    return f"function sees {request_user.get()}"


async def _reads_variable_async() -> str:
    await asyncio.sleep(0)
    return f"function sees {request_user.get()}"


@pytest.mark.parametrize("async_hook", [False, True], ids=["sync hook", "async hook"])
@pytest.mark.parametrize("path", ["invoke", "invoke_async", "invoke_async(executor)"])
def test_context_variables_set_in_a_pre_hook_reach_the_function_and_post_hooks(
    extkit_engine: Engine, path: str, async_hook: bool
) -> None:
    seen: list[str] = []
    _sets_context_variable(seen, async_hook=async_hook)
    if path == "invoke":
        result = extkit_engine.load(_reads_variable).invoke()
    elif path == "invoke_async":
        result = asyncio.run(extkit_engine.load(_reads_variable_async).invoke_async())
    else:
        loaded = extkit_engine.load(_reads_variable)
        with ThreadPoolExecutor(2) as pool:
            result = asyncio.run(loaded.invoke_async(executor=pool))
    assert result == "function sees ada"
    assert seen == ["post sees ada"]


def test_context_variables_set_by_hooks_end_with_the_invocation(extkit_engine: Engine) -> None:
    found_on_entry: list[str] = []

    class SetsVariable(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, context: Context) -> None:
            found_on_entry.append(request_user.get())
            request_user.set(context.invocation_id)

    sync = extkit_engine.load(_reads_variable)
    sync.invoke()
    sync.invoke()
    assert request_user.get() == "-"

    asynchronous = extkit_engine.load(_reads_variable_async)

    async def one_after_another() -> str:
        await asynchronous.invoke_async()  # awaited directly: no task of the caller's own
        await asynchronous.invoke_async()
        return request_user.get()

    assert asyncio.run(one_after_another()) == "-"
    assert found_on_entry == ["-"] * 4


@pytest.mark.parametrize("async_hook", [False, True], ids=["sync hook", "async hook"])
def test_hooks_of_async_functions_do_not_block_the_event_loop(
    extkit_engine: Engine, async_hook: bool
) -> None:
    """Two invocations that each wait for the other can only finish if they interleave."""
    if async_hook:

        class Hook(AppExtensionBase):
            @classmethod
            async def pre_invocation_app_level(cls, func_args: dict[str, Any]) -> None:
                func_args["mine"].set()
                await asyncio.wait_for(func_args["theirs"].wait(), 10)

    else:

        class Hook(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls, func_args: dict[str, Any]) -> None:
                func_args["entered"].append(func_args["name"])

    async def work(
        name: str, mine: asyncio.Event, theirs: asyncio.Event, entered: list[str]
    ) -> str:
        mine.set()
        await asyncio.wait_for(theirs.wait(), 10)
        return name

    loaded = extkit_engine.load(work)

    async def both() -> list[Any]:
        first, second = asyncio.Event(), asyncio.Event()
        entered: list[str] = []
        results = await asyncio.gather(
            loaded.invoke_async({"name": "a", "mine": first, "theirs": second, "entered": entered}),
            loaded.invoke_async({"name": "b", "mine": second, "theirs": first, "entered": entered}),
        )
        return [results, entered]

    results, entered = asyncio.run(both())
    assert results == ["a", "b"]
    assert entered == ([] if async_hook else ["a", "b"])


def test_invocation_timeout_fails_the_invocation_and_post_hooks_still_run(
    extkit_engine: Engine,
) -> None:
    seen: list[Any] = []

    class Observer(AppExtensionBase):
        @classmethod
        def post_invocation_app_level(cls, func_exc: Any) -> None:
            seen.append(func_exc)

    async def hangs() -> None:
        await asyncio.Event().wait()

    loaded = extkit_engine.load(hangs)
    with pytest.raises(InvocationTimeout):
        asyncio.run(loaded.invoke_async(timeout=0.01))
    assert len(seen) == 1 and isinstance(seen[0], InvocationTimeout)


def test_a_cancelled_invocation_runs_its_post_hooks_and_stays_cancelled(
    extkit_engine: Engine,
) -> None:
    seen: list[str] = []

    class Observer(AppExtensionBase):
        @classmethod
        async def pre_invocation_app_level(cls) -> None:
            await asyncio.sleep(0)

        @classmethod
        def post_invocation_app_level(cls, func_exc: Any) -> None:
            seen.append(type(func_exc).__name__)

    async def hangs(started: asyncio.Event) -> None:
        started.set()
        await asyncio.Event().wait()

    loaded = extkit_engine.load(hangs)

    async def main() -> bool:
        started = asyncio.Event()
        task = asyncio.ensure_future(loaded.invoke_async({"started": started}))
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        await asyncio.wait([task], timeout=10)
        return task.cancelled()

    assert asyncio.run(main()) is True
    assert seen == ["CancelledError"]


def _timeline(seen: list[str]) -> None:
    """An app extension that records its pre and post hooks, with the thread they ran on."""

    class Timeline(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            seen.append("pre")

        @classmethod
        def post_invocation_app_level(cls, func_exc: Any) -> None:
            seen.append(f"post {type(func_exc).__name__} on {threading.current_thread().name}")


def _times_out(loaded: extkit.LoadedFunction, pool: ThreadPoolExecutor) -> str:
    """Invoke with a short limit; return the name of the loop's thread (it must time out)."""

    async def main() -> str:
        with pytest.raises(InvocationTimeout):
            await loaded.invoke_async(executor=pool, timeout=0.3)
        return threading.current_thread().name

    return asyncio.run(main())


def test_a_sync_function_that_outlives_its_time_fails_and_its_post_hooks_run_once(
    extkit_engine: Engine,
) -> None:
    """The loop runs the way out when the time is up; the thread's late end runs nothing."""
    seen: list[str] = []
    _timeline(seen)
    release = threading.Event()

    def stuck() -> None:
        seen.append("function")
        release.wait(10)
        seen.append("function ended")

    with ThreadPoolExecutor(1, thread_name_prefix="worker") as pool:
        loop_thread = _times_out(extkit_engine.load(stuck), pool)
        assert seen == ["pre", "function", f"post InvocationTimeout on {loop_thread}"]
        release.set()
    assert seen[-1] == "function ended" and len(seen) == 4


def test_a_sync_invocation_whose_time_is_up_in_a_pre_hook_unwinds_on_its_thread(
    extkit_engine: Engine,
) -> None:
    """The invocation fails at once; the function never runs; the post hooks run once, on the
    thread, when the pre hook is done."""
    seen: list[str] = []
    release = threading.Event()

    class Slow(AppExtensionBase):  # e.g. a token fetch that hangs
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            release.wait(10)

    _timeline(seen)
    with ThreadPoolExecutor(1, thread_name_prefix="worker") as pool:
        _times_out(extkit_engine.load(lambda: seen.append("function"), name="work"), pool)
        assert seen == []
        release.set()
    assert seen == ["pre", "post InvocationTimeout on worker_0"]


def test_a_sync_invocation_whose_time_is_up_before_a_thread_is_free_runs_nothing(
    extkit_engine: Engine,
) -> None:
    seen: list[str] = []
    _timeline(seen)
    release = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(release.wait, 10)  # the only thread is busy
        _times_out(extkit_engine.load(lambda: seen.append("function"), name="work"), pool)
        release.set()
    assert seen == []


def test_hooks_of_a_sync_function_that_block_do_not_block_the_event_loop(
    extkit_engine: Engine,
) -> None:
    """Two invocations whose pre hooks wait for each other can only finish side by side."""
    barrier = threading.Barrier(2, timeout=10)
    met: list[int] = []

    class WaitsForTheOther(AppExtensionBase):  # e.g. a blocking token fetch
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            met.append(barrier.wait())

    loaded = extkit_engine.load(lambda n: n, name="work")

    async def both() -> list[Any]:
        return await asyncio.gather(
            loaded.invoke_async({"n": 1}, executor=pool),
            loaded.invoke_async({"n": 2}, executor=pool),
        )

    with ThreadPoolExecutor(2) as pool:
        assert asyncio.run(both()) == [1, 2]
    assert sorted(met) == [0, 1]


def test_a_sync_hook_that_holds_the_event_loop_is_reported_once_per_extension_and_hook(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    import time

    class Blocking(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            time.sleep(0.15)  # what is under test: a hook that blocks the loop

        @classmethod
        def post_invocation_app_level(cls) -> None:
            time.sleep(0.15)

    class Awaiting(AppExtensionBase):
        @classmethod
        async def pre_invocation_app_level(cls) -> None:
            await asyncio.sleep(0.15)  # waits without holding the loop

    async def work() -> str:
        return "ok"

    loaded = extkit_engine.load(work)

    async def twice() -> None:
        await loaded.invoke_async()
        await loaded.invoke_async()

    asyncio.run(twice())
    warnings = [r for r in extkit_logs.records if r.name == "extkit.engine"]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 2
    hooks = ["pre_invocation_app_level", "post_invocation_app_level"]
    for record, hook in zip(warnings, hooks, strict=True):
        message = record.getMessage()
        assert "extension Blocking held the event loop for" in message and hook in message
        assert int(message.split(" for ")[1].split(" ms")[0]) >= 150
        assert "async def" in message


def test_a_base_exception_from_a_post_hook_is_what_the_outer_layers_see_and_what_propagates(
    extkit_engine: Engine,
) -> None:
    seen: list[str] = []

    class Outer(AppExtensionBase):
        @classmethod
        def post_invocation_app_level(cls, func_exc: Any) -> None:
            seen.append(f"Outer sees {type(func_exc).__name__}")

    class Interrupted(AppExtensionBase):
        @classmethod
        def post_invocation_app_level(cls, func_exc: Any) -> None:
            seen.append(f"Interrupted sees {type(func_exc).__name__}")
            raise KeyboardInterrupt

    boom = ValueError("the function failed")

    def fails() -> None:
        raise boom

    with pytest.raises(KeyboardInterrupt) as raised:
        extkit_engine.load(fails).invoke()
    assert seen == ["Interrupted sees ValueError", "Outer sees KeyboardInterrupt"]
    assert raised.value.__context__ is boom  # as when raised in a finally block


def test_call_runs_an_async_function_and_its_hooks_to_completion(extkit_engine: Engine) -> None:
    calls: list[str] = []
    _async_recorder(calls)

    async def work() -> str:
        await asyncio.sleep(0)
        return "ok"

    loaded = extkit_engine.load(work)
    assert loaded.call({}, loaded.new_context()) == "ok"
    assert calls == ["pre work", "post ok"]


# --- state, gate, lifetime ----------------------------------------------------------------------


def test_context_state_gives_each_extension_its_own_per_invocation_namespace(
    extkit_engine: Engine,
) -> None:
    seen: list[tuple[str, Any]] = []

    class Timer(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, context: Context) -> None:
            seen.append(("Timer fresh", cls not in context.state))
            context.state[cls].value = "timer"

        @classmethod
        def post_invocation_app_level(cls, context: Context) -> None:
            seen.append(("Timer", context.state[cls].value))

    class Tracer(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, context: Context) -> None:
            seen.append(("Tracer fresh", cls not in context.state))
            context.state[cls].value = "tracer"

        @classmethod
        def post_invocation_app_level(cls, context: Context) -> None:
            seen.append(("Tracer", context.state[cls].value))

    loaded = extkit_engine.load(lambda: None, name="work")
    loaded.invoke()
    loaded.invoke()
    assert (
        seen
        == [
            ("Timer fresh", True),
            ("Tracer fresh", True),
            ("Tracer", "tracer"),
            ("Timer", "timer"),
        ]
        * 2
    )


def test_nothing_outlives_an_invocation(extkit_engine: Engine, extkit_registry: Registry) -> None:
    paired: list[bool] = []

    class Stateful(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, context: Context) -> None:
            context.state[cls].started = context.invocation_id

        @classmethod
        def post_invocation_app_level(cls, context: Context) -> None:
            paired.append(context.state[cls].started == context.invocation_id)

    class PerFunction(FuncExtensionBase):
        def pre_invocation(self, context: Context) -> None:
            context.func_ext_attributes["seen"] = True

    PerFunction(functions=["work", "fails", "work_async"])

    def work(context: Context) -> str:
        return context.invocation_id

    def fails() -> None:
        raise ValueError

    async def work_async() -> None:
        await asyncio.sleep(0)

    loaded = [extkit_engine.load(work), extkit_engine.load(fails), extkit_engine.load(work_async)]

    def snapshot() -> tuple[Any, ...]:
        return (
            len(extkit_registry),
            extkit_registry.version,
            sorted(vars(Stateful)),
            sorted(vars(PerFunction)),
            sorted(extkit_registry.plugin_manager.list_name_plugin()),
            sorted(extkit_engine.functions),
            dict(extkit.correlation.running_invocations),
            extkit.context.invocation_local.invocation_id,
        )

    loaded[0].invoke()
    before = snapshot()
    for _ in range(50):
        loaded[0].invoke()
        with pytest.raises(ValueError):
            loaded[1].invoke()
        asyncio.run(loaded[2].invoke_async())
    assert snapshot() == before
    assert extkit.correlation.running_invocations == {}
    assert paired == [True] * 151


def test_with_the_gate_off_hooks_do_not_run_but_the_function_does(
    extkit_registry: Registry,
) -> None:
    calls: list[str] = []

    class Recorder(AppExtensionBase):
        @classmethod
        def post_function_load_app_level(cls) -> None:
            calls.append("load")

        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append("pre")

        @classmethod
        async def post_invocation_app_level(cls) -> None:
            calls.append("post")

    engine = Engine(registry=extkit_registry, enabled=False)
    loaded = engine.load(lambda: calls.append("function") or "ok", name="work")
    assert loaded.invoke() == "ok"
    assert asyncio.run(loaded.invoke_async()) == "ok"
    assert calls == ["function", "function"]


def test_an_extension_registered_during_an_invocation_gets_no_unpaired_post_hook(
    extkit_engine: Engine,
) -> None:
    calls: list[str] = []

    class Present(AppExtensionBase):  # the invocation has hooks before Late appears
        @classmethod
        def post_invocation_app_level(cls) -> None:
            calls.append("Present post")

    def work() -> None:
        class Late(AppExtensionBase):  # e.g. a lazy import inside the function body
            @classmethod
            def pre_invocation_app_level(cls) -> None:
                calls.append("Late pre")

            @classmethod
            def post_invocation_app_level(cls) -> None:
                calls.append("Late post")

        calls.append("function")

    loaded = extkit_engine.load(work)
    loaded.invoke()
    assert calls == ["function", "Present post"]
    calls.clear()
    loaded.invoke()
    assert calls == ["Late pre", "function", "Late post", "Present post"]


def test_shutdown_hooks_run_once_innermost_first_and_failures_are_isolated(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    calls: list[str] = []
    boom = RuntimeError("flush failed")

    class First(AppExtensionBase):
        @classmethod
        def shutdown_app_level(cls) -> None:
            calls.append("First")

    class Broken(AppExtensionBase):
        @classmethod
        def shutdown_app_level(cls) -> None:
            raise boom

    class Flushes(AppExtensionBase):
        @classmethod
        async def shutdown_app_level(cls) -> None:
            await asyncio.sleep(0)
            calls.append("Flushes")

    extkit_engine.shutdown()
    extkit_engine.shutdown()
    assert calls == ["Flushes", "First"]
    records = _errors(extkit_logs, "Broken")
    assert len(records) == 1 and "shutdown_app_level" in records[0].getMessage()


def test_sync_invocations_run_concurrently_on_threads_with_their_own_context(
    extkit_engine: Engine,
) -> None:
    """Hooks of concurrent invocations on different threads each see their own context."""
    mismatches: list[str] = []
    barrier = threading.Barrier(4, timeout=10)

    class Checks(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, context: Context, func_args: dict[str, Any]) -> None:
            context.state[cls].expected = func_args["n"]

        @classmethod
        def post_invocation_app_level(cls, context: Context, func_ret: Any) -> None:
            if context.state[cls].expected != func_ret:
                mismatches.append(context.invocation_id)

    def work(n: int) -> int:
        barrier.wait()
        return n

    loaded = extkit_engine.load(work)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: loaded.invoke({"n": n}), range(40)))
    assert results == list(range(40))
    assert mismatches == []
