"""The install and author pages, followed literally: their commands typed into a terminal.

``docs/getting-started.md``: a fresh work folder holding a clone of this repository in
``extkit/``, where the page says to have extkit's source; then the page's console blocks, command
by command and in order, in one bash session (``cd``, ``export`` and activated virtualenvs last,
as in a terminal), and the page's file blocks written where and when the page shows them. The
command that starts the host keeps its terminal; the commands after it go to a second terminal,
and Ctrl+C stops the host, as the page says. The ``extkit`` commands that docs/cli.md and
docs/host.md show on the tutorial's app run after it, from the work folder.

``docs/packaging.md``: each console block is one way to install, run in a fresh virtualenv of its
own, in page order, in a work folder with a clone of this repository in ``extkit/`` and the
extension ``extkit new-extension stopwatch`` writes, as a tagged git repository.

Needs the package index (pip downloads extkit's dependencies and setuptools for the builds).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from hostutil import START_TIMEOUT, wait_until
from terminal import Terminal, clone_checkout, reader_environment
from test_docs import DOCS, Block, code_blocks

pytestmark = pytest.mark.slow

THIS_FILE = "tests/test_author_journey.py"


def _ours(page: Path, test_name: str) -> list[Block]:
    """The page's blocks, files and the console blocks this test runs, in page order."""
    return [
        block
        for block in code_blocks(page)
        if block.file is not None
        or (block.language == "console" and block.marker == (THIS_FILE, test_name))
    ]


def _write(block: Block, root: Path) -> None:
    assert block.file is not None
    target = root / block.file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(block.code.split("\n", 1)[1], encoding="utf-8")


def _port_of(command: str) -> int:
    words = shlex.split(command)
    return int(words[words.index("--port") + 1]) if "--port" in words else 7071


@contextmanager
def _serving(shell: Terminal, command: str) -> Iterator[str]:
    """Type an ``extkit start`` command, wait until the host answers; Ctrl+C it afterwards.
    Yields the host's base URL."""
    base_url = f"http://127.0.0.1:{_port_of(command)}"
    try:
        httpx.get(f"{base_url}/admin/host/ping", timeout=1.0)
        pytest.fail(f"something already serves {base_url}; the page's host needs that port")
    except httpx.TransportError:
        pass
    shell.type(command)

    def answers() -> bool:
        try:
            httpx.get(f"{base_url}/admin/host/ping", timeout=1.0)
            return True
        except httpx.TransportError:
            if shell.poll() is not None:
                pytest.fail(f"$ {command} ended before serving\n{shell.describe()}")
            return False

    wait_until(answers, timeout=START_TIMEOUT, what=f"{command!r} to serve {base_url}")
    yield base_url
    shell.interrupt()  # Ctrl+C
    status, _ = shell.wait(timeout=30)
    assert status == 0, f"$ {command} exited with {status} after Ctrl+C\n{shell.describe()}"


