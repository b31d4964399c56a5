"""Load a function-app folder into an engine: settings, extensions, functions, all or nothing.

:func:`load_app` reads an app the way the reference host does, in this order:

1. ``local.settings.json`` and ``host.json`` (:mod:`extkit.settings_files`): environment values,
   route prefix, function timeout, log levels, and extkit's own options;
2. the app root becomes importable, forgetting modules of apps loaded before
   (:mod:`extkit.importing`);
3. installed extensions (entry points, :mod:`extkit.discovery`) are imported, so they register
   before function code runs;
4. function code is imported: every folder with a ``function.json`` (:mod:`extkit.function_json`)
   and/or the ``FunctionApp`` in ``function_app.py`` (the decorator model, :mod:`extkit.app`);
5. only when every function imported and checked out, the engine loads them and runs the
   extensions' load hooks. Otherwise :class:`AppLoadError` lists *every* problem, each naming its
   file, and the process is left as it was (``sys.path``, ``sys.modules``, environment).

:meth:`LoadedApp.unload` undoes a load. Loading is not thread-safe: a process loads its app once,
at startup.
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ._app_files import shown
from ._settings import EXTENSIONS_GATE, gate_hint, parse_truthy
from ._spelling import did_you_mean
from .app import FunctionApp, FunctionAppError, FunctionSpec
from .discovery import (
    DISABLED_EXTENSIONS_ENV,
    InstalledExtension,
    disabled_names,
    disabled_names_unmatched,
    load_installed,
)
from .engine import Engine, LoadedFunction
from .function_json import SUPPORTED_BINDINGS, bindings_to_fields, folder_functions
from .importing import APP_PACKAGE, ProcessChanges, import_app_module, import_traceback
from .registry import Registry, isolated_registry
from .routing import RouteError, RouteTemplate
from .schedule import Schedule, ScheduleError, parse_schedule
from .settings_files import HostSettings, apply_local_settings, python_log_level, read_host_json
from .streaming import sending_streams

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

#: The decorator model's module; ``PYTHON_SCRIPT_FILE_NAME`` names another, as in the reference.
DEFAULT_SCRIPT_FILE: Final = "function_app.py"
SCRIPT_FILE_ENV: Final = "PYTHON_SCRIPT_FILE_NAME"


class AppLoadError(Exception):
    """The app cannot be served. ``problems`` lists every problem found, each naming its file."""

    def __init__(self, problems: list[str], root: str | os.PathLike[str] | None = None) -> None:
        self.problems = list(problems)
        self.root = None if root is None else str(root)
        where = f"function app {self.root}" if self.root else "function app"
        count = len(self.problems)
        header = f"{where} cannot be loaded ({count} problem{'s' if count != 1 else ''}):"
        super().__init__("\n".join([header, *(f"- {problem}" for problem in self.problems)]))


@dataclass(frozen=True)
class AppFunction:
    """A function of a loaded app: how it is declared (``spec``), how to run it (``loaded``,
    whose ``info`` the extensions see) and, parsed once for the loader's checks, the host and
    the CLI, its HTTP route template or its timer schedule."""

    spec: FunctionSpec
    loaded: LoadedFunction
    route: RouteTemplate | None = None
    schedule: Schedule | None = None

    def __post_init__(self) -> None:
        # An AppFunction made by hand (a test's) parses its own; the loader hands them over.
        spec = self.spec
        if self.route is None and spec.trigger == "http":
            object.__setattr__(self, "route", RouteTemplate(spec.route or spec.name))
        if self.schedule is None and spec.trigger == "timer":
            object.__setattr__(self, "schedule", parse_schedule(spec.schedule or ""))

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
    _changes: ProcessChanges = field(repr=False, default_factory=ProcessChanges)

    @property
    def registry(self) -> Registry:
        return self.engine.registry

    def get(self, name: str) -> AppFunction | None:
        """The function called ``name`` (case-insensitive, as function names are), or ``None``."""
        folded = name.lower()
        return next((fn for fn in self.functions if fn.name.lower() == folded), None)

    def unload(self) -> None:
        """Forget the app's modules, its ``sys.path`` entry and the variables it set (tests)."""
        self._changes.undo()


