"""Which extensions are registered: de-duplication on re-import and re-creation, scoping, reset."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import extkit
from extkit import (
    AppExtensionBase,
    Engine,
    FuncExtensionBase,
    Registry,
    current_registry,
    isolated_registry,
    reset_registry,
)
from extkit._types import FunctionInfo

pytestmark = pytest.mark.usefixtures("no_invocation_outlives_the_test")

EXTENSION_MODULE = """
import extkit

CALLS = []


class Reloaded(extkit.AppExtensionBase):
    @classmethod
    def init(cls):
        CALLS.append("init")

    @classmethod
    def pre_invocation_app_level(cls):
        CALLS.append("pre")


class PerFunction(extkit.FuncExtensionBase):
    def pre_invocation(self):
        CALLS.append("func pre")


per_function = PerFunction(functions=["work"])
"""


@pytest.fixture
def extension_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of an importable module, written to a temporary folder, that defines extensions."""
    name = f"extkit_reload_{abs(hash(tmp_path))}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(EXTENSION_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_reimporting_a_module_replaces_its_extensions_instead_of_duplicating_them(
    extkit_registry: Registry, extkit_engine: Engine, extension_module: str
) -> None:
    module: ModuleType = importlib.import_module(extension_module)
    before = [entry.key for entry in extkit_registry.entries()]
    module = importlib.reload(module)
    module = importlib.reload(module)
    assert [entry.key for entry in extkit_registry.entries()] == before
    assert len(extkit_registry) == 2
    assert extkit_registry.entries()[0].extension is module.Reloaded  # the newest class
    extkit_engine.load(lambda: None, name="work").invoke()
    assert module.CALLS == ["init", "pre", "func pre"]


def test_creating_the_same_function_extension_twice_does_not_duplicate_it(
    extkit_registry: Registry, extkit_engine: Engine
) -> None:
    calls: list[str] = []

    class Once(FuncExtensionBase):
        def pre_invocation(self) -> None:
            calls.append("pre")

    first = Once(functions=["work"])
    second = Once(functions=["work"])
    assert [entry.extension for entry in extkit_registry.entries()] == [second]
    Once(functions=["other"])  # a different binding is a different registration
    assert len(extkit_registry) == 2
    extkit_engine.load(lambda: None, name="work").invoke()
    assert calls == ["pre"]
    assert first is not second


def test_isolated_registry_scopes_registrations_to_the_block() -> None:
    outer = current_registry()
    outer_size = len(outer)
    with isolated_registry() as scoped:
        assert current_registry() is scoped

        class Scoped(AppExtensionBase):
            pass

        with isolated_registry() as inner:
            assert current_registry() is inner

            class Inner(AppExtensionBase):
                pass

        assert current_registry() is scoped
        assert [entry.extension for entry in scoped.entries()] == [Scoped]
        assert [entry.extension for entry in inner.entries()] == [Inner]
    assert current_registry() is outer
    assert len(outer) == outer_size


def test_isolated_registry_can_scope_a_given_registry() -> None:
    mine = Registry()
    with isolated_registry(mine) as scoped:

        class Mine(AppExtensionBase):
            pass

    assert scoped is mine
    assert [entry.extension for entry in mine.entries()] == [Mine]


def test_reset_registry_replaces_the_default_with_an_empty_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(extkit.registry, "_default", Registry())  # restored after the test

    class Registered(AppExtensionBase):
        pass

    assert [entry.extension for entry in current_registry().entries()] == [Registered]
    fresh = reset_registry()
    assert current_registry() is fresh
    assert len(fresh) == 0
    assert Engine(enabled=True).registry is fresh


def test_registration_changes_bump_the_version(extkit_registry: Registry) -> None:
    start = extkit_registry.version

    class Versioned(AppExtensionBase):
        pass

    assert extkit_registry.version > start
    after_register = extkit_registry.version
    assert extkit_registry.unregister(Versioned) is True
    assert extkit_registry.version > after_register
    assert extkit_registry.unregister(Versioned) is False
    assert len(extkit_registry) == 0


def test_an_unregistered_extension_stops_running(
    extkit_registry: Registry, extkit_engine: Engine
) -> None:
    calls: list[str] = []

    class Removable(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append("pre")

    loaded = extkit_engine.load(lambda: None, name="work")
    loaded.invoke()
    extkit_registry.unregister(Removable)
    loaded.invoke()
    assert calls == ["pre"]


def test_a_disabled_extension_stays_listed_but_does_not_run(
    extkit_registry: Registry, extkit_engine: Engine
) -> None:
    calls: list[str] = []

    class Noisy(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append("Noisy")

    class Quiet(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls) -> None:
            calls.append("Quiet")

    loaded = extkit_engine.load(lambda: None, name="work")
    extkit_registry.disable("noisy")
    loaded.invoke()
    assert calls == ["Quiet"]
    assert [entry.name for entry in extkit_registry.entries(include_superseded=True)] == [
        "Noisy",
        "Quiet",
    ]


def test_for_function_lists_app_extensions_first_then_the_bound_function_extensions(
    extkit_registry: Registry,
) -> None:
    class Bound(FuncExtensionBase):
        def pre_invocation(self) -> None:
            pass

    bound = Bound(functions=["work"])
    Bound(functions=["other"])

    class App(AppExtensionBase):
        pass

    found = extkit_registry.for_function(FunctionInfo(name="work"))
    assert [entry.extension for entry in found] == [App, bound]
    assert [entry.scope for entry in found] == ["app", "function"]
