"""Signals to ``extkit start``, one process or several: the first SIGTERM/SIGINT drains (in-flight
requests finish, new ones are refused, exit status 0); a second one stops waiting for them, still
runs the shutdown hooks, and exits promptly with 128 + the signal's number."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from hostutil import HostProcess, running_host, wait_until

APPS = Path(__file__).parent / "apps"
#: What the host says when it starts to drain (and how to stop waiting).
DRAINING = "a second SIGTERM or SIGINT stops waiting"
#: How long a forced stop may take, shutdown hooks included (they get at most 5 s).
FORCED_WITHIN = 8.0


class InFlight:
    """One request sent from a thread of its own, so the test can signal the host meanwhile."""

    def __init__(self, host: HostProcess, path: str) -> None:
        self._outcome: list[httpx.Response | Exception] = []
        self._thread = threading.Thread(target=self._call, args=(host.base_url, path))
        self._thread.start()

    def _call(self, base_url: str, path: str) -> None:
        try:
            with httpx.Client(base_url=base_url, timeout=40) as client:
                self._outcome.append(client.get(path))
        except Exception as exc:  # the test reports it
            self._outcome.append(exc)

    def response(self, timeout: float = 40.0) -> httpx.Response:
        self._thread.join(timeout)
        assert self._outcome, f"no answer within {timeout:g} s"
        outcome = self._outcome[0]
        assert isinstance(outcome, httpx.Response), f"no HTTP answer: {outcome!r}"
        return outcome


def refused(port: int) -> bool:
    """Whether a new connection to the host's port is refused (nobody listens any more)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True


def exit_status(host: HostProcess, timeout: float) -> int:
    try:
        return host.process.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {timeout:g} s later\n{host.describe()}") from None


WORKERS = pytest.mark.parametrize("workers", ["1", "2"], ids=["one-process", "two-workers"])


@WORKERS
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_the_first_signal_drains_and_exits_0(tmp_path: Path, signum: int, workers: str) -> None:
    marker = tmp_path / "shutdown.txt"
    env = {"PROBE_SHUTDOWN_FILE": str(marker)}
    with running_host(APPS / "host_basic", "--workers", workers, env=env) as host:
        call = InFlight(host, "/api/sleep/3000")
        host.wait_for_output("sleep started for 3000 ms")
        host.signal(signum)
        host.wait_for_output(DRAINING)
        wait_until(lambda: refused(host.port), timeout=2.0, what="new connections refused")
        response = call.response()
        assert (response.status_code, response.text) == (200, "slept 3000 ms")
        assert exit_status(host, 15) == 0
        assert marker.read_text() == "shutdown hook ran\n"


@WORKERS
@pytest.mark.parametrize(
    ("first", "second"),
    [
        (signal.SIGTERM, signal.SIGTERM),
        (signal.SIGINT, signal.SIGINT),
        (signal.SIGTERM, signal.SIGINT),
    ],
    ids=["TERM-TERM", "INT-INT", "TERM-INT"],
)
def test_a_second_signal_stops_waiting_runs_the_shutdown_hooks_and_exits_non_zero(
    tmp_path: Path, first: int, second: int, workers: str
) -> None:
    marker = tmp_path / "shutdown.txt"
    env = {"PROBE_SHUTDOWN_FILE": str(marker)}
    with running_host(APPS / "host_basic", "--workers", workers, env=env) as host:
        calls = [InFlight(host, "/api/sleep/30000"), InFlight(host, "/api/asleep/30000")]
        host.wait_for_output("sleep started for 30000 ms")
        host.wait_for_output("asleep started for 30000 ms")
        host.signal(first)
        host.wait_for_output(DRAINING)
        assert not marker.exists()
        forced = time.monotonic()
        host.signal(second)
        assert exit_status(host, FORCED_WITHIN) == 128 + second
        assert time.monotonic() - forced < FORCED_WITHIN
        assert marker.read_text() == "shutdown hook ran\n"
        for call in calls:  # answered, not dropped: the caller may retry elsewhere
            response = call.response(timeout=5)
            assert response.status_code == 503, response.text
            assert response.headers["x-invocation-id"] in response.text
        assert "Traceback" not in host.output() + host.errors()
