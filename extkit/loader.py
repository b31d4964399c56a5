"""Load a function-app folder into an engine: settings, extensions, functions, all or nothing.

:func:`load_app` reads an app the way the reference host does, in this order:

1. ``local.settings.json``: its ``Values`` become environment variables (a variable already set
   in the process wins), so the extensions gate ``PYTHON_ENABLE_WORKER_EXTENSIONS`` may live there;
2. ``host.json``: route prefix, function timeout, log levels, and extkit's own options;
3. the app root becomes importable: ``from shared_code import x``, the legacy
   ``from __app__.shared_code import x``, and relative imports inside a function folder (each folder
   is imported as the package ``__app__.<Folder>``);
4. installed extensions (entry points) are imported, so they register before function code runs;
5. function code is imported: every folder with a ``function.json`` and/or ``function_app.py``;
6. only when every function imported and checked out, the engine loads them and runs the
   extensions' load hooks. Otherwise :class:`AppLoadError` lists *every* problem, each naming its
   file, and the process is left as it was (``sys.path``, ``sys.modules``, environment).

Loading the same app twice, or two apps with the same module names (``shared_code``,
``HttpTrigger``) in one process, must not hand out stale modules. Before importing, the loader
forgets every module that came from an app folder it has loaded before (it remembers those roots),
plus the whole ``__app__`` package; an app's code is therefore always imported fresh, so its
function-level extensions register into the registry of *this* load. Modules from anywhere else
(the standard library, site-packages) are never touched. :meth:`LoadedApp.unload` undoes a load.
Loading is not thread-safe: a process loads its app once, at startup.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import json
import logging
import os
import re
import sys
import traceback
import types
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ._settings import EXTENSIONS_GATE, parse_truthy
from .app import AuthLevel, FunctionApp, FunctionAppError, FunctionSpec, normalize_methods
from .discovery import InstalledExtension, disabled_names, load_installed
from .engine import Engine, LoadedFunction
from .registry import Registry, isolated_registry
from .routing import RouteError, RouteTemplate

__all__ = [
    "APP_PACKAGE",
    "AppFunction",
    "AppLoadError",
    "HostSettings",
    "LoadedApp",
    "SUPPORTED_BINDINGS",
    "load_app",
    "python_log_level",
]

#: The package name the app root is importable as, besides plain top-level imports.
APP_PACKAGE: Final = "__app__"
#: Binding types extkit can serve, as written in function.json (matched case-insensitively).
SUPPORTED_BINDINGS: Final = ("httpTrigger", "http", "timerTrigger")
#: The decorator model's module; ``PYTHON_SCRIPT_FILE_NAME`` names another, as in the reference.
DEFAULT_SCRIPT_FILE: Final = "function_app.py"
SCRIPT_FILE_ENV: Final = "PYTHON_SCRIPT_FILE_NAME"
DEFAULT_MAX_BODY: Final = 100 * 1024 * 1024

_SKIPPED_DIRS: Final = frozenset({"__pycache__", "node_modules", "bin", "obj"})
_TIMEOUT: Final = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)")
#: host.json log level names (the reference's) -> Python levels. "None" switches a category off.
_LOG_LEVELS: Final[Mapping[str, int]] = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}
_EXTKIT_KEYS: Final = ("disabledExtensions", "maxRequestBodyBytes")

#: App roots loaded in this process: modules imported from them are forgotten before a new load.
_loaded_roots: set[Path] = set()


class AppLoadError(Exception):
    """The app cannot be served. ``problems`` lists every problem found, each naming its file."""

    def __init__(self, problems: list[str], root: str | os.PathLike[str] | None = None) -> None:
        self.problems = list(problems)
        self.root = None if root is None else str(root)
        where = f"function app {self.root}" if self.root else "function app"
        count = len(self.problems)
        header = f"{where} cannot be loaded ({count} problem{'s' if count != 1 else ''}):"
        super().__init__("\n".join([header, *(f"- {problem}" for problem in self.problems)]))


def python_log_level(value: str) -> int:
    """The Python level for a host.json level name (``Information`` -> ``logging.INFO``)."""
    return _LOG_LEVELS[value.strip().lower()]


@dataclass(frozen=True)
class HostSettings:
    """What ``host.json`` (and ``local.settings.json``'s ``Host``) configure for the host."""

    route_prefix: str = "api"
    #: ``functionTimeout`` in seconds; ``None`` = no limit (absent, or ``"-1"``).
    function_timeout: float | None = None
    #: ``logging.logLevel``: category (``default``, ``Function``, ``Function.<Name>``, a Python
    #: logger name) -> level name as written (``Information``); see :meth:`log_level`.
    log_levels: dict[str, str] = field(default_factory=dict)
    #: ``extkit.maxRequestBodyBytes``: larger requests get 413.
    max_request_body_bytes: int = DEFAULT_MAX_BODY
    #: ``extensions.http.customHeaders``: added to every HTTP response.
    custom_headers: dict[str, str] = field(default_factory=dict)
    #: ``functions``: when given, only these functions are loaded.
    functions: tuple[str, ...] | None = None
    #: ``extkit.disabledExtensions``: beats ``EXTKIT_DISABLED_EXTENSIONS`` when given.
    disabled_extensions: tuple[str, ...] | None = None
    #: ``local.settings.json`` ``Host.LocalHttpPort``, for ``extkit start`` without ``--port``.
    local_http_port: int | None = None

    def log_level(self, category: str = "default") -> int | None:
        """The Python level configured for ``category``, falling back along dotted prefixes
        (``Function.HttpTrigger.User`` -> ``Function.HttpTrigger`` -> ``Function``) and then to
        ``default``; ``None`` when nothing is configured."""
        folded = {key.lower(): value for key, value in self.log_levels.items()}
        parts = category.lower().split(".")
        for end in range(len(parts), 0, -1):
            found = folded.get(".".join(parts[:end]))
            if found is not None:
                return python_log_level(found)
        found = folded.get("default")
        return None if found is None else python_log_level(found)


@dataclass(frozen=True)
class AppFunction:
    """A function of a loaded app: how it is declared (``spec``) and how to run it (``loaded``)."""

    spec: FunctionSpec
    loaded: LoadedFunction

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(eq=False)
class LoadedApp:
    """A function app, loaded and ready to invoke."""

    root: Path
    settings: HostSettings
    functions: list[AppFunction]
    engine: Engine
    #: What extension discovery loaded: (entry point, the object it named).
    extensions_loaded: list[tuple[InstalledExtension, Any]]
    #: Things worth telling the app owner at startup (the host logs them once).
    warnings: list[str]
    _undo: _Undo = field(repr=False, default_factory=lambda: _Undo())

    @property
    def registry(self) -> Registry:
        return self.engine.registry

    def get(self, name: str) -> AppFunction | None:
        """The function called ``name`` (case-insensitive, as function names are), or ``None``."""
        folded = name.lower()
        return next((fn for fn in self.functions if fn.name.lower() == folded), None)

    def unload(self) -> None:
        """Forget the app's modules, its ``sys.path`` entry and the variables it set (tests)."""
        self._undo.run()


# --- the undo log -------------------------------------------------------------------------------


@dataclass
class _Undo:
    """What a load changed in the process, so a failed load (or ``unload``) can put it back."""

    root: Path | None = None
    sys_path: str | None = None
    environ: dict[str, str | None] = field(default_factory=dict)

    def set_env(self, name: str, value: str) -> None:
        if name not in self.environ:
            self.environ[name] = os.environ.get(name)
        os.environ[name] = value

    def run(self) -> None:
        if self.root is not None:
            _forget_modules({self.root})
        if self.sys_path is not None and self.sys_path in sys.path:
            sys.path.remove(self.sys_path)
        for name, old in self.environ.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        self.root, self.sys_path, self.environ = None, None, {}


def _module_paths(module: types.ModuleType) -> list[str]:
    paths = [getattr(module, "__file__", None)]
    paths.extend(getattr(module, "__path__", None) or [])
    return [path for path in paths if isinstance(path, str)]


def _forget_modules(roots: set[Path]) -> None:
    """Drop ``__app__`` and every module imported from one of ``roots`` from ``sys.modules``."""
    prefixes = tuple(os.path.normcase(os.path.join(root, "")) for root in roots)
    for name, module in list(sys.modules.items()):
        in_package = name == APP_PACKAGE or name.startswith(APP_PACKAGE + ".")
        if in_package or (
            module is not None
            and any(
                os.path.normcase(os.path.abspath(path)).startswith(prefixes)
                for path in _module_paths(module)
            )
        ):
            del sys.modules[name]
    importlib.invalidate_caches()


# --- reading JSON files -------------------------------------------------------------------------


def _show(path: Path) -> str:
    """A path as error messages show it: relative to the working directory when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative


def _read_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """The JSON object in ``path``; ``None`` (with a problem naming file, line and column) if it
    cannot be read or is not an object."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{_show(path)}: cannot be read ({exc})")
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(
            f"{_show(path)}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})"
        )
        return None
    if not isinstance(data, dict):
        problems.append(f"{_show(path)}: expected a JSON object {{...}}, got {type(data).__name__}")
        return None
    return data


