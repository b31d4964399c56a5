"""Run ``extkit start`` as a real subprocess for end-to-end tests.

Typical use::

    from hostutil import running_host

    def test_hello(tmp_path):
        with running_host(APPS / "hello", env={"PYTHON_ENABLE_WORKER_EXTENSIONS": "1"}) as host:
            response = host.get("/api/hello?name=Ada")
            assert response.status_code == 200
            assert "Hello, Ada" in response.text
            host.wait_for_output("Time taken to execute")

- The host binds 127.0.0.1 on a free port; readiness is an HTTP answer (any status) from the
  server, polled with a bounded deadline. If the port was taken in between, it retries on another.
- stdout and stderr go to files (never a pipe that could fill up and stall the server); read them
  with :meth:`HostProcess.output`, :meth:`HostProcess.json_logs` (``--log-format json``) or wait
  for a line with :meth:`HostProcess.wait_for_output`.
- The process is always stopped when the ``with`` block ends (SIGTERM, then SIGKILL after a
  deadline); :meth:`HostProcess.stop` stops it earlier and returns its exit code.
- :func:`run_host_to_exit` runs a host that is expected to exit by itself (a bad app).
- :func:`running_server` runs another server serving the host (gunicorn with ``extkit.asgi:app``)
  the same way.
- :func:`required_program` finds a server or browser a test starts (``redis-server``,
  ``chromium``): missing, the test is skipped, or fails when ``EXTKIT_REQUIRE_SERVERS`` is set
  (CI installs them, so there a missing one is a broken set-up, not a reason to skip).
- :func:`app_copy` copies a fixture app with a ``host.json`` of the test's own.
- The environment is this process's, minus variables that change the host's behaviour
  (``EXTKIT_*``, ``OTEL_*``, the extensions gate, worker and thread counts), with
  ``OTEL_TRACES_EXPORTER=none`` and ``OTEL_METRICS_EXPORTER=none`` by default; pass ``env=`` to
  set what a test needs (it wins over all of these).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

__all__ = [
    "HostProcess",
    "HostStartError",
    "app_copy",
    "free_port",
    "host_environment",
    "required_program",
    "run_host_to_exit",
    "running_host",
    "running_server",
    "wait_until",
]

#: How long a host may take to answer its first request, and to stop after SIGTERM.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


class HostStartError(RuntimeError):
    """The host exited or did not answer before the deadline; the message has its output."""


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (the host may still lose a race for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def required_program(name: str, apt_package: str) -> str:
    """The path of program ``name``; skip the test without it (fail under
    ``EXTKIT_REQUIRE_SERVERS``), naming the Debian package to install."""
    found = shutil.which(name)
    if found is None:
        why = f"{name} is not installed (Debian: apt-get install {apt_package})"
        if os.environ.get("EXTKIT_REQUIRE_SERVERS"):
            pytest.fail(why)
        pytest.skip(why)
    return found


def app_copy(source: Path, tmp: Path, **host_json: Any) -> Path:
    """A copy of the app folder ``source`` in ``tmp``, with ``host_json`` (and version 2.0) as
    its whole host.json."""
    target = tmp / "app"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    settings = {"version": "2.0", **host_json}
    (target / "host.json").write_text(json.dumps(settings), encoding="utf-8")
    return target


def wait_until(
    condition: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
        time.sleep(interval)


def host_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a test host runs with: this one, unbuffered, with ``extra`` on top.

    Variables that change the host's behaviour and could leak in from a developer's shell are
    removed, so each test states what it needs.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EXTKIT_", "OTEL_", "PYTHON_ENABLE_WORKER_EXTENSIONS"))
        and key not in {"FUNCTIONS_WORKER_PROCESS_COUNT", "PYTHON_THREADPOOL_THREAD_COUNT"}
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("OTEL_TRACES_EXPORTER", "none")  # tests opt in to span output explicitly
    env.setdefault("OTEL_METRICS_EXPORTER", "none")
    env.update(extra or {})
    return env


def _command(app_dir: str | os.PathLike[str], args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "extkit", "start", os.fspath(app_dir), *args]


class HostProcess:
    """A running ``extkit start``: its URL, an HTTP client, and its captured output."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        stdout_path: Path,
        stderr_path: Path,
    ) -> None:
        self.process = process
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.client = httpx.Client(base_url=self.base_url, timeout=30.0)

    # --- HTTP -----------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, **kwargs)

    def get_at_once(self, path: str, count: int) -> list[httpx.Response]:
        """``count`` GET requests for ``path`` sent together, one thread each, in that order."""
        with ThreadPoolExecutor(count) as clients:
            calls = [clients.submit(self.get, path) for _ in range(count)]
            return [call.result() for call in calls]

    # --- output ---------------------------------------------------------------------------

    def output(self) -> str:
        """Everything the host wrote to stdout so far."""
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def errors(self) -> str:
        """Everything the host wrote to stderr so far."""
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def json_logs(self) -> list[dict[str, Any]]:
        """The stdout lines that are JSON objects (the host runs with ``--log-format json``)."""
        found = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue  # a line being written right now
        return found

    def wait_for_output(self, text: str, *, timeout: float = 10.0) -> str:
        """Wait until stdout contains ``text``; return the whole output."""
        return str(
            wait_until(
                lambda: (out := self.output()) and text in out and out,
                timeout=timeout,
                what=f"{text!r} in the host's output",
            )
        )

    def wait_for_log(
        self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Wait until a JSON log line satisfies ``predicate``; return that line."""

        def find() -> dict[str, Any] | None:
            return next((line for line in self.json_logs() if predicate(line)), None)

        return dict(wait_until(find, timeout=timeout, what="a matching log line"))

    # --- lifetime -------------------------------------------------------------------------

    def signal(self, signum: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait (graceful shutdown); SIGKILL if it takes longer than ``timeout``."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(
                    f"host did not stop within {timeout:g} s of SIGTERM\n{self.describe()}"
                ) from None
        return self.process.returncode

    def describe(self) -> str:
        return f"--- stdout ---\n{self.output()}\n--- stderr ---\n{self.errors()}"

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise HostStartError(
                    f"host exited with code {self.process.returncode} before serving\n"
                    + self.describe()
                )
            try:
                self.client.get("/", timeout=1.0)  # any HTTP answer (404 too) means ready
                return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise HostStartError(f"host did not answer within {timeout:g} s\n{self.describe()}")
            time.sleep(0.05)


def _port_lost(host: HostProcess) -> bool:
    text = host.output() + host.errors()
    lowered = text.lower()
    return any(lost in lowered for lost in ("address already in use", "errno 98", "in use: ("))


@contextmanager
def running_host(
    app_dir: str | os.PathLike[str],
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    start_timeout: float = START_TIMEOUT,
    attempts: int = 3,
) -> Iterator[HostProcess]:
    """Start ``extkit start APP_DIR --port <free> *args``, wait until it serves, stop it after.

    ``args`` are more CLI flags (``"--log-format", "json"``, ``"--workers", "2"``); ``env`` is
    added to :func:`host_environment`.
    """
    with running_server(
        lambda port: _command(app_dir, ["--port", str(port), *args]),
        env=env,
        cwd=cwd,
        start_timeout=start_timeout,
        attempts=attempts,
    ) as host:
        yield host


@contextmanager
def running_server(
    command: Callable[[int], Sequence[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    start_timeout: float = START_TIMEOUT,
    attempts: int = 3,
) -> Iterator[HostProcess]:
    """Start ``command(port)`` for a free port on 127.0.0.1 (any server serving the host:
    ``extkit start``, gunicorn, granian), wait until it serves, stop it after, as
    :func:`running_host` does."""
    environment = host_environment(env)
    for attempt in range(attempts):
        port = free_port()
        workdir = Path(tempfile.mkdtemp(prefix="extkit-host-"))
        stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
        with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
            process = subprocess.Popen(
                list(command(port)), stdout=stdout, stderr=stderr, env=environment, cwd=cwd
            )
        host = HostProcess(process, port, stdout_path, stderr_path)
        try:
            try:
                host._wait_ready(start_timeout)
            except HostStartError:
                if attempt + 1 < attempts and _port_lost(host):
                    continue  # another process took the port in between: try another one
                raise
            yield host
            return
        finally:
            host.client.close()
            if process.poll() is None:
                process.kill()
            process.wait()


def run_host_to_exit(
    app_dir: str | os.PathLike[str],
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a host that should exit by itself (an app that fails to load) and return its result.

    Binds a free port in case it does start, and kills it if it is still running at ``timeout``.
    """
    return subprocess.run(
        _command(app_dir, ["--port", str(free_port()), *args]),
        capture_output=True,
        text=True,
        env=host_environment(env),
        timeout=timeout,
        check=False,
    )
