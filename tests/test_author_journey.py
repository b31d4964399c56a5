"""The extension author's whole path, for real: docs/getting-started.md, step by step.

A fresh virtual environment gets extkit (built from this source tree) the way a user installs a
package; ``extkit new-extension`` scaffolds the tutorial's extension, whose code is taken from the
tutorial page itself; ``python -m build`` makes its wheel and sdist; ``extkit new-app`` writes an
app whose ``requirements.txt`` lists the wheel and whose function code calls ``configure()``;
``pip install -r`` installs it; the extension's own tests run against the installed wheel (through
extkit's pytest plugin); ``extkit start`` serves the app as a subprocess and a real HTTP request
shows the hooks ran. Then the bundled timer and tracing extensions are installed and
``extkit extensions`` lists all three.

Needs the package index (pip downloads extkit's dependencies and setuptools for the builds).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hostutil
import pytest
from test_docs import DOCS, code_blocks, project_files

ROOT = Path(__file__).resolve().parent.parent
PAGE = DOCS / "getting-started.md"
STEP_TIMEOUT = 600  # seconds for one pip or build step (downloads included)


def _run(args: Sequence[str | os.PathLike[str]], *, cwd: Path) -> str:
    """Run one step; fail the test with its output if it fails."""
    done = subprocess.run(
        [os.fspath(arg) for arg in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        env=hostutil.host_environment({"PIP_DISABLE_PIP_VERSION_CHECK": "1"}),
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited with {done.returncode}\n"
            f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
        )
    return done.stdout


def _source_copy(source: Path, target: Path) -> Path:
    """A clean copy of a source tree to build from (no build leftovers in the work tree)."""
    shutil.copytree(
        source,
        target,
        ignore=shutil.ignore_patterns(
            "*.egg-info",
            "build",
            "dist",
            "__pycache__",
            ".*",
            "tests",
            "docs",
            "bench",
            "extensions",
        ),
    )
    return target


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        (root / relative).write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class UserEnvironment:
    """A fresh virtual environment with extkit installed, as a user has it."""

    python: Path
    extkit: Path

    @property
    def pip(self) -> list[str | os.PathLike[str]]:
        return [self.python, "-m", "pip", "install", "--quiet"]

    def installed(self, cwd: Path) -> dict[str, Any]:
        """``extkit extensions --json``'s installed extensions, by entry-point name."""
        listing = json.loads(_run([self.extkit, "extensions", "--json"], cwd=cwd))
        return {item["name"]: item for item in listing["installed"]}


@pytest.fixture(scope="module")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> UserEnvironment:
    """extkit installed from its source into a new virtual environment, with pytest and build,
    as the getting-started page has the reader do."""
    root = tmp_path_factory.mktemp("user")
    venv.EnvBuilder(with_pip=True).create(root / ".venv")
    env = UserEnvironment(root / ".venv" / "bin" / "python", root / ".venv" / "bin" / "extkit")
    _run([*env.pip, _source_copy(ROOT, root / "src" / "extkit"), "pytest", "build"], cwd=root)
    return env


@pytest.mark.slow
def test_an_author_ships_an_extension_to_an_app(user_env: UserEnvironment, tmp_path: Path) -> None:
    files = project_files(PAGE)
    commands = [command for block in code_blocks(PAGE) for command in block.commands()]
    assert "extkit new-extension stopwatch" in commands
    assert "python -m build extkit-stopwatch" in commands
    assert "extkit new-app hello-app" in commands

    python, extkit_cli, pip = user_env.python, user_env.extkit, user_env.pip
    # 1. Scaffold; 2-3. the tutorial's code and test replace the generated example.
    _run([extkit_cli, "new-extension", "stopwatch"], cwd=tmp_path)
    extension = tmp_path / "extkit-stopwatch"
    assert (extension / "src" / "extkit_stopwatch" / "__init__.py").is_file()
    pyproject = (extension / "pyproject.toml").read_text(encoding="utf-8")
    assert 'stopwatch = "extkit_stopwatch:StopwatchExtension"' in pyproject
    _write(tmp_path, {path: text for path, text in files.items() if "extkit-stopwatch/" in path})
    _run([*pip, "-e", "."], cwd=extension)
    pytest_run = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    assert "\n1 passed" in _run(pytest_run, cwd=extension)

    # 4. Build the wheel and the sdist.
    _run([python, "-m", "build", "extkit-stopwatch"], cwd=tmp_path)
    built = sorted(path.name for path in (extension / "dist").iterdir())
    assert built == ["extkit_stopwatch-0.1.0-py3-none-any.whl", "extkit_stopwatch-0.1.0.tar.gz"]

    # 5. An app that lists the wheel in requirements.txt and configures it in function code.
    _run([extkit_cli, "new-app", "hello-app"], cwd=tmp_path)
    app = tmp_path / "hello-app"
    settings = json.loads((app / "local.settings.json").read_text(encoding="utf-8"))
    assert settings["Values"]["PYTHON_ENABLE_WORKER_EXTENSIONS"] == "1"
    _write(tmp_path, {path: text for path, text in files.items() if "hello-app/" in path})
    _run([*pip, "-r", "requirements.txt"], cwd=app)
    listing = json.loads(_run([extkit_cli, "extensions", ".", "--json"], cwd=app))
    installed = {item["name"]: item for item in listing["installed"]}
    assert installed["stopwatch"]["distribution"] == "extkit-stopwatch"
    assert installed["stopwatch"]["version"] == "0.1.0"
    assert listing["app"]["gate"] is True
    assert [item["name"] for item in listing["app"]["registered"]] == ["StopwatchExtension"]

    # The extension's own tests pass against the installed wheel, through extkit's plugin.
    shutil.rmtree(extension / "src")  # so only the installed wheel can be imported
    assert "\n1 passed" in _run(pytest_run, cwd=extension)

    # 6. The host serves the app; a real request shows the hooks ran, configured by the app.
    original = hostutil._command
    hostutil._command = lambda app_dir, args: [str(python), "-m", "extkit", "start",
                                               os.fspath(app_dir), *args]  # fmt: skip
    try:
        with hostutil.running_host(app, "--log-format", "json", cwd=tmp_path) as host:
            response = host.get("/api/HttpTrigger", params={"name": "Ada"})
            assert response.status_code == 200, host.describe()
            assert re.fullmatch(r"Hello, Ada! \(TimeElapsed: \d+\.\d{6} sec\)", response.text)
            invocation_id = response.headers["x-invocation-id"]
            line = host.wait_for_log(
                lambda line: str(line.get("event", "")).startswith(
                    "Time taken to execute HttpTrigger is "
                )
            )
            assert line["logger"] == "extkit.extensions.StopwatchExtension"
            assert line["invocation_id"] == invocation_id
            assert line["function_name"] == "HttpTrigger"
            started = host.wait_for_log(
                lambda line: line.get("event") == "Recording start time of HttpTrigger"
            )
            assert started["invocation_id"] == invocation_id
            assert host.stop() == 0
    finally:
        hostutil._command = original

    # The bundled extensions, once installed, are listed next to the author's.
    _run(
        [
            *pip,
            _source_copy(ROOT / "extensions" / "timer", tmp_path / "src" / "timer"),
            _source_copy(ROOT / "extensions" / "tracing", tmp_path / "src" / "tracing"),
        ],
        cwd=tmp_path,
    )
    by_name = user_env.installed(tmp_path)
    assert sorted(by_name) == ["stopwatch", "timer", "tracing"]
    assert by_name["timer"]["distribution"] == "extkit-timer"
    assert by_name["tracing"]["distribution"] == "extkit-tracing"
    assert all(item["scope"] == "app" and item["error"] is None for item in by_name.values())
    text = _run([extkit_cli, "extensions", "hello-app"], cwd=tmp_path)
    assert "TimerExtension" in text and "TracingExtension" in text
    assert "StopwatchExtension" in text


