"""How the loader reads an app written against ``azure.functions``.

Three questions, each asked where the loader already asks its own:

- which functions expect the library's types (:func:`adapt_app`): every function of a
  ``func.FunctionApp``; in folder-per-function apps, a function whose trigger parameter (else any
  parameter, or the return) is annotated with an ``azure.functions`` type, or, when it has no
  annotations, whose module imports that library. An explicit extkit annotation keeps extkit
  types. Such a function's spec converts its trigger argument and its response
  (:mod:`extkit.azure._convert`), whatever the extensions gate says;
- what a ``func.FunctionApp`` (or ``func.AsgiFunctionApp`` / ``func.WsgiFunctionApp``)
  declares (:func:`function_app_specs`): read through its public ``get_functions()``,
  ``get_function_name()``, ``get_user_function()`` and ``get_raw_bindings()``; the bindings are
  function.json's, so they are checked by the same code as a ``function.json`` file. The ASGI
  lifespan of a ``func.AsgiFunctionApp`` runs with the host's, through the app's public
  ``middleware.notify_startup()`` / ``notify_shutdown()`` and ``startup_task_done``;
- why an import failed (:func:`missing_library`): the app imports ``azure.functions`` and it is
  not installed.

This module imports ``azure.functions`` only inside the functions that need it.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import sys
import traceback
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from ..app import FunctionSpec, source_file_of
from ..registry import Registry

__all__ = ["INSTALL_HINT", "adapt_app", "function_app_specs", "missing_library"]

LIBRARY: Final = "azure.functions"
INSTALL_HINT: Final = 'pip install "extkit[azure]"'
_IMPORTS_LIBRARY: Final = re.compile(r"\bazure\.functions\b|\bfrom\s+azure\s+import\s+functions\b")
#: function.json spells directions in lower case; the library's enum names are upper case.
_DIRECTIONS: Final = {"IN": "in", "OUT": "out", "INOUT": "inout"}


def library_loaded() -> bool:
    """Whether the app's code (or anything else) imported ``azure.functions``."""
    return LIBRARY in sys.modules


def missing_library(exc: BaseException) -> str | None:
    """The one-line problem for an import that failed because ``azure.functions`` is not
    installed, or ``None`` when ``exc`` is about something else."""
    if not isinstance(exc, ModuleNotFoundError):
        return None
    name = exc.name or ""
    if name == "azure":  # no azure package at all: was it azure.functions that was imported?
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.line]
        if not frames or not _IMPORTS_LIBRARY.search(frames[-1].line or ""):
            return None
    elif name != LIBRARY and not name.startswith(LIBRARY + "."):
        return None
    return f"imports {LIBRARY}, which is not installed; install it with: {INSTALL_HINT}"


# --- which functions expect the library's types -------------------------------------------------


def _from_library(annotation: Any) -> bool:
    """Whether an annotation is (or is built from) a type of ``azure.functions``:
    ``func.HttpRequest``, ``func.Out[func.HttpResponse]``, ``Optional[func.Context]``."""
    if isinstance(annotation, types.ModuleType):
        return False
    module = getattr(annotation, "__module__", None) or ""
    if module == LIBRARY or module.startswith(LIBRARY + "."):
        return True
    origin = typing.get_origin(annotation)
    if origin is not None and _from_library(origin):
        return True
    return any(_from_library(arg) for arg in typing.get_args(annotation))


def _annotations(function: Callable[..., Any]) -> dict[str, Any]:
    """The function's annotations, resolved (strings under ``from __future__ import
    annotations`` included); one that cannot be resolved is left out."""
    raw = inspect.unwrap(function)
    try:
        return typing.get_type_hints(raw)
    except Exception:
        scope = getattr(raw, "__globals__", {})
        resolved = {}
        for name, value in getattr(raw, "__annotations__", {}).items():
            try:
                resolved[name] = eval(value, scope) if isinstance(value, str) else value
            except Exception:
                continue
        return resolved


def _imports_library(function: Callable[..., Any]) -> bool:
    scope = getattr(inspect.unwrap(function), "__globals__", {})
    return any(
        value is sys.modules.get(LIBRARY) or _from_library(value)
        for value in list(scope.values())
        if isinstance(value, (type, types.ModuleType))
    )


def wants_library_types(spec: FunctionSpec) -> bool:
    """Whether a folder-per-function app's function expects ``azure.functions`` types."""
    hints = _annotations(spec.func)
    trigger = hints.get(spec.trigger_arg)
    if trigger is not None:
        return _from_library(trigger)
    if any(_from_library(hint) for hint in hints.values()):
        return True
    return not hints and _imports_library(spec.func)


