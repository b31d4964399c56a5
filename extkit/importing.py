"""Importing an app's code, and undoing it: ``sys.path``, ``sys.modules`` and the environment.

The app root becomes importable three ways: ``from shared_code import x``, the legacy
``from __app__.shared_code import x``, and relative imports inside a function folder (each folder
is imported as the package ``__app__.<Folder>``).

Loading the same app twice, or two apps with the same module names (``shared_code``,
``HttpTrigger``) in one process, must not hand out stale modules. Before importing, every module
that came from an app folder loaded before in this process is forgotten (those roots are
remembered), plus the whole ``__app__`` package; an app's code is therefore always imported
fresh, so its function-level extensions register into the registry of *this* load. Modules from
anywhere else (the standard library, site-packages) are never touched, also when the packages
live inside the app folder (its own ``.venv``, Azure's ``.python_packages``): forgetting extkit
itself would leave the app with a second, different ``FunctionApp`` class. :class:`ProcessChanges`
records what a load changed, so a failed load (or ``LoadedApp.unload``) puts it back.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ._app_files import shown

__all__ = [
    "APP_PACKAGE",
    "ProcessChanges",
    "app_module_name",
    "import_app_module",
    "import_traceback",
]

#: The package name the app root is importable as, besides plain top-level imports.
APP_PACKAGE: Final = "__app__"

#: App roots loaded in this process: modules imported from them are forgotten before a new load.
_loaded_roots: set[Path] = set()


@dataclass
class ProcessChanges:
    """What a load changed in the process, so a failed load (or ``unload``) can put it back."""

    root: Path | None = None
    sys_path: str | None = None
    environ: dict[str, str | None] = field(default_factory=dict)

    def set_env(self, name: str, value: str) -> None:
        if name not in self.environ:
            self.environ[name] = os.environ.get(name)
        os.environ[name] = value

    def make_importable(self, root: Path) -> None:
        """Forget modules of apps loaded before, put ``root`` on ``sys.path``, install
        ``__app__``."""
        _forget_modules(_loaded_roots | {root})
        _loaded_roots.add(root)
        self.root = root
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
            self.sys_path = str(root)
        _install_app_package(root)

    def undo(self) -> None:
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


#: Folders whose modules are installed packages, never an app's code, wherever they are.
_PACKAGE_FOLDERS: Final = frozenset({"site-packages", "dist-packages"})


def _is_app_code(path: str, prefixes: tuple[str, ...]) -> bool:
    normalised = os.path.normcase(os.path.abspath(path))
    if not normalised.startswith(prefixes):
        return False
    return _PACKAGE_FOLDERS.isdisjoint(Path(normalised).parts)


def _forget_modules(roots: set[Path]) -> None:
    """Drop ``__app__`` and every module imported from one of ``roots`` from ``sys.modules``
    (installed packages inside a root stay)."""
    prefixes = tuple(os.path.normcase(os.path.join(root, "")) for root in roots)
    for name, module in list(sys.modules.items()):
        in_package = name == APP_PACKAGE or name.startswith(APP_PACKAGE + ".")
        if in_package or (
            module is not None
            and any(_is_app_code(path, prefixes) for path in _module_paths(module))
        ):
            del sys.modules[name]
    importlib.invalidate_caches()


def _install_app_package(root: Path) -> None:
    """Make ``__app__`` the app root, so ``from __app__.shared_code import x`` works."""
    spec = importlib.machinery.ModuleSpec(APP_PACKAGE, None, is_package=True)
    spec.submodule_search_locations = [str(root)]
    package = importlib.util.module_from_spec(spec)
    sys.modules[APP_PACKAGE] = package


def app_module_name(root: Path, script: Path) -> str:
    """``__app__.<Folder>`` for ``<Folder>/__init__.py``, ``__app__.<Folder>.<mod>`` otherwise."""
    parts = list(script.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([APP_PACKAGE, *parts])


def import_app_module(module_name: str, path: Path, problems: list[str]) -> types.ModuleType | None:
    """Import ``module_name``; on failure add its traceback (without loader frames) as a problem."""
    try:
        return importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        from .azure._app import missing_library

        missing = missing_library(exc)
        raised = missing or f"importing it raised {import_traceback(exc)}"
        problems.append(f"{shown(path)}: {raised}")
        return None


def import_traceback(exc: BaseException, *, hide: tuple[str, ...] = ()) -> str:
    """The traceback of an import failure, showing the app's frames, not the loader's or
    importlib's; ``hide``: further files whose frames are the loader's (the caller's own)."""
    hidden = (
        os.path.abspath(__file__),
        os.path.dirname(os.path.abspath(importlib.__file__)),
        *(os.path.abspath(path) for path in hide),
    )
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not os.path.abspath(frame.filename).startswith(hidden)
        and not frame.filename.startswith("<frozen")
    ]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines).rstrip()
