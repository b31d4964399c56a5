"""How one hook implementation is called: checked once at definition, cheap on every call.

Arguments are matched by name. The common shapes (the reference signatures, which take the spec's
arguments positionally in spec order) are called directly; anything else gets a small adapter that
passes exactly the names the implementation declares.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ._spelling import closest
from .errors import ExtensionDefinitionError
from .hookspecs import APP_HOOKS, FUNC_HOOKS, HOOK_ARGS, LEGACY_HOOK_NAMES, PROJECT

__all__ = ["HookShape", "analyse_hook", "check_hook_names", "make_adapter"]

#: Arguments every post/pre adapter receives, in this order.
_ADAPTER_ARGS: Final = ("logger", "context", "func_args", "func_ret", "func_exc")
_ALL_HOOKS: Final = tuple(HOOK_ARGS)


@dataclass(frozen=True, slots=True)
class HookShape:
    """What a hook implementation accepts, found by reading its signature once."""

    hook_name: str
    argnames: tuple[str, ...]  # the spec arguments it declares, in its own order
    positional: int | None  # k when it takes exactly the first k spec arguments in order
    is_async: bool
    is_generator: bool


def _describe(owner: str, hook_name: str) -> str:
    return f"{owner}.{hook_name}"


def check_hook_names(owner: str, namespace: dict[str, Any], *, app_scope: bool) -> list[str]:
    """Return the hook names ``namespace`` defines; raise on names that look like mistakes."""
    own, other = (APP_HOOKS, FUNC_HOOKS) if app_scope else (FUNC_HOOKS, APP_HOOKS)
    scope = "app" if app_scope else "function"
    found = []
    for name in namespace:
        if name.startswith("_"):
            continue
        if name in own:
            found.append(name)
        elif name in other:
            right = f"{name}_app_level" if app_scope else name.removesuffix("_app_level")
            raise ExtensionDefinitionError(
                f"{_describe(owner, name)} is a hook of "
                f"{'function' if app_scope else 'app'}-level extensions; "
                f"a {scope}-level extension implements {right!r} instead"
            )
        elif name in LEGACY_HOOK_NAMES:
            raise ExtensionDefinitionError(
                f"{_describe(owner, name)} is an early name that was never called; "
                f"implement {LEGACY_HOOK_NAMES[name]!r} instead"
            )
        else:
            close = closest(name, sorted(own), cutoff=0.85, fold_case=False)
            if close:
                raise ExtensionDefinitionError(
                    f"{_describe(owner, name)} looks like a misspelling of the hook "
                    f"{close!r}; rename it (or start it with '_' if it is a helper)"
                )
            if _is_marked(namespace[name]):
                raise ExtensionDefinitionError(
                    f"{_describe(owner, name)} is marked @extkit.hookimpl but there is no such "
                    f"hook; {scope}-level hooks are {', '.join(sorted(own))}"
                )
    return found


def _is_marked(value: Any) -> bool:
    """Whether ``value`` (a function, classmethod or staticmethod) carries ``@extkit.hookimpl``."""
    marker = f"{PROJECT}_impl"
    return any(
        getattr(candidate, marker, None) is not None
        for candidate in (value, getattr(value, "__func__", None))
    )


def analyse_hook(owner: str, hook_name: str, fn: Callable[..., Any]) -> HookShape:
    """Check ``fn`` (already bound) against the spec of ``hook_name``; raise if it cannot fit."""
    spec = HOOK_ARGS[hook_name]
    where = _describe(owner, hook_name)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:  # pragma: no cover - builtins only
        raise ExtensionDefinitionError(f"{where}: cannot read its signature ({exc})") from exc
    accepted = ", ".join(spec) or "no arguments"
    argnames: list[str] = []
    ordered: list[str] = []  # named parameters in order, for the positional fast path
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.name in spec:
            argnames.append(param.name)
            if param.kind is not param.KEYWORD_ONLY:
                ordered.append(param.name)
        elif param.default is param.empty:
            raise ExtensionDefinitionError(
                f"{where} has a parameter {param.name!r} that this hook does not provide; "
                f"it accepts {accepted} (any subset, by name)"
            )
    positional = len(ordered) if tuple(ordered) == spec[: len(ordered)] == tuple(argnames) else None
    raw = inspect.unwrap(fn)
    is_async = inspect.iscoroutinefunction(raw) or inspect.isasyncgenfunction(raw)
    is_generator = inspect.isgeneratorfunction(raw) or inspect.isasyncgenfunction(raw)
    if hook_name.startswith("around_") and not is_generator:
        raise ExtensionDefinitionError(
            f"{where} must be a generator that yields once (``result = yield``), "
            f"or an async generator"
        )
    if not hook_name.startswith("around_") and is_generator:
        raise ExtensionDefinitionError(
            f"{where} is a generator; a hook that wraps the function is named "
            f"{'around_invocation_app_level' if hook_name in APP_HOOKS else 'around_invocation'}"
        )
    return HookShape(hook_name, tuple(argnames), positional, is_async, is_generator)


def make_adapter(fn: Callable[..., Any], shape: HookShape) -> Callable[..., Any]:
    """A callable taking ``(logger, context, func_args, func_ret, func_exc)`` that calls ``fn``
    with just the arguments it declared."""
    names = shape.argnames
    if shape.positional is not None:
        k = shape.positional

        def positional(*values: Any) -> Any:
            return fn(*values[:k])

        return positional

    def by_name(*values: Any) -> Any:
        given = dict(zip(_ADAPTER_ARGS, values, strict=False))
        return fn(**{name: given[name] for name in names})

    return by_name