# --- the decorator model ------------------------------------------------------------------------


def _no_functions(script: Path, problems: list[str]) -> None:
    problems.append(
        f"{shown(script)}: its FunctionApp declares no functions: decorate one with "
        '@app.route(route="hello") (HTTP) or @app.schedule(schedule="0 */5 * * * *", '
        'arg_name="timer") (timer), or add a Blueprint\'s with app.register_functions(bp)'
    )


def _decorator_functions(
    root: Path, script: Path, problems: list[str], empty: list[Path]
) -> list[FunctionSpec]:
    """The functions of the ``FunctionApp`` in ``script``; ``empty`` gets ``script`` when that
    app declares none (a problem only when the app has no other functions)."""
    module = import_app_module(script.stem, script, problems)
    if module is None:
        return []
    apps = [value for value in vars(module).values() if isinstance(value, FunctionApp)]
    if not apps:  # an app written against azure.functions has a func.FunctionApp instead
        from .azure._app import function_app_specs

        found = function_app_specs(module, script, problems, bindings_to_fields)
        if found == []:
            empty.append(script)
        if found is not None:
            return found
    if len(apps) != 1:
        problems.append(
            f"{shown(script)}: expected exactly one FunctionApp instance "
            f"(app = FunctionApp()), found {len(apps)}"
        )
        return []
    try:
        specs = apps[0].get_functions()
    except FunctionAppError as exc:
        problems.append(f"{shown(script)}: {exc}")
        return []
    if not specs:
        empty.append(script)
    canonical = {binding.lower() for binding in SUPPORTED_BINDINGS}
    checked = []
    for spec in specs:
        where = shown(Path(spec.source_file)) if spec.source_file else shown(script)
        unknown = [
            f"{kind}{did_you_mean(kind, SUPPORTED_BINDINGS)}"
            for kind in (str(b.get("type")) for b in spec.bindings)
            if kind.lower() not in canonical
        ]
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
        return shown(Path(spec.directory) / "function.json")
    return shown(Path(spec.source_file)) if spec.source_file else spec.name


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


def _check_stream_request(spec: FunctionSpec, problems: list[str]) -> None:
    """A function that reads its body as a stream must be able to: ``req.stream()`` is async."""
    if not spec.stream_request:
        return
    if not inspect.iscoroutinefunction(inspect.unwrap(spec.func)):
        problems.append(
            f"{_where(spec)}: function {spec.name!r} reads its request body as a stream "
            "(stream_request), so it must be an async def function: req.stream() is an async "
            "iterator"
        )
    elif spec.convert_trigger is not None:
        problems.append(
            f"{_where(spec)}: function {spec.name!r} reads its request body as a stream "
            "(streamRequest) but is written against azure.functions, whose HttpRequest cannot "
            "stream; take an extkit.HttpRequest instead"
        )


def _check_schedule(
    spec: FunctionSpec, problems: list[str], parsed: dict[FunctionSpec, Schedule]
) -> None:
    """A timer's schedule must parse now, not fail when the host starts its scheduler."""
    try:
        parsed[spec] = parse_schedule(spec.schedule or "")
    except ScheduleError as exc:
        problems.append(f"{_where(spec)}: timer function {spec.name!r}: {exc}")


