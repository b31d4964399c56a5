"""``extkit new-extension`` and ``extkit new-app``: what they write lints and passes its own tests.

The generated tests run in a subprocess with this environment's extkit, as an author runs them
after ``pip install -e .``; building and installing for real is in ``test_author_journey.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hostutil import host_environment
from terminal import Terminal, clone_checkout, reader_environment

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


def test_new_app_in_the_current_folder_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["new-app"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Created a function app in the current folder.\n")
    assert "cd " not in out and ".." not in out
    assert main(["new-app", "elsewhere"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Created a function app in elsewhere.\n")
    assert "\n  cd elsewhere\n" in out


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("scope", ["app", "function"])
def test_every_link_in_the_generated_readme_holds(tmp_path: Path, scope: str) -> None:
    """The README travels with the package (to an index, a repository, a copy): its links point
    at the package's own files, which exist."""
    root = write_extension("stopwatch", scope=scope, directory=tmp_path)
    readme = (root / "README.md").read_text(encoding="utf-8")
    links = _LINK.findall(readme)
    assert links
    for link in links:
        assert "://" not in link, f"{link}: a link outside the package"
        assert (root / link).is_file(), f"{link}: no such file in the package"


def _indented_commands(readme: str, section: str) -> list[str]:
    text = readme.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [line[4:] for line in text.splitlines() if line.startswith("    python ")]


@pytest.mark.slow
def test_generated_readme_and_requirements_install_as_they_say(tmp_path: Path) -> None:
    """In fresh virtualenvs with PIP_FIND_LINKS naming a folder with extkit's wheel (as the
    README says until extkit is on a package index): the README's development commands, then
    the generated app's requirements.txt and the first of the next steps new-app prints."""
    work = tmp_path / "work"
    work.mkdir()
    clone_checkout(work / "extkit")
    env = reader_environment()
    with Terminal(work, env) as shell:
        shell.run("python -m pip wheel --no-deps --wheel-dir wheels ./extkit")
        shell.run('export PIP_FIND_LINKS="$PWD/wheels"')
        shell.run("python -m venv .author && . .author/bin/activate")
        shell.run("python -m pip install extkit")
        shell.run("extkit new-extension stopwatch")
        next_steps = shell.run("extkit new-app hello-app")
        readme = (work / "extkit-stopwatch" / "README.md").read_text(encoding="utf-8")
        develop = _indented_commands(readme, "Develop it")
        assert develop[0].startswith("python -m pip install -e ")
        shell.run("deactivate && cd extkit-stopwatch")
        shell.run("python -m venv ../.develop && . ../.develop/bin/activate")
        outputs = [shell.run(command) for command in develop]
        assert re.search(r"\b4 passed\b", outputs[1]), outputs[1]
        assert sorted(path.name for path in (work / "extkit-stopwatch" / "dist").iterdir()) == [
            "extkit_stopwatch-0.1.0-py3-none-any.whl",
            "extkit_stopwatch-0.1.0.tar.gz",
        ]
        steps = [line.strip() for line in next_steps.splitlines() if line.startswith("  ")]
        assert steps[:2] == ["cd hello-app", "python -m pip install -r requirements.txt"]
        shell.run("deactivate && cd ..")
        shell.run("python -m venv .app && . .app/bin/activate")
        for step in steps[:2]:
            shell.run(step)
        answer = shell.run("extkit invoke . HttpTrigger --param name=Ada 2>/dev/null")
        assert answer.strip() == "Hello, Ada!"
