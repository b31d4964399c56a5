"""extkit-timer installs and works the way a user gets it: built from its own directory into a
fresh virtual environment, next to extkit, with no source tree on the path."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXTENSION_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = EXTENSION_DIR.parents[1]
README_EXAMPLE_MARK = "extkit.Engine(enabled=True)"

CHECK_INSTALL = """
import importlib.metadata as metadata, importlib.resources as resources, json, extkit_timer
[entry] = [ep for ep in metadata.entry_points(group="extkit.extensions") if ep.name == "timer"]
dist = metadata.distribution("extkit-timer")
print(json.dumps({
    "entry_point": entry.value,
    "loads_the_class": entry.load() is extkit_timer.TimerExtension,
    "version": extkit_timer.__version__,
    "license": dist.metadata["License-Expression"],
    "readme_type": dist.metadata["Description-Content-Type"],
    "typed": resources.files("extkit_timer").joinpath("py.typed").is_file(),
    "module_file": extkit_timer.__file__,
}))
"""


def readme_example() -> str:
    """The README's runnable example, so the documentation cannot drift from what works."""
    readme = (EXTENSION_DIR / "README.md").read_text(encoding="utf-8")
    blocks: list[str] = re.findall(r"```python\n(.*?)```", readme, re.S)
    [example] = [block for block in blocks if README_EXAMPLE_MARK in block]
    return example


def run(*command: str | Path, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_installs_into_a_fresh_virtualenv_and_times_an_invocation(tmp_path: Path) -> None:
    # Build from a clean copy so the build leaves no build/ or *.egg-info in the working tree.
    source = tmp_path / "source"
    shutil.copytree(
        REPO_ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv*",
            "__pycache__",
            ".*_cache",
            "build",
            "dist",
            "*.egg-info",
            ".bench",
        ),
    )
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    run(
        python,
        *("-m", "pip", "install", "--disable-pip-version-check", "-q"),
        *(".", "./extensions/timer"),
        cwd=source,
    )

    # -I: only the virtualenv's site-packages, never a source directory or the user's site.
    script = tmp_path / "example.py"
    script.write_text(readme_example())
    output = run(python, "-I", script, cwd=tmp_path).splitlines()
    assert re.fullmatch(r"Hello, Ada\. \(TimeElapsed: \d+\.\d{6} sec\)", output[-1]), output
    assert re.fullmatch(r"total;dur=\d+\.\d{3}", output[-2]), output
    assert re.fullmatch(
        r"INFO extkit\.extensions\.TimerExtension: "
        r"Time taken to execute HttpTrigger is \d+\.\d{6} sec",
        output[0],
    ), output

    installed = json.loads(run(python, "-I", "-c", CHECK_INSTALL, cwd=tmp_path))
    assert installed.pop("module_file").startswith(str(venv))  # a real install, not editable
    assert installed == {
        "entry_point": "extkit_timer:TimerExtension",
        "loads_the_class": True,
        "version": "0.1.0",
        "license": "MIT",
        "readme_type": "text/markdown",
        "typed": True,
    }
