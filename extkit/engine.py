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
how each hook is called) is worked out once into a :class:`~extkit.plan.Plan`. Exactly two
runners walk it, :func:`_run` (sync) and :func:`_run_async`, with the same steps and the same
helpers for what an exception means. A sync function runs with its hooks on one pool thread
(``invoke_async`` makes one hop); an async function with its hooks on the event loop, where a
sync hook that holds the loop over 100 ms is reported (:mod:`extkit.slow_hooks`). An
invocation's time limit is :mod:`extkit.time_limit`'s: for a sync function, it decides whether
the thread or the event loop runs the way out. The load and shutdown hooks, which run outside
any invocation, are :mod:`extkit.lifecycle`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from functools import partial
from typing import Any, Final, final

from . import correlation
from ._bridge import in_context, to_completion, unwrapped
from ._settings import EXTENSIONS_GATE, resolve_truthy
from ._types import FunctionInfo, Layout
from .app import source_file_of
from .context import Context, invocation_local
from .errors import RejectInvocation, ShortCircuit
from .lifecycle import run_load_hooks, run_shutdown_hooks
from .plan import Layer, Plan
from .registry import Registry, current_registry
from .slow_hooks import watched
from .time_limit import Claim, limited, limited_outcome

__all__ = ["Engine", "LoadedFunction", "raised_by"]

_CONTROL: Final = (RejectInvocation, ShortCircuit)
_NO_AROUNDS: Final[list[Any]] = []  # shared, never written: a plan without around hooks
_copy_context: Final = contextvars.copy_context
_call_in_scope: Final = correlation.call_in_scope
_enter: Final = correlation.enter
_leave: Final = correlation.leave


# --- the error policy (see the module docstring), written once for both runners --------------


def _report(layer: Layer, role: str, context: Context, exc: BaseException) -> None:
    layer.logger.error(
        "extension %s failed in %s for function %s (invocation %s): %s",
        layer.name,
        layer.hook(role),
        context.function_name,
        context.invocation_id,
        exc,
        exc_info=exc,
    )


def _isolate(layer: Layer, role: str, context: Context, exc: Exception) -> None:
    """An ``Exception`` from a hook on the way in: a ``RejectInvocation`` or ``ShortCircuit``
    goes on up and ends the way in; anything else is logged, and the invocation goes on. (An
    around hook that finished without yielding is skipped; its layer still counts as entered.)"""
    if isinstance(exc, _CONTROL):
        raise exc
    if role == "around" and isinstance(exc, StopIteration | StopAsyncIteration):
        exc = RuntimeError("around hook finished without yielding")
    _report(layer, role, context, exc)


