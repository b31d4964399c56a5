"""The lifecycle engine: load functions, then run every invocation through the extensions' hooks.

Per invocation the order is::

    app pre -> function pre -> the function -> function post -> app post

Each extension is one *layer*: its pre hook (then its around hook up to ``yield``) runs on the way
in, its around hook's rest (then its post hook) on the way out, so layers nest like middleware and
post hooks unwind in exactly the reverse order of the pre hooks. The error policy, the same for
every mix of extensions:

- An ``Exception`` from a hook is that extension's problem: it is logged on the extension's
  logger and the invocation goes on. Only the deliberate ``RejectInvocation`` and
  ``ShortCircuit``, from a pre or around hook, end the way in.
- Whatever else ends the way in or the function, a ``BaseException`` that is not an
  ``Exception`` included (``KeyboardInterrupt``, ``SystemExit``, a cancellation, the app's
  own), unwinds like ``try/finally``: every layer already entered runs its post hook (which sees
  it as ``func_exc``) or has it thrown into its around hook, then it propagates.
- A ``BaseException`` from a post or around hook on the way out does not skip the layers
  outside it: as one raised in a ``finally`` block, it is the outcome from there on (the layers
  outside see it and it propagates; the one it replaced is its ``__context__``).

What does not change between invocations (which extensions apply to a function, in which order,
how each hook is called) is worked out once into a :class:`_Plan`. Exactly two runners walk it,
:func:`_run` (sync) and :func:`_run_async`, with the same steps and the same helpers for what an
exception means. A sync function runs with its hooks on one pool thread (``invoke_async`` makes
one hop); an async function with its hooks on the event loop, where a sync hook that holds the
loop over 100 ms is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from typing import Any, Final, final

from . import correlation
from ._bridge import in_context, settled, to_completion, unwrapped
from ._hookcall import make_adapter
from ._settings import EXTENSIONS_GATE, resolve_truthy
from ._types import FunctionInfo, Layout
from .context import Context, invocation_local
from .errors import InvocationNotStarted, InvocationTimeout, RejectInvocation, ShortCircuit
from .pool import FunctionPool
from .registry import HookObserver, HookPhase, Registration, Registry, current_registry

__all__ = ["Engine", "LoadedFunction", "raised_by"]

_CONTROL: Final = (RejectInvocation, ShortCircuit)
_NO_AROUNDS: Final[list[Any]] = []  # shared, never written: a plan without around hooks
_SLOW_HOOK_S: Final = 0.1  # a sync hook holding the event loop longer than this is reported
_log: Final = logging.getLogger("extkit.engine")
_clock: Final = time.perf_counter
_copy_context: Final = contextvars.copy_context
_call_in_scope: Final = correlation.call_in_scope
_enter: Final = correlation.enter
_leave: Final = correlation.leave


# --- the plan -----------------------------------------------------------------------------------


@final
class _Layer:
    """One extension's part in one function's plan. Its hooks take the runners' arguments,
    ``(logger, context, func_args)``, then on the way out ``func_ret`` and (unless
    ``post_takes_exc`` is false, as for the reference's signature) ``func_exc``: a hook whose
    parameters are these, in this order, is called as it is, any other through its adapter."""

    __slots__ = (
        "around",
        "around_async",
        "logger",
        "name",
        "observe_exit",
        "post",
        "post_async",
        "post_takes_exc",
        "pre",
        "pre_async",
        "suffix",
    )

    def __init__(self, entry: Registration, observer: HookObserver | None) -> None:
        self.name = entry.name
        self.logger = entry.logger
        self.suffix = "_app_level" if entry.scope == "app" else ""
        self.pre, self.pre_async, _ = _prepared(entry, self.hook("pre"), (3,), observer)
        self.around, self.around_async, _ = _prepared(entry, self.hook("around"), (3,), observer)
        self.post, self.post_async, arity = _prepared(entry, self.hook("post"), (4, 5), observer)
        self.post_takes_exc = arity != 4
        self.observe_exit: Callable[[Context], None] | None = None
        if observer is not None and self.around is not None:
            self.observe_exit = _observing(observer, entry, self.hook("around"), "exit")

    def hook(self, role: str) -> str:
        return f"{role}_invocation{self.suffix}"


def _prepared(
    entry: Registration, hook_name: str, direct: tuple[int, ...], observer: HookObserver | None
) -> tuple[Callable[..., Any] | None, bool, int]:
    """The hook as the runners call it, whether it is async, and how many arguments it takes."""
    found = entry.hooks.get(hook_name)
    if found is None:
        return None, False, 0
    fn, shape = found
    arity = shape.positional if shape.positional in direct else None
    call = fn if arity is not None else make_adapter(fn, shape)
    if observer is not None:
        observe = _observing(
            observer, entry, hook_name, "enter" if "around" in hook_name else "call"
        )

        def observed(logger: logging.Logger, context: Context, *rest: Any) -> Any:
            observe(context)
            return call(logger, context, *rest)

        return observed, shape.is_async, arity or 5
    return call, shape.is_async, arity or 5


def _observing(
    observer: HookObserver, entry: Registration, hook_name: str, phase: HookPhase
) -> Callable[[Context], None]:
    """Tells the registry's observer (``extkit.testing`` records hook calls) about one call."""

    def observe(context: Context) -> None:
        observer(entry, hook_name, phase, context.function_name, context.invocation_id)

    return observe


@final
class _Plan:
    """The layers of one function, outermost first. Immutable once built; rebuilt when the
    registry changes, so an invocation always pairs the pre and post hooks of one snapshot.
    ``sync``: the function and all its hooks are sync, so :func:`_run` runs it."""

    __slots__ = ("has_around", "layers", "slow_hooks", "sync")

    def __init__(self, entries: list[Registration], function: LoadedFunction) -> None:
        engine = function._engine
        self.layers = tuple(_Layer(entry, engine.registry.hook_observer) for entry in entries)
        self.has_around = any(layer.around is not None for layer in self.layers)
        self.sync = not function.info.is_async and not any(
            layer.pre_async or layer.around_async or layer.post_async for layer in self.layers
        )
        self.slow_hooks = engine._slow_hooks


# --- the error policy (see the module docstring), written once for both runners --------------


def _report(layer: _Layer, role: str, context: Context, exc: BaseException) -> None:
    layer.logger.error(
        "extension %s failed in %s for function %s (invocation %s): %s",
        layer.name,
        layer.hook(role),
        context.function_name,
        context.invocation_id,
        exc,
        exc_info=exc,
    )


def _isolate(layer: _Layer, role: str, context: Context, exc: Exception) -> None:
    """An ``Exception`` from a hook on the way in: a ``RejectInvocation`` or ``ShortCircuit``
    goes on up and ends the way in; anything else is logged, and the invocation goes on. (An
    around hook that finished without yielding is skipped; its layer still counts as entered.)"""
    if isinstance(exc, _CONTROL):
        raise exc
    if role == "around" and isinstance(exc, StopIteration | StopAsyncIteration):
        exc = RuntimeError("around hook finished without yielding")
    _report(layer, role, context, exc)


def _exited(
    layer: _Layer, context: Context, exc: BaseException, result: Any, error: BaseException | None
) -> tuple[Any, BaseException | None]:
    """The outcome after a resumed around hook raised ``exc``. A new ``ShortCircuit`` replaces
    the result (how an async generator, which cannot return one, does it); the outcome's own
    exception let through, a ``RejectInvocation`` or a ``BaseException`` that is not an
    ``Exception`` is the outcome; any other exception is a bug of the hook: logged, the outcome
    stands."""
    if isinstance(exc, ShortCircuit) and exc is not error:
        return exc.result, None
    if exc is error or isinstance(exc, RejectInvocation) or not isinstance(exc, Exception):
        return None, _latest(error, exc, layer, "around")
    _report(layer, "around", context, exc)
    return result, error


def _blamed(exc: BaseException, layer: _Layer, hook: str) -> BaseException:
    """Mark a ``BaseException`` that is not an ``Exception`` with the extension (and hook) it
    came from, the first time, so whoever contains it can say so (:func:`raised_by`)."""
    if not isinstance(exc, Exception) and raised_by(exc) is None:
        with contextlib.suppress(AttributeError, TypeError):
            exc.extkit_raised_by = f"extension {layer.name} in {hook}"  # type: ignore[attr-defined]
    return exc


def raised_by(exc: BaseException) -> str | None:
    """Which extension's hook raised ``exc`` (a ``BaseException`` the engine let through), as
    ``"extension NAME in HOOK"``; ``None`` for the function's own or any other."""
    found = getattr(exc, "extkit_raised_by", None)
    return found if isinstance(found, str) else None


def _latest(
    error: BaseException | None, exc: BaseException, layer: _Layer, role: str
) -> BaseException:
    """``exc``, raised on the way out by ``layer``'s hook, replaces ``error`` as a ``finally``
    block's would (and, when it is new, is marked as the hook's)."""
    if exc is not error:
        _blamed(exc, layer, layer.hook(role))
        if error is not None and exc.__context__ is None:
            exc.__context__ = error
    return exc


# --- the sync runner: the hot path ----------------------------------------------------------------
# ``LoadedFunction.call`` runs every plan whose hooks are all sync through this one function, as
# pluggy's ``_multicall`` does. It is written for CPython's interpreter rather than for brevity: a
# Python-level call costs about as much as a no-op hook, so the way in and the way out are plain
# loops, not helpers, and a ``try`` costs nothing (3.11+) while nothing raises. The rare steps
# (around hooks, failures) are helpers shared with the async runner.


def _run(
    plan: _Plan,
    context: Context,
    func_args: dict[str, Any],
    func: Callable[..., Any],
    claim: _Claim | None = None,
) -> Any:
    """One invocation: the way in, the function, the way out of every layer entered."""
    layers = plan.layers
    arounds: list[Any] = [None] * len(layers) if plan.has_around else _NO_AROUNDS  # by depth
    depth = 0  # layers entered: a layer is entered once its pre hook is called
    result: Any = None
    error: BaseException | None = None
    try:
        for layer in layers:
            depth += 1
            pre = layer.pre
            if pre is not None:
                try:
                    pre(layer.logger, context, func_args)
                except Exception as exc:
                    _isolate(layer, "pre", context, exc)
            if layer.around is not None:
                arounds[depth - 1] = _enter_around(layer, context, func_args)
    except ShortCircuit as short:  # a hook answered: the function does not run
        result = short.result
    except BaseException as exc:  # a rejection, or a KeyboardInterrupt and the like
        error = _blamed(exc, layers[depth - 1], "its way in")
    else:
        if claim is None or claim.starts(depth, arounds):
            try:
                result = func(**func_args)
            except BaseException as exc:  # the function's failure, whatever it raised
                error = exc
            if claim is not None and not claim.ends():
                return None  # its time ran out meanwhile: the event loop ran the way out
        else:
            error = claim.expired
    while depth:  # the way out, innermost layer first
        depth -= 1
        layer = layers[depth]
        if arounds and (around := arounds[depth]) is not None:
            result, error = _resume_around(layer, around, context, result, error)
        post = layer.post
        if post is not None:
            try:
                if layer.post_takes_exc:
                    post(layer.logger, context, func_args, result, error)
                else:
                    post(layer.logger, context, func_args, result)
            except Exception as exc:
                _report(layer, "post", context, exc)
            except BaseException as exc:
                result, error = None, _latest(error, exc, layer, "post")
    return result if error is None else unwrapped(None, error)


def _enter_around(layer: _Layer, context: Context, func_args: dict[str, Any]) -> Any:
    """Run a sync around hook up to its ``yield``: the generator, or ``None`` if it failed."""
    try:
        around = layer.around(layer.logger, context, func_args)  # type: ignore[misc]
        next(around)
    except Exception as exc:
        _isolate(layer, "around", context, exc)
        return None
    return around


def _resume_around(
    layer: _Layer, around: Any, context: Context, result: Any, error: BaseException | None
) -> tuple[Any, BaseException | None]:
    """Send the outcome in at a sync around hook's ``yield``; its return value is the result."""
    if layer.observe_exit is not None:
        layer.observe_exit(context)
    try:
        around.send(result) if error is None else around.throw(error)
    except StopIteration as stop:
        return stop.value, None
    except BaseException as exc:
        return _exited(layer, context, exc, result, error)
    around.close()
    _report(layer, "around", context, RuntimeError("around hook yielded twice"))
    return result, error


# --- the async runner -------------------------------------------------------------------------


async def _run_async(
    plan: _Plan,
    context: Context,
    func_args: dict[str, Any],
    call: Callable[..., Awaitable[Any]] | None,
    *,
    claim: _Claim | None = None,
    resume: tuple[int, list[Any], BaseException] | None = None,
    on_loop: bool = True,
) -> Any:
    """:func:`_run` for async code: ``async def`` hooks and async generators are awaited, and
    the function as ``call(**func_args)``. Sync hooks are called in place; ``on_loop``: that
    place is a shared event loop, so a sync hook that holds it too long is reported.

    ``resume=(depth, arounds, exc)`` runs only the way out, for a sync invocation whose time ran
    out while its pool thread was in the function.
    """
    layers = plan.layers
    watch = plan.slow_hooks if on_loop else None
    result: Any = None
    error: BaseException | None = None
    if resume is not None:
        depth, arounds, error = resume
    else:
        arounds = [None] * len(layers) if plan.has_around else _NO_AROUNDS
        depth = 0
        try:
            for layer in layers:
                depth += 1
                pre = layer.pre
                if pre is not None:
                    try:
                        done = _on_loop(watch, layer, "pre", pre, layer.logger, context, func_args)
                        if layer.pre_async:
                            await done
                    except Exception as exc:
                        _isolate(layer, "pre", context, exc)
                if layer.around is not None:
                    arounds[depth - 1] = (
                        await _enter_around_async(layer, context, func_args)
                        if layer.around_async
                        else _on_loop(
                            watch, layer, "around", _enter_around, layer, context, func_args
                        )
                    )
        except ShortCircuit as short:
            result = short.result
        except BaseException as exc:
            error = _blamed(exc, layers[depth - 1], "its way in")
        else:
            if claim is None or claim.starts(depth, arounds):
                try:
                    result = await call(**func_args)  # type: ignore[misc]
                except BaseException as exc:
                    error = exc
                if claim is not None and not claim.ends():
                    return None
            else:
                error = claim.expired
    while depth:
        depth -= 1
        layer = layers[depth]
        if arounds and (around := arounds[depth]) is not None:
            if layer.around_async:
                result, error = await _resume_around_async(layer, around, context, result, error)
            else:
                outcome = (layer, around, context, result, error)
                result, error = _on_loop(watch, layer, "around", _resume_around, *outcome)
        post = layer.post
        if post is not None:
            args = (layer.logger, context, func_args, result, error)
            try:
                done = _on_loop(
                    watch, layer, "post", post, *args[: 5 if layer.post_takes_exc else 4]
                )
                if layer.post_async:
                    await done
            except Exception as exc:
                _report(layer, "post", context, exc)
            except BaseException as exc:
                result, error = None, _latest(error, exc, layer, "post")
    return result if error is None else unwrapped(None, error)


def _on_loop(
    watch: set[tuple[str, str]] | None, layer: _Layer, role: str, fn: Callable[..., Any], *args: Any
) -> Any:
    """Call a hook from the async runner (an async one just makes its coroutine here). With
    ``watch``, the engine's set of reports made, a sync hook that held the event loop from other
    requests is reported, once per extension and hook."""
    if watch is None:
        return fn(*args)
    started = _clock()
    try:
        return fn(*args)
    finally:
        held = _clock() - started
        if held > _SLOW_HOOK_S and (layer.name, role) not in watch:
            watch.add((layer.name, role))
            _log.warning(
                "extension %s held the event loop for %.0f ms in %s; no other request could "
                "run meanwhile: write hooks that wait for I/O as async def",
                layer.name,
                held * 1000,
                layer.hook(role),
            )


async def _enter_around_async(layer: _Layer, context: Context, func_args: dict[str, Any]) -> Any:
    """:func:`_enter_around` for an async generator."""
    try:
        around = layer.around(layer.logger, context, func_args)  # type: ignore[misc]
        await around.__anext__()
    except Exception as exc:
        _isolate(layer, "around", context, exc)
        return None
    return around


async def _resume_around_async(
    layer: _Layer, around: Any, context: Context, result: Any, error: BaseException | None
) -> tuple[Any, BaseException | None]:
    """:func:`_resume_around` for an async generator, which keeps the result by finishing."""
    if layer.observe_exit is not None:
        layer.observe_exit(context)
    try:
        await (around.asend(result) if error is None else around.athrow(error))
    except StopAsyncIteration:
        return result, None
    except BaseException as exc:
        return _exited(layer, context, exc, result, error)
    await around.aclose()
    _report(layer, "around", context, RuntimeError("around hook yielded twice"))
    return result, error


# --- a sync function's hop to a pool thread, under a time limit -------------------------------

_QUEUED, _ENTERING, _RUNNING, _LEAVING, _EXPIRED = range(5)


@final
class _Claim:
    """Decides who runs the way out of a sync invocation with a time limit: the pool thread that
    runs its hooks and function, or the event loop when the time runs out first. Either way the
    post hooks run exactly once. Both move ``state`` under ``lock``:

    - the thread: ``_QUEUED`` -> ``_ENTERING`` (it starts, at ``started`` on the monotonic
      clock: the time limit counts from then) -> ``_RUNNING`` (it calls the function,
      publishing the layers entered) ->
      ``_LEAVING`` (the function returned: the thread runs the way out);
    - the loop, when the time runs out, turns any other state into ``_EXPIRED``. From
      ``_QUEUED`` nothing runs then, ever; from ``_ENTERING`` the thread does not call the function
      but runs the way out with ``expired``; from ``_RUNNING`` the loop runs the way out of the
      published layers, and the thread leaves them alone when the function ends.
    """

    __slots__ = ("arounds", "depth", "expired", "lock", "started", "state")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state = _QUEUED
        self.depth = 0
        self.arounds: list[Any] = []
        self.started: float | None = None
        self.expired: BaseException | None = None

    def _move(self, before: int, after: int) -> bool:
        with self.lock:
            moved = self.state == before
            if moved:
                self.state = after
            return moved

    def begins(self) -> bool:
        self.started = time.monotonic()
        return self._move(_QUEUED, _ENTERING)

    def starts(self, depth: int, arounds: list[Any]) -> bool:
        self.depth, self.arounds = depth, arounds
        return self._move(_ENTERING, _RUNNING)

    def ends(self) -> bool:
        return self._move(_RUNNING, _LEAVING)

    def expire(self, exc: BaseException) -> int:
        """The time ran out: return the state the thread had reached."""
        with self.lock:
            found = self.state
            if found != _LEAVING:
                self.state, self.expired = _EXPIRED, exc
            return found


def _on_thread(
    function: LoadedFunction,
    plan: _Plan | None,
    func_args: dict[str, Any],
    context: Context,
    claim: _Claim | None,
) -> Any:
    """A sync invocation on its pool thread: hooks and function, in the correlation scope and
    with the reference's thread-local id set."""
    if claim is not None and not claim.begins():
        return None  # the time ran out before a thread was free: the invocation has failed
    token = _enter(context)
    invocation_local.invocation_id = context.invocation_id
    try:
        return function._run_plan(plan, func_args, context, claim)
    finally:
        invocation_local.invocation_id = None
        _leave(token)


def _late(
    future: asyncio.Future[Any],
    context: Context,
    claim: _Claim,
    timeout: float,
    executor: Executor | None,
) -> None:
    """A sync function past its limit keeps its thread: lend the pool a replacement (when it
    is extkit's), and log the function's late end, with how long it overran."""
    held = isinstance(executor, FunctionPool) and executor.hold()
    deadline = (claim.started or time.monotonic()) + timeout

    def ended(done: asyncio.Future[Any]) -> None:
        _retrieved(done)
        if held:
            executor.release()  # type: ignore[union-attr]
        token = _enter(context)
        try:
            _log.warning(
                "function %s (invocation %s) ended %.1f s after its %g s time limit",
                context.function_name,
                context.invocation_id,
                time.monotonic() - deadline,
                timeout,
            )
        finally:
            _leave(token)

    future.add_done_callback(ended)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """A late outcome nobody waits for any more: marked as seen (asyncio would log it)."""
    if not future.cancelled():
        future.exception()


def _as_coroutine_function(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def call(**func_args: Any) -> Any:
        return func(**func_args)

    return call


def _to_completion_function(func: Callable[..., Any]) -> Callable[..., Any]:
    def call(**func_args: Any) -> Any:
        return to_completion(lambda: func(**func_args))

    return call


# --- public entry points ------------------------------------------------------------------------


@final
class LoadedFunction:
    """A function the engine has loaded: invoke it any number of times, from sync or async code."""

    __slots__ = ("_bare", "_cached", "_engine", "_func", "_step", "_wants_context", "info")

    def __init__(self, engine: Engine, func: Callable[..., Any], info: FunctionInfo) -> None:
        self._engine = engine
        self._func = func
        self.info = info
        self._wants_context = "context" in _parameters(func)
        #: The function as sync code calls it (an async one run to completion) and as the async
        #: runner awaits it.
        self._bare = _to_completion_function(func) if info.is_async else func
        self._step = func if info.is_async else _as_coroutine_function(func)
        #: (registry version, plan) in one attribute, so a thread never pairs a plan with the
        #: version of another (``None``: no hook applies to this function).
        self._cached: tuple[int, _Plan | None] = (-1, None)

    def _current_plan(self) -> _Plan | None:
        """The plan for this invocation; ``None`` when no hook applies (or the gate is off)."""
        engine = self._engine
        if not engine.enabled:
            return None
        version = engine.registry.version
        cached_version, plan = self._cached
        if cached_version != version:
            entries = engine.registry.for_function(self.info)
            plan = _Plan(entries, self) if entries else None
            self._cached = (version, plan)
        return plan

    @property
    def engine(self) -> Engine:
        """The engine that loaded this function (its registry and gate apply)."""
        return self._engine

    def new_context(self, **kwargs: Any) -> Context:
        """A fresh ``Context`` for one invocation of this function."""
        info = self.info
        return Context(
            info.name, info.directory, trigger=info.trigger, function_info=info, **kwargs
        )

    def call(self, func_args: dict[str, Any], context: Context) -> Any:
        """Run the hooks and the function to completion on this thread, without the
        log-correlation scope (see ``invoke``); an async function, or async hooks, on a private
        event loop. Context variables the hooks set stay in the caller's context: run it in a
        copy (as ``invoke`` does) so they end with the invocation."""
        if self._wants_context and "context" not in func_args:
            func_args["context"] = context
        engine = self._engine
        if not engine.enabled:
            return self._bare(**func_args)
        version, plan = self._cached
        if version != engine.registry.version:
            plan = self._current_plan()
        if plan is None:
            return self._bare(**func_args)
        if plan.sync:
            return _run(plan, context, func_args, self._func)
        return self._run_plan(plan, func_args, context)

    def _run_plan(
        self,
        plan: _Plan | None,
        func_args: dict[str, Any],
        context: Context,
        claim: _Claim | None = None,
    ) -> Any:
        if plan is None:
            if claim is None:
                return self._bare(**func_args)
            if not claim.starts(0, _NO_AROUNDS):
                return None
            result = self._bare(**func_args)
            return result if claim.ends() else None
        if plan.sync:
            return _run(plan, context, func_args, self._func, claim)
        step = self._step
        return to_completion(
            lambda: _run_async(plan, context, func_args, step, claim=claim, on_loop=False)
        )

    def invoke(
        self, func_args: Mapping[str, Any] | None = None, context: Context | None = None
    ) -> Any:
        """One invocation from sync code: correlation scope, hooks, function. Returns its result.

        When hooks apply it runs in a copy of the caller's context, so context variables they set
        (a structlog binding, an OpenTelemetry context) end with the invocation instead of leaking
        into the next one on this thread. An async function is run to completion on an event loop
        of its own.
        """
        if self.info.is_async:
            return to_completion(lambda: self.invoke_async(func_args, context), fresh_loop=True)
        if context is None:
            context = self.new_context()
        args = dict(func_args) if func_args else {}
        if self._current_plan() is not None:
            # The scope's variable is set in the copy and dropped with it: no reset needed.
            return _copy_context().run(_call_in_scope, context, self, args)
        # No hook applies (or the gate is off): nothing of extkit's sets context variables, so
        # the scope is entered and left in place, cheaper than running in a copy of the context.
        if self._wants_context and "context" not in args:
            args["context"] = context
        token = _enter(context)
        try:
            return self._func(**args)
        finally:
            _leave(token)

    async def invoke_async(
        self,
        func_args: Mapping[str, Any] | None = None,
        context: Context | None = None,
        *,
        executor: Executor | None = None,
        timeout: float | None = None,
        own_task: bool = False,
    ) -> Any:
        """One invocation from async code (a host). A sync function runs with its hooks on one
        thread of ``executor`` (one hop) in a copy of the caller's context, so a hook that
        blocks never blocks the event loop; an async function with its hooks on the loop
        (``async def`` hooks awaited). ``timeout`` limits the invocation: when it runs out the
        invocation fails with :class:`InvocationTimeout`, and the post hooks still run, once.

        An async function's hooks run in a copy of the caller's context, as in a task, so
        context variables they set end with the invocation (without the cost of a task: see
        ``in_context``). ``own_task=True`` is the caller's promise that the current task ends
        with this invocation (the host runs each request in a task of its own): the task's
        context already isolates what the hooks set, so no copy is made."""
        context = context if context is not None else self.new_context()
        args = dict(func_args) if func_args else {}
        if self._wants_context and "context" not in args:
            args["context"] = context
        plan = self._current_plan()
        if not self.info.is_async:
            return await self._on_pool(plan, args, context, executor, timeout)
        call = self._func if timeout is None else self._limited(timeout)
        token = _enter(context)
        try:
            if plan is None:
                return await call(**args)
            run = _run_async(plan, context, args, call)
            return await (run if own_task else in_context(_copy_context(), run))
        finally:
            _leave(token)

    def _limited(self, timeout: float) -> Callable[..., Awaitable[Any]]:
        """The async function under a time limit, as the async runner awaits it."""
        func, name = self._func, self.info.name

        async def limited(**func_args: Any) -> Any:
            try:  # wait_for runs it in a task of its own: its outcome comes out as a value
                outcome = await asyncio.wait_for(settled(func(**func_args)), timeout)
            except asyncio.TimeoutError as exc:
                raise InvocationTimeout(name, timeout) from exc
            return unwrapped(*outcome)

        return limited

    async def _on_pool(
        self,
        plan: _Plan | None,
        args: dict[str, Any],
        context: Context,
        executor: Executor | None,
        timeout: float | None,
    ) -> Any:
        """A sync function's invocation: one hop to a pool thread and back (see ``_Claim``)."""
        thread_context = _copy_context()
        claim = _Claim() if timeout is not None else None
        future = asyncio.get_running_loop().run_in_executor(
            executor, thread_context.run, _on_thread, self, plan, args, context, claim
        )
        if timeout is None or claim is None:
            return await future
        limit = timeout  # a free thread must take it up within the limit, then it has it all
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(future), limit)
            except asyncio.TimeoutError:
                started = claim.started
                limit = 0.0 if started is None else started + timeout - time.monotonic()
                if limit <= 0:
                    break
        expired = InvocationTimeout(self.info.name, timeout)
        found = claim.expire(expired)
        if found == _LEAVING:  # the function ended in time; its post hooks are running
            return await future
        if found == _QUEUED:  # it never runs: the thread that takes it up skips it
            future.add_done_callback(_retrieved)
            raise InvocationNotStarted(self.info.name, timeout)
        _late(future, context, claim, timeout, executor)
        if found != _RUNNING or plan is None:
            raise expired
        token = _enter(context)
        try:  # in a snapshot of the thread's context, which holds what the pre hooks set
            resume = (claim.depth, claim.arounds, expired)
            way_out = _run_async(plan, context, args, None, resume=resume)
            return await in_context(thread_context.copy(), way_out)
        finally:
            _leave(token)


def _source_file(func: Any) -> str | None:
    try:
        return inspect.getsourcefile(func)
    except TypeError:
        return None


def _parameters(func: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(func).parameters
    except (TypeError, ValueError):
        return {}


@final
class Engine:
    """Loads functions and runs their invocations through the registered extensions.

    ``enabled`` is the extensions gate: an explicit value beats ``PYTHON_ENABLE_WORKER_EXTENSIONS``,
    which beats the default (off). With the gate off functions run bare, at the cost of one check.
    """

    def __init__(self, *, registry: Registry | None = None, enabled: bool | None = None) -> None:
        self.registry = registry if registry is not None else current_registry()
        self.enabled = resolve_truthy(EXTENSIONS_GATE, enabled, default=False)
        correlation.install_record_factory()  # records made during invocations carry their id
        self.functions: dict[str, LoadedFunction] = {}
        self._shut_down = False
        self._slow_hooks: set[tuple[str, str]] = set()  # (extension, hook) reported as slow

    def load(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        directory: str = "",
        source_file: str | None = None,
        trigger: str = "other",
        layout: Layout = "plain",
        bindings: tuple[dict[str, Any], ...] = (),
        route: str | None = None,
        info: FunctionInfo | None = None,
    ) -> LoadedFunction:
        """Load ``func`` and run the load hooks of the extensions that apply to it, once each.

        ``info``, when given, is what the engine and extensions are told of the function (an
        app's loader makes it from the function's declaration); otherwise the keywords make it.
        """
        if info is None:
            raw = inspect.unwrap(func)
            info = FunctionInfo(
                name=name or func.__name__,
                directory=directory,
                source_file=source_file or _source_file(raw),
                trigger=trigger,
                layout=layout,
                is_async=inspect.iscoroutinefunction(raw),
                bindings=bindings,
                route=route,
            )
        loaded = LoadedFunction(self, func, info)
        self.functions[info.name] = loaded
        if self.enabled:
            self._run_load_hooks(info)
        return loaded

    def _run_load_hooks(self, info: FunctionInfo) -> None:
        observer = self.registry.hook_observer
        for entry in self.registry.for_function(info):
            hook_name = (
                "post_function_load_app_level" if entry.scope == "app" else "post_function_load"
            )
            found = entry.hooks.get(hook_name)
            if found is None:
                continue
            fn, shape = found
            values = {"function_name": info.name, "function_directory": info.directory}
            if observer is not None:
                observer(entry, hook_name, "call", info.name, None)
            try:
                result = fn(**{arg: values[arg] for arg in shape.argnames})
                if shape.is_async:
                    to_completion(lambda: result)  # noqa: B023 - called before the next loop
            except Exception as exc:
                entry.logger.error(
                    "extension %s failed in %s for function %s: %s",
                    entry.name,
                    hook_name,
                    info.name,
                    exc,
                    exc_info=exc,
                )

    def shutdown(self) -> None:
        """Run every extension's shutdown hook once (innermost first), e.g. to flush exporters."""
        if self._shut_down:
            return
        self._shut_down = True
        observer = self.registry.hook_observer
        for entry in reversed(self.registry.entries()):
            hook_name = "shutdown_app_level" if entry.scope == "app" else "shutdown"
            found = entry.hooks.get(hook_name)
            if found is None:
                continue
            if observer is not None:
                observer(entry, hook_name, "call", None, None)
            try:
                result = found[0]()
                if inspect.isawaitable(result):
                    to_completion(lambda: result)  # noqa: B023 - called before the next loop
            except Exception as exc:
                entry.logger.error(
                    "extension %s failed in %s: %s", entry.name, hook_name, exc, exc_info=exc
                )
