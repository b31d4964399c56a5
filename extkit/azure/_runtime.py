"""Inside Azure's own Python worker: ``enable(app)`` runs extkit's engine around its invocations.

Azure's Python 3.13+ worker (``azure-functions-runtime``) runs no extension hooks, although
``azure.functions`` still ships the extension base classes. One line in ``function_app.py``,
``extkit.azure.enable(app)``, puts every registered extension back around every invocation.

How it hooks in, through public calls only: the worker indexes the app with
``app.get_functions()`` and calls what each ``Function.get_user_function()`` returns. ``enable``
replaces ``get_functions`` on this one app object, so when the worker indexes (after the module
ran, whatever the place of the ``enable`` line), each function hands out an *entry point*
instead of the user's function. The entry point looks to the worker like the user's function:

- ``inspect.signature`` gives the user's parameters (``__signature__``), ``typing.get_type_hints``
  the user's annotations, resolved in the user's module (``__wrapped__``), so string annotations
  work; an ``async def`` stays a coroutine function;
- it is compiled with the user's file and first line, so ``inspect.getfile`` (from which the
  worker takes ``context.function_directory``) names the user's file, and a traceback shows the
  decorator line of the function it entered;
- one parameter is added when the user's function has none of that name: ``context``, so the
  worker hands over its invocation context (the invocation id, the trace context) also for
  functions that do not ask for it. The function itself is called with its own parameters only.

Per invocation the entry point builds an extkit :class:`~extkit.Context` with the worker's
invocation id and runs the function through the engine, exactly as extkit's host does: the
worker's ``func.Out`` objects are the ones the function sets, its failures propagate (the worker
reports them), and for HTTP functions a :class:`~extkit.RejectInvocation` or
:class:`~extkit.ShortCircuit` becomes the HTTP answer.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import keyword
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final, final

import azure.functions as func

from .._settings import EXTENSIONS_GATE, resolve_truthy
from ..bindings import error_response
from ..context import Context, RetryContext, TraceContext
from ..correlation import current_invocation
from ..discovery import disabled_names, load_installed
from ..engine import Engine, LoadedFunction
from ..errors import RejectInvocation
from ..http import HttpResponse
from ..registry import Registry, current_registry
from ._extensions import adopt_azure_extensions

__all__ = ["enable"]

_log: Final = logging.getLogger("extkit.azure")
#: The worker module whose ``invocation_id_cv`` it reads for its own log correlation.
_RUNTIME_MODULE: Final = "azure_functions_runtime"
#: Set by a named-output HTTP function's call: whether the function ran, or a hook answered.
_function_ran: Final[contextvars.ContextVar[list[bool] | None]] = contextvars.ContextVar(
    "extkit_azure_function_ran", default=None
)
_TRIGGERS: Final = {"httpTrigger": "http", "timerTrigger": "timer"}
#: Whether ``enable`` runs extensions written against ``azure.functions`` too: from Python 3.13
#: on, Azure's worker (``azure-functions-runtime``) runs none; its classic worker on 3.12 and
#: earlier runs them itself when its gate is on, and running them here as well would run each
#: hook twice.
ADOPTS_AZURE_EXTENSIONS: Final = sys.version_info >= (3, 13)


def enable(
    app: func.FunctionApp, *, enabled: bool | None = None, registry: Registry | None = None
) -> None:
    """Run extkit's engine around every invocation Azure's Python worker makes of ``app``.

    Call it once in ``function_app.py``, anywhere in the module. ``enabled`` is the extensions
    gate: it beats ``PYTHON_ENABLE_WORKER_EXTENSIONS``, which beats the default, on (calling
    ``enable`` is asking for extensions); with the gate off functions run without hooks.

    Installed extension packages (the ``extkit.extensions`` entry points, less those named in
    ``EXTKIT_DISABLED_EXTENSIONS``) are imported now, as ``extkit start`` imports them; the
    ones function code imports register as it runs. On Python 3.13+, where the worker runs no
    extension hooks at all, extensions written against ``azure.functions`` run too; on 3.12 and
    earlier Azure's worker still runs those itself, so they are left to it (none runs twice).
    """
    get_functions = getattr(app, "get_functions", None)
    if not callable(get_functions):
        raise TypeError(
            "extkit.azure.enable() takes the azure.functions.FunctionApp that function_app.py "
            f"defines, got {type(app).__name__}"
            + (
                "; a Blueprint's functions are covered once app.register_functions(bp) adds them"
                if isinstance(app, func.Blueprint)
                else ""
            )
        )
    if isinstance(get_functions, _Indexer):
        return  # enabled already
    target = registry if registry is not None else current_registry()
    load_installed(target, disabled=disabled_names())
    app.get_functions = _Indexer(get_functions, _AppState(target, enabled))  # type: ignore[method-assign]


@final
class _AppState:
    """What ``enable`` set up for one app; the engine is made when the worker indexes, once the
    app's module has run and its settings are final."""

    __slots__ = ("enabled", "engine", "entries", "registry")

    def __init__(self, registry: Registry, enabled: bool | None) -> None:
        self.registry = registry
        self.enabled = enabled
        self.engine: Engine | None = None
        #: The entry point handed out for each indexed ``Function`` (indexing may repeat).
        self.entries: dict[Any, Callable[..., Any]] = {}

    def make_engine(self) -> Engine:
        engine = Engine(
            registry=self.registry,
            enabled=resolve_truthy(EXTENSIONS_GATE, self.enabled, default=True),
        )
        names = [entry.name for entry in self.registry.entries()]
        if not engine.enabled and names:
            _log.warning(
                "worker extensions are off (%s): %s will not run",
                EXTENSIONS_GATE if self.enabled is None else "enable(app, enabled=False)",
                ", ".join(names),
            )
        self.engine = engine
        return engine


