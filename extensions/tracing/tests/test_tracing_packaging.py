"""extkit-tracing installs and works the way a user gets it: built from its own directory into a
fresh virtual environment, next to extkit, with no source tree on the path; the exporters it
depends on arrive with it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from otlp_receiver import running_receiver

EXTENSION_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = EXTENSION_DIR.parents[1]
README_EXAMPLE_MARK = "extkit.Engine(enabled=True)"

CHECK_INSTALL = """
import importlib.metadata as metadata, importlib.resources as resources, json, extkit_tracing
[entry] = [ep for ep in metadata.entry_points(group="extkit.extensions") if ep.name == "tracing"]
dist = metadata.distribution("extkit-tracing")
print(json.dumps({
    "entry_point": entry.value,
    "loads_the_class": entry.load() is extkit_tracing.TracingExtension,
    "version": extkit_tracing.__version__,
    "license": dist.metadata["License-Expression"],
    "readme_type": dist.metadata["Description-Content-Type"],
    "typed": resources.files("extkit_tracing").joinpath("py.typed").is_file(),
    "module_file": extkit_tracing.__file__,
}))
"""

#: One invocation exported over OTLP/HTTP with nothing but the standard variables.
EXPORT_ONE = """
import extkit
from extkit import HttpRequest
import extkit_tracing  # registers the extension, as the host's entry-point discovery does

engine = extkit.Engine(enabled=True)
function = engine.load(lambda req: "ok", name="Packaged", trigger="http")
function.invoke({"req": HttpRequest("GET", "/api/Packaged")})
engine.shutdown()
"""


def readme_example() -> str:
    """The README's runnable example, so the documentation cannot drift from what works."""
    readme = (EXTENSION_DIR / "README.md").read_text(encoding="utf-8")
    blocks: list[str] = re.findall(r"```python\n(.*?)```", readme, re.S)
    [example] = [block for block in blocks if README_EXAMPLE_MARK in block]
    return example


def run(*command: str | Path, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "OTEL_"))
    }
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_installs_into_a_fresh_virtualenv_and_exports_a_span(tmp_path: Path) -> None:
    # Build from a clean copy so the build leaves no build/ or *.egg-info in the working tree.
    source = tmp_path / "source"
    shutil.copytree(
        REPO_ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "__pycache__", ".*_cache", "build", "dist", "*.egg-info", ".bench"
        ),
    )
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    run(
        python,
        *("-m", "pip", "install", "--disable-pip-version-check", "-q"),
        *(".", "./extensions/tracing"),
        cwd=source,
    )

    # -I: only the virtualenv's site-packages, never a source directory or the user's site.
    script = tmp_path / "example.py"
    script.write_text(readme_example())
    output = run(python, "-I", script, cwd=tmp_path)
    first, _, printed = output.partition("\n")
    assert first == "Hello, Ada"
    span = json.loads(printed)  # the console exporter's rendering of the one span
    assert span["name"] == "HttpTrigger" and span["kind"] == "SpanKind.SERVER"
    assert span["attributes"]["faas.trigger"] == "http"
    assert span["attributes"]["http.response.status_code"] == 200
    assert span["resource"]["attributes"]["service.name"] == "try-it"

    with running_receiver() as receiver:
        exporter = tmp_path / "export_one.py"
        exporter.write_text(EXPORT_ONE)
        run(
            python,
            "-I",
            exporter,
            cwd=tmp_path,
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "packaged"},
        )
        assert receiver.wait_for(lambda r: len(r.spans_named("Packaged")) == 1)
        assert receiver.spans_named("Packaged")[0].resource["service.name"] == "packaged"

    installed = json.loads(run(python, "-I", "-c", CHECK_INSTALL, cwd=tmp_path))
    assert installed.pop("module_file").startswith(str(venv))  # a real install, not editable
    assert installed == {
        "entry_point": "extkit_tracing:TracingExtension",
        "loads_the_class": True,
        "version": "0.1.0",
        "license": "MIT",
        "readme_type": "text/markdown",
        "typed": True,
    }
