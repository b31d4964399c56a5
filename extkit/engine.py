"""The lifecycle engine: load functions, then run every invocation through the extensions' hooks.

Per invocation the order is::

    app pre -> function pre -> the function -> function post -> app post

Each extension is one *layer*: its pre hook (then its around hook up to ``yield``) runs on the way
in, its around hook's rest (then its post hook) on the way out, so layers nest like middleware and
post hooks unwind in exactly the reverse order of the pre hooks. Post hooks always run, also when
the function raised; then the exception propagates. An exception inside a hook is that
extension's problem: it is logged and the invocation goes on.

Everything that does not change between invocations (which extensions apply to a function, in
which order, how each hook is called) is worked out once into a :class:`_Plan`; the per-invocation
work is walking two tuples.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import threading
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Final, final

from . import correlation
from ._hookcall import make_adapter
from ._settings import EXTENSIONS_GATE, resolve_truthy
from ._types import FunctionInfo, Layout
from .context import Context, invocation_local
from .errors import InvocationTimeout, RejectInvocation, ShortCircuit
from .registry import Registration, Registry, current_registry

__all__ = ["Engine", "LoadedFunction"]

_CONTROL: Final = (RejectInvocation, ShortCircuit)
_REFERENCE_POST: Final = object()  # marks post hooks with the reference's 4 positional arguments
#: How a plan runs (``_Plan.kind``).
_DIRECT: Final = 0
_SIMPLE: Final = 1
_LAYERS: Final = 2
_ASYNC: Final = 3
_log: Final = logging.getLogger("extkit.engine")
_copy_context: Final = contextvars.copy_context
_call_in_scope: Final = correlation.call_in_scope
_enter: Final = correlation.enter
_leave: Final = correlation.leave


@final
class _Layer:
    """One extension's part in one function's plan."""

    __slots__ = (
        "around",
        "around_is_async",
        "depth",
        "enter",
        "is_app",
        "is_async",
        "logger",
        "name",
        "post",
        "pre",
    )

    def __init__(self, entry: Registration, depth: int) -> None:
        self.name = entry.name
        self.logger = entry.logger
        self.depth = depth
        self.is_app = entry.scope == "app"
        suffix = "_app_level" if self.is_app else ""
        self.pre = _adapted(entry, f"pre_invocation{suffix}")
        self.around = _adapted(entry, f"around_invocation{suffix}")
        self.post = _adapted(entry, f"post_invocation{suffix}")
        around = entry.hooks.get(f"around_invocation{suffix}")
        self.around_is_async = bool(around and around[1].is_async)
        #: The around hook as a callable of (logger, context, func_args): the sync path's.
        self.enter: Callable[..., Any] | None = None
        if around is not None:
            fn, shape = around
            self.enter = fn if shape.positional == 3 else _entering(self.around)
        self.is_async = any(
            shape.is_async
            for name, (_, shape) in entry.hooks.items()
            if name.endswith(f"_invocation{suffix}")
        )

    def hook_name(self, role: str) -> str:
        return f"{role}_invocation{'_app_level' if self.is_app else ''}"


def _adapted(entry: Registration, hook_name: str) -> Callable[..., Any] | None:
    found = entry.hooks.get(hook_name)
    return None if found is None else make_adapter(*found)


def _entering(adapter: Callable[..., Any] | None) -> Callable[..., Any]:
    assert adapter is not None

    def enter(logger: Any, context: Context, func_args: dict[str, Any]) -> Any:
        return adapter(logger, context, func_args, None, None)

    return enter


@final
class _Plan:
    """The precomputed calls for one function. Immutable once built; rebuilt when the registry
    changes, so an invocation always pairs the pre and post hooks of one snapshot.

    ``kind`` says which loop runs the invocation (see the hot path below):

    - ``_DIRECT``: sync pre and post hooks only, every pre hook taking the reference's 3
      arguments positionally and every post hook the same ``post_arity`` (4 or 5) positional
      arguments. ``pre_direct``/``post_direct`` hold ``(fn, logger, layer)``: no per-hook branch.
    - ``_SIMPLE``: sync pre and post hooks of mixed shapes: ``pre``/``post`` hold
      ``(fn, logger, how, layer)`` and each call branches on ``how``.
    - ``_LAYERS``: around hooks, all sync: ``_run_layers_sync``.
    - ``_ASYNC``: some hook is async: the ``_run_layers`` coroutine.
    """

    __slots__ = (
        "has_async",
        "kind",
        "layers",
        "post",
        "post_arity",
        "post_direct",
        "post_upto",
        "pre",
        "pre_direct",
        "simple",
        "version",
    )

    def __init__(self, entries: list[Registration], version: int) -> None:
        self.version = version
        self.layers = tuple(_Layer(entry, depth) for depth, entry in enumerate(entries, 1))
        self.has_async = any(layer.is_async for layer in self.layers)
        pre = []
        post_by_layer = []
        simple = True
        pre_shapes: set[int | None] = set()
        post_shapes: set[int | None] = set()
        for layer, entry in zip(self.layers, entries, strict=True):
            suffix = "_app_level" if layer.is_app else ""
            if f"around_invocation{suffix}" in entry.hooks:
                simple = False
            for role in ("pre", "post"):
                found = entry.hooks.get(f"{role}_invocation{suffix}")
                if found is None:
                    continue
                fn, shape = found
                simple = simple and not shape.is_async
                if role == "pre":
                    pre_shapes.add(shape.positional)
                    direct = shape.positional == 3
                    pre.append(
                        (fn, layer.logger, None if direct else make_adapter(fn, shape), layer)
                    )
                else:
                    post_shapes.add(shape.positional)
                    how: Any = (
                        None
                        if shape.positional == 5
                        else _REFERENCE_POST
                        if shape.positional == 4
                        else make_adapter(fn, shape)
                    )
                    post_by_layer.append((fn, layer.logger, how, layer))
        self.simple = simple
        self.pre = tuple(pre)
        #: post_upto[d]: post hooks of the layers 1..d, innermost first (unwinding order).
        self.post_upto = tuple(
            tuple(reversed([hook for hook in post_by_layer if hook[3].depth <= depth]))
            for depth in range(len(self.layers) + 1)
        )
        self.post = self.post_upto[-1]
        self.pre_direct = tuple((fn, logger, layer) for fn, logger, _, layer in self.pre)
        self.post_direct = tuple((fn, logger, layer) for fn, logger, _, layer in self.post)
        self.post_arity = next(iter(post_shapes)) if len(post_shapes) == 1 else None
        if self.has_async:
            self.kind = _ASYNC
        elif not simple:
            self.kind = _LAYERS
        elif pre_shapes <= {3} and (not post_shapes or self.post_arity in (4, 5)):
            self.kind = _DIRECT
            self.post_arity = self.post_arity or 5
        else:
            self.kind = _SIMPLE


def _report(layer: _Layer, hook_name: str, context: Context, exc: BaseException) -> None:
    layer.logger.error(
        "extension %s failed in %s for function %s (invocation %s): %s",
        layer.name,
        hook_name,
        context.function_name,
        context.invocation_id,
        exc,
        exc_info=exc,
    )


# --- the hot path -------------------------------------------------------------------------------
# This runs for every hook of every invocation, so it is written for CPython's interpreter rather
# than for brevity (as pluggy's ``_callers.py`` is):
#
# - ``LoadedFunction.call`` runs the common plan (``_DIRECT``: sync pre and post hooks with the
#   reference's positional signatures) inline: plain ``for`` loops over ``(fn, logger, layer)``
#   tuples, each hook called directly with no adapter and no per-hook branch. A Python-level call
#   costs about as much as a no-op hook, so the loops are not moved into helpers.
# - Error isolation is a ``try`` per hook call: free in CPython 3.11+ when nothing raises, and a
#   cheap block setup before. A hook that ends the invocation early (``RejectInvocation``,
#   ``ShortCircuit``) leaves the loop; the rare paths (early end, the function raising, hooks of
#   other shapes) use the helpers below, which read the same plan.
# - Around hooks take ``_run_layers_sync`` when every hook is sync, and async hooks the
#   ``_run_layers`` coroutine; both have the order and error policy of the loops.


def _run_pre(
    plan: _Plan, context: Context, func_args: dict[str, Any]
) -> tuple[BaseException, int] | None:
    """Run the pre hooks; return a RejectInvocation/ShortCircuit that ends the invocation early,
    with the depth of the layer that raised it."""
    for fn, logger, adapter, layer in plan.pre:
        try:
            if adapter is None:
                fn(logger, context, func_args)
            else:
                adapter(logger, context, func_args, None, None)
        except Exception as exc:
            if isinstance(exc, _CONTROL):
                return exc, layer.depth
            _report(layer, layer.hook_name("pre"), context, exc)
    return None


def _run_post(
    posts: tuple[Any, ...],
    context: Context,
    func_args: dict[str, Any],
    func_ret: Any,
    func_exc: BaseException | None,
) -> None:
    for fn, logger, how, layer in posts:
        try:
            if how is None:
                fn(logger, context, func_args, func_ret, func_exc)
            elif how is _REFERENCE_POST:
                fn(logger, context, func_args, func_ret)
            else:
                how(logger, context, func_args, func_ret, func_exc)
        except Exception as exc:
            _report(layer, layer.hook_name("post"), context, exc)


def _settle(
    plan: _Plan, ended: tuple[BaseException, int], context: Context, func_args: dict[str, Any]
) -> Any:
    """Finish an invocation a pre hook ended early: unwind the layers entered so far."""
    control, depth = ended
    posts = plan.post_upto[depth]
    if isinstance(control, ShortCircuit):
        _run_post(posts, context, func_args, control.result, None)
        return control.result
    _run_post(posts, context, func_args, None, control)
    raise control


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _run_layers(
    plan: _Plan,
    context: Context,
    func_args: dict[str, Any],
    call: Callable[[], Awaitable[Any]],
) -> Any:
    """The general path: around hooks and async hooks. Same order and error policy as above."""
    entered: list[tuple[_Layer, Any]] = []
    result: Any = None
    error: BaseException | None = None
    try:
        for layer in plan.layers:
            entered.append((layer, None))
            if layer.pre is not None:
                await _isolated(layer, "pre", layer.pre, context, func_args, None, None)
            if layer.around is not None:
                entered[-1] = (layer, await _enter_around(layer, context, func_args))
    except ShortCircuit as short:  # a hook answered: the function does not run
        result = short.result
    except BaseException as exc:  # a deliberate rejection (or KeyboardInterrupt and the like)
        error = exc
    else:
        try:
            result = await call()
        except BaseException as exc:  # the function's failure, whatever it raised
            error = exc
    for layer, around in reversed(entered):
        if around is not None:
            result, error = await _exit_around(layer, around, context, result, error)
        if layer.post is not None:
            await _isolated(layer, "post", layer.post, context, func_args, result, error)
    if error is not None:
        raise error
    return result


async def _isolated(
    layer: _Layer,
    role: str,
    adapter: Callable[..., Any],
    context: Context,
    func_args: dict[str, Any],
    func_ret: Any,
    func_exc: BaseException | None,
) -> None:
    try:
        await _maybe_await(adapter(layer.logger, context, func_args, func_ret, func_exc))
    except Exception as exc:
        if role == "pre" and isinstance(exc, _CONTROL):
            raise
        _report(layer, layer.hook_name(role), context, exc)


async def _enter_around(layer: _Layer, context: Context, func_args: dict[str, Any]) -> Any:
    """Run an around hook up to its ``yield``; ``None`` if it failed (it is then skipped)."""
    assert layer.around is not None
    try:
        around = layer.around(layer.logger, context, func_args, None, None)
        if layer.around_is_async:
            await around.__anext__()
        else:
            next(around)
        return around
    except (StopIteration, StopAsyncIteration):
        exc: Exception = RuntimeError("around hook finished without yielding")
    except Exception as raised:
        if isinstance(raised, _CONTROL):
            raise
        exc = raised
    _report(layer, layer.hook_name("around"), context, exc)
    return None


async def _exit_around(
    layer: _Layer, around: Any, context: Context, result: Any, error: BaseException | None
) -> tuple[Any, BaseException | None]:
    """Resume an around hook with the outcome; its return value (or new exception) wins."""
    try:
        if layer.around_is_async:
            if error is None:
                await around.asend(result)
            else:
                await around.athrow(error)
        elif error is None:
            around.send(result)
        else:
            around.throw(error)
    except StopIteration as stop:
        return stop.value, None
    except StopAsyncIteration:
        return result, None  # async generators cannot return a value: the outcome stands
    except BaseException as exc:
        if isinstance(exc, ShortCircuit) and exc is not error:
            return exc.result, None  # how an async generator (which cannot return) replaces it
        if exc is error or isinstance(exc, RejectInvocation) or not isinstance(exc, Exception):
            return None, exc
        _report(layer, layer.hook_name("around"), context, exc)
        return result, error
    _report(layer, layer.hook_name("around"), context, RuntimeError("around hook yielded twice"))
    around.close() if not layer.around_is_async else await around.aclose()
    return result, error


def _run_layers_sync(
    plan: _Plan, context: Context, func_args: dict[str, Any], func: Callable[..., Any]
) -> Any:
    """``_run_layers`` for plans whose hooks are all sync (around hooks included): the same steps
    as plain calls, without a coroutine to drive.

    Entering and resuming an around hook are written out here for the usual case (it yields
    once, then returns): two calls fewer per around hook on every invocation. The other cases
    go to ``_around_failed``, ``_around_raised`` and ``_around_yielded_twice``, which take the
    same decisions as ``_enter_around`` and ``_exit_around``.
    """
    entered: list[tuple[_Layer, Any]] = []
    result: Any = None
    error: BaseException | None = None
    try:
        for layer in plan.layers:
            entered.append((layer, None))
            if layer.pre is not None:
                _isolated_sync(layer, "pre", layer.pre, context, func_args, None, None)
            enter = layer.enter
            if enter is not None:
                try:
                    around = enter(layer.logger, context, func_args)
                    next(around)
                except Exception as exc:  # StopIteration included
                    _around_failed(layer, context, exc)
                else:
                    entered[-1] = (layer, around)
    except ShortCircuit as short:  # a hook answered: the function does not run
        result = short.result
    except BaseException as exc:  # a deliberate rejection (or KeyboardInterrupt and the like)
        error = exc
    else:
        try:
            result = func(**func_args)
        except BaseException as exc:  # the function's failure, whatever it raised
            error = exc
    for layer, around in reversed(entered):
        if around is not None:
            try:
                if error is None:
                    around.send(result)
                else:
                    around.throw(error)
            except StopIteration as stop:
                result, error = stop.value, None
            except BaseException as exc:
                result, error = _around_raised(layer, context, exc, result, error)
            else:
                result, error = _around_yielded_twice(layer, around, context, result, error)
        if layer.post is not None:
            _isolated_sync(layer, "post", layer.post, context, func_args, result, error)
    if error is not None:
        raise error
    return result


def _isolated_sync(
    layer: _Layer,
    role: str,
    adapter: Callable[..., Any],
    context: Context,
    func_args: dict[str, Any],
    func_ret: Any,
    func_exc: BaseException | None,
) -> None:
    try:
        value = adapter(layer.logger, context, func_args, func_ret, func_exc)
        if value is not None and inspect.isawaitable(value):  # a sync hook returning one
            _run_to_completion(_awaited(value))
    except Exception as exc:
        if role == "pre" and isinstance(exc, _CONTROL):
            raise
        _report(layer, layer.hook_name(role), context, exc)


def _around_failed(layer: _Layer, context: Context, exc: Exception) -> None:
    """A sync around hook raised (or returned) before its ``yield``: a RejectInvocation or
    ShortCircuit goes on up; anything else is reported, and the hook is skipped."""
    if isinstance(exc, StopIteration):
        _report(
            layer,
            layer.hook_name("around"),
            context,
            RuntimeError("around hook finished without yielding"),
        )
        return
    if isinstance(exc, _CONTROL):
        raise exc
    _report(layer, layer.hook_name("around"), context, exc)


def _around_raised(
    layer: _Layer, context: Context, exc: BaseException, result: Any, error: BaseException | None
) -> tuple[Any, BaseException | None]:
    """A resumed sync around hook raised ``exc``: what the outcome becomes (as ``_exit_around``)."""
    if isinstance(exc, ShortCircuit) and exc is not error:
        return exc.result, None
    if exc is error or isinstance(exc, RejectInvocation) or not isinstance(exc, Exception):
        return None, exc
    _report(layer, layer.hook_name("around"), context, exc)
    return result, error


def _around_yielded_twice(
    layer: _Layer, around: Any, context: Context, result: Any, error: BaseException | None
) -> tuple[Any, BaseException | None]:
    """A resumed sync around hook yielded again: reported and closed; the outcome stands."""
    _report(layer, layer.hook_name("around"), context, RuntimeError("around hook yielded twice"))
    around.close()
    return result, error


def _run_to_completion(coro: Any) -> Any:
    """Drive a coroutine from sync code: inline when it never suspends, else on a private loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("unreachable")  # pragma: no cover - callers only pass non-suspending work