def _requirements_from_docs(wheel: Path, vcs_url: str) -> str:
    """The requirements.txt of docs/packaging.md, its example lines made real: the wheel and
    the VCS URL point at what this test built (the by-name line needs the package index)."""
    (block,) = [b for b in code_blocks(DOCS / "packaging.md") if b.language == "text"]
    lines = []
    for line in block.code.splitlines():
        if line.startswith("#   "):
            requirement = line[4:]
            if requirement.startswith("./vendor/"):
                lines.append(str(wheel))
            elif " @ git+" in requirement:
                lines.append(requirement.partition(" @ ")[0] + " @ " + vcs_url)
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_an_extension_installs_from_a_path_a_vcs_url_and_requirements(
    user_env: UserEnvironment, tmp_path: Path
) -> None:
    """docs/packaging.md: from a folder, a wheel, a VCS URL and a requirements file."""
    pip = user_env.pip
    uninstall = [user_env.python, "-m", "pip", "uninstall", "--yes", "--quiet"]
    _run([*uninstall, "extkit-stopwatch"], cwd=tmp_path)  # an earlier test may have installed it
    assert "stopwatch" not in user_env.installed(tmp_path)
    _run([user_env.extkit, "new-extension", "stopwatch"], cwd=tmp_path)
    source = tmp_path / "extkit-stopwatch"
    git = ["git", "-c", "user.name=Author", "-c", "user.email=author@example.invalid"]
    _run([*git, "init", "--quiet"], cwd=source)
    _run([*git, "add", "."], cwd=source)
    _run([*git, "commit", "--quiet", "-m", "extkit-stopwatch 0.1.0"], cwd=source)
    _run([*git, "tag", "v0.1.0"], cwd=source)
    # "name @ URL" requirements need a host in the URL: file://localhost/... is a local repo.
    vcs_url = f"git+file://localhost{source.as_posix()}@v0.1.0"
    _run([user_env.python, "-m", "build", "--outdir", tmp_path / "dist", source], cwd=tmp_path)
    wheel = tmp_path / "dist" / "extkit_stopwatch-0.1.0-py3-none-any.whl"

    for target in ["./extkit-stopwatch", str(wheel), f"extkit-stopwatch @ {vcs_url}"]:
        _run([*pip, target], cwd=tmp_path)
        listed = user_env.installed(tmp_path)["stopwatch"]
        assert (listed["distribution"], listed["version"]) == ("extkit-stopwatch", "0.1.0")
        assert listed["source"] == "extkit_stopwatch:StopwatchExtension"
        _run([*uninstall, "extkit-stopwatch"], cwd=tmp_path)
        assert "stopwatch" not in user_env.installed(tmp_path)

    for chosen in ("wheel", "vcs"):
        text = _requirements_from_docs(wheel, vcs_url)
        keep = str(wheel) if chosen == "wheel" else vcs_url
        requirements = [
            line for line in text.splitlines() if "stopwatch" not in line or keep in line
        ]
        (tmp_path / "requirements.txt").write_text("\n".join(requirements) + "\n")
        _run([*pip, "-r", "requirements.txt"], cwd=tmp_path)
        assert user_env.installed(tmp_path)["stopwatch"]["version"] == "0.1.0"
        _run([*uninstall, "extkit-stopwatch"], cwd=tmp_path)