def _apply_local_settings(root: Path, undo: _Undo, problems: list[str]) -> int | None:
    """Export ``Values`` (the process environment wins); return ``Host.LocalHttpPort``."""
    path = root / "local.settings.json"
    if not path.is_file():
        return None
    data = _read_json(path, problems)
    if data is None:
        return None
    if data.get("IsEncrypted") is True:
        problems.append(
            f'{_show(path)}: "IsEncrypted" is true; extkit reads plain values only '
            "(decrypt the file or set IsEncrypted to false)"
        )
        return None
    values = data.get("Values", {})
    if not isinstance(values, dict):
        problems.append(f'{_show(path)}: "Values" must be an object of names to strings')
        values = {}
    for name, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            text = str(value)
        else:
            problems.append(
                f"{_show(path)}: Values.{name} must be a string (or number), got "
                f"{type(value).__name__}"
            )
            continue
        if name not in os.environ:
            undo.set_env(name, text)
    host = data.get("Host", {})
    port = host.get("LocalHttpPort") if isinstance(host, dict) else None
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        problems.append(f"{_show(path)}: Host.LocalHttpPort must be a port number, got {port!r}")
        return None
    return port


def _parse_timeout(raw: Any, where: str, problems: list[str]) -> float | None:
    if raw is None or raw == "-1" or raw == -1:
        return None
    found = _TIMEOUT.fullmatch(raw.strip()) if isinstance(raw, str) else None
    if found is None:
        problems.append(
            f'{where}: functionTimeout {raw!r} is not a duration; expected "hh:mm:ss" '
            '(e.g. "00:05:00"), "d.hh:mm:ss", or "-1" for no limit'
        )
        return None
    days, hours, minutes, seconds = found.groups()
    if int(minutes) > 59 or float(seconds) >= 60:
        problems.append(f"{where}: functionTimeout {raw!r}: minutes and seconds must be below 60")
        return None
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if total <= 0:
        problems.append(f'{where}: functionTimeout {raw!r} must be longer than zero (or "-1")')
        return None
    return total