def test_the_getting_started_page_works_as_written(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    clone_checkout(work / "extkit")
    page = DOCS / "getting-started.md"
    blocks = _ours(page, "test_the_getting_started_page_works_as_written")
    outputs: dict[str, str] = {}
    with Terminal(work) as first, Terminal(work) as second:
        shell, host = first, None
        for block in blocks:
            if block.file is not None:
                _write(block, work)
                continue
            for command in block.commands():
                if command.startswith("extkit start"):
                    assert host is None, "the page starts a second host"
                    host = _serving(first, command)
                    host.__enter__()
                    shell = second  # the page goes on in a second terminal
                    continue
                outputs[command] = shell.run(command)
        assert host is not None, "the page never starts the host"
        host.__exit__(None, None, None)  # Ctrl+C, as the page says
        curl_output = next(out for command, out in outputs.items() if command.startswith("curl"))
        host_screen = first.screen()

        # What the page says happened, happened.
        assert re.search(r"\b1 passed\b", outputs["python -m pytest"]), outputs["python -m pytest"]
        assert (work / "wheels" / "extkit_stopwatch-0.1.0-py3-none-any.whl").is_file()
        listing = outputs["extkit extensions ."]
        assert re.search(r"stopwatch\s+app\s+extkit-stopwatch 0\.1\.0", listing), listing
        assert "(extensions gate on)" in listing and "StopwatchExtension" in listing
        # The app's environment has the wheel; the work folder's keeps the editable install.
        app_site = list((work / "hello-app" / ".venv").glob("lib/python*/site-packages"))
        assert (app_site[0] / "extkit_stopwatch" / "__init__.py").is_file()
        assert not list((work / ".venv").glob("lib/python*/site-packages/extkit_stopwatch/"))

        response = curl_output[curl_output.find("HTTP/") :]  # after curl's progress meter
        head, _, body = response.replace("\r\n", "\n").partition("\n\n")
        assert head.startswith("HTTP/1.1 200"), curl_output
        assert re.fullmatch(r"Hello, Ada! \(TimeElapsed: \d+\.\d{6} sec\)", body.strip()), body
        (invocation_id,) = re.findall(r"(?im)^x-invocation-id: (\S+)$", head)
        for event in ("Recording start time of HttpTrigger", "Time taken to execute HttpTrigger"):
            lines = [line for line in host_screen.splitlines() if event in line]
            assert lines and f"invocation_id={invocation_id}" in lines[0], host_screen

        # docs/cli.md and docs/host.md show commands on this app, from the work folder.
        first.run(f"cd {shlex.quote(str(work))}")
        for other in ("cli.md", "host.md"):
            for block in _ours(DOCS / other, "test_the_getting_started_page_works_as_written"):
                for command in block.commands():
                    if command.startswith("extkit start"):
                        with _serving(first, command) as base_url:
                            assert httpx.get(f"{base_url}/api/HttpTrigger").status_code == 200
                    else:
                        outputs[command] = first.run(command)
        assert "StopwatchExtension" in outputs["extkit extensions hello-app"]

        # The bundled extensions install from the clone, next to the author's.
        first.run("python -m pip install ./extkit/extensions/timer ./extkit/extensions/tracing")
        listed = json.loads(first.run("extkit extensions hello-app --json"))
        by_name = {item["name"]: item for item in listed["installed"]}
        assert sorted(by_name) == ["stopwatch", "timer", "tracing"]
        assert all(item["scope"] == "app" and item["error"] is None for item in by_name.values())
        registered = [item["name"] for item in listed["app"]["registered"]]
        assert sorted(registered) == ["StopwatchExtension", "TimerExtension", "TracingExtension"]


#: How ``pip`` installed each distribution, from its PEP 610 ``direct_url.json``.
_HOW_INSTALLED = """
import json, sys
from importlib.metadata import PackageNotFoundError, distribution
found = {}
for name in sys.argv[1:]:
    try:
        text = distribution(name).read_text("direct_url.json")
    except PackageNotFoundError:
        continue
    data = json.loads(text) if text else {}
    kinds = [kind for kind in ("dir_info", "vcs_info", "archive_info") if kind in data]
    found[name] = kinds[0] if kinds else "by name"
print(json.dumps(found))
"""


def _tagged_repository(folder: Path) -> None:
    git = ["git", "-c", "user.name=Author", "-c", "user.email=author@example.invalid"]
    for args in (["init", "--quiet"], ["add", "."], ["commit", "--quiet", "-m", "0.1.0"]):
        subprocess.run([*git, *args], cwd=folder, check=True, capture_output=True, timeout=60)
    subprocess.run([*git, "tag", "v0.1.0"], cwd=folder, check=True, capture_output=True)


def test_the_packaging_page_installs_work_as_written(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    clone_checkout(work / "extkit")
    page = DOCS / "packaging.md"
    checked = [
        b
        for b in code_blocks(page)
        if b.marker == (THIS_FILE, "test_the_packaging_page_installs_work_as_written")
    ]
    (requirements,) = [b for b in checked if b.language == "text"]
    assert requirements.code.startswith("# requirements.txt\n")
    (work / "requirements.txt").write_text(requirements.code, encoding="utf-8")
    env = reader_environment()
    with Terminal(work, env) as setup:  # the layout the page speaks of
        setup.run("python -m venv .author && .author/bin/python -m pip install -q ./extkit")
        setup.run(".author/bin/extkit new-extension stopwatch")
    _tagged_repository(work / "extkit-stopwatch")

    installed_by_block = []
    with Terminal(work, env) as shell:
        for number, block in enumerate(b for b in checked if b.language == "console"):
            venv = tmp_path / f"venv-{number}"  # a fresh one, outside the work folder
            shell.run(f"python -m venv {venv} && . {venv}/bin/activate")
            output = ""
            for command in block.commands():
                output = shell.run(command)
            how = json.loads(
                shell.run(f"python -c '{_HOW_INSTALLED}' extkit extkit-stopwatch").splitlines()[-1]
            )
            installed_by_block.append((block.commands()[-1], how, output))
            shell.run("deactivate")

    by_name = "by name"  # found by pip as a requirement, in wheels/ through PIP_FIND_LINKS
    expected = [
        {"extkit": "dir_info"},
        {"extkit": "vcs_info"},
        {"extkit": "archive_info"},
        {"extkit": by_name, "extkit-stopwatch": "dir_info"},
        {},  # the build block installs build only
        {"extkit": by_name, "extkit-stopwatch": "dir_info"},
        {"extkit": by_name, "extkit-stopwatch": "archive_info"},
        {"extkit": by_name, "extkit-stopwatch": "vcs_info"},
        {"extkit": by_name, "extkit-stopwatch": "archive_info"},  # -r requirements.txt
    ]
    assert [how for _, how, _ in installed_by_block] == expected, installed_by_block
    dist = work / "extkit-stopwatch" / "dist"
    built = sorted(path.name for path in dist.iterdir())
    assert built == ["extkit_stopwatch-0.1.0-py3-none-any.whl", "extkit_stopwatch-0.1.0.tar.gz"]
    last_command, _, listing = installed_by_block[-1]
    assert last_command == "extkit extensions"
    assert re.search(r"stopwatch\s+app\s+extkit-stopwatch 0\.1\.0", listing), listing
