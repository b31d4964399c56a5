"""``extkit new-extension`` and ``extkit new-app``: what they write lints and passes its own tests.

The generated tests run in a subprocess with this environment's extkit, as an author runs them
after ``pip install -e .``; building and installing for real is in ``test_author_journey.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostutil import host_environment

from extkit.cli import main
from extkit.scaffold import ScaffoldError, extension_names, write_app, write_extension


def _run(args: list[str], cwd: Path, *, pythonpath: Path | None = None) -> str:
    env = host_environment()
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _ruff_is_clean(folder: Path) -> None:
    _run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], folder)
    _run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], folder)


@pytest.mark.parametrize(
    ("given", "distribution", "package", "entry_point", "class_name"),
    [
        ("stopwatch", "extkit-stopwatch", "extkit_stopwatch", "stopwatch", "StopwatchExtension"),
        ("extkit-auth", "extkit-auth", "extkit_auth", "auth", "AuthExtension"),
        (
            "Request_ID",
            "extkit-request-id",
            "extkit_request_id",
            "request-id",
            "RequestIdExtension",
        ),
        ("cache.extension", "extkit-cache", "extkit_cache", "cache", "CacheExtension"),
    ],
)
def test_names_are_derived_from_the_one_given(
    given: str, distribution: str, package: str, entry_point: str, class_name: str
) -> None:
    names = extension_names(given)
    assert (names.distribution, names.package, names.entry_point, names.class_name) == (
        distribution,
        package,
        entry_point,
        class_name,
    )


@pytest.mark.parametrize("bad", ["9lives", "two--dashes", "spaces here", "", "extkit", "-x"])
def test_unusable_names_are_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(ScaffoldError, match="extension name"):
        extension_names(bad)


def test_app_extension_package_is_complete(tmp_path: Path) -> None:
    root = write_extension("stopwatch", directory=tmp_path)
    assert root == tmp_path / "extkit-stopwatch"
    files = sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "pyproject.toml",
        "src/extkit_stopwatch/__init__.py",
        "src/extkit_stopwatch/py.typed",
        "tests/test_extkit_stopwatch.py",
    ]
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points."extkit.extensions"]' in pyproject
    assert 'stopwatch = "extkit_stopwatch:StopwatchExtension"' in pyproject
    assert 'name = "extkit-stopwatch"' in pyproject
    module = (root / "src" / "extkit_stopwatch" / "__init__.py").read_text(encoding="utf-8")
    assert "class StopwatchExtension(AppExtensionBase):" in module
    assert "def post_invocation_app_level(" in module
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "EXTKIT_DISABLED_EXTENSIONS=stopwatch" in readme


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is new in Python 3.11")
def test_pyproject_is_valid_toml_with_the_entry_point(tmp_path: Path) -> None:
    import tomllib

    root = write_extension("extkit-auth", scope="function", directory=tmp_path)
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "extkit-auth"
    assert project["entry-points"]["extkit.extensions"] == {"auth": "extkit_auth:AuthExtension"}
    assert project["dependencies"][0].startswith("extkit")


@pytest.mark.parametrize("scope", ["app", "function"])
def test_generated_extension_lints_and_passes_its_tests(tmp_path: Path, scope: str) -> None:
    root = write_extension("stop-watch", scope=scope, directory=tmp_path)
    _ruff_is_clean(root)
    out = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        root,
        pythonpath=root / "src",
    )
    assert ("\n4 passed" if scope == "app" else "\n2 passed") in out


def test_generated_extension_is_defined_correctly(tmp_path: Path) -> None:
    """Importing it registers it (and a function-level one checks its hooks) without errors."""
    for scope in ("app", "function"):
        root = write_extension(f"probe-{scope}", scope=scope, directory=tmp_path)
        code = (
            f"import extkit, extkit_probe_{scope} as m\n"
            "from extkit.cli.extensions import hooks_of\n"
            f"print(hooks_of(m.Probe{scope.capitalize()}Extension))\n"
        )
        out = _run([sys.executable, "-c", code], tmp_path, pythonpath=root / "src")
        expected = (
            "('app', ['pre_invocation_app_level', 'post_invocation_app_level'])"
            if scope == "app"
            else "('function', ['post_function_load', 'pre_invocation', 'post_invocation'])"
        )
        assert out.strip() == expected


def test_app_is_runnable_as_generated(tmp_path: Path) -> None:
    root = write_app(tmp_path / "app")
    files = sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    assert files == [
        ".gitignore",
        "function_app.py",
        "host.json",
        "local.settings.json",
        "requirements.txt",
        "tests/test_http_trigger.py",
    ]
    settings = json.loads((root / "local.settings.json").read_text(encoding="utf-8"))
    assert settings["Values"]["PYTHON_ENABLE_WORKER_EXTENSIONS"] == "1"
    assert json.loads((root / "host.json").read_text(encoding="utf-8"))["version"] == "2.0"
    requirements = (root / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert [line for line in requirements if not line.startswith("#")] == ["extkit>=0.1"]
    _ruff_is_clean(root)
    out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], root)
    assert "\n2 passed" in out


def test_app_answers_through_the_cli(tmp_path: Path) -> None:
    root = write_app(tmp_path / "app")
    out = _run(
        [sys.executable, "-m", "extkit", "invoke", str(root), "HttpTrigger", "--param", "name=Ada"],
        tmp_path,
    )
    assert out.strip() == "Hello, Ada!"


def test_commands_refuse_a_folder_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "extkit-stopwatch").mkdir()
    (tmp_path / "extkit-stopwatch" / "keep.txt").write_text("mine", encoding="utf-8")
    assert main(["new-extension", "stopwatch", "--dir", str(tmp_path)]) == 2
    assert "already exists and is not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "extkit-stopwatch" / "keep.txt").read_text(encoding="utf-8") == "mine"

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "function_app.py").write_text("# mine\n", encoding="utf-8")
    assert main(["new-app", str(tmp_path / "app")]) == 2
    assert (tmp_path / "app" / "function_app.py").read_text(encoding="utf-8") == "# mine\n"


def test_commands_report_what_they_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-extension", "auth", "--scope", "function", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "function-level extension AuthExtension" in out
    assert (tmp_path / "extkit-auth" / "src" / "extkit_auth" / "__init__.py").is_file()
    module = (tmp_path / "extkit-auth" / "src" / "extkit_auth" / "__init__.py").read_text(
        encoding="utf-8"
    )
    assert "class AuthExtension(FuncExtensionBase):" in module

    assert main(["new-app", str(tmp_path / "empty")]) == 0  # a new folder
    assert "extkit start" in capsys.readouterr().out
    (tmp_path / "blank").mkdir()
    assert main(["new-app", str(tmp_path / "blank")]) == 0  # an existing, empty one
    assert main(["new-extension", "bad name", "--dir", str(tmp_path)]) == 2
    assert "is not usable" in capsys.readouterr().err