def _string_list(value: Any, where: str, problems: list[str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(f"{where} must be a list of strings, got {value!r}")
        return None
    return tuple(value)


def _read_host_json(
    root: Path, local_port: int | None, problems: list[str], notes: list[str]
) -> HostSettings:
    path = root / "host.json"
    if not path.is_file():
        notes.append(f"{_show(path)} not found: using the default host settings")
        return HostSettings(local_http_port=local_port)
    before = len(problems)
    data = _read_json(path, problems) or {}
    where = _show(path)
    version = data.get("version", "2.0")
    if version != "2.0":
        problems.append(f'{where}: "version" is {version!r}; expected "2.0"')
    http = _object(data, "extensions", where, problems).get("http", {})
    if not isinstance(http, dict):
        problems.append(f"{where}: extensions.http must be an object")
        http = {}
    prefix = http.get("routePrefix", "api")
    if not isinstance(prefix, str):
        problems.append(f"{where}: extensions.http.routePrefix must be a string, got {prefix!r}")
        prefix = "api"
    headers = http.get("customHeaders", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        problems.append(f"{where}: extensions.http.customHeaders must be an object of strings")
        headers = {}
    levels = _object(_object(data, "logging", where, problems), "logLevel", where, problems)
    for category, level in levels.items():
        if not isinstance(level, str) or level.strip().lower() not in _LOG_LEVELS:
            problems.append(
                f"{where}: logging.logLevel.{category} is {level!r}; expected one of "
                "Trace, Debug, Information, Warning, Error, Critical, None"
            )
    own = _object(data, "extkit", where, problems)
    for key in own:
        if key not in _EXTKIT_KEYS:
            problems.append(
                f"{where}: extkit.{key} is not an extkit setting; known: {', '.join(_EXTKIT_KEYS)}"
            )
    max_body = own.get("maxRequestBodyBytes", DEFAULT_MAX_BODY)
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body <= 0:
        problems.append(
            f"{where}: extkit.maxRequestBodyBytes must be a positive whole number, got {max_body!r}"
        )
        max_body = DEFAULT_MAX_BODY
    settings = HostSettings(
        route_prefix=prefix.strip().strip("/"),
        function_timeout=_parse_timeout(data.get("functionTimeout"), where, problems),
        log_levels={str(k): str(v) for k, v in levels.items()},
        max_request_body_bytes=max_body,
        custom_headers=dict(headers),
        functions=_string_list(data.get("functions"), f"{where}: functions", problems),
        disabled_extensions=_string_list(
            own.get("disabledExtensions"), f"{where}: extkit.disabledExtensions", problems
        ),
        local_http_port=local_port,
    )
    return settings if len(problems) == before else HostSettings(local_http_port=local_port)


def _object(data: dict[str, Any], key: str, where: str, problems: list[str]) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"{where}: {key!r} must be an object, got {type(value).__name__}")
        return {}
    return value


# --- importing function code --------------------------------------------------------------------


def _install_app_package(root: Path) -> None:
    """Make ``__app__`` the app root, so ``from __app__.shared_code import x`` works."""
    spec = importlib.machinery.ModuleSpec(APP_PACKAGE, None, is_package=True)
    spec.submodule_search_locations = [str(root)]
    package = importlib.util.module_from_spec(spec)
    sys.modules[APP_PACKAGE] = package


def _import(module_name: str, path: Path, problems: list[str]) -> types.ModuleType | None:
    """Import ``module_name``; on failure add its traceback (without loader frames) as a problem."""
    try:
        return importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        from .azure._app import missing_library

        missing = missing_library(exc)
        problems.append(f"{_show(path)}: {missing or 'importing it raised ' + _traceback(exc)}")
        return None


def _traceback(exc: BaseException) -> str:
    """The traceback of an import failure, showing the app's frames, not extkit's or importlib's."""
    hidden = (os.path.abspath(__file__), os.path.dirname(os.path.abspath(importlib.__file__)))
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not os.path.abspath(frame.filename).startswith(hidden)
        and not frame.filename.startswith("<frozen")
    ]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines).rstrip()


