"""Scaffolds for ``extkit new-extension`` and ``extkit new-app`` (:mod:`extkit.cli.new`): starting
points that build, lint and pass their own tests exactly as generated.

An extension package follows the layout of the bundled ones: ``src/`` layout, a ``pyproject.toml``
that declares the class in the ``extkit.extensions`` entry-point group (so ``extkit extensions``
and the host find it), a README for its users, and tests that use ``extkit.testing``. An app is
in the decorator model (``function_app.py``): ``host.json``, ``local.settings.json`` with the
extensions gate on, ``requirements.txt`` and one HTTP function, plus a test.

The templates are plain strings in this module; ``string.Template`` fills ``$names`` in them.
"""

from __future__ import annotations

import keyword
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Final, Literal

__all__ = [
    "ExtensionNames",
    "extension_names",
    "write_app",
    "write_extension",
]

_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*")


class ScaffoldError(ValueError):
    """A name or target folder a scaffold cannot use; the message says what was expected."""


@dataclass(frozen=True)
class ExtensionNames:
    """Every name a new extension package needs, derived from the one the author gave."""

    distribution: str  # extkit-stopwatch: what pip installs and requirements.txt lists
    package: str  # extkit_stopwatch: what code imports
    entry_point: str  # stopwatch: the name in the extkit.extensions group (and to disable it)
    class_name: str  # StopwatchExtension


def extension_names(name: str) -> ExtensionNames:
    """``"stopwatch"`` or ``"extkit-stopwatch"`` → distribution ``extkit-stopwatch``, package
    ``extkit_stopwatch``, entry point ``stopwatch``, class ``StopwatchExtension``.

    The ``extkit-`` prefix is added when missing, as ``pytest-`` is for pytest plugins, so
    extensions are easy to find on a package index and do not collide with other projects.
    """
    if not _NAME.fullmatch(name):
        raise ScaffoldError(
            f"extension name {name!r} is not usable: expected letters and digits, separated by "
            f"single '-', '_' or '.', starting with a letter (e.g. 'stopwatch' or 'extkit-auth')"
        )
    words = [word.lower() for word in re.split(r"[-_.]+", name)]
    if words[0] == "extkit":
        words = words[1:]
    if words and words[-1] == "extension":
        words = words[:-1]
    if not words:
        raise ScaffoldError(f"extension name {name!r} has no name after the 'extkit' prefix")
    short = "-".join(words)
    package = "extkit_" + "_".join(words)
    class_name = "".join(word.capitalize() for word in words) + "Extension"
    if keyword.iskeyword(package) or not package.isidentifier():  # pragma: no cover - by _NAME
        raise ScaffoldError(f"extension name {name!r} does not give a Python package name")
    return ExtensionNames(f"extkit-{short}", package, short, class_name)


def _target(path: Path) -> Path:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ScaffoldError(f"{path} already exists and is not an empty folder; choose another")
    return path


def _write(root: Path, files: Mapping[str, str], values: Mapping[str, str]) -> list[Path]:
    written = []
    for relative, template in files.items():
        target = root / Template(relative).substitute(values)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(template).substitute(values), encoding="utf-8")
        written.append(target)
    return written


def write_extension(
    name: str, *, scope: Literal["app", "function"] = "app", directory: str | os.PathLike[str] = "."
) -> Path:
    """Write a complete extension package into ``directory/<distribution>``; return that folder."""
    names = extension_names(name)
    root = _target(Path(directory) / names.distribution)
    from . import __version__

    values = {
        "distribution": names.distribution,
        "package": names.package,
        "entry_point": names.entry_point,
        "class_name": names.class_name,
        "title": names.entry_point.replace("-", " ").capitalize(),
        "extkit_requirement": _requirement(__version__),
        "scope": scope,
    }
    files = dict(_EXTENSION_FILES)
    files["src/$package/__init__.py"] = _APP_MODULE if scope == "app" else _FUNCTION_MODULE
    files["tests/test_$package.py"] = _APP_TESTS if scope == "app" else _FUNCTION_TESTS
    files["README.md"] = _README_APP if scope == "app" else _README_FUNCTION
    _write(root, files, values)
    return root


