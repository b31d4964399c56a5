"""The folder-per-function layout: a folder with a ``function.json`` for each function.

``function.json`` names the script (``scriptFile``, default ``__init__.py``), the function in it
(``entryPoint``, default ``main``) and the bindings: exactly one trigger (``httpTrigger`` with
``route``, ``methods``, ``authLevel``, extkit's ``streamRequest``; or ``timerTrigger`` with
``schedule``, ``runOnStartup``) and at most one ``http`` output. Each folder becomes a
:class:`~extkit.app.FunctionSpec`, as a decorator-model function does; ``"disabled": true``
leaves the folder out.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Final

from ._app_files import read_json_object, shown
from ._spelling import did_you_mean
from .app import AuthLevel, FunctionAppError, FunctionSpec, normalize_methods
from .importing import app_module_name, import_app_module

__all__ = ["SUPPORTED_BINDINGS", "folder_functions"]

#: Binding types extkit can serve, as written in function.json (matched case-insensitively).
SUPPORTED_BINDINGS: Final = ("httpTrigger", "http", "timerTrigger")

_SKIPPED_DIRS: Final = frozenset({"__pycache__", "node_modules", "bin", "obj"})


def folder_functions(root: Path, problems: list[str]) -> list[FunctionSpec]:
    """A spec for each folder of ``root`` with a ``function.json`` (in folder-name order),
    importing its script; every problem found goes to ``problems``."""
    specs = []
    for folder in sorted(root.iterdir(), key=lambda p: p.name.lower()):
        if (
            not folder.is_dir()
            or folder.name.startswith(".")
            or folder.name in _SKIPPED_DIRS
            or not (folder / "function.json").is_file()
        ):
            continue
        spec = _folder_function(root, folder, problems)
        if spec is not None:
            specs.append(spec)
    return specs


def _folder_function(root: Path, folder: Path, problems: list[str]) -> FunctionSpec | None:
    config_path = folder / "function.json"
    where = shown(config_path)
    config = read_json_object(config_path, problems)
    if config is None:
        return None
    if config.get("disabled") is True:
        return None
    before = len(problems)
    script_file = config.get("scriptFile", "__init__.py")
    entry_point = config.get("entryPoint", "main")
    if not isinstance(script_file, str) or not isinstance(entry_point, str) or not entry_point:
        problems.append(f'{where}: "scriptFile" and "entryPoint" must be strings')
        return None
    script = (folder / script_file).resolve()
    if script.suffix != ".py" or not script.is_relative_to(root):
        problems.append(
            f"{where}: scriptFile {script_file!r} must be a .py file inside the app folder"
        )
        return None
    if not script.is_file():
        problems.append(
            f"{where}: scriptFile {script_file!r} not found (looked for {shown(script)})"
        )
    fields = bindings_to_fields(folder.name, config.get("bindings"), where, problems)
    if len(problems) > before or fields is None:
        return None
    module = import_app_module(app_module_name(root, script), script, problems)
    if module is None:
        return None
    func = getattr(module, entry_point, None)
    if not callable(func):
        defined = _defined_callables(module)
        problems.append(
            f"{shown(script)}: entry point {entry_point!r} not found"
            + ("" if func is None else f" ({entry_point!r} is not callable)")
            + f"; the module defines {', '.join(defined) if defined else 'no functions'}"
            + f' (set "entryPoint" in {where} to pick one)'
        )
        return None
    return FunctionSpec(
        name=folder.name,
        func=func,
        source_file=str(script),
        directory=str(folder),
        layout="folder",
        **fields,
    )


def bindings_to_fields(
    name: str, bindings: Any, where: str, problems: list[str]
) -> dict[str, Any] | None:
    """Check function.json ``bindings`` and turn them into ``FunctionSpec`` fields."""
    if not isinstance(bindings, list) or not bindings:
        problems.append(f'{where}: "bindings" must be a non-empty list of binding objects')
        return None
    canonical = {binding.lower(): binding for binding in SUPPORTED_BINDINGS}
    found: dict[str, Any] = {"outputs": [], "http_output": None}
    triggers = []
    skipped = False  # a binding with a problem already reported
    checked: list[dict[str, Any]] = []
    for index, binding in enumerate(bindings):
        label = f"{where}: bindings[{index}]"
        if not isinstance(binding, dict):
            problems.append(f"{label} must be an object, got {type(binding).__name__}")
            skipped = True
            continue
        kind, arg = binding.get("type"), binding.get("name")
        direction = binding.get("direction", "in" if str(kind).endswith("Trigger") else "out")
        if not isinstance(kind, str) or kind.lower() not in canonical:
            hint = did_you_mean(kind, SUPPORTED_BINDINGS) if isinstance(kind, str) else ""
            problems.append(
                f"{label} has type {kind!r}{hint}, which extkit does not support; supported "
                f"binding types: {', '.join(SUPPORTED_BINDINGS)}"
            )
            skipped = True
            continue
        kind = canonical[kind.lower()]
        if not isinstance(arg, str) or not arg.strip():
            problems.append(f'{label} ({kind}) needs a "name": the Python parameter it binds')
            skipped = True
            continue
        if direction not in ("in", "out"):
            problems.append(f'{label} ({kind}): "direction" must be "in" or "out"')
            skipped = True
            continue
        checked.append({**binding, "type": kind, "direction": direction})
        if kind.endswith("Trigger"):
            triggers.append((label, kind, arg, binding))
        elif found["http_output"] is not None:
            problems.append(f"{label}: a function has at most one http output binding")
        else:
            found["http_output"] = arg
            if arg != "$return":
                found["outputs"].append(arg)
    if len(triggers) != 1:
        if skipped and not triggers:
            return None  # the trigger binding's problem is already reported
        problems.append(
            f"{where}: a function needs exactly one trigger binding (httpTrigger or "
            f"timerTrigger), found {len(triggers)}"
        )
        return None
    label, kind, arg, binding = triggers[0]
    found["trigger_arg"] = arg
    if kind == "httpTrigger":
        found["trigger"] = "http"
        route = binding.get("route", name)
        if not isinstance(route, str):
            problems.append(f'{label}: "route" must be a string, got {route!r}')
            return None
        found["route"] = route.strip().strip("/")
        try:
            found["methods"] = normalize_methods(binding.get("methods"), where=f"{label} methods")
            found["auth_level"] = AuthLevel.parse(
                binding.get("authLevel", "function"), where=f"{label} authLevel"
            )
        except FunctionAppError as exc:
            problems.append(str(exc))
            return None
        stream_request = binding.get("streamRequest", False)
        if not isinstance(stream_request, bool):
            problems.append(f'{label}: "streamRequest" must be true or false')
            return None
        found["stream_request"] = stream_request
    else:
        if found["http_output"] is not None:
            problems.append(f"{where}: an http output binding needs an httpTrigger")
            return None
        found["trigger"] = "timer"
        found["schedule"] = binding.get("schedule")
        run_on_startup = binding.get("runOnStartup", False)
        if not isinstance(run_on_startup, bool):
            problems.append(f'{label}: "runOnStartup" must be true or false')
            return None
        found["run_on_startup"] = run_on_startup
    found["outputs"] = tuple(found["outputs"])
    found["bindings"] = tuple(checked)
    return found


def _defined_callables(module: types.ModuleType) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and callable(value)
        and getattr(value, "__module__", None) == module.__name__
    )