def _defined_callables(module: types.ModuleType) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and callable(value)
        and getattr(value, "__module__", None) == module.__name__
    )


def _module_name(root: Path, script: Path) -> str:
    """``__app__.<Folder>`` for ``<Folder>/__init__.py``, ``__app__.<Folder>.<mod>`` otherwise."""
    parts = list(script.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([APP_PACKAGE, *parts])


def _folder_functions(root: Path, problems: list[str]) -> list[FunctionSpec]:
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
    where = _show(config_path)
    config = _read_json(config_path, problems)
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
            f"{where}: scriptFile {script_file!r} not found (looked for {_show(script)})"
        )
    fields = _bindings_to_fields(folder.name, config.get("bindings"), where, problems)
    if len(problems) > before or fields is None:
        return None
    module = _import(_module_name(root, script), script, problems)
    if module is None:
        return None
    func = getattr(module, entry_point, None)
    if not callable(func):
        defined = _defined_callables(module)
        problems.append(
            f"{_show(script)}: entry point {entry_point!r} not found"
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


def _bindings_to_fields(
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
            problems.append(
                f"{label} has type {kind!r}, which extkit does not support; supported binding "
                f"types: {', '.join(SUPPORTED_BINDINGS)}"
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


def _decorator_functions(root: Path, script: Path, problems: list[str]) -> list[FunctionSpec]:
    module = _import(script.stem, script, problems)
    if module is None:
        return []
    apps = [value for value in vars(module).values() if isinstance(value, FunctionApp)]
    if not apps:  # an app written against azure.functions has a func.FunctionApp instead
        from .azure._app import function_app_specs

        found = function_app_specs(module, script, problems, _bindings_to_fields)
        if found is not None:
            return found
    if len(apps) != 1:
        problems.append(
            f"{_show(script)}: expected exactly one FunctionApp instance "
            f"(app = FunctionApp()), found {len(apps)}"
        )
        return []
    try:
        specs = apps[0].get_functions()
    except FunctionAppError as exc:
        problems.append(f"{_show(script)}: {exc}")
        return []
    canonical = {binding.lower() for binding in SUPPORTED_BINDINGS}
    checked = []
    for spec in specs:
        where = _show(Path(spec.source_file)) if spec.source_file else _show(script)
        unknown = [b["type"] for b in spec.bindings if str(b.get("type")).lower() not in canonical]
        if unknown:
            problems.append(
                f"{where}: function {spec.name!r} uses binding type(s) {', '.join(unknown)}, "
                f"which extkit does not support; supported: {', '.join(SUPPORTED_BINDINGS)}"
            )
            continue
        checked.append(spec)
    return checked


# --- checks across functions --------------------------------------------------------------------


def _where(spec: FunctionSpec) -> str:
    if spec.layout == "folder":
        return _show(Path(spec.directory) / "function.json")
    return _show(Path(spec.source_file)) if spec.source_file else spec.name


def _check_signature(spec: FunctionSpec, problems: list[str]) -> None:
    """Every binding names a parameter, and every required parameter has a binding."""
    try:
        params = inspect.signature(spec.func).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    bound = {spec.trigger_arg, *spec.outputs}
    missing = sorted(name for name in bound if name not in params and not takes_any)
    unbound = [
        name
        for name, param in params.items()
        if name not in bound
        and name != "context"
        and param.default is param.empty
        and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
    ]
    if missing or unbound:
        found = []
        if missing:
            found.append(f"binding(s) {', '.join(missing)} have no parameter")
        if unbound:
            found.append(f"parameter(s) {', '.join(unbound)} have no binding")
        problems.append(
            f"{_where(spec)}: function {spec.name!r}: {' and '.join(found)}; its parameters "
            f"({', '.join(params) or 'none'}) must be {', '.join(sorted(bound))} "
            "(the binding names) and optionally context"
        )


def _check_schedule(spec: FunctionSpec, problems: list[str]) -> None:
    """A timer's schedule must parse now, not fail when the host starts its scheduler."""
    from .schedule import ScheduleError, parse_schedule

    try:
        parse_schedule(spec.schedule or "")
    except ScheduleError as exc:
        problems.append(f"{_where(spec)}: timer function {spec.name!r}: {exc}")


def _check_unique(specs: list[FunctionSpec], problems: list[str]) -> None:
    by_name: dict[str, FunctionSpec] = {}
    for spec in specs:
        other = by_name.setdefault(spec.name.lower(), spec)
        if other is not spec:
            problems.append(
                f"duplicate function name {spec.name!r}: declared in {_where(other)} and in "
                f"{_where(spec)} (function names are case-insensitive)"
            )
    routes: list[tuple[str, frozenset[str] | None, FunctionSpec]] = []
    for spec in specs:
        if spec.trigger != "http" or spec.route is None:
            continue
        try:
            shape = RouteTemplate(spec.route).shape
        except RouteError as exc:
            problems.append(f"{_where(spec)}: function {spec.name!r}: {exc}")
            continue
        methods = None if spec.methods is None else frozenset(spec.methods)
        for other_shape, other_methods, other in routes:
            overlap = methods is None or other_methods is None or bool(methods & other_methods)
            if other_shape == shape and overlap:
                shared = sorted(
                    (methods or other_methods or frozenset({"every method"}))
                    & (other_methods or methods or frozenset({"every method"}))
                )
                problems.append(
                    f"duplicate route: {spec.name!r} (route {spec.route!r}, {_where(spec)}) and "
                    f"{other.name!r} (route {other.route!r}, {_where(other)}) serve the same "
                    f"path for {', '.join(shared)}"
                )
                break
        routes.append((shape, methods, spec))


# --- the loader ---------------------------------------------------------------------------------


@contextmanager
def _registering_into(registry: Registry | None) -> Iterator[None]:
    with isolated_registry(registry) if registry is not None else nullcontext():
        yield


def load_app(
    app_dir: str | os.PathLike[str],
    *,
    enabled: bool | None = None,
    registry: Registry | None = None,
) -> LoadedApp:
    """Load the function app in ``app_dir``; raise :class:`AppLoadError` listing every problem.

    ``enabled`` is the extensions gate (``None``: ``PYTHON_ENABLE_WORKER_EXTENSIONS``, which
    ``local.settings.json`` may set). ``registry``: where the app's extensions register (tests
    pass an isolated one); by default the current registry.
    """
    given = Path(app_dir)
    root = given.resolve()
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise AppLoadError([f"{given}: the app folder {what}"], given)
    try:
        entries = list(root.iterdir())
    except OSError as exc:
        raise AppLoadError([f"{given}: the app folder cannot be read ({exc})"], given) from None

    problems: list[str] = []
    notes: list[str] = []
    undo = _Undo()
    try:
        local_port = _apply_local_settings(root, undo, problems)
        settings = _read_host_json(root, local_port, problems, notes)
        undo.set_env("AzureWebJobsScriptRoot", str(root))

        _forget_modules(_loaded_roots | {root})
        _loaded_roots.add(root)
        undo.root = root
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
            undo.sys_path = str(root)
        _install_app_package(root)

        with _registering_into(registry):
            try:
                extensions = load_installed(
                    registry, disabled=disabled_names(settings.disabled_extensions)
                )
            except Exception as exc:
                problems.append(f"an installed extension failed to import: {_traceback(exc)}")
                extensions = []
            specs = _folder_functions(root, problems)
            script = root / os.environ.get(SCRIPT_FILE_ENV, DEFAULT_SCRIPT_FILE)
            if script.is_file():
                specs.extend(_decorator_functions(root, script, problems))
            if "azure.functions" in sys.modules:  # code written for Azure Functions
                from .azure._app import adapt_app

                specs = adapt_app(specs, registry)

        specs = _select(specs, settings, root, problems, notes)
        for spec in specs:
            _check_signature(spec, problems)
            if spec.trigger == "timer":
                _check_schedule(spec, problems)
        _check_unique(specs, problems)
        if not specs and not problems:
            looked = ", ".join(
                sorted(entry.name for entry in entries if not entry.name.startswith("."))
            )
            problems.append(
                f"{given}: no functions found: expected folders with a function.json, or a "
                f"{DEFAULT_SCRIPT_FILE} with a FunctionApp "
                f"(the folder holds: {looked or 'nothing'})"
            )
        if problems:
            raise AppLoadError(problems, given)
        engine = _engine(registry, enabled, notes)
        functions = [
            AppFunction(
                spec,
                engine.load(
                    spec.func,
                    name=spec.name,
                    directory=spec.directory,
                    source_file=spec.source_file,
                    trigger=spec.trigger,
                    layout=spec.layout,
                    bindings=spec.bindings,
                    route=(
                        "/"
                        + "/".join(p for p in (settings.route_prefix, spec.route or spec.name) if p)
                    )
                    if spec.trigger == "http"
                    else None,
                ),
            )
            for spec in specs
        ]
    except BaseException:
        undo.run()
        raise
    return LoadedApp(
        root=root,
        settings=settings,
        functions=functions,
        engine=engine,
        extensions_loaded=extensions,
        warnings=notes,
        _undo=undo,
    )


def _select(
    specs: list[FunctionSpec],
    settings: HostSettings,
    root: Path,
    problems: list[str],
    notes: list[str],
) -> list[FunctionSpec]:
    """Apply host.json ``functions`` and ``AzureWebJobs.<Name>.Disabled`` app settings."""
    if settings.functions is not None:
        wanted = {name.lower() for name in settings.functions}
        known = {spec.name.lower() for spec in specs}
        unknown = [name for name in settings.functions if name.lower() not in known]
        if unknown:
            problems.append(
                f'{_show(root / "host.json")}: "functions" names {", ".join(unknown)}, which '
                f"the app does not define (it defines {', '.join(s.name for s in specs) or 'none'})"
            )
        specs = [spec for spec in specs if spec.name.lower() in wanted]
    kept = []
    for spec in specs:
        setting = f"AzureWebJobs.{spec.name}.Disabled"
        if parse_truthy(os.environ.get(setting, "")):
            notes.append(f"function {spec.name} is disabled by the app setting {setting}")
        else:
            kept.append(spec)
    return kept


def _engine(registry: Registry | None, enabled: bool | None, notes: list[str]) -> Engine:
    """Build the engine, turning gate warnings into startup notes (the host logs them)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        engine = Engine(registry=registry, enabled=enabled)
    notes.extend(str(warning.message) for warning in caught)
    if not engine.enabled:
        names = sorted({entry.name for entry in engine.registry.entries()})
        if names:
            notes.append(
                f"extensions {', '.join(names)} are registered but their hooks will not run: "
                f"set {EXTENSIONS_GATE}=1 (in the environment or local.settings.json) to enable "
                "them"
            )
    return engine