@final
class _LoopCloser:
    """Holds a thread's private event loop and closes it when the thread ends (its thread-locals
    are dropped then), so worker threads that come and go leave no unclosed loops behind."""

    __slots__ = ("loop",)

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        if not self.loop.is_closed() and not self.loop.is_running():
            self.loop.close()


_thread_loops = threading.local()


def _private_loop() -> asyncio.AbstractEventLoop:
    holder: _LoopCloser | None = getattr(_thread_loops, "holder", None)
    if holder is None or holder.loop.is_closed():
        holder = _thread_loops.holder = _LoopCloser()
    return holder.loop


def _run_sync(main: Callable[[], Coroutine[Any, Any, Any]], *, fresh_loop: bool = False) -> Any:
    """Run the coroutine ``main()`` to completion from sync code and return its result.

    ``fresh_loop`` gives it a loop of its own (``asyncio.run``: leftover tasks are cancelled);
    otherwise this thread's private loop is reused, which is cheaper for short hook coroutines.
    A thread that is already running an event loop (sync code called from async code) cannot
    start another one, so there the coroutine runs on a helper thread, in a copy of the caller's
    context so the invocation and its context variables go along.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        if fresh_loop:
            return asyncio.run(main())
        return _private_loop().run_until_complete(main())
    with ThreadPoolExecutor(1, thread_name_prefix="extkit-sync") as helper:
        run = contextvars.copy_context().run
        return helper.submit(run, _run_sync, main, fresh_loop=fresh_loop).result()


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


@types.coroutine
def _in_context(
    context: contextvars.Context, coro: Coroutine[Any, Any, Any]
) -> Generator[Any, Any, Any]:
    """Await ``coro`` with each of its steps run inside ``context``.

    This is what wrapping it in a task achieves (context variables it sets stay in ``context``),
    without scheduling a task: that would cost a trip through the event loop per invocation.
    Whatever the coroutine waits on is passed up to the task awaiting us, and what the task sends
    or throws in (a result, a cancellation) is passed down.
    """
    run = context.run
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            waiting_on = run(coro.send, value) if error is None else run(coro.throw, error)
        except StopIteration as done:
            return done.value
        try:
            value, error = (yield waiting_on), None
        except GeneratorExit:
            run(coro.close)
            raise
        except BaseException as exc:  # thrown in by the task (a cancellation): pass it down
            value, error = None, exc


def _call_in_thread(func: Callable[..., Any], func_args: dict[str, Any], invocation_id: str) -> Any:
    """Run a sync function on a pool thread with the reference's thread-local id set and reset."""
    invocation_local.invocation_id = invocation_id
    try:
        return func(**func_args)
    finally:
        invocation_local.invocation_id = None


