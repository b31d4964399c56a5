"""Installed extension packages: found through the ``extkit.extensions`` entry-point group.

An extension package declares itself in its ``pyproject.toml``::

    [project.entry-points."extkit.extensions"]
    timer = "extkit_timer:TimerExtension"

The host imports every installed extension at startup (so listing a package in
``requirements.txt`` is enough), except the ones the app owner disabled by entry-point name or
class name, in code, or with ``EXTKIT_DISABLED_EXTENSIONS=timer,OtherExtension``.

``extkit extensions [APP_DIR]`` (:func:`command_extensions`) lists what is installed and, for an
app, what is registered once its code is imported: scope, hooks, distribution and version, and the
functions each function-level extension is bound to.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from importlib.metadata import EntryPoint, entry_points, packages_distributions, version
from typing import Any, Final

from .hookspecs import APP_HOOKS, FUNC_HOOKS, HOOK_ARGS
from .registry import Registration, Registry, current_registry, isolated_registry

__all__ = [
    "DISABLED_EXTENSIONS_ENV",
    "ENTRY_POINT_GROUP",
    "ExtensionListing",
    "ExtensionsReport",
    "InstalledExtension",
    "command_extensions",
    "disabled_names",
    "installed_extensions",
    "list_extensions",
    "load_installed",
    "render_report",
]

ENTRY_POINT_GROUP: Final = "extkit.extensions"
DISABLED_EXTENSIONS_ENV: Final = "EXTKIT_DISABLED_EXTENSIONS"


@dataclass(frozen=True, slots=True)
class InstalledExtension:
    """One entry point of the ``extkit.extensions`` group."""

    name: str
    value: str
    distribution: str | None
    version: str | None

    @property
    def class_name(self) -> str:
        return self.value.rpartition(":")[2].rpartition(".")[2]

    def matches(self, names: Iterable[str]) -> bool:
        folded = {name.lower() for name in names}
        return self.name.lower() in folded or self.class_name.lower() in folded


def _describe(entry_point: EntryPoint) -> InstalledExtension:
    dist = entry_point.dist
    return InstalledExtension(
        name=entry_point.name,
        value=entry_point.value,
        distribution=dist.metadata["Name"] if dist is not None else None,
        version=dist.version if dist is not None else None,
    )


def installed_extensions() -> list[InstalledExtension]:
    """Every installed extension, sorted by entry-point name."""
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return [_describe(found[name]) for name in sorted(found)]


def disabled_names(
    explicit: Iterable[str] | None = None, environ: Mapping[str, str] | None = None
) -> frozenset[str]:
    """Names switched off: ``explicit`` (code, host.json) beats the environment variable."""
    if explicit is not None:
        return frozenset(name.strip() for name in explicit if name.strip())
    raw = (os.environ if environ is None else environ).get(DISABLED_EXTENSIONS_ENV, "")
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def load_installed(
    registry: Registry | None = None, *, disabled: Iterable[str] = ()
) -> list[tuple[InstalledExtension, Any]]:
    """Import every installed, non-disabled extension so it registers; return what was loaded.

    Disabled names are also switched off in ``registry``, so importing the class from function
    code later does not bring its hooks back. An extension that fails to import raises: a host
    must not start with part of its extensions silently missing.
    """
    target = registry if registry is not None else current_registry()
    off = frozenset(disabled)
    if off:
        target.disable(*off)
    loaded = []
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        described = _describe(entry_point)
        if described.matches(off):
            target.disable(described.class_name)
            continue
        with isolated_registry(target):  # register into ``target`` even if it is not current
            obj = entry_point.load()
        _ensure_registered(target, obj)
        loaded.append((described, obj))
    return loaded


def _ensure_registered(registry: Registry, obj: Any) -> None:
    """Register an app extension class that an earlier import registered elsewhere.

    A class registers itself when its module is first imported; a second registry (a test's, or
    a second app loaded in the same process) would otherwise never see it.
    """
    from .extension import AppExtensionBase

    if not (isinstance(obj, type) and issubclass(obj, AppExtensionBase)):
        return
    if vars(obj).get("_extkit_abstract", False) or obj is AppExtensionBase:
        return
    if any(entry.extension is obj for entry in registry.entries(include_superseded=True)):
        return
    # ``init`` ran when the class was defined, and runs once per class: not again here.
    registry.register(
        obj,
        scope="app",
        key=f"{obj.__module__}.{obj.__qualname__}",
        name=obj.__name__,
        run_init=False,
    )


# --- listing (``extkit extensions``) ------------------------------------------------------------


@dataclass
class ExtensionListing:
    """One line of ``extkit extensions``: an installed entry point or a registered extension."""

    name: str
    scope: str | None
    hooks: list[str]
    source: str
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None
    disabled: bool = False
    superseded_by: str | None = None
    #: Function-level extensions in an app: the functions they are bound to.
    functions: list[str] | None = None
    error: str | None = None

    @property
    def state(self) -> str:
        if self.error:
            return "error"
        if self.disabled:
            return "disabled"
        if self.superseded_by:
            return f"superseded by {self.superseded_by}"
        return "active"


@dataclass
class ExtensionsReport:
    """What ``extkit extensions`` shows, as data."""

    installed: list[ExtensionListing] = field(default_factory=list)
    #: With an app: every extension registered once its code is imported, in dispatch order.
    registered: list[ExtensionListing] | None = None
    app_dir: str | None = None
    functions: list[str] = field(default_factory=list)
    gate: bool = False
    disabled: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(item.error for item in [*self.installed, *(self.registered or [])])

    def as_json(self) -> dict[str, Any]:
        return {
            "installed": [asdict(item) for item in self.installed],
            "app": None
            if self.registered is None
            else {
                "path": self.app_dir,
                "gate": self.gate,
                "functions": self.functions,
                "registered": [asdict(item) for item in self.registered],
            },
            "disabled": self.disabled,
        }


def _hooks_of(obj: Any) -> tuple[str | None, list[str]]:
    """Scope and implemented hooks (in lifecycle order) of an extension class or instance."""
    from .extension import AppExtensionBase, FuncExtensionBase

    cls = obj if isinstance(obj, type) else type(obj)
    if issubclass(cls, AppExtensionBase):
        scope, names = "app", APP_HOOKS
    elif issubclass(cls, FuncExtensionBase):
        scope, names = "function", FUNC_HOOKS
    else:
        return None, []
    return scope, [n for n in HOOK_ARGS if n in names and getattr(cls, n, None) is not None]


def _distribution_of(module: str) -> tuple[str | None, str | None]:
    names = packages_distributions().get(module.partition(".")[0])
    if not names:
        return None, None
    try:
        return names[0], version(names[0])
    except Exception:  # pragma: no cover - metadata without a version
        return names[0], None


def _app_file(cls: type, root: str) -> str | None:
    """The file of the app that defines ``cls`` (relative to the app), or ``None``."""
    try:
        path = inspect.getsourcefile(cls)
    except TypeError:
        return None
    if path and os.path.realpath(path).startswith(os.path.join(os.path.realpath(root), "")):
        return os.path.relpath(os.path.realpath(path), os.path.realpath(root))
    return None


def list_extensions(app_dir: str | os.PathLike[str] | None = None) -> ExtensionsReport:
    """Everything ``extkit extensions`` shows. Imports the installed extensions and, with
    ``app_dir``, loads the app with the extensions gate off, so no hook runs."""
    from ._settings import EXTENSIONS_GATE, resolve_truthy

    report = ExtensionsReport(app_dir=None if app_dir is None else os.fspath(app_dir))
    scratch = Registry()
    for described in installed_extensions():
        item = ExtensionListing(
            name=described.name,
            scope=None,
            hooks=[],
            source=described.value,
            distribution=described.distribution,
            version=described.version,
            entry_point=described.name,
        )
        try:
            with isolated_registry(scratch):
                obj = _load_entry_point(described.name)
            item.scope, item.hooks = _hooks_of(obj)
            if item.scope is None:
                item.error = f"{described.value} is not an AppExtensionBase/FuncExtensionBase class"
        except Exception as exc:  # a listing reports a broken package instead of stopping
            item.error = f"cannot import {described.value}: {type(exc).__name__}: {exc}"
        report.installed.append(item)
    off: Iterable[str] = disabled_names()
    if app_dir is None:
        report.gate = resolve_truthy(EXTENSIONS_GATE, default=False)
    else:
        from .loader import load_app

        registry = Registry()
        app = load_app(app_dir, enabled=False, registry=registry)  # AppLoadError: caller reports
        try:
            report.gate = resolve_truthy(EXTENSIONS_GATE, default=False)  # with its settings
            off = registry.disabled
            infos = [function.loaded.info for function in app.functions]
            report.functions = [info.name for info in infos]
            report.registered = [
                _registered(entry, infos, report.installed, registry, str(app.root))
                for entry in registry.entries(include_superseded=True)
            ]
        finally:
            app.unload()
    report.disabled = sorted(off)
    for item in report.installed:
        item.disabled = InstalledExtension(item.name, item.source, None, None).matches(off)
    return report


def _load_entry_point(name: str) -> Any:
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == name:
            return entry_point.load()
    raise LookupError(name)  # pragma: no cover - listed a moment ago


def _registered(
    entry: Registration,
    infos: list[Any],
    installed: list[ExtensionListing],
    registry: Registry,
    root: str,
) -> ExtensionListing:
    cls = entry.extension if entry.scope == "app" else type(entry.extension)
    app_file = _app_file(cls, root)
    distribution, dist_version = (None, None) if app_file else _distribution_of(cls.__module__)
    class_path = f"{cls.__module__}:{cls.__qualname__}"
    origin = next(
        (item.entry_point for item in installed if item.source in (class_path, cls.__module__)),
        None,
    )
    return ExtensionListing(
        name=entry.name,
        scope=entry.scope,
        hooks=[name for name in HOOK_ARGS if name in entry.hooks],
        source=f"{app_file} ({cls.__qualname__})" if app_file else entry.source,
        distribution=distribution,
        version=dist_version,
        entry_point=origin,
        disabled=entry.name.lower() in registry.disabled,
        superseded_by=entry.superseded_by,
        functions=[info.name for info in infos if entry.binds_to(info)]
        if entry.scope == "function"
        else None,
    )


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def render_report(report: ExtensionsReport) -> str:
    """The human-readable listing."""
    lines = [f"Installed extensions (entry-point group {ENTRY_POINT_GROUP}):"]
    if not report.installed:
        lines.append("  none: install an extension package (pip install extkit-timer)")
    else:
        rows = [["NAME", "SCOPE", "DISTRIBUTION", "OBJECT", "STATE"]]
        rows += [
            [
                item.name,
                item.scope or "?",
                f"{item.distribution or '?'} {item.version or ''}".strip(),
                item.source,
                item.state,
            ]
            for item in report.installed
        ]
        lines += _table(rows)
        for item in report.installed:
            detail = f"error: {item.error}" if item.error else "hooks: " + ", ".join(item.hooks)
            lines.append(f"  {item.name}: {detail}")
    if report.registered is not None:
        gate = "on" if report.gate else "OFF (set PYTHON_ENABLE_WORKER_EXTENSIONS=1 to run hooks)"
        lines += ["", f"Registered in {report.app_dir} (extensions gate {gate}):"]
        lines.append(f"  functions: {', '.join(report.functions) or 'none'}")
        if not report.registered:
            lines.append("  no extensions registered")
        else:
            rows = [["EXTENSION", "SCOPE", "FROM", "STATE", "FUNCTIONS"]]
            rows += [
                [
                    item.name,
                    item.scope or "?",
                    f"{item.distribution} {item.version or ''}".strip()
                    if item.distribution
                    else item.source,
                    item.state,
                    "all" if item.functions is None else ", ".join(item.functions) or "none",
                ]
                for item in report.registered
            ]
            lines += _table(rows)
            for item in report.registered:
                lines.append(f"  {item.name}: hooks: {', '.join(item.hooks) or 'none'}")
    if report.disabled:
        lines += ["", f"Disabled by name: {', '.join(report.disabled)}"]
    return "\n".join(lines)


def command_extensions(args: argparse.Namespace) -> int:
    """``extkit extensions [APP_DIR] [--json]``. Exit status: 0; 1 when an installed extension
    cannot be imported; 3 when the app cannot be loaded."""
    from .loader import AppLoadError

    try:
        report = list_extensions(args.app_dir)
    except AppLoadError as exc:
        print(f"extkit extensions: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(render_report(report))
    return 1 if report.failed else 0
