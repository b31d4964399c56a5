"""Apps for tests: built in process without a folder to load, or written as a folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from extkit import Engine
from extkit.app import FunctionSpec
from extkit.loader import AppFunction, HostSettings, LoadedApp


def write_app(root: Path, files: dict[str, str | dict[str, Any]]) -> Path:
    """Write ``files`` (relative path -> text, or a JSON object) into the app folder ``root``."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return root


def one_function_app(engine: Engine, spec: FunctionSpec, root: Path) -> LoadedApp:
    """The ``LoadedApp`` the loader would make of an app with the one function ``spec``."""
    loaded = engine.load(spec.func, name=spec.name, trigger=spec.trigger)
    return LoadedApp(
        root=root,
        settings=HostSettings(),
        functions=[AppFunction(spec, loaded)],
        engine=engine,
        extensions_loaded=[],
        warnings=[],
    )
