"""The docs run: every code block in ``docs/*.md`` is executed or checked here.

How each fenced block is checked:

- ``python``: a page's blocks, pasted in order into one file, run in a fresh interpreter, as a
  reader runs them (``tests/test_docs_pages.py``). A block whose first line is a file name
  comment (``# hello-app/function_app.py``) is a file of a project the page builds instead: it
  is compiled here, and the page's files are exercised together by the test named in
  ``PROJECT_CHECKS`` (getting-started's also by the end-to-end journey test).
- ``console``: each ``$ extkit ...`` command must parse with extkit's real command-line parser
  (so every flag the docs show exists); the block must be preceded by a marker comment
  ``<!-- run by tests/FILE.py::TEST -->`` naming a test that exists and runs those commands.
- ``json`` must parse; ``toml`` must parse (Python 3.11+, where ``tomllib`` exists).
- ``text``: a file of the page's project (first line a file name comment, as above), or preceded
  by a marker naming the test that checks it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from apputil import write_app

import extkit
from extkit import isolated_registry
from extkit.cli import build_parser
from extkit.testing import RecordingRegistry

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
LANGUAGES = {"python", "console", "json", "toml", "text"}

_FENCE = re.compile(r"^```(\S*)\s*$")
_MARKER = re.compile(r"^<!--\s*(?:run|checked) by (tests/[\w/]+\.py)::(\w+)\s*-->$")
_FILE_COMMENT = re.compile(r"^# ([\w.-]+(?:/[\w.-]+)+)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a docs page."""

    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    marker: tuple[str, str] | None  # (test file, test name) from the comment just above

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def file(self) -> str | None:
        """The project file this block is, when its first line names one."""
        first = self.code.split("\n", 1)[0]
        found = _FILE_COMMENT.match(first)
        return found.group(1) if found else None

    def commands(self) -> list[str]:
        return [line[2:].strip() for line in self.code.splitlines() if line.startswith("$ ")]