@final
class _Indexer:
    """``app.get_functions`` once ``enable(app)`` ran: the library's own list of functions, each
    handing out its entry point from ``get_user_function()``."""

    __slots__ = ("get_functions", "state")

    def __init__(self, get_functions: Callable[[], list[Any]], state: _AppState) -> None:
        self.get_functions = get_functions
        self.state = state

    def __call__(self) -> list[Any]:
        functions = self.get_functions()
        state = self.state
        if ADOPTS_AZURE_EXTENSIONS:
            # The app's module has run by now: every Azure-written extension it imports, and
            # every ``FuncExtensionBase(__file__)`` it creates, is in the library's registry.
            adopt_azure_extensions(state.registry)
        engine = state.engine or state.make_engine()
        for function in functions:
            entry = state.entries.get(function)
            if entry is None:
                entry = state.entries[function] = _entry_point(engine, function)
            function.get_user_function = functools.partial(_same, entry)
        return functions


def _same(value: Any) -> Any:
    return value


# --- one function -------------------------------------------------------------------------------


def _entry_point(engine: Engine, function: Any) -> Callable[..., Any]:
    """Load ``function`` into the engine (its load hooks run now); build what the worker calls."""
    user: Callable[..., Any] = function.get_user_function()
    name: str = function.get_function_name()
    bindings = tuple(_bindings(function))
    trigger = next(
        (b for b in bindings if b.get("direction") == "in" and b.get("type") in _TRIGGERS), None
    )
    kind = _TRIGGERS[trigger["type"]] if trigger is not None else "other"
    http_output = next(
        (b["name"] for b in bindings if b.get("type") == "http" and b.get("direction") == "out"),
        None,
    )
    directory = _directory(user)
    target = user if http_output in (None, "$return") else _noting_it_ran(user)
    loaded = engine.load(
        target,
        name=name,
        directory=directory,
        trigger=kind,
        layout="decorator",
        bindings=bindings,
        route=_route(directory, trigger.get("route") or name)
        if trigger is not None and kind == "http"
        else None,
    )
    parameters = _parameters(user)
    binding_names = {b.get("name") for b in bindings}
    # The worker passes its context to a parameter named ``context`` that is not a binding.
    takes_context = "context" not in binding_names
    invocation = _Invocation(
        loaded,
        user,
        takes_context=takes_context,
        wants_context="context" in parameters and takes_context,
        http_output=http_output,
    )
    entry = _compiled_like(user, invocation)
    functools.update_wrapper(entry, user)
    if takes_context and "context" not in parameters:
        entry.__signature__ = _with_context(inspect.signature(user))  # type: ignore[attr-defined]
    return entry


