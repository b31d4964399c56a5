"""``pip install "extkit[azure]"`` and life without it, with pip and a fresh virtualenv.

- extkit itself works without ``azure-functions``; an app that imports ``azure.functions`` there
  is told, in one line per file, what is missing and the command that installs it;
- the ``azure`` extra resolves together with an extension that pins ``azure-functions<2.0.0``
  (the worker-extension tutorial's ``setup.py`` does): pip picks a 1.x release that installs on
  this Python, also on 3.13, where 2.x would be the newest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"
TIMER_PACKAGE = APPS / "azure_timer_extension"
HINT = (
    'imports azure.functions, which is not installed; install it with: pip install "extkit[azure]"'
)


def run(command: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHONPATH", "OTEL_", "PYTHON_ENABLE_WORKER", "EXTKIT_"))
    }
    return subprocess.run(
        [str(part) for part in command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with extkit and its timer extension, and no azure-functions."""
    home = tmp_path_factory.mktemp("no-azure") / "venv"
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    installed = run([python, "-m", "pip", "install", "-q", ROOT, ROOT / "extensions" / "timer"])
    assert installed.returncode == 0, installed.stderr
    return python


def test_extkit_works_without_azure_functions(bare_python: Path) -> None:
    probe = run(
        [
            bare_python,
            "-c",
            "import extkit, extkit.azure, importlib.util; "
            "print(importlib.util.find_spec('azure') is None)",
        ]
    )
    assert probe.stdout.strip() == "True", probe.stderr
    hello = run(
        [
            bare_python,
            "-m",
            "extkit",
            "invoke",
            "examples/hello",
            "HttpTrigger",
            "--param",
            "name=Ada",
        ]
    )
    assert hello.returncode == 0, hello.stderr
    assert "Hello, Ada" in hello.stdout


@pytest.mark.parametrize("app", ["azure_folder", "azure_decorator"])
def test_an_app_written_for_azure_is_told_how_to_install_the_library(
    bare_python: Path, app: str
) -> None:
    result = run([bare_python, "-m", "extkit", "invoke", APPS / app, "HttpExample"])
    assert result.returncode == 3
    problems = [line for line in result.stderr.splitlines() if line.startswith("- ")]
    assert problems and all(line.endswith(f": {HINT}") for line in problems), result.stderr
    assert "Traceback" not in result.stderr and "ModuleNotFoundError" not in result.stderr


def test_the_azure_extra_resolves_with_an_extension_pinning_azure_functions_below_2(
    tmp_path: Path,
) -> None:
    report = tmp_path / "report.json"
    extension = shutil.copytree(TIMER_PACKAGE, tmp_path / "extension")  # builds leave files
    resolved = run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--dry-run",
            "--ignore-installed",
            "--report",
            report,
            f"{ROOT}[azure]",
            extension,
        ]
    )
    assert resolved.returncode == 0, resolved.stderr
    versions = {
        item["metadata"]["name"]: item["metadata"]["version"]
        for item in json.loads(report.read_text(encoding="utf-8"))["install"]
    }
    assert versions["azure-functions"].startswith("1."), versions
    assert "python-worker-extension-timer" in versions
