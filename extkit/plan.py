"""What does not change between a function's invocations, worked out once for the engine's runners.

A :class:`Plan` holds one :class:`Layer` per extension that applies to the function, outermost
first, each with its hooks ready to call as the runners call them: a hook written with the
runners' parameters as it is, any other through its adapter, and each wrapped for the registry's
hook observer when there is one. The engine rebuilds the plan when the registry changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, final

from ._hookcall import make_adapter
from .context import Context
from .registry import HookObserver, HookPhase, Registration

__all__ = ["Layer", "Plan"]


@final
class Layer:
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
class Plan:
    """The layers of one function, outermost first. Immutable once built; rebuilt when the
    registry changes, so an invocation always pairs the pre and post hooks of one snapshot.
    ``sync``: the function and all its hooks are sync, so the engine's sync runner runs it.
    ``slow_hooks``: the engine's set of the (extension, hook) pairs it reported for holding the
    event loop, shared by all its plans."""

    __slots__ = ("has_around", "layers", "slow_hooks", "sync")

    def __init__(
        self,
        entries: list[Registration],
        observer: HookObserver | None,
        is_async: bool,
        slow_hooks: set[tuple[str, str]],
    ) -> None:
        self.layers = tuple(Layer(entry, observer) for entry in entries)
        self.has_around = any(layer.around is not None for layer in self.layers)
        self.sync = not is_async and not any(
            layer.pre_async or layer.around_async or layer.post_async for layer in self.layers
        )
        self.slow_hooks = slow_hooks