def _directory(user: Callable[..., Any]) -> str:
    """The folder the worker reports as the function's directory: that of its file."""
    try:
        return os.path.dirname(os.path.abspath(inspect.getfile(user)))
    except TypeError:  # not a Python function: the worker cannot index it either
        return ""


def _bindings(function: Any) -> list[dict[str, Any]]:
    """The function's bindings as ``function.json`` spells them (``"direction": "in"``)."""
    found: list[dict[str, Any]] = json.loads(function.get_function_json()).get("bindings", [])
    for binding in found:
        if isinstance(binding.get("direction"), str):
            binding["direction"] = binding["direction"].lower()
    return found


def _route(app_dir: str, route: str) -> str:
    """``/{routePrefix}/{route}`` as Azure's host serves it (``routePrefix`` from host.json)."""
    prefix = "api"
    try:
        with open(os.path.join(app_dir, "host.json"), encoding="utf-8") as file:
            configured = json.load(file).get("extensions", {}).get("http", {}).get("routePrefix")
        if isinstance(configured, str):
            prefix = configured.strip().strip("/")
    except (OSError, ValueError, AttributeError):
        pass  # no readable host.json: Azure's host would not start; the default is as good
    return "/" + "/".join(part for part in (prefix, route.strip("/")) if part)


def _parameters(user: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(user).parameters
    except (TypeError, ValueError):
        return {}


def _with_context(signature: inspect.Signature) -> inspect.Signature:
    """``signature`` plus a keyword-only ``context`` (before any ``**kwargs``)."""
    params = list(signature.parameters.values())
    at = len(params) - (1 if params and params[-1].kind is params[-1].VAR_KEYWORD else 0)
    params.insert(at, inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY))
    return signature.replace(parameters=params)


def _noting_it_ran(user: Callable[..., Any]) -> Callable[..., Any]:
    """``user``, noting that it ran: a named-output HTTP function returns nothing, so a
    non-None result can only be a hook's ``ShortCircuit``, and only this tells which."""
    if inspect.iscoroutinefunction(user):

        @functools.wraps(user)
        async def ran_async(**kwargs: Any) -> Any:
            _note_ran()
            return await user(**kwargs)

        return ran_async

    @functools.wraps(user)
    def ran(**kwargs: Any) -> Any:
        _note_ran()
        return user(**kwargs)

    return ran


def _note_ran() -> None:
    box = _function_ran.get()
    if box is not None:
        box[0] = True


def _compiled_like(user: Callable[..., Any], invocation: _Invocation) -> Callable[..., Any]:
    """A function of one line that calls ``invocation``, compiled with the file and first line
    of ``user``: the worker reads the function's directory from its code object, and a
    traceback through it then points at the decorated function, not into extkit."""
    code = getattr(user, "__code__", None)
    filename = code.co_filename if code is not None else "<extkit.azure>"
    line = code.co_firstlineno if code is not None else 1
    name = getattr(user, "__name__", "")
    if not name.isidentifier() or keyword.iskeyword(name):
        name = "function"
    if inspect.iscoroutinefunction(user):
        source = f"async def {name}(**kwargs): return await _invoke_async(kwargs)"
    else:
        source = f"def {name}(**kwargs): return _invoke(kwargs)"
    namespace: dict[str, Any] = {
        "_invoke": invocation.call,
        "_invoke_async": invocation.call_async,
    }
    exec(compile("\n" * (line - 1) + source, filename, "exec"), namespace)
    entry: Callable[..., Any] = namespace[name]
    return entry


# --- one invocation -----------------------------------------------------------------------------


