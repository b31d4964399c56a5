"""Apps built in process for the host's in-process tests, without a folder to load."""

from __future__ import annotations

from pathlib import Path

from extkit import Engine
from extkit.app import FunctionSpec
from extkit.loader import AppFunction, HostSettings, LoadedApp


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
