"""Connection limits, against a real host: slow and silent clients are cut off, requests past the
configured caps are refused, and running out of file descriptors is logged once a second."""

from __future__ import annotations

import os
import select
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from hostutil import HostProcess, running_host, wait_until
from test_host_faults import fault_app

HEADERS_TIMEOUT = 2.0
SLOW_START = b"GET /api/sync/none HTTP/1.1\r\nHost: x\r\nX-Slow: "


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """Two seconds for a request's headers; two HTTP functions at once and one more queued."""
    http = {
        "requestHeadersTimeout": "00:00:02",
        "maxConcurrentRequests": 2,
        "maxOutstandingRequests": 3,
    }
    app = fault_app(tmp_path_factory.mktemp("guarded"), extensions={"http": http})
    with running_host(app, "--log-format", "json") as running:
        yield running


def connect(host: HostProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", host.port), timeout=5.0)


def watch(socks: Sequence[socket.socket], *, deadline: float, trickle: bool) -> list[float]:
    """When the server closed each of ``socks`` (``time.monotonic()``), watching until all are
    closed or ``deadline``; with ``trickle``, each open one sends a byte every half second."""
    closed: dict[socket.socket, float] = {}
    while len(closed) < len(socks) and time.monotonic() < deadline:
        still_open = [sock for sock in socks if sock not in closed]
        readable, _, _ = select.select(still_open, [], [], 0.5)  # also the trickle's pace
        now = time.monotonic()
        for sock in readable:
            try:
                data = sock.recv(65536)
            except OSError:  # reset
                data = b""
            if not data:
                closed[sock] = now
        if trickle:
            for sock in still_open:
                if sock not in closed:
                    try:
                        sock.send(b"a")
                    except OSError:
                        closed[sock] = now
    return [closed[sock] for sock in socks if sock in closed]


def read_response(sock: socket.socket, body: bytes) -> bytes:
    """Read from ``sock`` until a response ending in ``body`` has arrived."""
    received = b""
    while not received.endswith(body):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


# --- a request's headers must arrive in time ----------------------------------------------------


def test_slow_headers_are_cut_off_while_other_requests_are_served(guarded: HostProcess) -> None:
    socks = [connect(guarded) for _ in range(50)]
    try:
        started = time.monotonic()
        for sock in socks:
            sock.sendall(SLOW_START)
        # Served meanwhile; on a connection of its own, which the idle timeout would close too.
        meanwhile = guarded.get("/api/sync/none", headers={"connection": "close"})
        assert meanwhile.status_code == 200
        closed = watch(socks, deadline=started + HEADERS_TIMEOUT + 8, trickle=True)
        assert len(closed) == len(socks), f"{len(socks) - len(closed)} slow connections stay open"
        assert min(closed) - started > HEADERS_TIMEOUT - 0.5
        assert max(closed) - started < HEADERS_TIMEOUT + 3
        assert guarded.get("/api/sync/none").status_code == 200
    finally:
        for sock in socks:
            sock.close()


def test_a_connection_that_sends_nothing_is_closed(guarded: HostProcess) -> None:
    with connect(guarded) as sock:
        started = time.monotonic()
        closed = watch([sock], deadline=started + HEADERS_TIMEOUT + 8, trickle=False)
        assert closed, "a silent connection stays open"
        assert HEADERS_TIMEOUT - 0.5 < closed[0] - started < HEADERS_TIMEOUT + 3


def test_a_kept_alive_connection_cannot_trickle_its_next_request(guarded: HostProcess) -> None:
    with connect(guarded) as sock:
        sock.sendall(b"GET /api/sync/none HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock, b"sync ok").startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        sock.sendall(SLOW_START)
        closed = watch([sock], deadline=started + HEADERS_TIMEOUT + 8, trickle=True)
        assert closed, "the second request's headers trickle in forever"
        assert closed[0] - started < HEADERS_TIMEOUT + 3


# --- maxConcurrentRequests / maxOutstandingRequests ---------------------------------------------


def test_requests_past_max_outstanding_are_refused_with_429(guarded: HostProcess) -> None:
    responses = guarded.get_at_once("/api/concurrent/1000", 6)
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 429, 429, 429]
    # Two ran at once and the third waited for one of them, never three at a time.
    assert max(int(r.text.split()[1]) for r in responses if r.status_code == 200) == 2
    for refused in (r for r in responses if r.status_code == 429):
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["x-invocation-id"]
        assert "maxOutstandingRequests" in refused.text
    warnings = [
        line for line in guarded.json_logs() if "maxOutstandingRequests" in str(line["event"])
    ]
    assert len(warnings) == 1, warnings  # three refusals in a burst: one line
    assert warnings[0]["level"] == "warning" and "concurrent" in warnings[0]["event"]


@pytest.fixture(scope="module")
def one_at_a_time(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """One HTTP function at a time, a two-second function timeout."""
    app = fault_app(
        tmp_path_factory.mktemp("one"),
        functionTimeout="00:00:02",
        extensions={"http": {"maxConcurrentRequests": 1}},
    )
    with running_host(app, "--log-format", "json") as running:
        yield running


def test_a_queued_request_that_cannot_start_within_the_timeout_is_refused_and_never_runs(
    one_at_a_time: HostProcess,
) -> None:
    # Three 1.2 s calls, one at a time: the second waits 1.2 s and runs; the third would wait
    # 2.4 s, past the 2 s limit, so it is answered 503 at 2 s instead of running later.
    responses = one_at_a_time.get_at_once("/api/concurrent/1200", 3)
    assert sorted(r.status_code for r in responses) == [200, 200, 503]
    assert all(r.text == "running 1" for r in responses if r.status_code == 200)
    refused = next(r for r in responses if r.status_code == 503)
    assert int(refused.headers["retry-after"]) >= 1
    assert one_at_a_time.get("/api/concurrent/10").status_code == 200  # free again
    started = [
        line["invocation_id"]
        for line in one_at_a_time.json_logs()
        if line["event"] == "concurrent: started"
    ]
    assert len(started) == 3 and refused.headers["x-invocation-id"] not in started


# --- running out of file descriptors ------------------------------------------------------------


def accept_errors(host: HostProcess) -> list[dict[str, Any]]:
    return [line for line in host.json_logs() if "accept" in str(line["event"]).lower()]


def answers(host: HostProcess) -> bool:
    try:
        return host.get("/api/sync/none", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses prlimit and /proc")
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_running_out_of_descriptors_is_logged_once_a_second_and_the_host_recovers(
    tmp_path: Path, loop: str
) -> None:
    """asyncio reports every failed accept (thousands a second): one ERROR line a second is
    left of them. uvloop waits for descriptors without a word: nothing floods there either."""
    import resource

    if loop == "uvloop":
        pytest.importorskip("uvloop")
    app = fault_app(tmp_path, extensions={"http": {"requestHeadersTimeout": "00:00:02"}})
    with running_host(app, "--log-format", "json", "--loop", loop) as host:
        pid = host.process.pid
        limit = len(os.listdir(f"/proc/{pid}/fd")) + 8
        _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, hard))
        held = [connect(host) for _ in range(40)]  # the kernel queues what the host cannot take
        try:
            if loop == "asyncio":
                (first, *_) = wait_until(
                    lambda: accept_errors(host), what="a log line about refused connections"
                )
                assert first["level"] == "error" and first["logger"] == "extkit.host"
                assert "too many open files" in first["event"].lower()
                assert f"limit is {limit}" in first["event"]
            window_end = time.monotonic() + 4.0
            bound = 1 + 4 + 1  # the first line, then at most one a second, and a second's slack
            wait_until(
                lambda: time.monotonic() > window_end or len(accept_errors(host)) > bound,
                timeout=10,
                what="the end of the measuring window",
            )
            assert len(accept_errors(host)) <= bound
            assert len(host.output().splitlines()) < 100  # no flood of any other kind either
        finally:
            for sock in held:
                sock.close()
        wait_until(lambda: answers(host), timeout=15, what="the host to answer again")


def test_the_headers_timeout_holds_in_every_worker_process(tmp_path: Path) -> None:
    app = fault_app(tmp_path, extensions={"http": {"requestHeadersTimeout": "00:00:02"}})
    with running_host(app, "--log-format", "json", "--workers", "2") as host:
        socks = [connect(host) for _ in range(8)]  # the kernel spreads them over both workers
        try:
            started = time.monotonic()
            closed = watch(socks, deadline=started + HEADERS_TIMEOUT + 8, trickle=False)
            assert len(closed) == len(socks), f"{len(socks) - len(closed)} silent ones stay open"
            assert max(closed) - started < HEADERS_TIMEOUT + 3
        finally:
            for sock in socks:
                sock.close()
