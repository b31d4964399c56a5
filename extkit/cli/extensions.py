"""``extkit extensions [APP_DIR] [--json]``: installed and registered extensions.

What is installed (the ``extkit.extensions`` entry points) and, for an app, what is registered
once its code is imported: scope, hooks, distribution and version, and the functions each
function-level extension is bound to. The app is loaded with the extensions gate off, so no hook
runs.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from importlib.metadata import packages_distributions, version
from typing import Any

from .._settings import EXTENSIONS_GATE, SettingWarning, gate_hint, resolve_truthy
from .._types import FunctionInfo
from ..discovery import (
    ENTRY_POINT_GROUP,
    InstalledExtension,
    disabled_names,
    installed_extensions,
    load_entry_point,
)
from ..extension import AppExtensionBase, FuncExtensionBase
from ..hookspecs import APP_HOOKS, FUNC_HOOKS, HOOK_ARGS
from ..loader import AppLoadError, load_app
from ..registry import Registration, Registry, isolated_registry
from .exit_codes import CommandError, ExitCode

__all__ = [
    "ExtensionListing",
    "ExtensionsReport",
    "command_extensions",
    "hooks_of",
    "list_extensions",
    "render_report",
]


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
    #: With the gate off: how to turn it on, true to where its value comes from.
    gate_hint: str = ""
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


def hooks_of(obj: Any) -> tuple[str | None, list[str]]:
    """Scope and implemented hooks (in lifecycle order) of an extension class or instance."""
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
                obj = load_entry_point(described.name)
            item.scope, item.hooks = hooks_of(obj)
            if item.scope is None:
                item.error = f"{described.value} is not an AppExtensionBase/FuncExtensionBase class"
        except Exception as exc:  # a listing reports a broken package instead of stopping
            item.error = f"cannot import {described.value}: {type(exc).__name__}: {exc}"
        report.installed.append(item)
    off: Iterable[str] = disabled_names()
    if app_dir is None:
        report.gate = resolve_truthy(EXTENSIONS_GATE, default=False)
    else:
        registry = Registry()
        from_environment = EXTENSIONS_GATE in os.environ  # before local.settings.json applies
        app = load_app(app_dir, enabled=False, registry=registry)  # AppLoadError: caller reports
        try:
            report.gate = resolve_truthy(EXTENSIONS_GATE, default=False)  # with its settings
            report.gate_hint = gate_hint(
                os.environ.get(EXTENSIONS_GATE), from_environment=from_environment
            )
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


def _registered(
    entry: Registration,
    infos: list[FunctionInfo],
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
        disabled=registry.is_disabled(entry),
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
        gate = "on" if report.gate else f"OFF: {report.gate_hint}"
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


def _show(caught: list[warnings.WarningMessage]) -> None:
    """A setting extkit does not understand as one line; other warnings as Python shows them."""
    for warning in caught:
        if issubclass(warning.category, SettingWarning):
            print(f"extkit extensions: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def command_extensions(args: argparse.Namespace) -> int:
    """``extkit extensions [APP_DIR] [--json]``. Exit status (:class:`.ExitCode`): ``OK``;
    ``FAILED`` when an installed extension cannot be imported; ``APP_NOT_LOADED``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SettingWarning)
        try:
            report = list_extensions(args.app_dir)
        except AppLoadError as exc:
            raise CommandError(str(exc), ExitCode.APP_NOT_LOADED) from None
        finally:
            _show(caught)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(render_report(report))
    return ExitCode.FAILED if report.failed else ExitCode.OK
