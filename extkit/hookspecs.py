"""The hook contract: every hook an extension may implement, stated once.

This is the one page an extension author needs. App-level hooks are classmethods of an
``AppExtensionBase`` subclass (their names end in ``_app_level``); function-level hooks are methods
of a ``FuncExtensionBase`` instance. Implement only the hooks you need: the base classes define
none, so nothing is called for hooks you leave out.

Arguments are matched by name, as in pluggy: an implementation may accept any subset of a spec's
arguments, in any order, and extkit passes just those. New arguments can therefore be added here
without breaking existing extensions. A parameter that is not in the spec is an error at class
definition, unless it has a default (or is ``*args``/``**kwargs``, as in the reference signatures).

Ordering, per invocation::

    app pre/around (registration order) -> function pre/around (registration order)
        -> the function ->
    function post (reverse order) -> app post (reverse order)

Each extension is one layer, like middleware: its ``pre`` runs before the layers it encloses and its
``post`` after them. ``@extkit.hookimpl(tryfirst=True)`` / ``(trylast=True)`` move a hook to the
outside / inside of its scope.

Where hooks run: a sync function runs on a worker thread with all its hooks (``async def`` ones
are run to completion there), so a hook that blocks holds up only its own invocation. An async
function runs on the event loop with its hooks: ``async def`` hooks are awaited, sync ones called
there, where a blocking one stops every other request (one that holds the loop over 100 ms is
logged as a warning on ``extkit.engine``). Write hooks that wait for I/O as ``async def`` (an
around hook then is an async generator).

Errors, the same whatever other extensions are installed:

- An ``Exception`` from a hook is logged on ``extkit.extensions.<ExtensionName>`` with the hook,
  function, invocation id and traceback, and the invocation carries on. To fail an invocation on
  purpose, raise :class:`extkit.RejectInvocation` from a pre or around hook; to answer without
  running the function, raise :class:`extkit.ShortCircuit`.
- A ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``, ``SystemExit``, one of
  your own), raised by the function or by any hook, is never swallowed: it unwinds like
  ``try/finally``. Every extension already entered still runs its post hook, which sees it as
  ``func_exc``, or has it thrown into its around hook; then it propagates. One raised by a post
  hook does not skip the post hooks outside it: as from a ``finally`` block, it is what they see
  and what propagates.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from logging import Logger
from typing import TYPE_CHECKING, Any, Final

import pluggy

if TYPE_CHECKING:
    from .context import Context

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT: Final = "extkit"

hookspec: Final = pluggy.HookspecMarker(PROJECT)
#: Optional marker for ordering: ``@extkit.hookimpl(tryfirst=True)`` on a hook method.
hookimpl: Final = pluggy.HookimplMarker(PROJECT)


class AppHooks:
    """App-level hooks: classmethods of an ``AppExtensionBase`` subclass; run for every function."""

    @hookspec
    def post_function_load_app_level(self, function_name: str, function_directory: str) -> None:
        """Once per loaded function, after it is loaded and before it is first invoked.

        ``function_directory`` is the function's folder (folder-per-function apps) or the folder of
        the module that defines it (decorator-model apps).
        """

    @hookspec
    def pre_invocation_app_level(
        self, logger: Logger, context: Context, func_args: dict[str, Any]
    ) -> None:
        """Before every invocation of every function.

        ``func_args`` is the very dict the function is called with: a pre hook may add or replace
        arguments. ``logger`` is ``extkit.extensions.<ExtensionName>``, a logger the app owner sees.
        """

    @hookspec
    def around_invocation_app_level(
        self, logger: Logger, context: Context, func_args: dict[str, Any]
    ) -> Generator[None, Any, Any]:
        """A generator that yields exactly once, wrapping the layers inside it and the function.

        The function's result is sent in at the ``yield``; if it raised, the exception is thrown
        in there instead. The generator's return value becomes the result, so write
        ``return (yield)`` to keep it. Returning after catching the exception turns a failure into
        a result; letting it escape keeps the failure. An async generator cannot return a value:
        it keeps the result by finishing, and replaces it with ``raise extkit.ShortCircuit(new)``
        after the ``yield`` (which also works in a sync generator).
        """
        raise NotImplementedError  # pragma: no cover - a spec, never called

    @hookspec
    def post_invocation_app_level(
        self,
        logger: Logger,
        context: Context,
        func_args: dict[str, Any],
        func_ret: Any,
        func_exc: BaseException | None,
    ) -> None:
        """After every invocation, also when the function raised (then ``func_ret`` is ``None``
        and ``func_exc`` is the exception, which propagates after all post hooks ran)."""

    @hookspec
    def shutdown_app_level(self) -> None:
        """Once per process when the host stops (after in-flight invocations finished): flush."""


class FuncHooks:
    """Function-level hooks: methods of a ``FuncExtensionBase`` instance; run for its functions."""

    @hookspec
    def post_function_load(self, function_name: str, function_directory: str) -> None:
        """Once per function this extension is bound to, after the function is loaded."""

    @hookspec
    def pre_invocation(self, logger: Logger, context: Context, func_args: dict[str, Any]) -> None:
        """Before every invocation of a bound function, after the app-level pre hooks."""

    @hookspec
    def around_invocation(
        self, logger: Logger, context: Context, func_args: dict[str, Any]
    ) -> Generator[None, Any, Any]:
        """Function-level counterpart of ``around_invocation_app_level``."""
        raise NotImplementedError  # pragma: no cover - a spec, never called

    @hookspec
    def post_invocation(
        self,
        logger: Logger,
        context: Context,
        func_args: dict[str, Any],
        func_ret: Any,
        func_exc: BaseException | None,
    ) -> None:
        """After every invocation of a bound function, before the app-level post hooks."""

    @hookspec
    def shutdown(self) -> None:
        """Once per process when the host stops."""


#: The arguments of each hook, in the order the reference system passes them positionally.
HOOK_ARGS: Final[Mapping[str, tuple[str, ...]]] = {
    "post_function_load_app_level": ("function_name", "function_directory"),
    "pre_invocation_app_level": ("logger", "context", "func_args"),
    "around_invocation_app_level": ("logger", "context", "func_args"),
    "post_invocation_app_level": ("logger", "context", "func_args", "func_ret", "func_exc"),
    "shutdown_app_level": (),
    "post_function_load": ("function_name", "function_directory"),
    "pre_invocation": ("logger", "context", "func_args"),
    "around_invocation": ("logger", "context", "func_args"),
    "post_invocation": ("logger", "context", "func_args", "func_ret", "func_exc"),
    "shutdown": (),
}

APP_HOOKS: Final = frozenset(name for name in HOOK_ARGS if name.endswith("_app_level"))
FUNC_HOOKS: Final = frozenset(HOOK_ARGS) - APP_HOOKS
#: Names from early drafts of the reference API that it silently ignored; we say what they became.
LEGACY_HOOK_NAMES: Final[Mapping[str, str]] = {
    "before_invocation": "pre_invocation",
    "after_invocation": "post_invocation",
    "before_invocation_app_level": "pre_invocation_app_level",
    "after_invocation_app_level": "post_invocation_app_level",
    "post_load_app_level": "post_function_load_app_level",
    "post_load": "post_function_load",
    "on_error": "post_invocation (it receives func_exc)",
}
