"""The engine's semantics (design §3) under every mix of extensions.

Each scenario puts one ``Trouble`` extension (or the function itself) in the way of an invocation
and states what happens: which layers are entered, what each one's post or around hook sees on
the way out, and how the invocation ends. The same scenario runs with every mix of other
extensions registered alongside (reference-style positional hooks, by-name subsets, around hooks,
async hooks and async generators, function scope) and through every entry point, for sync and
async functions; the expectation does not change with the mix. That is the contract: there is
one dispatch path, so no behaviour depends on which other extensions are registered.

The layers, outermost first::

    Outer (app) -> the mix's app layers -> Trouble (app) -> the mix's function layers -> Inner
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

import extkit
from extkit import (
    AppExtensionBase,
    Context,
    Engine,
    FuncExtensionBase,
    LoadedFunction,
    RejectInvocation,
    ShortCircuit,
)
from extkit.testing import CapturedLogs, capture_logs

pytestmark = pytest.mark.usefixtures("no_invocation_outlives_the_test")


class Abort(BaseException):
    """A BaseException of the application's own, neither Exception nor KeyboardInterrupt."""


# --- the layers that record what they see ---------------------------------------------------


def _outcome(func_ret: Any, func_exc: BaseException | None) -> str:
    return type(func_exc).__name__ if func_exc is not None else repr(func_ret)


def _by_name(name: str, events: list[str], *, scope: str) -> dict[str, Any]:
    """Pre and post hooks taking a by-name subset of their arguments."""

    def pre(self: Any, context: Context) -> None:
        events.append(f"{name} in")

    def post(self: Any, *, func_exc: BaseException | None, func_ret: Any) -> None:
        events.append(f"{name} out {_outcome(func_ret, func_exc)}")

    return _hooks(scope, pre=pre, post=post)


def _reference(name: str, events: list[str], *, scope: str) -> dict[str, Any]:
    """The reference system's signatures: positional, ``*args, **kwargs``, no ``func_exc``."""

    def pre(
        self: Any, logger: logging.Logger, context: Context, func_args: Any, *a: Any, **k: Any
    ) -> None:
        events.append(f"{name} in")

    def post(
        self: Any,
        logger: logging.Logger,
        context: Context,
        func_args: Any,
        func_ret: Any,
        *a: Any,
        **k: Any,
    ) -> None:
        events.append(f"{name} out {func_ret!r}")

    return _hooks(scope, pre=pre, post=post)


def _async(name: str, events: list[str], *, scope: str) -> dict[str, Any]:
    async def pre(self: Any, context: Context) -> None:
        await asyncio.sleep(0)
        events.append(f"{name} in")

    async def post(self: Any, func_ret: Any, func_exc: BaseException | None) -> None:
        await asyncio.sleep(0)
        events.append(f"{name} out {_outcome(func_ret, func_exc)}")

    return _hooks(scope, pre=pre, post=post)


def _around(name: str, events: list[str], *, scope: str) -> dict[str, Any]:
    def around(self: Any, logger: logging.Logger) -> Generator[None, Any, Any]:
        events.append(f"{name} in")
        try:
            result = yield
        except BaseException as exc:
            events.append(f"{name} out {type(exc).__name__}")
            raise
        events.append(f"{name} out {result!r}")
        return result

    return _hooks(scope, around=around)


def _async_around(name: str, events: list[str], *, scope: str) -> dict[str, Any]:
    async def around(self: Any, context: Context) -> AsyncGenerator[None, Any]:
        await asyncio.sleep(0)
        events.append(f"{name} in")
        try:
            result = yield
        except BaseException as exc:
            events.append(f"{name} out {type(exc).__name__}")
            raise
        events.append(f"{name} out {result!r}")

    return _hooks(scope, around=around)


def _hooks(scope: str, **hooks: Callable[..., Any]) -> dict[str, Any]:
    suffix = "_app_level" if scope == "app" else ""
    return {
        f"{role}_invocation{suffix}": classmethod(fn) if scope == "app" else fn
        for role, fn in hooks.items()
    }


KINDS: dict[str, Callable[..., dict[str, Any]]] = {
    "Ref": _reference,
    "Named": _by_name,
    "Around": _around,
    "Async": _async,
    "AsyncAround": _async_around,
}

