"""The host survives what production throws at it: each test is one fault, against a real host."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostutil import HostProcess, app_copy, run_host_to_exit, running_host, wait_until

APPS = Path(__file__).parent / "apps"


def fault_app(tmp: Path, **host_json: Any) -> Path:
    """The fault app in ``tmp``, with ``host_json`` as its host.json."""
    return app_copy(APPS / "host_faults", tmp, **host_json)


@pytest.fixture(scope="module", params=[None, "00:00:05"], ids=["no-timeout", "timeout"])
def host(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostProcess]:
    extra = {} if request.param is None else {"functionTimeout": request.param}
    app = fault_app(tmp_path_factory.mktemp("faults"), **extra)
    with running_host(app, "--log-format", "json") as running:
        yield running


def errors_of(host: HostProcess, invocation_id: str) -> list[dict[str, Any]]:
    return [
        line
        for line in host.json_logs()
        if line.get("level") == "error" and invocation_id in json.dumps(line)
    ]


def one_error(host: HostProcess, invocation_id: str) -> dict[str, Any]:
    """Exactly one ERROR line for the invocation, and none from the server itself."""
    wait_until(lambda: errors_of(host, invocation_id), what=f"an error line for {invocation_id}")
    # One more request served after it: whatever the invocation logged is written by now.
    assert host.get("/api/sync/none").status_code == 200
    found = errors_of(host, invocation_id)
    assert len(found) == 1, found
    assert "Exception in ASGI application" not in host.output() + host.errors()
    return dict(found[0])


def raw_exchange(host: HostProcess, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it or goes quiet."""
    with socket.create_connection(("127.0.0.1", host.port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        return received


# --- 1. no request can end or wedge the host ----------------------------------------------------


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("kind", ["exit", "interrupt", "custom"])
def test_a_base_exception_from_a_function_costs_one_request(
    host: HostProcess, flavour: str, kind: str
) -> None:
    response = host.get(f"/api/{flavour}/{kind}")
    assert response.status_code == 500
    invocation_id = response.headers["x-invocation-id"]
    assert invocation_id in response.text
    line = one_error(host, invocation_id)
    assert line["invocation_id"] == invocation_id
    assert f"{flavour}_fails" in line["event"]
    assert host.process.poll() is None
    assert host.get(f"/api/{flavour}/none").status_code == 200


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_base_exception_from_a_post_hook_names_the_extension(
    host: HostProcess, flavour: str
) -> None:
    response = host.get(f"/api/{flavour}/none", params={"boom": "1"})
    assert response.status_code == 500
    invocation_id = response.headers["x-invocation-id"]
    line = one_error(host, invocation_id)
    assert "Boom" in line["event"] and f"{flavour}_fails" in line["event"]
    # The extension outside it still ran its post hook, and saw the failure.
    witnessed = wait_until(
        lambda: [
            entry["witnessed"]
            for entry in host.json_logs()
            if entry.get("invocation_id") == invocation_id and "witnessed" in entry
        ],
        what="the witness post hook",
    )
    assert witnessed == ["HookFault"]
    assert host.get(f"/api/{flavour}/none").status_code == 200
    assert host.process.poll() is None


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling() is Python 3.11+")
def test_a_function_raising_cancellation_does_not_cancel_the_host(host: HostProcess) -> None:
    for flavour in ("sync", "async"):
        response = host.get(f"/api/{flavour}/cancel")
        assert response.status_code == 500
        one_error(host, response.headers["x-invocation-id"])
    assert host.get("/api/async/none").status_code == 200


# --- 5. every response is valid HTTP ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "function", "problem"),
    [
        ("/api/status/999", "bad_status", "999"),
        ("/api/status/600", "bad_status", "600"),
        ("/api/status/101", "bad_status", "101"),
        ("/api/status/0", "bad_status", "0"),
        ("/api/header", "bad_header", "x-next"),
        ("/api/name", "bad_header_name", "bad name"),
    ],
)
def test_an_invalid_response_is_a_500_never_a_reset(
    host: HostProcess, path: str, function: str, problem: str
) -> None:
    response = host.get(path)
    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    invocation_id = response.headers["x-invocation-id"]
    line = one_error(host, invocation_id)
    assert line["invocation_id"] == invocation_id
    assert function in line["event"] and problem in line["event"]


# --- 2. timeouts that mean something --------------------------------------------------------------


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """One function thread, a two-second limit: a burst queues, a hung call holds the thread."""
    app = fault_app(tmp_path_factory.mktemp("busy"), functionTimeout="00:00:02")
    with running_host(app, "--log-format", "json", "--threads", "1") as running:
        yield running


def started_ids(host: HostProcess) -> set[str]:
    return {line["invocation_id"] for line in host.json_logs() if "slept" in str(line.get("event"))}


def test_the_limit_counts_from_the_start_and_a_call_that_cannot_start_never_runs(
    busy: HostProcess,
) -> None:
    # Three 1.2 s calls on one thread: the second waits 1.2 s and then runs in its 2 s; the
    # third would wait 2.4 s, so it is refused at 2 s instead of running later.
    responses = busy.get_at_once("/api/sleep/1200", 3)
    assert sorted(r.status_code for r in responses) == [200, 200, 503]
    refused = next(r for r in responses if r.status_code == 503)
    assert int(refused.headers["retry-after"]) >= 1
    refused_id = refused.headers["x-invocation-id"]
    assert busy.get("/api/sleep/10").status_code == 200  # the thread is free again
    ran = started_ids(busy)
    assert refused_id not in ran
    assert {r.headers["x-invocation-id"] for r in responses if r.status_code == 200} <= ran


def test_a_hung_sync_call_is_answered_at_its_limit_and_its_late_end_is_logged(
    busy: HostProcess,
) -> None:
    started = time.monotonic()
    response = busy.get("/api/hang", params={"s": "3.5"})
    assert response.status_code == 504
    assert time.monotonic() - started < 3.2
    invocation_id = response.headers["x-invocation-id"]
    # A replacement thread serves others meanwhile.
    assert busy.get("/api/sleep/10").status_code == 200
    late = busy.wait_for_log(
        lambda line: line.get("invocation_id") == invocation_id and "ended" in line["event"],
        timeout=10,
    )
    assert late["level"] == "warning" and "after its 2 s time limit" in late["event"]
    # With one thread the pool lends one replacement: that is its cap, and it says so.
    cap = [line for line in busy.json_logs() if "replacement threads are lent" in line["event"]]
    assert cap and cap[0]["level"] == "warning" and "--workers" in cap[0]["event"]


# --- 4. secrets: keys never fail open ------------------------------------------------------------


@pytest.mark.parametrize("value", [",", "  ", ""])
def test_a_key_variable_that_holds_no_key_stops_the_host(tmp_path: Path, value: str) -> None:
    result = run_host_to_exit(fault_app(tmp_path), env={"EXTKIT_FUNCTION_KEY": value})
    assert result.returncode != 0
    assert "EXTKIT_FUNCTION_KEY" in result.stderr and "holds no key" in result.stderr


def test_open_keyed_functions_are_a_warning_even_at_log_level_none(tmp_path: Path) -> None:
    app = fault_app(tmp_path, logging={"logLevel": {"default": "None"}})
    with running_host(app, "--log-format", "json") as running:
        line = running.wait_for_log(lambda entry: "no keys are configured" in entry["event"])
    assert line["level"] == "warning" and "keyed" in line["event"]


# --- 7. deep JSON, and a request framed two ways --------------------------------------------------


def test_json_nested_too_deeply_is_a_value_error_for_the_function(host: HostProcess) -> None:
    response = host.post("/api/json", content=b"[" * 100_000)
    assert response.status_code == 200
    assert response.text.startswith("ValueError") and "nested too deeply" in response.text


def framed_twice(path: str) -> bytes:
    """A request with both Content-Length and Transfer-Encoding, and a second request after it,
    as a smuggling attempt would send it. RFC 9112, 6.3: the server must close the connection
    after responding, so the second is never read as a request."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        "GET /api/sync/none HTTP/1.1\r\nHost: x\r\n\r\n"
    ).encode()


@pytest.mark.parametrize("path", ["/api/sync/none", "/nowhere"])
def test_a_request_with_content_length_and_transfer_encoding_is_answered_then_closed(
    host: HostProcess, path: str
) -> None:
    started = time.monotonic()
    received = raw_exchange(host, framed_twice(path), timeout=4.0)
    assert time.monotonic() - started < 3.0, "the server left the connection open"
    head = received.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 "), received
    assert b"connection: close" in head
    # httptools (the default where installed) refuses such a request itself (400, before the
    # app: no invocation); on h11 the host answers it (below).
    assert head.startswith(b"http/1.1 400 ") or b"x-invocation-id: " in head, received
    assert received.count(b"HTTP/1.1 ") == 1, received


@pytest.fixture(scope="module")
def h11_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """The fault app served on h11, which hands a request framed two ways to the host."""
    app = fault_app(tmp_path_factory.mktemp("faults-h11"))
    with running_host(app, "--http", "h11") as running:
        yield running


@pytest.mark.parametrize(
    ("path", "status"), [("/api/sync/none", b"200"), ("/nowhere", b"404")], ids=["function", "404"]
)
def test_on_h11_the_host_answers_a_request_framed_twice_and_closes_the_connection(
    h11_host: HostProcess, path: str, status: bytes
) -> None:
    # A function's answer (the host read the request's headers) and the host's own 404 (it
    # did not get that far) alike.
    received = raw_exchange(h11_host, framed_twice(path), timeout=4.0)
    head = received.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 " + status + b" "), received
    assert b"x-invocation-id: " in head
    assert b"connection: close" in head
    assert received.count(b"HTTP/1.1 ") == 1, received