def code_blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, in order."""
    blocks = []
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        start = index
        index += 1
        body = []
        while index < len(lines) and lines[index] != "```":
            body.append(lines[index])
            index += 1
        if index == len(lines):
            raise AssertionError(f"{page}:{start + 1}: code block is never closed")
        previous = lines[start - 1].strip() if start > 0 else ""
        marker = _MARKER.match(previous)
        blocks.append(
            Block(
                page=page,
                line=start + 1,
                language=opening.group(1),
                code="\n".join(body) + "\n",
                marker=(marker.group(1), marker.group(2)) if marker else None,
            )
        )
        index += 1
    return blocks


def project_files(page: Path) -> dict[str, str]:
    """The project files a page builds, by relative path (the file name line removed)."""
    return {
        block.file: block.code.split("\n", 1)[1]
        for block in code_blocks(page)
        if block.file is not None
    }


def _all_blocks() -> list[Block]:
    return [block for page in PAGES for block in code_blocks(page)]


def _test_exists(test_file: str, test_name: str) -> bool:
    path = ROOT / test_file
    if not path.is_file():
        return False
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == test_name
        for node in tree.body
    )


# --- every block is of a known kind -----------------------------------------------------------


def test_there_are_docs() -> None:
    names = {page.name for page in PAGES}
    for expected in (
        "getting-started.md",
        "writing-extensions.md",
        "testing.md",
        "packaging.md",
        "logging.md",
        "host.md",
        "cli.md",
        "coming-from-azure-functions.md",
    ):
        assert expected in names


def test_the_index_lists_every_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w-]+\.md)(?:#[\w-]+)?\)", index))
    assert linked == {page.name for page in PAGES if page.name != "index.md"}


@pytest.mark.parametrize("block", _all_blocks(), ids=lambda block: block.where)
def test_every_block_has_a_checked_language(block: Block) -> None:
    assert block.language in LANGUAGES, (
        f"{block.where}: code block language {block.language!r}; expected one of "
        f"{', '.join(sorted(LANGUAGES))} (each has a check in tests/test_docs.py)"
    )


@pytest.mark.parametrize(
    "block", [b for b in _all_blocks() if b.marker is not None], ids=lambda b: b.where
)
def test_markers_name_tests_that_exist(block: Block) -> None:
    assert block.marker is not None
    assert _test_exists(*block.marker), f"{block.where}: no test {'::'.join(block.marker)}"


# --- console blocks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block", [b for b in _all_blocks() if b.language == "console"], ids=lambda b: b.where
)
def test_console_blocks_use_real_flags_and_are_run_by_a_test(block: Block) -> None:
    assert block.marker is not None, (
        f"{block.where}: a console block needs <!-- run by tests/...::test --> naming the test "
        "that runs its commands"
    )
    commands = block.commands()
    assert commands, f"{block.where}: a console block shows commands as lines starting '$ '"
    parser = build_parser()
    for command in commands:
        words = shlex.split(command)
        if words[0] != "extkit":
            continue
        try:
            parser.parse_args(words[1:])
        except SystemExit:
            pytest.fail(f"{block.where}: {command!r} is not a valid extkit command line")


# --- data blocks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block", [b for b in _all_blocks() if b.language == "json"], ids=lambda b: b.where
)
def test_json_blocks_parse(block: Block) -> None:
    assert isinstance(json.loads(block.code), (dict, list)), f"{block.where}: not a JSON document"


@pytest.mark.parametrize(
    "block", [b for b in _all_blocks() if b.language == "toml"], ids=lambda b: b.where
)
def test_toml_blocks_parse(block: Block) -> None:
    tomllib = pytest.importorskip("tomllib")
    assert tomllib.loads(block.code), f"{block.where}: an empty TOML block"


@pytest.mark.parametrize(
    "block", [b for b in _all_blocks() if b.language == "text"], ids=lambda b: b.where
)
def test_text_blocks_are_project_files_or_checked(block: Block) -> None:
    assert block.file is not None or block.marker is not None, (
        f"{block.where}: a text block is a project file (first line '# path/to/file') or is "
        "preceded by <!-- checked by tests/...::test -->"
    )


# --- python blocks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block",
    [b for b in _all_blocks() if b.language == "python" and b.file is not None],
    ids=lambda b: b.where,
)
def test_project_files_compile_and_their_page_has_a_check(block: Block) -> None:
    compile(block.code, block.where, "exec")
    assert block.page.name in PROJECT_CHECKS, (
        f"{block.where}: {block.page.name} builds project files but no test in "
        "PROJECT_CHECKS exercises them"
    )


@pytest.fixture
def in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EXTKIT_DISABLED_EXTENSIONS", raising=False)
    yield tmp_path


# --- project files, exercised together --------------------------------------------------------


def _write_project(page: Path, root: Path) -> None:
    for relative, text in project_files(page).items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def check_getting_started(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tutorial's extension, its test and its app, in-process: TimeElapsed is appended.

    The journey test runs the same files for real (wheel, pip, host subprocess)."""
    from extkit.testing import load_test_app, make_http_request

    _write_project(DOCS / "getting-started.md", root)
    monkeypatch.syspath_prepend(str(root / "extkit-stopwatch" / "src"))
    monkeypatch.delitem(sys.modules, "extkit_stopwatch", raising=False)
    registry = RecordingRegistry(keep_calls=False)
    with isolated_registry(registry):
        import extkit_stopwatch  # noqa: F401 - importing it registers the extension

        # The page's own test, run as pytest would (its fixtures given explicitly).
        test_module: dict[str, Any] = {"__name__": "test_extkit_stopwatch"}
        test_file = root / "extkit-stopwatch" / "tests" / "test_extkit_stopwatch.py"
        exec(compile(test_file.read_text(encoding="utf-8"), str(test_file), "exec"), test_module)
        engine = extkit.Engine(registry=registry, enabled=True)
        test_module["test_time_elapsed_is_appended"](registry, engine)

        app = load_test_app(root / "hello-app", registry)
        try:
            outcome = app.invoke(
                "HttpTrigger", make_http_request("GET", "/api/HttpTrigger?name=Ada")
            )
            assert outcome.response is not None
            body = outcome.response.get_body().decode()
            assert re.fullmatch(r"Hello, Ada! \(TimeElapsed: \d+\.\d{6} sec\)", body), body
            assert any(m.startswith("Time taken to execute HttpTrigger is ") for m in
                       outcome.messages("extkit.extensions.StopwatchExtension"))  # fmt: skip
        finally:
            app.shutdown()
            app.loaded.unload()
    requirements = (root / "hello-app" / "requirements.txt").read_text(encoding="utf-8")
    assert requirements.splitlines() == ["extkit>=0.1", "extkit-stopwatch>=0.1"]


#: Pages that build a project from file blocks -> the check that runs those files together.
PROJECT_CHECKS: dict[str, Callable[[Path, pytest.MonkeyPatch], None]] = {
    "getting-started.md": check_getting_started,
}