#: Mixes of other extensions: (kind, scope) pairs, registered in this order.
MIXES: dict[str, list[tuple[str, str]]] = {
    "alone": [],
    "reference": [("Ref", "app")],
    "by-name": [("Named", "app")],
    "around": [("Around", "app")],
    "async": [("Async", "app"), ("AsyncAround", "app")],
    "function-scope": [("Named", "function"), ("Around", "function")],
    "everything": [
        ("Ref", "app"),
        ("Around", "app"),
        ("Async", "app"),
        ("AsyncAround", "app"),
        ("Named", "app"),
        ("Ref", "function"),
        ("AsyncAround", "function"),
        ("Async", "function"),
        ("Around", "function"),
    ],
}


def _define(name: str, scope: str, namespace: dict[str, Any]) -> None:
    """Define (and so register) an extension; a function-level one is bound to ``work``."""
    if scope == "app":
        type(name, (AppExtensionBase,), {"__qualname__": name, **namespace})
    else:
        cls = type(name, (FuncExtensionBase,), {"__qualname__": name, **namespace})
        cls(functions=["work"])


# --- scenarios ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Trouble at one place: ``where`` is ``function``, ``pre``, ``post``, ``around before`` or
    ``around after`` (the ``yield``); ``raise_`` makes the exception (``None``: no trouble)."""

    where: str
    raise_: Callable[[], BaseException] | None
    style: str = "sync"

    @property
    def id(self) -> str:
        made = "nothing" if self.raise_ is None else type(self.raise_()).__name__
        style = "async " if self.style == "async" else ""
        return f"{style}{self.where} raises {made}"

    def exc(self) -> BaseException | None:
        return None if self.raise_ is None else self.raise_()

    @property
    def isolated(self) -> bool:
        """Trouble an extension causes by accident: logged, and the invocation goes on."""
        exc = self.exc()
        if exc is None or self.where == "function":
            return False
        if isinstance(exc, RejectInvocation | ShortCircuit):
            return self.where not in ("pre", "around before")
        return isinstance(exc, Exception)

    def trouble_hooks(self) -> dict[str, Any]:
        """The namespace of the ``Trouble`` extension for this scenario."""
        if self.where == "function":
            return {}
        make = self.raise_

        def fail() -> None:
            if make is not None:
                raise make()

        if self.where in ("pre", "post"):

            async def async_hook(cls: type) -> None:
                await asyncio.sleep(0)
                fail()

            def hook(cls: type) -> None:
                fail()

            chosen = async_hook if self.style == "async" else hook
            return {f"{self.where}_invocation_app_level": classmethod(chosen)}
        before = self.where == "around before"
        if self.style == "async":

            async def agen(cls: type) -> AsyncGenerator[None, Any]:
                await asyncio.sleep(0)
                if before:
                    fail()
                yield
                fail()

            return {"around_invocation_app_level": classmethod(agen)}

        def gen(cls: type) -> Generator[None, Any, Any]:
            if before:
                fail()
            result = yield
            fail()
            return result

        return {"around_invocation_app_level": classmethod(gen)}


def _scenarios() -> list[Scenario]:
    found = [
        Scenario("function", None),
        Scenario("function", lambda: ValueError("function failed")),
        Scenario("function", KeyboardInterrupt),
        Scenario("function", SystemExit),
        Scenario("function", Abort),
    ]
    for style in ("sync", "async"):
        found += [
            Scenario("pre", lambda: ValueError("pre broke"), style),
            Scenario("pre", KeyboardInterrupt, style),
            Scenario("pre", lambda: RejectInvocation("denied"), style),
            Scenario("pre", lambda: ShortCircuit("cached"), style),
            Scenario("post", lambda: ValueError("post broke"), style),
            Scenario("post", KeyboardInterrupt, style),
            Scenario("around before", lambda: ValueError("around broke"), style),
            Scenario("around before", KeyboardInterrupt, style),
            Scenario("around before", lambda: RejectInvocation("denied"), style),
            Scenario("around after", lambda: ValueError("around broke"), style),
            Scenario("around after", SystemExit, style),
        ]
    found += [
        Scenario("pre", SystemExit),
        Scenario("pre", Abort),
        Scenario("post", SystemExit),
        Scenario("post", Abort),
        Scenario("post", lambda: RejectInvocation("too late to reject")),
    ]
    return found


SCENARIOS = _scenarios()


def expected(scenario: Scenario, before: list[str], after: list[str]) -> tuple[list[str], str]:
    """What the recording layers see, and the invocation's outcome (a repr or an exception type).

    ``before``/``after``: the recording layers outside and inside ``Trouble``, outermost first.
    """
    exc = scenario.exc()
    entered, stop = before + after, None  # stop: what ends the way in at Trouble
    outcome_inside: tuple[Any, BaseException | None] = ("ok", None)
    outcome_outside = outcome_inside
    function_runs = True
    if scenario.where == "function" and exc is not None:
        outcome_inside = outcome_outside = (None, exc)
    elif not scenario.isolated and exc is not None:
        if scenario.where in ("pre", "around before"):
            entered, function_runs = before, False
            stop = exc
            outcome_outside = ("cached", None) if isinstance(exc, ShortCircuit) else (None, exc)
        else:  # a BaseException on the way out replaces the outcome for the layers outside
            outcome_outside = (None, exc)

    def out(name: str, ret: Any, error: BaseException | None) -> str:
        if name.startswith("Ref"):  # the reference's post hook has no func_exc
            return f"{name} out {ret!r}"
        return f"{name} out {_outcome(ret, error)}"

    events = [f"{name} in" for name in entered]
    if function_runs:
        events.append("function")
    if stop is None:
        events += [out(name, *outcome_inside) for name in reversed(after)]
    events += [out(name, *outcome_outside) for name in reversed(before)]
    return events, _outcome(*outcome_outside)


# --- running one invocation -------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4, thread_name_prefix="matrix") as executor:
        yield executor


ENTRIES = {
    "sync": ["invoke", "invoke_async(pool)", "invoke_async(pool, timeout)"],
    "async": ["invoke", "invoke_async", "invoke_async(timeout)"],
}


def run(loaded: LoadedFunction, entry: str, pool: ThreadPoolExecutor) -> tuple[Any, Any]:
    """Invoke once; return ``(result, None)`` or ``(None, exception)``, whatever it raised."""
    if entry == "invoke":
        try:
            return loaded.invoke(), None
        except BaseException as exc:  # KeyboardInterrupt and the like too
            return None, exc
    executor = pool if "pool" in entry else None
    timeout = 30.0 if "timeout" in entry else None

    async def main() -> tuple[Any, Any]:
        try:
            return await loaded.invoke_async(executor=executor, timeout=timeout), None
        except BaseException as exc:
            return None, exc

    return asyncio.run(main())


def build(
    mix: list[tuple[str, str]], scenario: Scenario, events: list[str]
) -> tuple[Engine, list[str], list[str]]:
    """Register Outer, the mix, Trouble and Inner; return the engine and the recording layers
    outside and inside Trouble, outermost first."""
    before: list[str] = ["Outer"]
    after: list[str] = []
    _define("Outer", "app", _by_name("Outer", events, scope="app"))
    for index, (kind, scope) in enumerate(mix):
        name = f"{kind}{index}"
        _define(name, scope, KINDS[kind](name, events, scope=scope))
        (before if scope == "app" else after).append(name)
    _define("Trouble", "app", scenario.trouble_hooks())
    _define("Inner", "function", _by_name("Inner", events, scope="function"))
    after.append("Inner")
    return Engine(enabled=True), before, after


def load_work(
    engine: Engine, scenario: Scenario, function_kind: str, events: list[str]
) -> LoadedFunction:
    exc = scenario.exc() if scenario.where == "function" else None

    def work() -> str:
        events.append("function")
        if exc is not None:
            raise exc
        return "ok"

    async def work_async() -> str:
        await asyncio.sleep(0)
        return work()

    return engine.load(work if function_kind == "sync" else work_async, name="work")


def check(scenario: Scenario, logs: CapturedLogs, result: Any, error: BaseException | None) -> str:
    """The invocation's outcome as ``expected`` spells it; trouble is logged iff isolated."""
    failures = [
        record
        for record in logs.records
        if record.name.startswith("extkit.extensions.") and record.levelno >= logging.ERROR
    ]
    if scenario.isolated:
        assert [record.name for record in failures] == ["extkit.extensions.Trouble"]
        assert failures[0].exc_info is not None
    else:
        assert failures == []
    return _outcome(result, error)