def write_app(path: str | os.PathLike[str] = ".") -> Path:
    """Write a runnable function app into ``path`` (an empty or new folder); return it."""
    from . import __version__

    root = _target(Path(path))
    _write(root, _APP_FILES, {"extkit_requirement": _requirement(__version__)})
    return root


def _requirement(current: str) -> str:
    """``extkit>=X.Y``: the running extkit's minor version, so scaffolds get the API they use."""
    match = re.match(r"(\d+)\.(\d+)", current)
    return f"extkit>={match.group(1)}.{match.group(2)}" if match else "extkit"


# --- extension package templates ----------------------------------------------------------------

_PYPROJECT: Final = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"
description = "An extkit extension: $title."
readme = { file = "README.md", content-type = "text/markdown" }
requires-python = ">=3.10"
license = "MIT"
dependencies = ["$extkit_requirement"]
classifiers = [
    "Programming Language :: Python :: 3",
    "Typing :: Typed",
]

[project.optional-dependencies]
test = ["pytest>=8"]

# How extkit finds this extension: the host imports it at startup, `extkit extensions` lists it,
# and an app owner can switch it off with EXTKIT_DISABLED_EXTENSIONS=$entry_point.
[project.entry-points."extkit.extensions"]
$entry_point = "$package:$class_name"

