"""extkit and its bundled extensions use their dependencies through public API only.

A private name of a dependency (an underscore-prefixed module, class or attribute, an ``_internal``
module) can change in any release: one rename would stop a user's host from starting. This walks the
product sources and fails on every such use it can see statically.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OWN = {"extkit", "extkit_timer", "extkit_tracing"}


def _product_files() -> list[Path]:
    files = sorted((ROOT / "extkit").rglob("*.py"))
    files += sorted(ROOT.glob("extensions/*/src/**/*.py"))
    return files


def _third_party(module: str) -> bool:
    top = module.split(".")[0]
    return top not in OWN and top not in sys.stdlib_module_names


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str) -> list[str]:
    """Every private name of a third-party package that ``source`` imports or reads."""
    tree = ast.parse(source)
    found: list[str] = []
    third_party_names: set[str] = set()  # local names bound to third-party modules or objects
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _third_party(alias.name):
                    continue
                if any(_private(part) for part in alias.name.split(".")):
                    found.append(f"line {node.lineno}: import {alias.name}")
                third_party_names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not _third_party(node.module):
                continue
            parts = node.module.split(".")
            for alias in node.names:
                if any(_private(part) for part in parts) or _private(alias.name):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
                third_party_names.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and _root_name(node.value) in third_party_names
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


@pytest.mark.parametrize("path", _product_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_names_of_dependencies(path: Path) -> None:
    assert private_uses(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "from opentelemetry.sdk.trace import _Span",
        "from opentelemetry.sdk.metrics._internal import aggregation",
        "import opentelemetry.sdk._logs",
        "import pluggy\npluggy._hooks",
        "from opentelemetry.sdk import trace\ntrace.Tracer._span_limits",
    ],
)
def test_the_check_sees_each_kind_of_private_use(source: str) -> None:
    assert private_uses(source) != []


def test_own_and_standard_library_private_names_are_allowed() -> None:
    source = "import os\nos._exit\nfrom extkit._types import FunctionInfo\nfrom . import _x\n"
    assert private_uses(source) == []


def private_imports_between_modules(path: Path) -> list[str]:
    """Every private name (not a module) that the product module at ``path`` imports from another
    of the project's modules: each module's private names are its own to change."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or (not node.module and not node.level):
            continue
        if node.level == 0 and (node.module or "").split(".")[0] not in OWN:
            continue
        package = path.parent
        for _ in range(max(node.level - 1, 0)):
            package = package.parent
        source = package.joinpath(*(node.module or "").split(".")) if node.level else None
        for alias in node.names:
            if not _private(alias.name):
                continue
            if source is not None and (
                (source / f"{alias.name}.py").exists() or (source / alias.name).is_dir()
            ):
                continue  # a private module of the package, imported as a module
            found.append(
                f"line {node.lineno}: from {'.' * node.level}{node.module or ''} "
                f"import {alias.name}"
            )
    return found


@pytest.mark.parametrize("path", _product_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_another_modules_private_names(path: Path) -> None:
    assert private_imports_between_modules(path) == []


def test_the_check_sees_a_private_name_imported_from_a_sibling(tmp_path: Path) -> None:
    module = tmp_path / "extkit" / "user.py"
    module.parent.mkdir()
    (module.parent / "_private_module.py").write_text("")
    module.write_text(
        "from .http import _to_bytes\nfrom . import _private_module\nfrom .http import Headers\n"
    )
    assert private_imports_between_modules(module) == ["line 1: from .http import _to_bytes"]