# --- the matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize("mix", MIXES)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.id)
@pytest.mark.parametrize("function_kind", ["sync", "async"])
def test_every_behaviour_under_every_mix_of_extensions(
    extkit_registry: extkit.Registry,
    pool: ThreadPoolExecutor,
    mix: str,
    scenario: Scenario,
    function_kind: str,
) -> None:
    """Every entry point in turn, on the same loaded function (nothing carries over)."""
    events: list[str] = []
    engine, before, after = build(MIXES[mix], scenario, events)
    loaded = load_work(engine, scenario, function_kind, events)
    want = expected(scenario, before, after)
    for entry in ENTRIES[function_kind]:
        events.clear()
        with capture_logs() as logs:
            result, error = run(loaded, entry, pool)
        assert (events, check(scenario, logs, result, error)) == want, entry


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.id)
@pytest.mark.parametrize("function_kind", ["sync", "async"])
def test_a_behaviour_does_not_depend_on_which_other_extensions_are_registered(
    pool: ThreadPoolExecutor, scenario: Scenario, function_kind: str
) -> None:
    """What the Outer and Inner layers see, and the outcome, are the same for every mix."""
    seen: dict[str, tuple[list[str], str]] = {}
    for mix_name, mix in MIXES.items():
        events: list[str] = []
        with extkit.isolated_registry():
            engine, _, _ = build(mix, scenario, events)
            loaded = load_work(engine, scenario, function_kind, events)
            result, error = run(loaded, "invoke", pool)
        probes = [event for event in events if event.split()[0] in ("Outer", "Inner", "function")]
        seen[mix_name] = (probes, _outcome(result, error))
    assert all(observed == seen["alone"] for observed in seen.values()), seen


