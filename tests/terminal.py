"""Type the docs' commands as a reader does: into a bash session, one at a time, in a fresh folder.

Typical use::

    with Terminal(work_folder) as shell:
        shell.run("python -m venv .venv")
        shell.run(". .venv/bin/activate")          # the session keeps it, as a terminal does
        out = shell.run("python -m pip install extkit")

- :class:`Terminal` is one ``bash`` process; ``cd``, ``export`` and ``. .venv/bin/activate`` last
  for the commands after them. :meth:`Terminal.run` types a command and waits (bounded) until it
  finished, failing the test with the session's output if it exits non-zero; :meth:`Terminal.type`
  types one that keeps running (``extkit start``), and :meth:`Terminal.interrupt` is Ctrl+C.
- Output goes to a file (never a pipe that could fill up), stdout and stderr together, as on
  screen.
- The environment is a reader's: :func:`reader_environment` leaves out the test run's own
  virtualenv and extkit's variables, and puts a ``python`` on ``PATH`` that is the interpreter
  running the tests (outside any virtualenv), so ``python -m venv`` makes a fresh one from it.
- :func:`clone_checkout` puts a clone of this repository where a page says to have extkit's
  source; it holds what is committed, as in CI, which runs from a clean clone.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import pytest
from hostutil import host_environment, wait_until

__all__ = ["ROOT", "STEP_TIMEOUT", "Terminal", "clone_checkout", "reader_environment"]

ROOT = Path(__file__).resolve().parent.parent
#: Seconds one typed command may take (pip downloads and package builds included).
STEP_TIMEOUT = 600.0

_DONE = re.compile(r"^__typed_command_(\d+)_exited_with_(\d+)__$", re.MULTILINE)


def reader_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A reader's shell environment: no virtualenv active, no test-run or extkit variables, and
    ``python`` on ``PATH`` being the base interpreter of the one running the tests."""
    env = host_environment()
    for name in list(env):
        if name in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"} or name.startswith("PYTEST_"):
            del env[name]
    del env["OTEL_TRACES_EXPORTER"], env["OTEL_METRICS_EXPORTER"]  # a reader sets neither
    ours = Path(sys.prefix).resolve()
    path = [
        entry
        for entry in env.get("PATH", "").split(os.pathsep)
        if entry and not Path(entry).resolve().is_relative_to(ours)
    ]
    env["PATH"] = os.pathsep.join([str(_python_folder()), *path])
    env.update(extra or {})
    return env


@functools.cache
def _python_folder() -> Path:
    """A folder holding only ``python``: the base interpreter of the one running the tests."""
    folder = Path(tempfile.mkdtemp(prefix="reader-bin-"))
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (folder / "python").symlink_to(base if base.exists() else Path(sys.executable).resolve())
    return folder


def clone_checkout(target: Path) -> Path:
    """``git clone`` this repository to ``target`` (what is committed, as CI has it)."""
    done = subprocess.run(
        ["git", "clone", "--quiet", str(ROOT), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"git clone {ROOT} failed:\n{done.stderr}"
    return target


class Terminal:
    """One bash session that a test types commands into."""

    def __init__(self, cwd: Path, env: Mapping[str, str] | None = None) -> None:
        self.log_path = Path(tempfile.mkdtemp(prefix="terminal-")) / "screen.txt"
        self._count = 0
        self._waiting_for: tuple[int, int] | None = None  # (command number, output offset)
        with open(self.log_path, "wb") as screen:
            self.process = subprocess.Popen(
                ["bash", "--noprofile", "--norc"],
                stdin=subprocess.PIPE,
                stdout=screen,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env if env is not None else reader_environment()),
                start_new_session=True,  # its own process group, for Ctrl+C
            )

    def __enter__(self) -> Terminal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def screen(self) -> str:
        """Everything the session printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def type(self, command: str) -> None:
        """Type ``command`` and Enter, without waiting for it (see :meth:`wait`)."""
        assert self._waiting_for is None, "the previous command is still running"
        self._count += 1
        self._waiting_for = (self._count, len(self.screen()))
        # In a group with stdin from /dev/null, so a command cannot read the next typed line.
        line = (
            f"{{ {command}\n}} </dev/null\n"
            f"printf '\\n__typed_command_{self._count}_exited_with_%s__\\n' $?\n"
        )
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode())
        self.process.stdin.flush()

    def poll(self) -> tuple[int, str] | None:
        """``(exit status, output)`` once the command typed last has exited, else ``None``."""
        assert self._waiting_for is not None, "no command is running"
        number, offset = self._waiting_for
        screen = self.screen()
        for found in _DONE.finditer(screen, offset):
            if int(found.group(1)) == number:
                return int(found.group(2)), screen[offset : found.start()].rstrip("\n")
        if self.process.poll() is not None:
            pytest.fail(f"the terminal closed while a command ran\n{self.describe()}")
        return None

    def wait(self, *, timeout: float = STEP_TIMEOUT) -> tuple[int, str]:
        """Wait until the command typed last exits: its exit status and what it printed."""
        status, output = wait_until(self.poll, timeout=timeout, interval=0.1, what="the command")
        self._waiting_for = None
        return status, output

    def run(self, command: str, *, timeout: float = STEP_TIMEOUT) -> str:
        """Type ``command``, wait until it exits; fail the test unless it exits with 0."""
        self.type(command)
        status, output = self.wait(timeout=timeout)
        if status != 0:
            pytest.fail(f"$ {command}\nexited with {status}\n{self.describe()}")
        return output

    def interrupt(self) -> None:
        """Ctrl+C: SIGINT to the session's processes."""
        os.killpg(self.process.pid, signal.SIGINT)

    def describe(self) -> str:
        return f"--- terminal ---\n{self.screen()}"

    def close(self) -> None:
        """End the session (and anything still running in it)."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.close()
                self.process.wait(10)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