[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
$package = ["py.typed"]

[tool.pytest.ini_options]
addopts = ["--strict-markers", "--strict-config"]
testpaths = ["tests"]
filterwarnings = ["error"]

[tool.ruff]
line-length = 100
src = ["src"]

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP", "N", "SIM", "RUF"]
"""

_GITIGNORE: Final = """\
__pycache__/
*.egg-info/
build/
dist/
.venv/
"""

_EXTENSION_FILES: Final = {
    "pyproject.toml": _PYPROJECT,
    "src/$package/py.typed": "",
    ".gitignore": _GITIGNORE,
}

_APP_MODULE: Final = '''\
"""$title: an extkit app-level extension.

It runs around every invocation of every function of an app and logs how each one went. Change
the hooks to do your extension's work; every hook and its arguments are listed in
``extkit.hookspecs``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from extkit import AppExtensionBase, Context

__all__ = ["$class_name"]


class $class_name(AppExtensionBase):
    """Logs the function, outcome and duration of each invocation.

    The lines go to the logger ``extkit.extensions.$class_name``, which the app owner sees.

    An app owner turns it on by installing the package and configuring it in function code::

        from $package import $class_name

        $class_name.configure(level=logging.INFO)

    Per-invocation data lives on ``context.state[cls]``, which goes away with the invocation, so
    concurrent invocations never see each other's values and nothing leaks when one fails.
    """

    level: int = logging.INFO

    @classmethod
    def init(cls) -> None:
        """Runs once, when the package is imported: set class-level defaults."""
        cls.level = logging.INFO

    @classmethod
    def configure(cls, *, level: int = logging.INFO) -> None:
        """Options for the app owner; an unknown option raises ``TypeError`` naming ``level``.

        ``level``: the log level of the line written after each invocation.
        """
        cls.level = level

    @classmethod
    def pre_invocation_app_level(
        cls, logger: logging.Logger, context: Context, func_args: dict[str, Any]
    ) -> None:
        """Before every invocation (after any extension registered before this one)."""
        context.state[cls].started = time.monotonic()

    @classmethod
    def post_invocation_app_level(
        cls,
        logger: logging.Logger,
        context: Context,
        func_args: dict[str, Any],
        func_ret: Any,
        func_exc: BaseException | None,
    ) -> None:
        """After every invocation, also a failed one: then ``func_exc`` is the exception."""
        elapsed = time.monotonic() - context.state[cls].started
        outcome = "succeeded" if func_exc is None else f"failed ({type(func_exc).__name__})"
        logger.log(cls.level, "%s %s in %.6f s", context.function_name, outcome, elapsed)
'''

_FUNCTION_MODULE: Final = '''\
"""$title: an extkit function-level extension.

It runs around the invocations of the functions it is bound to and logs how each one went.
Change the hooks to do your extension's work; every hook and its arguments are listed in
``extkit.hookspecs``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from typing import Any

from extkit import Context, FuncExtensionBase

__all__ = ["$class_name"]


class $class_name(FuncExtensionBase):
    """Logs the outcome and duration of each invocation of the functions it is bound to.

    The lines go to the logger ``extkit.extensions.$class_name``, which the app owner sees.

    Create one in function code, bound either to the code it sits in or to functions by name::

        from $package import $class_name

        timing = $class_name(__file__)  # this function's folder / the functions in this file
        timing = $class_name(functions=["HttpTrigger"], level=logging.DEBUG)

    Per-invocation data lives on ``context.state[self]``, never on the instance, which all
    concurrent invocations of the function share.
    """

    def __init__(
        self,
        file_path: str | os.PathLike[str] | None = None,
        *,
        functions: str | Iterable[str] | None = None,
        level: int = logging.INFO,
    ) -> None:
        super().__init__(file_path, functions=functions)
        self.level = level
        self.functions_seen: tuple[str, ...] = ()

    def post_function_load(self, function_name: str, function_directory: str) -> None:
        """Once per bound function, after it is loaded and before its first invocation."""
        self.functions_seen += (function_name,)

    def pre_invocation(
        self, logger: logging.Logger, context: Context, func_args: dict[str, Any]
    ) -> None:
        """Before every invocation of a bound function (after the app-level pre hooks)."""
        context.state[self].started = time.monotonic()

    def post_invocation(
        self,
        logger: logging.Logger,
        context: Context,
        func_args: dict[str, Any],
        func_ret: Any,
        func_exc: BaseException | None,
    ) -> None:
        """After every invocation of a bound function, also a failed one (``func_exc``)."""
        elapsed = time.monotonic() - context.state[self].started
        outcome = "succeeded" if func_exc is None else f"failed ({type(func_exc).__name__})"
        logger.log(self.level, "%s %s in %.6f s", context.function_name, outcome, elapsed)
'''

_APP_TESTS: Final = '''\
"""$class_name, tested the way the extkit host runs it (fixtures from ``extkit.testing``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from extkit import Engine, HttpRequest, HttpResponse
from extkit.testing import RecordingRegistry, invoke, make_http_request

from $package import $class_name


def greet(req: HttpRequest) -> HttpResponse:
    return HttpResponse(f"Hello, {req.params.get('name', 'world')}")


def fail(req: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


@pytest.fixture(autouse=True)
def registered(extkit_registry: RecordingRegistry) -> Iterator[None]:
    """Register the extension in this test's fresh registry, with default options."""
    extkit_registry.add($class_name)
    $class_name.configure()
    yield
    $class_name.configure()


def test_hooks_run_around_the_function(extkit_engine: Engine) -> None:
    outcome = invoke(
        extkit_engine.load(greet), {"req": make_http_request("GET", "/api/greet?name=Ada")}
    )
    assert outcome.result.get_body() == b"Hello, Ada"
    assert outcome.hook_names() == [
        "$class_name.pre_invocation_app_level",
        "$class_name.post_invocation_app_level",
    ]
    (line,) = outcome.logs
    assert line["logger"] == "extkit.extensions.$class_name"
    assert line["event"].startswith("greet succeeded in ")
    assert line["invocation_id"] == outcome.invocation_id


def test_failed_invocations_are_logged_too(extkit_engine: Engine) -> None:
    outcome = invoke(extkit_engine.load(fail), {"req": make_http_request()})
    assert isinstance(outcome.error, RuntimeError)
    assert outcome.messages()[0].startswith("fail failed (RuntimeError) in ")


def test_configure_sets_the_level(extkit_engine: Engine) -> None:
    $class_name.configure(level=logging.DEBUG)
    outcome = invoke(extkit_engine.load(greet), {"req": make_http_request()})
    assert [line["level"] for line in outcome.logs] == ["debug"]


def test_configure_rejects_unknown_options() -> None:
    with pytest.raises(TypeError, match="accepted: level"):
        $class_name.configure(colour="red")  # type: ignore[call-arg]
'''

_FUNCTION_TESTS: Final = '''\
"""$class_name, tested the way the extkit host runs it (fixtures from ``extkit.testing``)."""

from __future__ import annotations

import logging

from extkit import Engine, HttpRequest, HttpResponse
from extkit.testing import invoke, make_http_request

from $package import $class_name


def greet(req: HttpRequest) -> HttpResponse:
    return HttpResponse(f"Hello, {req.params.get('name', 'world')}")


def other(req: HttpRequest) -> HttpResponse:
    return HttpResponse("not timed")


def test_hooks_run_for_the_bound_function_only(extkit_engine: Engine) -> None:
    extension = $class_name(functions=["greet"])
    bound = extkit_engine.load(greet)
    unbound = extkit_engine.load(other)
    assert extension.functions_seen == ("greet",)

    outcome = invoke(bound, {"req": make_http_request("GET", "/api/greet?name=Ada")})
    assert outcome.result.get_body() == b"Hello, Ada"
    assert outcome.hook_names() == [
        "$class_name.pre_invocation",
        "$class_name.post_invocation",
    ]
    (line,) = outcome.logs
    assert line["event"].startswith("greet succeeded in ")
    assert line["invocation_id"] == outcome.invocation_id

    assert invoke(unbound, {"req": make_http_request()}).hook_names() == []


def test_binding_by_file_covers_the_functions_defined_there(extkit_engine: Engine) -> None:
    $class_name(__file__, level=logging.DEBUG)
    outcome = invoke(extkit_engine.load(greet), {"req": make_http_request()})
    assert [line["level"] for line in outcome.logs] == ["debug"]
'''

#: The README's install and development notes, shared by both scopes. Its one link is to a file of
#: the package itself, so it holds wherever the package is published or copied.
_README_INSTALL: Final = """\
## Install

It depends on `$extkit_requirement`. Until extkit is on a package index, set `PIP_FIND_LINKS` to a
folder that holds extkit's wheel before running pip (extkit's documentation, "Before extkit is
on a package index", shows how to build it); then these commands work as written.

## Use it in an app

Add it to the app's `requirements.txt` and install that
(`python -m pip install -r requirements.txt`):

    $distribution

Until it is on a package index too, list the path of its wheel instead (`python -m build` writes
it into `dist/`).
"""

_README_DEVELOP: Final = """\
## Develop it

The hooks are in [`src/$package/__init__.py`](src/$package/__init__.py), its tests in
[`tests/test_$package.py`](tests/test_$package.py).

    python -m pip install -e ".[test]" build
    python -m pytest
    python -m build
"""

_README_APP: Final = (
    """\
# $distribution

An extkit app-level extension: it logs the function, outcome and duration of every invocation of
every function in an app, on the logger `extkit.extensions.$class_name`.

"""
    + _README_INSTALL
    + """
Configure it in function code (optional; `level` is the only option):

```python
import logging

from $package import $class_name

$class_name.configure(level=logging.INFO)
```

Hooks run when the app's `local.settings.json` (or the environment) sets
`PYTHON_ENABLE_WORKER_EXTENSIONS=1`. `extkit extensions APP_DIR` shows it once installed;
`EXTKIT_DISABLED_EXTENSIONS=$entry_point` switches it off without uninstalling it.

"""
    + _README_DEVELOP
)

_README_FUNCTION: Final = (
    """\
# $distribution

An extkit function-level extension: it logs the outcome and duration of the functions it is
bound to, on the logger `extkit.extensions.$class_name`.

"""
    + _README_INSTALL
    + """
Bind it in function code, to the function whose code creates it or to functions by name:

```python
from $package import $class_name

timing = $class_name(__file__)
```

Hooks run when the app's `local.settings.json` (or the environment) sets
`PYTHON_ENABLE_WORKER_EXTENSIONS=1`. `extkit extensions APP_DIR` shows which functions it is
bound to; `EXTKIT_DISABLED_EXTENSIONS=$class_name` switches it off without uninstalling it.

"""
    + _README_DEVELOP
)

# --- app templates ---------------------------------------------------------------------------

_HOST_JSON: Final = """\
{
  "version": "2.0",
  "extensions": {
    "http": {
      "routePrefix": "api"
    }
  }
}
"""

_LOCAL_SETTINGS: Final = """\
{
  "IsEncrypted": false,
  "Values": {
    "PYTHON_ENABLE_WORKER_EXTENSIONS": "1"
  }
}
"""

_REQUIREMENTS: Final = """\
# The app's packages, one per line; extensions too (e.g. extkit-timer).
# Until extkit is on a package index, pip finds its wheel in the folder PIP_FIND_LINKS names,
# or in one named by a line here such as: --find-links ../wheels (relative to this file).
$extkit_requirement
"""

_FUNCTION_APP: Final = '''\
"""The app's functions, declared with decorators (the decorator model: this file is the app).

GET /api/HttpTrigger?name=Ada (or POST {"name": "Ada"}) answers "Hello, Ada!".
"""

from __future__ import annotations

import logging

from extkit import FunctionApp, HttpRequest, HttpResponse

# Extensions are configured here, in function code, for example:
#     from extkit_timer import TimerExtension
#     TimerExtension.configure(append_to_http_response=True)

app = FunctionApp(http_auth_level="anonymous")
logger = logging.getLogger(__name__)


@app.function_name("HttpTrigger")
@app.route(route="HttpTrigger", methods=["GET", "POST"])
def http_trigger(req: HttpRequest) -> HttpResponse:
    logger.info("HttpTrigger received a %s request", req.method)
    name = req.params.get("name")
    if not name and req.get_body():
        try:
            name = req.get_json().get("name")
        except (ValueError, AttributeError):
            name = None
    if not name:
        message = "Pass a name in the query string or in a JSON body."
        return HttpResponse(message, status_code=400)
    return HttpResponse(f"Hello, {name}!")
'''

_APP_TEST: Final = '''\
"""The app's functions, invoked in-process the way the host runs them (``extkit.testing``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from extkit.testing import AppUnderTest, make_http_request

APP_DIR = Path(__file__).resolve().parent.parent


def test_greets_by_name(extkit_app: Callable[..., AppUnderTest]) -> None:
    app = extkit_app(APP_DIR)
    request = make_http_request("GET", "/api/HttpTrigger?name=Ada")
    outcome = app.invoke("HttpTrigger", request)
    assert outcome.response is not None
    assert outcome.response.status_code == 200
    assert outcome.response.get_body().startswith(b"Hello, Ada!")
    assert "HttpTrigger received a GET request" in outcome.messages()


def test_asks_for_a_name(extkit_app: Callable[..., AppUnderTest]) -> None:
    app = extkit_app(APP_DIR)
    outcome = app.invoke("HttpTrigger", make_http_request("POST", "/api/HttpTrigger"))
    assert outcome.response is not None
    assert outcome.response.status_code == 400
'''

_APP_FILES: Final = {
    "host.json": _HOST_JSON,
    "local.settings.json": _LOCAL_SETTINGS,
    "requirements.txt": _REQUIREMENTS,
    "function_app.py": _FUNCTION_APP,
    "tests/test_http_trigger.py": _APP_TEST,
    ".gitignore": _GITIGNORE,
}