def _check_unique(
    specs: list[FunctionSpec], problems: list[str], parsed: dict[FunctionSpec, RouteTemplate]
) -> None:
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
        if spec.trigger != "http":
            continue
        try:
            template = parsed[spec] = RouteTemplate(spec.route or spec.name)
        except RouteError as exc:
            problems.append(f"{_where(spec)}: function {spec.name!r}: {exc}")
            continue
        shape = template.shape
        methods = None if spec.methods is None else frozenset(spec.methods)
        for other_shape, other_methods, other in routes:
            overlap = methods is None or other_methods is None or bool(methods & other_methods)
            if other_shape == shape and overlap:
                shared = sorted(
                    (methods or other_methods or frozenset({"every method"}))
                    & (other_methods or methods or frozenset({"every method"}))
                )
                problems.append(
                    f"duplicate route: {spec.name!r} (route {template.template!r}, "
                    f"{_where(spec)}) and {other.name!r} (route "
                    f"{(other.route or other.name)!r}, {_where(other)}) serve the same "
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
    changes = ProcessChanges()
    gate_from_environment = EXTENSIONS_GATE in os.environ  # it then overrides local settings
    try:
        local = apply_local_settings(root, changes.set_env, problems, notes)
        settings = read_host_json(root, local, problems, notes)
        changes.set_env("AzureWebJobsScriptRoot", str(root))
        changes.make_importable(root)

        disabled = disabled_names(settings.disabled_extensions)
        with _registering_into(registry):
            try:
                extensions = load_installed(registry, disabled=disabled)
            except Exception as exc:
                problems.append(
                    "an installed extension failed to import: "
                    + import_traceback(exc, hide=(__file__,))
                )
                extensions = []
            specs = folder_functions(root, problems)
            script = root / os.environ.get(SCRIPT_FILE_ENV, DEFAULT_SCRIPT_FILE)
            empty_apps: list[Path] = []
            if script.is_file():
                specs.extend(_decorator_functions(root, script, problems, empty_apps))
            if "azure.functions" in sys.modules:  # code written for Azure Functions
                from .azure._app import adapt_app

                specs = adapt_app(specs, registry)

        specs = _select(specs, settings, root, problems, notes)
        schedules: dict[FunctionSpec, Schedule] = {}
        routes: dict[FunctionSpec, RouteTemplate] = {}
        for spec in specs:
            _check_signature(spec, problems)
            _check_stream_request(spec, problems)
            if spec.trigger == "timer":
                _check_schedule(spec, problems, schedules)
        _check_unique(specs, problems, routes)
        if not specs and not problems and empty_apps:
            _no_functions(empty_apps[0], problems)
        elif not specs and not problems:
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
        engine = _engine(registry, enabled, notes, gate_from_environment)
        notes += disabled_names_unmatched(
            disabled,
            [entry.name for entry in engine.registry.entries(include_superseded=True)],
            f"{shown(root / 'host.json')} extkit.disabledExtensions"
            if settings.disabled_extensions is not None
            else DISABLED_EXTENSIONS_ENV,
        )
        functions = [
            AppFunction(
                spec,
                engine.load(
                    # Sends a StreamingResponse before returning: post hooks run after the stream.
                    sending_streams(spec.func, spec.http_output, spec.convert_result)
                    if spec.trigger == "http"
                    else spec.func,
                    info=spec.info(settings.route_prefix),
                ),
                route=routes.get(spec),
                schedule=schedules.get(spec),
            )
            for spec in specs
        ]
    except BaseException:
        changes.undo()
        raise
    return LoadedApp(
        root=root,
        settings=settings,
        functions=functions,
        engine=engine,
        extensions_loaded=extensions,
        warnings=notes,
        _changes=changes,
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
                f'{shown(root / "host.json")}: "functions" names {", ".join(unknown)}, which '
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


def _engine(
    registry: Registry | None, enabled: bool | None, notes: list[str], gate_from_environment: bool
) -> Engine:
    """Build the engine, turning gate warnings into startup notes (the host logs them)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        engine = Engine(registry=registry, enabled=enabled)
    notes.extend(str(warning.message) for warning in caught)
    if not engine.enabled:
        names = sorted({entry.name for entry in engine.registry.entries()})
        if names:
            hint = (
                f"the code that loads the app switched them off (enabled=False beats "
                f"{EXTENSIONS_GATE})"
                if enabled is False
                else gate_hint(
                    os.environ.get(EXTENSIONS_GATE), from_environment=gate_from_environment
                )
            )
            notes.append(
                f"extensions {', '.join(names)} are registered but their hooks will not run: "
                + hint
            )
    return engine