def _azure_fields(
    func: Callable[..., Any], trigger: str, outputs: tuple[str, ...]
) -> dict[str, Any]:
    """The spec fields of a function that expects the library's types: an HTTP function gets
    the library's request as the host builds it and its response is converted in the loader's
    one wrapper; any other trigger's value is converted, and its outputs by a wrapper here."""
    from ._convert import azure_http_request, convert_trigger, returning_extkit_types, settling

    if trigger == "http":
        return {
            "func": func,
            "convert_trigger": convert_trigger,
            "make_request": azure_http_request,
            "convert_result": settling(outputs),
        }
    return {"func": returning_extkit_types(func, outputs), "convert_trigger": convert_trigger}


def _azure_typed(spec: FunctionSpec) -> FunctionSpec:
    return dataclasses.replace(spec, **_azure_fields(spec.func, spec.trigger, spec.outputs))


def adapt_app(specs: list[FunctionSpec], registry: Registry | None) -> list[FunctionSpec]:
    """The app's specs with the conversions their functions need, after adopting the
    Azure-written extensions the app's code imported into ``registry``. Call it once the app's
    code is imported, and only when :func:`library_loaded`."""
    from ._extensions import adopt_azure_extensions

    adopt_azure_extensions(registry)
    return [
        _azure_typed(spec)
        if spec.convert_trigger is None and spec.layout == "folder" and wants_library_types(spec)
        else spec
        for spec in specs
    ]


# --- func.FunctionApp ---------------------------------------------------------------------------


def _show(path: str | None) -> str:
    if path is None:
        return "function_app.py"
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _binding(raw: str) -> dict[str, Any]:
    """One binding as function.json writes it, from the library's JSON for it."""
    binding: dict[str, Any] = json.loads(raw)
    direction = binding.get("direction")
    if isinstance(direction, str):
        binding["direction"] = _DIRECTIONS.get(direction.upper(), direction)
    return binding


def function_app_specs(
    module: types.ModuleType,
    script: Path,
    problems: list[str],
    bindings_to_fields: Callable[[str, Any, str, list[str]], dict[str, Any] | None],
) -> list[FunctionSpec] | None:
    """The functions of the ``func.FunctionApp`` defined in ``module`` (``None`` when it defines
    none); problems, each naming the file and the function, go to ``problems``.

    ``bindings_to_fields`` is the loader's check of function.json bindings, so a decorator-model
    app is held to exactly the rules of a folder-per-function one."""
    if not library_loaded():
        return None
    import azure.functions as func

    # FunctionRegister: a func.FunctionApp, or a func.AsgiFunctionApp / WsgiFunctionApp.
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionRegister)]
    if not apps:
        return None
    where = _show(str(script))
    if len(apps) > 1:
        problems.append(
            f"{where}: expected exactly one FunctionApp instance (app = func.FunctionApp()), "
            f"found {len(apps)}"
        )
        return []
    try:
        declared = apps[0].get_functions()
    except ValueError as exc:  # the library's own checks: no trigger, a name used twice
        problems.append(f"{where}: {exc}")
        return []
    lifespan = _AsgiAppLifespan(apps[0]) if isinstance(apps[0], func.AsgiFunctionApp) else None
    specs = []
    for function in declared:
        user = function.get_user_function()
        name = function.get_function_name() or user.__name__
        source = source_file_of(user)
        label = f"{_show(source)}: function {name!r}"
        bindings = [_binding(raw) for raw in function.get_raw_bindings()]
        fields = bindings_to_fields(name, bindings, label, problems)
        if fields is None:
            continue
        specs.append(
            FunctionSpec(
                name=name,
                source_file=source,
                directory=os.path.dirname(source) if source else str(script.parent),
                layout="decorator",
                lifespan=lifespan,
                **_azure_fields(user, fields["trigger"], fields["outputs"]),
                **fields,
            )
        )
    return specs


class _AsgiAppLifespan:
    """The lifespan of a ``func.AsgiFunctionApp``'s ASGI app, run by extkit's host: started
    when the host starts (the library's function then skips its own first-request startup) and
    stopped when the host stops (the library would only try when the object is collected)."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def startup(self) -> None:
        if self._app.startup_task_done:
            return
        if not await self._app.middleware.notify_startup():
            raise RuntimeError("the ASGI app's lifespan startup failed (the reason is logged)")
        self._app.startup_task_done = True

    async def shutdown(self) -> None:
        if not self._app.startup_task_done:
            return
        self._app.startup_task_done = False  # so the library's __del__ does not run it again
        await self._app.middleware.notify_shutdown()