@final
class _Invocation:
    """Runs one function's invocations through the engine (the per-invocation path)."""

    __slots__ = ("http_output", "loaded", "notes_run", "takes_context", "user", "wants_context")

    def __init__(
        self,
        loaded: LoadedFunction,
        user: Callable[..., Any],
        *,
        takes_context: bool,
        wants_context: bool,
        http_output: str | None,
    ) -> None:
        self.loaded = loaded
        self.user = user
        #: The worker passes its context as ``context`` (the parameter is not a binding).
        self.takes_context = takes_context
        #: The user's function has a ``context`` parameter of its own.
        self.wants_context = wants_context
        #: ``"$return"``, the name of the ``Out`` parameter that is the HTTP answer, or None.
        self.http_output = http_output
        #: The answer is an ``Out``: the loaded function notes that it ran (``_noting_it_ran``).
        self.notes_run = http_output not in (None, "$return")

    def call(self, kwargs: dict[str, Any]) -> Any:
        """A sync function: on the worker's thread, hooks included, as on extkit's host."""
        context = self._context(kwargs)
        if context is None:
            return self.user(**kwargs)
        # Azure's worker sets the function thread's id for the documented thread workaround.
        local = context.thread_local_storage
        local.invocation_id = context.invocation_id
        ran = [False]
        token = _function_ran.set(ran) if self.notes_run else None
        try:
            if self.http_output is None:
                return self.loaded.invoke(kwargs, context)
            try:
                result = self.loaded.invoke(kwargs, context)
            except RejectInvocation as rejected:
                return self._answer(self._rejection(rejected, context), kwargs)
            return self._answer(result, kwargs, answered_by_hook=not ran[0])
        finally:
            local.invocation_id = None
            if token is not None:
                _function_ran.reset(token)

    async def call_async(self, kwargs: dict[str, Any]) -> Any:
        """An async function: awaited on the worker's loop, hooks included."""
        context = self._context(kwargs)
        if context is None:
            return await self.user(**kwargs)
        # The worker sets its invocation id variable for sync functions only; set it for async
        # ones too, so its log handler finds the id in threads started with a copied context.
        cv: Any = getattr(sys.modules.get(_RUNTIME_MODULE), "invocation_id_cv", None)
        cv_token = cv.set(context.invocation_id) if cv is not None else None
        ran = [False]
        token = _function_ran.set(ran) if self.notes_run else None
        try:
            if self.http_output is None:
                return await self.loaded.invoke_async(kwargs, context)
            try:
                result = await self.loaded.invoke_async(kwargs, context)
            except RejectInvocation as rejected:
                return self._answer(self._rejection(rejected, context), kwargs)
            return self._answer(result, kwargs, answered_by_hook=not ran[0])
        finally:
            if token is not None:
                _function_ran.reset(token)
            if cv_token is not None:
                cv.reset(cv_token)

    def _context(self, kwargs: dict[str, Any]) -> Context | None:
        """The invocation's extkit context, made from the worker's; ``None`` when extkit's own
        engine is already running this invocation (the app is on ``extkit start``)."""
        given = kwargs.pop("context", None) if self.takes_context else None
        if current_invocation() is not None:
            if self.wants_context:
                kwargs["context"] = given
            return None
        loaded = self.loaded
        if given is None:  # no worker context (a binding is named "context"): its id variable
            runtime = sys.modules.get(_RUNTIME_MODULE)
            cv = getattr(runtime, "invocation_id_cv", None)
            return loaded.new_context(invocation_id=cv.get() if cv is not None else None)
        trace = given.trace_context
        retry = given.retry_context
        return loaded.new_context(
            invocation_id=given.invocation_id,
            trace_context=TraceContext(
                trace.trace_parent, trace.trace_state, dict(trace.attributes or {})
            ),
            retry_context=RetryContext(retry.retry_count, retry.max_retry_count),
        )

    def _rejection(self, rejected: RejectInvocation, context: Context) -> Any:
        _log.info(
            "invocation of %s rejected: %s (%d)",
            context.function_name,
            rejected.reason,
            rejected.status_code,
        )
        if isinstance(rejected.response, func.HttpResponse):
            return rejected.response
        return error_response(
            rejected, function_name=context.function_name, invocation_id=context.invocation_id
        )

    def _answer(
        self, value: Any, kwargs: Mapping[str, Any], *, answered_by_hook: bool = True
    ) -> Any:
        """The HTTP answer where the worker reads it: the return value, or the ``Out``."""
        if isinstance(value, HttpResponse):
            value = _azure_response(value)
        if not self.notes_run:  # the answer is the return value
            return value
        if value is not None and answered_by_hook:
            kwargs[str(self.http_output)].set(value)
            return None
        return value


def _azure_response(response: HttpResponse) -> func.HttpResponse:
    """An extkit response (a hook's answer) as the ``func.HttpResponse`` the worker sends."""
    return func.HttpResponse(
        response.get_body(),
        status_code=response.status_code,
        headers=dict(response.headers),
        mimetype=response.mimetype,
        charset=response.charset,
    )
