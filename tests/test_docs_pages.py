"""Each page's examples run as a reader runs them: pasted in order into one file, then ``python``.

For ``README.md`` and every page of ``docs/`` with python blocks (other than project files, whose
first line names the file; ``test_docs.py`` checks those), the blocks are joined into one file
in an empty folder and run by a fresh interpreter: no fixture, registry or set-up the page does
not show. ``docs/testing.md`` also runs as a test file under pytest, as the page says.

- quick: with this test run's interpreter and packages;
- slow: in a fresh virtualenv that has only what the page tells the reader to install, its
  console blocks marked as run by this file's test (``python -m pip install ...``), typed as
  the reader types them, with ``PIP_FIND_LINKS`` naming a folder with extkit's wheel as
  docs/packaging.md says to until extkit is on a package index. README.md installs ``.``, from
  a clone of this repository. Pages that give the same install commands share one virtualenv.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hostutil import host_environment
from terminal import ROOT, Terminal, clone_checkout, reader_environment
from test_docs import DOCS, code_blocks

THIS_FILE = "tests/test_docs_pages.py"
TEST_NAME = "test_a_page_runs_as_one_file_in_a_fresh_virtualenv"
README = ROOT / "README.md"
#: Pages whose examples are also a test file, run with pytest (the page says so).
AS_TEST_FILE = {"testing.md"}
RUN_TIMEOUT = 300


def _pasted(page: Path) -> str:
    """The page's python blocks, in order, as one file (project files left out)."""
    return "\n\n".join(
        block.code
        for block in code_blocks(page)
        if block.language == "python" and block.file is None
    )


def _install_commands(page: Path) -> tuple[str, ...]:
    return tuple(
        command
        for block in code_blocks(page)
        if block.language == "console" and block.marker == (THIS_FILE, TEST_NAME)
        for command in block.commands()
    )


PAGES = [page for page in [README, *sorted(DOCS.glob("*.md"))] if _pasted(page)]


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    if done.returncode != 0:
        pytest.fail(
            f"$ {' '.join(args)} (in {cwd}) exited with {done.returncode}\n"
            f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
        )
    return done.stdout


#: Printed after the page's last block: the script ran every block, to the end.
RAN_TO_THE_END = "-- the page's blocks ran to the end --"


def _run_page(page: Path, python: str, folder: Path, env: dict[str, str]) -> list[str]:
    """Paste the page into one file in empty folders and run it (and, where the page says so,
    run it as a test file with pytest). Returns what went wrong: empty when the script ran every
    block to the end and pytest passed every test the page defines."""
    pasted = _pasted(page)
    if not pasted.strip():
        return [f"{page.name} has no python blocks to run"]
    problems = []
    as_script = folder / "script"
    as_script.mkdir()
    script = f"{pasted}\n\nprint({RAN_TO_THE_END!r})\n"
    (as_script / "page.py").write_text(script, encoding="utf-8")
    out = _run([python, "page.py"], as_script, env)
    if not out.rstrip().endswith(RAN_TO_THE_END):
        problems.append(f"the script stopped before its last block:\n{out}")
    if page.name in AS_TEST_FILE:
        as_tests = folder / "tests"
        as_tests.mkdir()
        test_file = as_tests / f"test_{page.stem.replace('-', '_')}.py"
        test_file.write_text(pasted, encoding="utf-8")
        out = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], as_tests, env)
        tests = re.findall(r"^def (test_\w+)\(", pasted, re.MULTILINE)
        if not re.search(rf"\b{len(tests)} passed\b", out):
            problems.append(f"pytest did not pass the page's {len(tests)} tests:\n{out}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_a_page_runs_as_one_file_in_a_fresh_interpreter(page: Path, tmp_path: Path) -> None:
    assert _run_page(page, sys.executable, tmp_path, host_environment()) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_a_page_says_what_to_install(page: Path) -> None:
    commands = _install_commands(page)
    assert commands, (
        f"{page.name}: say what the examples need installed, in a console block marked "
        f"<!-- run by {THIS_FILE}::{TEST_NAME} -->"
    )
    assert all(command.startswith("python -m pip install ") for command in commands), commands


@pytest.fixture(scope="module")
def environment_for(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[Path], tuple[str, dict[str, str]]]:
    """``environment_for(page)``: the python of a fresh virtualenv with the page's installs (made
    once per set of install commands), and the reader's environment to run it in."""
    work = tmp_path_factory.mktemp("reader")
    clone = clone_checkout(work / "extkit")
    env = reader_environment()
    with Terminal(work, env) as shell:  # extkit's wheel, as docs/packaging.md builds it
        shell.run("python -m pip wheel --no-deps --wheel-dir wheels ./extkit")
    env["PIP_FIND_LINKS"] = str(work / "wheels")
    made: dict[tuple[str, ...], str] = {}

    def get(page: Path) -> tuple[str, dict[str, str]]:
        commands = _install_commands(page)
        if commands not in made:
            venv = work / f"venv-{len(made)}"
            with Terminal(clone if page == README else work, env) as shell:
                shell.run(f"python -m venv {venv} && . {venv}/bin/activate")
                for command in commands:
                    shell.run(command)
            made[commands] = str(venv / "bin" / "python")
        return made[commands], env

    return get


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_a_page_runs_as_one_file_in_a_fresh_virtualenv(
    page: Path,
    environment_for: Callable[[Path], tuple[str, dict[str, str]]],
    tmp_path: Path,
) -> None:
    python, env = environment_for(page)
    assert _run_page(page, python, tmp_path, env) == []