# --- public entry points ------------------------------------------------------------------------


@final
class LoadedFunction:
    """A function the engine has loaded: invoke it any number of times, from sync or async code."""

    __slots__ = ("_cached", "_engine", "_func", "_wants_context", "info")

    def __init__(self, engine: Engine, func: Callable[..., Any], info: FunctionInfo) -> None:
        self._engine = engine
        self._func = func
        self.info = info
        self._wants_context = "context" in _parameters(func)
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
            plan = _Plan(entries, version) if entries else None
            self._cached = (version, plan)
        return plan

    def new_context(self, **kwargs: Any) -> Context:
        """A fresh ``Context`` for one invocation of this function."""
        info = self.info
        return Context(
            info.name, info.directory, trigger=info.trigger, function_info=info, **kwargs
        )

    def call(self, func_args: dict[str, Any], context: Context) -> Any:
        """Run the hooks and the function, without the log-correlation scope (see ``invoke``).

        Context variables the hooks set stay in the caller's context: run it in a copy (as
        ``invoke`` does) so they end with the invocation.

        This is the hot path (see the note above ``_run_pre``): one gate check and a version
        check, then for the common plan two inline loops; other plans go to ``_call_general``.
        """
        if self._wants_context and "context" not in func_args:
            func_args["context"] = context
        engine = self._engine
        if not engine.enabled:
            return self._func(**func_args)
        version, plan = self._cached
        if version != engine.registry.version:
            plan = self._current_plan()
        if plan is None:
            return self._func(**func_args)
        kind = plan.kind
        if kind is not _DIRECT:
            if kind is _LAYERS:  # around hooks: straight to their loop
                return _run_layers_sync(plan, context, func_args, self._func)
            return self._call_general(plan, func_args, context)
        ended = None
        for fn, logger, layer in plan.pre_direct:
            try:
                fn(logger, context, func_args)
            except Exception as exc:
                if isinstance(exc, _CONTROL):
                    ended = exc, layer.depth
                    break
                _report(layer, layer.hook_name("pre"), context, exc)
        if ended is not None:
            return _settle(plan, ended, context, func_args)
        try:
            result = self._func(**func_args)
        except BaseException as exc:
            _run_post(plan.post, context, func_args, None, exc)
            raise
        if plan.post_arity == 4:  # the reference's post hook: no func_exc
            for fn, logger, layer in plan.post_direct:
                try:
                    fn(logger, context, func_args, result)
                except Exception as exc:
                    _report(layer, layer.hook_name("post"), context, exc)
        else:
            for fn, logger, layer in plan.post_direct:
                try:
                    fn(logger, context, func_args, result, None)
                except Exception as exc:
                    _report(layer, layer.hook_name("post"), context, exc)
        return result

    def _call_general(self, plan: _Plan, func_args: dict[str, Any], context: Context) -> Any:
        """``call`` for the plans that are not ``_DIRECT``."""
        if plan.kind is _SIMPLE:
            ended = _run_pre(plan, context, func_args) if plan.pre else None
            if ended is not None:
                return _settle(plan, ended, context, func_args)
            try:
                result = self._func(**func_args)
            except BaseException as exc:
                _run_post(plan.post, context, func_args, None, exc)
                raise
            _run_post(plan.post, context, func_args, result, None)
            return result
        if plan.kind is _LAYERS:
            return _run_layers_sync(plan, context, func_args, self._func)
        func = self._func

        async def call() -> Any:
            return func(**func_args)

        return _run_sync(lambda: _run_layers(plan, context, func_args, call))

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
            return _run_sync(lambda: self.invoke_async(func_args, context), fresh_loop=True)
        if context is None:
            context = self.new_context()
        args = dict(func_args) if func_args else {}
        version, plan = self._cached
        if version != self._engine.registry.version:
            plan = self._current_plan()
        if plan is not None:
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
        """One invocation from async code (a host). Hooks run on the loop (async hooks awaited);
        a sync function runs on ``executor`` in a copy of the hooks' context, an async one on the
        loop. ``timeout`` limits the function alone: on expiry post hooks still run and the
        invocation fails with :class:`InvocationTimeout`.

        When hooks apply, the invocation runs in a copy of the caller's context, as a task would,
        so context variables they set end with it (without the cost of a task: see
        ``_in_context``). ``own_task=True`` is the caller's promise that the current task ends
        with this invocation (the host runs each request in a task of its own): the task's
        context already isolates what the hooks set, so no copy is made."""
        context = context if context is not None else self.new_context()
        args = dict(func_args) if func_args else {}
        if self._wants_context and "context" not in args:
            args["context"] = context
        engine = self._engine
        version, plan = self._cached  # _current_plan() only when the registry changed
        if not engine.enabled:
            plan = None
        elif version != engine.registry.version:
            plan = self._current_plan()
        if plan is None:
            token = _enter(context)
            try:
                return await self._call_function(args, context, executor, timeout)
            finally:
                _leave(token)
        if own_task:
            return await self._run_async(plan, args, context, executor, timeout)
        return await _in_context(
            _copy_context(), self._run_async(plan, args, context, executor, timeout)
        )

    async def _run_async(
        self,
        plan: _Plan,
        args: dict[str, Any],
        context: Context,
        executor: Executor | None,
        timeout: float | None,
    ) -> Any:
        token = _enter(context)
        try:
            if not plan.simple:
                call = functools.partial(self._call_function, args, context, executor, timeout)
                return await _run_layers(plan, context, args, call)
            ended = _run_pre(plan, context, args) if plan.pre else None
            if ended is not None:
                return _settle(plan, ended, context, args)
            try:
                if timeout is None and self.info.is_async:  # the usual case: awaited right here
                    result = await self._func(**args)
                else:
                    result = await self._call_function(args, context, executor, timeout)
            except BaseException as exc:
                _run_post(plan.post, context, args, None, exc)
                raise
            _run_post(plan.post, context, args, result, None)
            return result
        finally:
            _leave(token)

    async def _call_function(
        self,
        args: dict[str, Any],
        context: Context,
        executor: Executor | None,
        timeout: float | None,
    ) -> Any:
        """The function itself, from async code: awaited, or on ``executor`` when it is sync."""
        if self.info.is_async:
            awaitable: Awaitable[Any] = self._func(**args)
        else:
            awaitable = asyncio.get_running_loop().run_in_executor(
                executor,
                contextvars.copy_context().run,
                _call_in_thread,
                self._func,
                args,
                context.invocation_id,
            )
        if timeout is None:
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, timeout)
        except asyncio.TimeoutError as exc:
            raise InvocationTimeout(self.info.name, timeout) from exc


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
    ) -> LoadedFunction:
        """Load ``func`` and run the load hooks of the extensions that apply to it, once each."""
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
        for entry in self.registry.for_function(info):
            hook_name = (
                "post_function_load_app_level" if entry.scope == "app" else "post_function_load"
            )
            found = entry.hooks.get(hook_name)
            if found is None:
                continue
            fn, shape = found
            values = {"function_name": info.name, "function_directory": info.directory}
            try:
                result = fn(**{arg: values[arg] for arg in shape.argnames})
                if shape.is_async:
                    _run_sync(functools.partial(_awaited, result))
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
        for entry in reversed(self.registry.entries()):
            hook_name = "shutdown_app_level" if entry.scope == "app" else "shutdown"
            found = entry.hooks.get(hook_name)
            if found is None:
                continue
            try:
                result = found[0]()
                if inspect.isawaitable(result):
                    _run_sync(functools.partial(_awaited, result))
            except Exception as exc:
                entry.logger.error(
                    "extension %s failed in %s: %s", entry.name, hook_name, exc, exc_info=exc
                )