def _exited(
    layer: Layer, context: Context, exc: BaseException, result: Any, error: BaseException | None
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


def _blamed(exc: BaseException, layer: Layer, hook: str) -> BaseException:
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
    error: BaseException | None, exc: BaseException, layer: Layer, role: str
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
    plan: Plan,
    context: Context,
    func_args: dict[str, Any],
    func: Callable[..., Any],
    claim: Claim | None = None,
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


def _enter_around(layer: Layer, context: Context, func_args: dict[str, Any]) -> Any:
    """Run a sync around hook up to its ``yield``: the generator, or ``None`` if it failed."""
    try:
        around = layer.around(layer.logger, context, func_args)  # type: ignore[misc]
        next(around)
    except Exception as exc:
        _isolate(layer, "around", context, exc)
        return None
    return around


def _resume_around(
    layer: Layer, around: Any, context: Context, result: Any, error: BaseException | None
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
    plan: Plan,
    context: Context,
    func_args: dict[str, Any],
    call: Callable[..., Awaitable[Any]] | None,
    *,
    claim: Claim | None = None,
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
                        done = watched(watch, layer, "pre", pre, layer.logger, context, func_args)
                        if layer.pre_async:
                            await done
                    except Exception as exc:
                        _isolate(layer, "pre", context, exc)
                if layer.around is not None:
                    arounds[depth - 1] = (
                        await _enter_around_async(layer, context, func_args)
                        if layer.around_async
                        else watched(
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
                result, error = watched(watch, layer, "around", _resume_around, *outcome)
        post = layer.post
        if post is not None:
            args = (layer.logger, context, func_args, result, error)
            try:
                done = watched(
                    watch, layer, "post", post, *args[: 5 if layer.post_takes_exc else 4]
                )
                if layer.post_async:
                    await done
            except Exception as exc:
                _report(layer, "post", context, exc)
            except BaseException as exc:
                result, error = None, _latest(error, exc, layer, "post")
    return result if error is None else unwrapped(None, error)


async def _enter_around_async(layer: Layer, context: Context, func_args: dict[str, Any]) -> Any:
    """:func:`_enter_around` for an async generator."""
    try:
        around = layer.around(layer.logger, context, func_args)  # type: ignore[misc]
        await around.__anext__()
    except Exception as exc:
        _isolate(layer, "around", context, exc)
        return None
    return around


async def _resume_around_async(
    layer: Layer, around: Any, context: Context, result: Any, error: BaseException | None
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


# --- a sync function's hop to a pool thread (under a time limit: see ``time_limit``) ----------


def _on_thread(
    function: LoadedFunction,
    plan: Plan | None,
    func_args: dict[str, Any],
    context: Context,
    claim: Claim | None,
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


async def _way_out(
    plan: Plan,
    func_args: dict[str, Any],
    context: Context,
    thread_context: contextvars.Context,
    resume: tuple[int, list[Any], BaseException],
) -> Any:
    """The way out of a sync invocation whose time ran out while its thread was in the function,
    on the event loop, in a snapshot of the thread's context (which holds what the pre hooks
    set)."""
    token = _enter(context)
    try:
        way_out = _run_async(plan, context, func_args, None, resume=resume)
        return await in_context(thread_context.copy(), way_out)
    finally:
        _leave(token)


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
        self._cached: tuple[int, Plan | None] = (-1, None)

    def _current_plan(self) -> Plan | None:
        """The plan for this invocation; ``None`` when no hook applies (or the gate is off)."""
        engine = self._engine
        if not engine.enabled:
            return None
        version = engine.registry.version
        cached_version, plan = self._cached
        if cached_version != version:
            registry, info = engine.registry, self.info
            entries = registry.for_function(info)
            plan = None
            if entries:
                plan = Plan(entries, registry.hook_observer, info.is_async, engine._slow_hooks)
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
        plan: Plan | None,
        func_args: dict[str, Any],
        context: Context,
        claim: Claim | None = None,
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
        call = self._func if timeout is None else limited(self._func, self.info.name, timeout)
        token = _enter(context)
        try:
            if plan is None:
                return await call(**args)
            run = _run_async(plan, context, args, call)
            return await (run if own_task else in_context(_copy_context(), run))
        finally:
            _leave(token)

    async def _on_pool(
        self,
        plan: Plan | None,
        args: dict[str, Any],
        context: Context,
        executor: Executor | None,
        timeout: float | None,
    ) -> Any:
        """A sync function's invocation: one hop to a pool thread and back, and under a time
        limit the event loop's answer when the thread is late (see ``time_limit``)."""
        thread_context = _copy_context()
        claim = Claim() if timeout is not None else None
        future = asyncio.get_running_loop().run_in_executor(
            executor, thread_context.run, _on_thread, self, plan, args, context, claim
        )
        if timeout is None or claim is None:
            return await future
        way_out = None if plan is None else partial(_way_out, plan, args, context, thread_context)
        return await limited_outcome(
            future, claim, timeout, self.info.name, context, executor, way_out
        )


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
                source_file=source_file or source_file_of(raw),
                trigger=trigger,
                layout=layout,
                is_async=inspect.iscoroutinefunction(raw),
                bindings=bindings,
                route=route,
            )
        loaded = LoadedFunction(self, func, info)
        self.functions[info.name] = loaded
        if self.enabled:
            run_load_hooks(self.registry, info)
        return loaded

    def shutdown(self) -> None:
        """Run every extension's shutdown hook once (innermost first), e.g. to flush exporters."""
        if self._shut_down:
            return
        self._shut_down = True
        run_shutdown_hooks(self.registry)
