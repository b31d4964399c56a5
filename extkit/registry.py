"""Which extensions are registered, in which order, and how to reset or scope that (for tests).

Registration is bookkeeping done once per extension; everything a per-invocation call needs is
derived from it into a precomputed plan (see ``engine``). A :class:`Registry` keeps a pluggy
``PluginManager`` so hook implementations are validated against the specs in ``hookspecs`` and
``@extkit.hookimpl(tryfirst=True)`` style options work as pluggy users expect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

import pluggy

from ._hookcall import HookShape, analyse_hook
from ._types import FunctionInfo, Scope
from .errors import ExtensionDefinitionError
from .hookspecs import APP_HOOKS, FUNC_HOOKS, PROJECT, AppHooks, FuncHooks

__all__ = [
    "HookObserver",
    "HookPhase",
    "Registration",
    "Registry",
    "current_registry",
    "isolated_registry",
    "reset_registry",
]

EXTENSION_LOGGER_PREFIX: Final = "extkit.extensions"


class _PluginManager(pluggy.PluginManager):
    """Treats every method named like a hook as an implementation; base classes define none."""

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.add_hookspecs(AppHooks)
        self.add_hookspecs(FuncHooks)
        self._hook_names = APP_HOOKS | FUNC_HOOKS

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name in self._hook_names:
            return cast(pluggy.HookimplOpts, {})
        return opts


@dataclass(eq=False, slots=True)
class Registration:
    """One registered extension: the class (app scope) or the instance (function scope)."""

    extension: Any
    name: str
    key: str
    scope: Scope
    seq: int
    logger: logging.Logger
    hooks: dict[str, tuple[Callable[..., Any], HookShape]] = field(default_factory=dict)
    #: 0 = outermost (``tryfirst``), 1 = registration order, 2 = innermost (``trylast``).
    order: int = 1
    superseded_by: str | None = None
    #: Function scope: which functions the extension serves; ``None``: all (app scope).
    applies_to: Callable[[FunctionInfo], bool] | None = None

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.order, self.seq)

    def binds_to(self, info: FunctionInfo) -> bool:
        return self.applies_to is None or self.applies_to(info)

    @property
    def source(self) -> str:
        cls = self.extension if self.scope == "app" else type(self.extension)
        return f"{cls.__module__}.{cls.__qualname__}"


#: Told by the engine about every hook call it makes, just before it makes it: the extension,
#: the hook, the phase (``call``; an around hook's ``enter`` and ``exit``), the function's name
#: and the invocation id (``None`` outside an invocation). ``extkit.testing`` records with it.
HookPhase = Literal["call", "enter", "exit"]
HookObserver = Callable[[Registration, str, HookPhase, "str | None", "str | None"], None]


class Registry:
    """An ordered set of registered extensions.

    Invariants, relied on by ``engine``:
    - registration order is kept per key; re-registering a key (a re-imported module, the same
      function extension built again) replaces the entry in place, never duplicates it;
    - ``version`` increases on every change, so a precomputed plan knows when it is out of date;
    - a subclass of a registered app extension supersedes its parent: the parent stays listed but
      its hooks no longer run, so inherited hooks never run twice.
    """

    #: Read when the engine builds a plan; ``None`` (the default) costs nothing per call.
    hook_observer: HookObserver | None = None

    def __init__(self) -> None:
        self.plugin_manager = _PluginManager()
        self.version = 0
        self._entries: dict[str, Registration] = {}
        self._seq = 0
        self._lock = threading.RLock()
        self._init_done: set[Callable[..., Any]] = set()
        #: Extension names (class names, case-insensitive) the app owner switched off: they stay
        #: listed but their hooks do not run.
        self.disabled: frozenset[str] = frozenset()
        #: Installed extensions switched off through their entry point: (top-level package,
        #: class name), so a class of the same name from elsewhere stays on.
        self.disabled_installed: frozenset[tuple[str, str]] = frozenset()

    def disable(self, *names: str) -> None:
        """Switch extensions off by name without uninstalling them."""
        with self._lock:
            self.disabled = self.disabled | {name.lower() for name in names}
            self.version += 1

    def disable_installed(self, package: str, class_name: str) -> None:
        """Switch off the class ``class_name`` of the installed ``package`` (an entry point's
        target), before it is imported."""
        with self._lock:
            self.disabled_installed = self.disabled_installed | {(package, class_name.lower())}
            self.version += 1

    def is_disabled(self, entry: Registration) -> bool:
        if entry.name.lower() in self.disabled:
            return True
        package = entry.source.partition(".")[0]
        return (package, entry.name.lower()) in self.disabled_installed

    # --- changes ------------------------------------------------------------------------------

    def register(
        self,
        extension: Any,
        *,
        scope: Scope,
        key: str,
        name: str,
        run_init: bool = True,
        applies_to: Callable[[FunctionInfo], bool] | None = None,
    ) -> Registration:
        """Register ``extension``; run its ``init`` once (app scope). Raise on invalid hooks.

        ``run_init=False`` registers a class whose ``init`` already ran when it was defined (into
        another registry of the same process). ``applies_to`` (function scope, required there)
        tells which functions a function extension serves.
        """
        if (applies_to is None) != (scope == "app"):
            raise ValueError(f"{name}: applies_to is required for function scope, only there")
        with self._lock:
            previous = self._entries.get(key)
            hooks = _bound_hooks(extension, name, scope)
            if scope == "app":
                if run_init:
                    self._run_init_once(extension)
                else:
                    self._init_done.add(getattr(extension.init, "__func__", extension.init))
            if previous is not None:
                self.plugin_manager.unregister(previous.extension)
                seq = previous.seq
            else:
                self._seq += 1
                seq = self._seq
            try:
                self.plugin_manager.register(extension, name=key)
            except pluggy.PluginValidationError as exc:
                raise ExtensionDefinitionError(f"{name}: {exc}") from exc
            entry = Registration(
                extension=extension,
                name=name,
                key=key,
                scope=scope,
                seq=seq,
                logger=logging.getLogger(f"{EXTENSION_LOGGER_PREFIX}.{name}"),
                hooks=hooks,
                order=self._order_of(extension, hooks),
                applies_to=applies_to,
            )
            self._entries[key] = entry
            if scope == "app":
                self._supersede_parents(entry)
            self.version += 1
            return entry

    def unregister(self, extension: Any) -> bool:
        with self._lock:
            for key, entry in list(self._entries.items()):
                if entry.extension is extension:
                    del self._entries[key]
                    self.plugin_manager.unregister(extension)
                    self.version += 1
                    return True
            return False

    def _run_init_once(self, cls: Any) -> None:
        init = getattr(cls.init, "__func__", cls.init)
        if init in self._init_done:
            return  # inherited: the class that defines it already ran it
        cls.init()
        self._init_done.add(init)

    def _order_of(self, extension: Any, hooks: dict[str, Any]) -> int:
        order = 1
        for name in hooks:
            for impl in getattr(self.plugin_manager.hook, name).get_hookimpls():
                if impl.plugin is extension:
                    if impl.tryfirst:
                        return 0
                    if impl.trylast:
                        order = 2
        return order

    def _supersede_parents(self, entry: Registration) -> None:
        for other in self._entries.values():
            if (
                other is not entry
                and other.scope == "app"
                and other.extension in entry.extension.__mro__[1:]
            ):
                other.superseded_by = entry.name

    # --- queries --------------------------------------------------------------------------------

    def entries(
        self, scope: Scope | None = None, *, include_superseded: bool = False
    ) -> list[Registration]:
        """Registered extensions in dispatch order (``tryfirst`` first, then registration order)."""
        with self._lock:
            found = [
                entry
                for entry in self._entries.values()
                if (scope is None or entry.scope == scope)
                and (include_superseded or entry.superseded_by is None)
                and (include_superseded or not self.is_disabled(entry))
            ]
        return sorted(found, key=lambda entry: (entry.scope != "app", *entry.sort_key))

    def for_function(self, info: FunctionInfo) -> list[Registration]:
        """The active extensions that apply to ``info``: app scope first, then function scope."""
        return [entry for entry in self.entries() if entry.binds_to(info)]

    def __len__(self) -> int:
        return len(self._entries)


def _bound_hooks(
    extension: Any, name: str, scope: Scope
) -> dict[str, tuple[Callable[..., Any], HookShape]]:
    names = APP_HOOKS if scope == "app" else FUNC_HOOKS
    found: dict[str, tuple[Callable[..., Any], HookShape]] = {}
    for hook_name in sorted(names):
        fn = getattr(extension, hook_name, None)
        if fn is not None:
            found[hook_name] = (fn, analyse_hook(name, hook_name, fn))
    return found


# --- the current registry ---------------------------------------------------------------------

_default = Registry()
_stack: list[Registry] = []


def current_registry() -> Registry:
    """The registry new extensions register into: the innermost isolated one, else the default."""
    return _stack[-1] if _stack else _default


def reset_registry() -> Registry:
    """Replace the default registry with an empty one (process-wide) and return it."""
    global _default
    _default = Registry()
    return _default


@contextmanager
def isolated_registry(registry: Registry | None = None) -> Iterator[Registry]:
    """Register extensions defined inside the block into a fresh registry (tests, loaders)."""
    scoped = registry if registry is not None else Registry()
    _stack.append(scoped)
    try:
        yield scoped
    finally:
        _stack.remove(scoped)
