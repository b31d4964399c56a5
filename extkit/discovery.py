"""Installed extension packages: found through the ``extkit.extensions`` entry-point group.

An extension package declares itself in its ``pyproject.toml``::

    [project.entry-points."extkit.extensions"]
    timer = "extkit_timer:TimerExtension"

The host imports every installed extension at startup (so listing a package in
``requirements.txt`` is enough), except the ones the app owner disabled by entry-point name or
class name, in code, or with ``EXTKIT_DISABLED_EXTENSIONS=timer,OtherExtension``.

``extkit extensions [APP_DIR]`` (:mod:`extkit.cli.extensions`) lists what is installed and, for an
app, what is registered once its code is imported.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final

from ._spelling import did_you_mean
from .registry import Registry, current_registry, isolated_registry

__all__ = [
    "DISABLED_EXTENSIONS_ENV",
    "ENTRY_POINT_GROUP",
    "InstalledExtension",
    "disabled_names",
    "disabled_names_unmatched",
    "installed_extensions",
    "load_entry_point",
    "load_installed",
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

    @property
    def package(self) -> str:
        """The top-level package the entry point imports."""
        return self.value.partition(":")[0].strip().partition(".")[0]

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


def disabled_names_unmatched(
    disabled: Iterable[str], registered: Iterable[str], source: str
) -> list[str]:
    """A warning for each disabled name (from ``source``) that matches neither an installed
    extension nor a ``registered`` one: a typo there would silently disable nothing."""
    installed = installed_extensions()
    known = [*(item.name for item in installed), *(item.class_name for item in installed)]
    known += registered
    folded = {name.lower() for name in known}
    listed = ", ".join(f"{item.name} ({item.class_name})" for item in installed) or "none"
    return [
        f"{source} names {name!r}{did_you_mean(name, known)}, which matches no installed or "
        f"registered extension, so it disables nothing (installed: {listed})"
        for name in sorted(disabled)
        if name.lower() not in folded
    ]


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
            target.disable_installed(described.package, described.class_name)
            continue
        with isolated_registry(target):  # register into ``target`` even if it is not current
            obj = entry_point.load()
        ensure_registered(target, obj)
        loaded.append((described, obj))
    return loaded


def ensure_registered(registry: Registry, obj: Any) -> None:
    """Register an app extension class that an earlier import registered elsewhere.

    A class registers itself when its module is first imported; a second registry (a test's, or
    a second app loaded in the same process) would otherwise never see it.
    """
    from .extension import is_concrete_app_extension

    if not is_concrete_app_extension(obj):
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


def load_entry_point(name: str) -> Any:
    """Import the object the installed extension ``name`` names (``LookupError`` if none)."""
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == name:
            return entry_point.load()
    raise LookupError(name)  # pragma: no cover - listed a moment ago