@pytest.mark.parametrize("page_name", sorted(PROJECT_CHECKS))
def test_project_pages_work(
    page_name: str, in_empty_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check = PROJECT_CHECKS[page_name]  # asserts on every file the page builds
    check(in_empty_folder, monkeypatch)


def test_the_parser_finds_markers_files_and_commands(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Intro\n\n"
        "<!-- run by tests/test_docs.py::test_there_are_docs -->\n"
        "```console\n$ extkit extensions --json\nsome output\n```\n\n"
        "```python\n# app/function_app.py\nx = 1\n```\n",
        encoding="utf-8",
    )
    console, python = code_blocks(page)
    assert console.marker == ("tests/test_docs.py", "test_there_are_docs")
    assert console.commands() == ["extkit extensions --json"]
    assert (python.file, python.line, python.marker) == ("app/function_app.py", 9, None)
    assert project_files(page) == {"app/function_app.py": "x = 1\n"}
    assert os.fspath(page).endswith("page.md")


def _without_blank_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def test_packaging_page_shows_what_the_scaffold_writes(tmp_path: Path) -> None:
    from extkit.scaffold import write_extension

    (block,) = [b for b in code_blocks(DOCS / "packaging.md") if b.language == "toml"]
    written = (write_extension("stopwatch", directory=tmp_path) / "pyproject.toml").read_text(
        encoding="utf-8"
    )
    shown_part = written.split("[tool.pytest.ini_options]")[0]  # the page leaves tool config out
    expected = [line for line in _without_blank_lines(shown_part) if not line.startswith("#")]
    assert _without_blank_lines(block.code) == expected


def test_host_page_settings_are_what_the_loader_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/host.md's function.json, local.settings.json and host.json, loaded as an app."""
    from extkit.loader import load_app

    blocks = [json.loads(b.code) for b in code_blocks(DOCS / "host.md") if b.language == "json"]
    function_json, local_settings, host_json, _cors_settings = blocks
    monkeypatch.delenv("PYTHON_ENABLE_WORKER_EXTENSIONS", raising=False)
    monkeypatch.delenv("EXTKIT_DISABLED_EXTENSIONS", raising=False)
    app_dir = tmp_path / "app"
    (app_dir / "items").mkdir(parents=True)
    (app_dir / "items" / "function.json").write_text(json.dumps(function_json))
    (app_dir / "items" / "__init__.py").write_text("def main(req):\n    return {'ok': True}\n")
    (app_dir / "local.settings.json").write_text(json.dumps(local_settings))
    (app_dir / "host.json").write_text(json.dumps(host_json))

    with isolated_registry():
        app = load_app(app_dir)
        try:
            assert os.environ["PYTHON_ENABLE_WORKER_EXTENSIONS"] == "1"
            assert app.engine.enabled is True
            settings = app.settings
            assert settings.route_prefix == "api"
            assert settings.function_timeout == 300
            assert settings.custom_headers == {"X-Content-Type-Options": "nosniff"}
            assert settings.log_level("extkit.extensions.TimerExtension") == 30
            assert settings.disabled_extensions == ("tracing",)
            assert settings.max_request_body_bytes == 1048576
            assert settings.local_http_port == 7072
            (function,) = app.functions
            spec = function.spec
            assert (spec.name, spec.route, spec.methods) == (
                "items",
                "items/{id:int}",
                ("GET", "POST"),
            )
            assert str(spec.auth_level) == "function"
        finally:
            app.unload()
    assert "PYTHON_ENABLE_WORKER_EXTENSIONS" not in os.environ


def test_host_page_cors_example_is_what_the_loader_reads(tmp_path: Path) -> None:
    """docs/host.md's CORS section: its local.settings.json, as the host reads it."""
    from extkit.cors import CorsPolicy
    from extkit.loader import load_app

    blocks = [json.loads(b.code) for b in code_blocks(DOCS / "host.md") if b.language == "json"]
    cors_settings = blocks[3]
    assert "CORS" in cors_settings["Host"]
    function_app = "import extkit\napp = extkit.FunctionApp()\n@app.route()\ndef hi(req): ...\n"
    files = {"local.settings.json": cors_settings, "function_app.py": function_app}
    with isolated_registry():
        app = load_app(write_app(tmp_path, files))
        try:
            assert app.settings.cors == CorsPolicy(
                origins=frozenset({"http://localhost:5173", "https://shop.example.com"}),
                credentials=True,
            )
        finally:
            app.unload()
