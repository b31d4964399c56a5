"""``examples/hello/Dockerfile``, read, and run without Docker (CI cannot pull images).

The image must be a slim Python, run as a user who is not root, and serve ``extkit.asgi:app`` on
every address of the container with a health check on ``/admin/host/ping``. Its copy, install and
CMD steps then run as written in a fresh virtualenv standing in for the image's Python: folders of
the image become folders under a temporary one, and the server binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest
from hostutil import host_environment, running_server

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "examples" / "hello" / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions (continuation lines joined), one list per ``FROM``."""
    text = re.sub(r"\\\n\s*", "", DOCKERFILE.read_text(encoding="utf-8"))
    found: list[list[Instruction]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            found.append([])
        found[-1].append(Instruction(keyword.upper(), arguments.strip()))
    return found


def only(stage: list[Instruction], keyword: str) -> Instruction:
    (found,) = [instruction for instruction in stage if instruction.keyword == keyword]
    return found


def command_line() -> list[str]:
    arguments = json.loads(only(stages()[-1], "CMD").arguments)
    assert isinstance(arguments, list)
    return [str(argument) for argument in arguments]


def test_the_image_is_slim_python_run_by_a_user_serving_extkit_asgi_on_every_address() -> None:
    build, final = stages()
    for stage in (build, final):
        assert re.fullmatch(r"python:3\.\d+-slim( AS \w+)?", stage[0].arguments), stage[0]
    keywords = [instruction.keyword for instruction in final]
    user = only(final, "USER").arguments
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    assert keywords.index("USER") < keywords.index("CMD")  # the server runs as that user
    command = command_line()
    assert command[:2] == ["uvicorn", "extkit.asgi:app"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    port = command[command.index("--port") + 1]
    assert only(final, "EXPOSE").arguments == port
    healthcheck = only(final, "HEALTHCHECK").arguments
    assert f"http://127.0.0.1:{port}/admin/host/ping" in healthcheck


class Image:
    """The image's file system as folders under ``root``, and its Python as a virtualenv."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True, timeout=120)
        path = f"{self.venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
        self.env = host_environment({"PATH": path})
        self.workdir = PurePosixPath("/")

    def path(self, image_path: str) -> Path:
        return self.root / "fs" / (self.workdir / image_path).relative_to("/")

    def run(self, stage: list[Instruction]) -> None:
        """The stage's WORKDIR, COPY and pip RUN steps, in order."""
        for step in stage:
            if step.keyword == "WORKDIR":
                self.workdir = self.workdir / step.arguments
                self.path(".").mkdir(parents=True, exist_ok=True)
            elif step.keyword == "COPY":
                *words, target = shlex.split(step.arguments)
                if any(word.startswith("--from=") for word in words):
                    continue  # the same folder in both stages here
                for source in (word for word in words if not word.startswith("--")):
                    self.copy(ROOT / source, target)
            elif step.keyword == "RUN":
                if step.arguments.startswith("useradd "):
                    continue  # the image's user; the test runs as itself
                assert step.arguments.startswith("pip "), f"unexpected step: RUN {step.arguments}"
                wheels = str(self.root / "fs" / "wheels")
                command = re.sub(r"(?<![\w.])/wheels", wheels, step.arguments)
                subprocess.run(
                    ["bash", "-c", command],
                    cwd=self.path("."),
                    env=self.env,
                    check=True,
                    timeout=300,
                )

    def copy(self, source: Path, target: str) -> None:
        destination = self.path(target)
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
            shutil.copytree(source, destination, ignore=ignore, dirs_exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, destination / source.name if target.endswith("/") else destination)


@pytest.mark.slow
def test_its_install_and_cmd_steps_serve_the_hello_app(tmp_path: Path) -> None:
    image = Image(tmp_path)
    build, final = stages()
    image.run(build)
    image.workdir = PurePosixPath("/")
    image.run(final)
    installed = subprocess.run(
        ["python", "-c", "import extkit, extkit_timer; print(extkit.__file__)"],
        capture_output=True,
        text=True,
        env=image.env,
        cwd=tmp_path,
        check=True,
    ).stdout
    assert installed.startswith(str(image.venv))  # from the wheels, not this checkout

    command = command_line()
    port_at = command.index("--port") + 1
    command[command.index("--host") + 1] = "127.0.0.1"  # tests bind 127.0.0.1 only

    def at(port: int) -> list[str]:
        return [*command[:port_at], str(port), *command[port_at + 1 :]]

    with running_server(at, env=image.env, cwd=image.path(".")) as server:
        response = server.get("/api/HttpTrigger", params={"name": "Ada"})
        assert response.status_code == 200
        assert response.text.startswith("Hello, Ada.")
        assert "(TimeElapsed: " in response.text  # the timer extension, installed from its wheel
        assert response.headers["x-invocation-id"]
        healthcheck = only(final, "HEALTHCHECK").arguments.split("CMD ", 1)[1]
        probe = [
            argument.replace(f":{command[port_at]}/", f":{server.port}/")
            for argument in json.loads(healthcheck)
        ]
        assert subprocess.run(probe, env=image.env, timeout=30, check=False).returncode == 0
        server.stop()
    assert subprocess.run(probe, env=image.env, timeout=30, check=False).returncode != 0