# --- the other behaviours of §3, under every mix ------------------------------------------------


@pytest.mark.parametrize("mix", MIXES)
@pytest.mark.parametrize(
    ("function_kind", "entry"),
    [(kind, entry) for kind, entries in ENTRIES.items() for entry in entries],
)
def test_context_variables_a_pre_hook_sets_reach_the_function_and_post_hooks(
    extkit_registry: extkit.Registry,
    pool: ThreadPoolExecutor,
    mix: str,
    function_kind: str,
    entry: str,
) -> None:
    user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="-")
    events: list[str] = []
    seen: list[str] = []
    _define("Outer", "app", _by_name("Outer", events, scope="app"))
    for index, (kind, scope) in enumerate(MIXES[mix]):
        _define(f"{kind}{index}", scope, KINDS[kind](f"{kind}{index}", events, scope=scope))

    class Sets(FuncExtensionBase):
        def pre_invocation(self) -> None:
            user.set("ada")

        def post_invocation(self) -> None:
            seen.append(user.get())

    Sets(functions=["work"])

    def work() -> str:
        return user.get()

    async def work_async() -> str:
        await asyncio.sleep(0)
        return user.get()

    engine = Engine(enabled=True)
    loaded = engine.load(work if function_kind == "sync" else work_async, name="work")
    assert run(loaded, entry, pool) == ("ada", None)
    assert seen == ["ada"]
    assert user.get() == "-"  # and they end with the invocation


@pytest.mark.parametrize("mix", MIXES)
def test_a_sync_function_runs_with_all_its_hooks_on_one_pool_thread(
    extkit_registry: extkit.Registry, pool: ThreadPoolExecutor, mix: str
) -> None:
    threads: list[tuple[str, int]] = []
    events: list[str] = []
    for index, (kind, scope) in enumerate(MIXES[mix]):
        _define(f"{kind}{index}", scope, KINDS[kind](f"{kind}{index}", events, scope=scope))

    class Where(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            threads.append(("sync pre", threading.get_ident()))

        @classmethod
        async def post_invocation_app_level(cls) -> None:
            threads.append(("async post", threading.get_ident()))

    class WhereFunc(FuncExtensionBase):
        async def pre_invocation(self) -> None:
            threads.append(("async pre", threading.get_ident()))

        def post_invocation(self) -> None:
            threads.append(("sync post", threading.get_ident()))

    WhereFunc(functions=["work"])

    def work() -> None:
        threads.append(("function", threading.get_ident()))

    loaded = Engine(enabled=True).load(work)

    async def main() -> int:
        await loaded.invoke_async(executor=pool)
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert [what for what, _ in threads] == [
        "sync pre",
        "async pre",
        "function",
        "sync post",
        "async post",
    ]
    (worker,) = {ident for _, ident in threads}
    assert worker != loop_thread
