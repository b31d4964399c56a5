"""Streaming, against a real host: responses sent as they are produced, request bodies read as they
arrive, and the extensions' post hooks run once the stream has ended.

The fixture app's generators wait on gates that a test opens with a second request, so a test
knows a chunk arrived while the generator was still running (and that the second request was
served meanwhile). Chunks are read off a raw socket, one HTTP chunk each, as the server framed
them.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apputil import write_app
from hostutil import HostProcess, app_copy, running_host, wait_until

import extkit
from extkit import HttpRequest, StreamingResponse
from extkit.loader import AppLoadError, load_app
from extkit.testing import AppUnderTest

APP = Path(__file__).parent / "apps" / "streaming"
LIMIT = 1000  # the request body limit of the ``limited`` host


@pytest.fixture(scope="module", params=["auto", "h11"], ids=["default-stack", "h11"])
def host(request: pytest.FixtureRequest) -> Iterator[HostProcess]:
    """The app on uvicorn's default HTTP parser (httptools where installed), and on h11."""
    with running_host(APP, "--log-format", "json", "--http", request.param) as running:
        yield running


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """A small body limit and a one-second function timeout."""
    app = app_copy(
        APP,
        tmp_path_factory.mktemp("limited"),
        functionTimeout="00:00:01",
        extkit={"maxRequestBodyBytes": LIMIT},
    )
    with running_host(app, "--log-format", "json") as running:
        yield running


class Exchange:
    """One HTTP/1.1 request on a raw socket; the response read a chunk at a time."""

    def __init__(self, host: HostProcess, head: bytes, *, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", host.port), timeout=timeout)
        self.sock.sendall(head)
        self.buffer = b""
        self.status = 0
        self.headers: dict[str, str] = {}

    @classmethod
    def get(cls, host: HostProcess, path: str) -> Exchange:
        exchange = cls(host, f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        exchange.read_head()
        return exchange

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read_head(self) -> None:
        self.status = int(self._line().split()[1])
        while line := self._line():
            name, value = line.decode("latin-1").split(":", 1)
            self.headers[name.strip().lower()] = value.strip()

    def chunk(self) -> bytes | None:
        """The next chunk of the body, ``None`` at its end."""
        size = int(self._line(), 16)
        while len(self.buffer) < size + 2:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size + 2 :]
        return data if size else None

    def rest(self) -> list[bytes]:
        chunks = []
        while (chunk := self.chunk()) is not None:
            chunks.append(chunk)
        return chunks

    def send_chunk(self, data: bytes) -> None:
        self.sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))

    def close(self) -> None:
        self.sock.close()


def lines_of(host: HostProcess, invocation_id: str) -> list[dict[str, Any]]:
    return [line for line in host.json_logs() if line.get("invocation_id") == invocation_id]


def post_hook_line(host: HostProcess, invocation_id: str) -> dict[str, Any]:
    return host.wait_for_log(
        lambda line: line.get("invocation_id") == invocation_id
        and "recorder post hook" in line.get("event", "")
    )


#: What uvicorn logs for a response the app broke off or failed in: never for a client leaving.
SERVER_ERRORS = ("Exception in ASGI application", "without completing response")


def server_errors(host: HostProcess) -> int:
    everything = host.output() + host.errors()
    return sum(everything.count(text) for text in SERVER_ERRORS)


def no_errors(host: HostProcess, invocation_id: str, server_errors_before: int) -> None:
    """Nothing about this invocation was logged as an error, and the server logged no error."""
    assert host.get("/api/release/unrelated").status_code == 200  # the host has caught up
    errors = [line for line in host.json_logs() if line.get("level") in ("error", "critical")]
    assert [line for line in errors if invocation_id in json.dumps(line)] == []
    assert server_errors(host) == server_errors_before


def key() -> str:
    return uuid.uuid4().hex


# --- responses ----------------------------------------------------------------------------------


@pytest.mark.parametrize("function", ["sync", "async"])
@pytest.mark.parametrize("content", ["sync", "async"])
def test_chunks_reach_the_client_one_by_one_while_the_generator_runs(
    host: HostProcess, function: str, content: str
) -> None:
    gate = key()
    stream = Exchange.get(host, f"/api/gated/{function}/{content}?key={gate}")
    try:
        assert stream.status == 200
        assert stream.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in stream.headers
        assert stream.chunk() == b"one\n"  # the generator now waits for the gate
        assert host.get(f"/api/release/{gate}", timeout=5.0).text == "released"
        assert stream.rest() == [b"two\n", b"three\n"]  # str chunks are encoded
    finally:
        stream.close()


def test_an_httpx_client_sees_chunks_as_they_come(host: HostProcess) -> None:
    """The same with a plain HTTP client reading the stream: the first line arrives while the
    generator still waits."""
    gate = key()
    with httpx.stream("GET", f"{host.base_url}/api/gated/async/sync?key={gate}") as response:
        pieces = response.iter_raw()
        assert next(pieces) == b"one\n"
        assert host.get(f"/api/release/{gate}").status_code == 200
        assert b"".join(pieces) == b"two\nthree\n"


def test_a_sync_generator_that_blocks_does_not_block_other_requests(host: HostProcess) -> None:
    """An async function's sync generator runs on the thread pool: while it blocks its thread
    (as ``time.sleep`` would), the event loop serves the request that unblocks it."""
    gate = key()
    stream = Exchange.get(host, f"/api/gated/async/sync?key={gate}")
    try:
        assert stream.chunk() == b"one\n"
        started = time.monotonic()
        assert host.get("/api/shaped", timeout=5.0).status_code == 201
        assert host.get(f"/api/release/{gate}", timeout=5.0).status_code == 200
        assert time.monotonic() - started < 5.0
        assert stream.rest() == [b"two\n", b"three\n"]
    finally:
        stream.close()


def test_the_guides_sensor_data_stream_sends_each_event_as_it_is_made(host: HostProcess) -> None:
    stream = Exchange.get(host, "/api/stream")
    try:
        assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
        events = stream.rest()
    finally:
        stream.close()
    assert events == [
        f"data: {{'temperature': {20 + i}, 'humidity': {50 + i}}}\n\n".encode() for i in range(3)
    ]


def test_status_headers_and_media_type_are_sent_and_text_is_encoded(host: HostProcess) -> None:
    stream = Exchange.get(host, "/api/shaped")
    try:
        assert stream.status == 201
        assert stream.headers["x-stream"] == "yes"
        assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert re.fullmatch(r"[0-9a-f-]{36}", stream.headers["x-invocation-id"])
        assert stream.rest() == ["h\u00e9llo ".encode(), "w\u00f6rld".encode()]
    finally:
        stream.close()


def test_a_stream_set_on_an_out_binding_is_sent_as_it_is_made(host: HostProcess) -> None:
    stream = Exchange.get(host, "/api/out")
    try:
        assert stream.rest() == [b"set ", b"on out"]
    finally:
        stream.close()


def test_a_stream_an_extension_answers_with_is_sent_too(host: HostProcess) -> None:
    stream = Exchange.get(host, "/api/short")
    try:
        assert stream.headers["transfer-encoding"] == "chunked"
        assert stream.rest() == [b"from ", b"the hook"]
    finally:
        stream.close()


def test_a_head_request_gets_the_head_without_the_content(host: HostProcess) -> None:
    response = host.request("HEAD", "/api/shaped")
    assert (response.status_code, response.headers["x-stream"]) == (201, "yes")
    assert response.content == b""


def test_post_hooks_run_after_the_last_chunk_and_the_timer_times_the_whole_stream(
    host: HostProcess,
) -> None:
    gate = key()
    stream = Exchange.get(host, f"/api/gated/async/async?key={gate}")
    try:
        invocation = stream.headers["x-invocation-id"]
        assert stream.chunk() == b"one\n"
        first = time.monotonic()
        # The generator waits for the gate. Post hooks that ran before the stream would have
        # logged before its first chunk was sent.
        assert not [line for line in lines_of(host, invocation) if "post hook" in line["event"]]
        released = time.monotonic()
        assert host.get(f"/api/release/{gate}").status_code == 200
        assert stream.rest() == [b"two\n", b"three\n"]
    finally:
        stream.close()
    assert "ok StreamingResponse" in post_hook_line(host, invocation)["event"]
    timer = host.wait_for_log(
        lambda line: line.get("invocation_id") == invocation and "elapsed_sec" in line
    )
    # It started before the first chunk and ended after the generator, which the gate held.
    assert timer["elapsed_sec"] >= released - first


def test_the_timer_appends_its_time_after_the_last_chunk() -> None:
    with running_host(APP, env={"STREAM_TIMER_APPEND": "1"}) as appending:
        stream = Exchange.get(appending, "/api/shaped")
        try:
            *content, tail = stream.rest()
        finally:
            stream.close()
    assert content == ["h\u00e9llo ".encode(), "w\u00f6rld".encode()]
    assert re.fullmatch(rb" \(TimeElapsed: [0-9.]+ sec\)", tail)


@pytest.mark.parametrize("content", ["sync", "async"])
def test_a_client_that_leaves_mid_stream_ends_the_invocation_quietly(
    host: HostProcess, content: str
) -> None:
    before = server_errors(host)
    stream = Exchange.get(host, f"/api/endless/{content}")
    invocation = stream.headers["x-invocation-id"]
    assert stream.chunk() == b"tick 1\n"
    assert stream.chunk() == b"tick 2\n"
    stream.close()
    assert "ClientDisconnected" in post_hook_line(host, invocation)["event"]
    closed = host.wait_for_log(
        lambda line: line.get("invocation_id") == invocation
        and "endless generator closed" in line["event"]
    )
    assert closed["level"] == "info"
    no_errors(host, invocation, before)


def test_a_generator_that_raises_fails_the_invocation_and_cuts_the_response_short(
    limited: HostProcess,
) -> None:
    """The status went out with the first chunk; a generator that raises later fails the
    invocation (logged once, post hooks see why), and the body ends without its last chunk, so
    the client knows it is incomplete."""
    stream = Exchange.get(limited, "/api/failing")
    try:
        invocation = stream.headers["x-invocation-id"]
        assert stream.chunk() == b"before\n"
        with pytest.raises(ConnectionError):
            stream.chunk()
    finally:
        stream.close()
    assert "RuntimeError" in post_hook_line(limited, invocation)["event"]
    errors = wait_until(
        lambda: [line for line in lines_of(limited, invocation) if line["level"] == "error"]
    )
    assert len(errors) == 1
    assert "the sensor went away" in errors[0]["event"]


@pytest.mark.parametrize("function", ["sync", "async"])
@pytest.mark.parametrize("content", ["sync", "async"])
def test_the_function_timeout_counts_the_stream_and_cuts_it_short(
    limited: HostProcess, function: str, content: str
) -> None:
    gate = key()
    stream = Exchange.get(limited, f"/api/gated/{function}/{content}?key={gate}")
    try:
        invocation = stream.headers["x-invocation-id"]
        assert stream.chunk() == b"one\n"
        with pytest.raises(ConnectionError):
            stream.chunk()  # the gate stays shut: the one-second timeout ends the stream
        assert "InvocationTimeout" in post_hook_line(limited, invocation)["event"]
    finally:
        stream.close()
        limited.get(f"/api/release/{gate}")  # let the generator's thread go


# --- request bodies -----------------------------------------------------------------------------


def upload(host: HostProcess, path: str) -> Exchange:
    head = f"POST {path} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
    return Exchange(host, head.encode())


def test_req_stream_yields_the_body_as_it_arrives(host: HostProcess) -> None:
    exchange = upload(host, "/api/upload/echo")
    try:
        exchange.send_chunk(b"hello")
        exchange.read_head()
        assert exchange.chunk() == b"got 5\n"  # before the rest of the body was sent
        exchange.send_chunk(b"abc")
        assert exchange.chunk() == b"got 3\n"
        exchange.sock.sendall(b"0\r\n\r\n")
        assert exchange.rest() == []
    finally:
        exchange.close()


def test_req_stream_reads_a_chunked_upload(host: HostProcess) -> None:
    response = host.post("/api/upload", content=iter([b"a" * 1000] * 5))
    assert response.status_code == 200
    assert response.json()["bytes"] == 5000


def test_get_body_on_a_streamed_request_is_a_clear_error(host: HostProcess) -> None:
    response = host.post("/api/upload/misuse", content=b"data")
    assert response.status_code == 500
    invocation = response.headers["x-invocation-id"]
    error = wait_until(
        lambda: [line for line in lines_of(host, invocation) if line["level"] == "error"]
    )[0]
    assert "req.stream()" in error["event"]


def test_a_declared_length_over_the_limit_is_refused_before_the_function_runs(
    limited: HostProcess,
) -> None:
    before = upload_post_hooks(limited)
    response = limited.post("/api/upload", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert host_caught_up(limited)
    assert upload_post_hooks(limited) == before


def test_a_streamed_body_over_the_limit_ends_the_stream_with_413(limited: HostProcess) -> None:
    before = server_errors(limited)
    response = limited.post("/api/upload", content=iter([b"x" * 600] * 3))
    assert response.status_code == 413
    assert f"{LIMIT} bytes" in response.text
    invocation = response.headers["x-invocation-id"]
    assert "RequestBodyTooLarge" in post_hook_line(limited, invocation)["event"]
    no_errors(limited, invocation, before)


def test_a_client_that_leaves_mid_upload_ends_the_invocation_quietly(host: HostProcess) -> None:
    before = {line.get("invocation_id") for line in host.json_logs()}
    errors_before = server_errors(host)
    exchange = upload(host, "/api/upload")
    exchange.send_chunk(b"part of it")
    exchange.close()

    def the_post_hook() -> dict[str, Any] | None:
        return next(
            (
                line
                for line in host.json_logs()
                if "recorder post hook: upload " in line.get("event", "")
                and line.get("invocation_id") not in before
            ),
            None,
        )

    line = wait_until(the_post_hook, what="the upload's post hook")
    assert "ClientDisconnected" in line["event"]
    no_errors(host, line["invocation_id"], errors_before)


def host_caught_up(host: HostProcess) -> bool:
    return host.get("/api/release/unrelated").status_code == 200


def upload_post_hooks(host: HostProcess) -> int:
    return sum("recorder post hook: upload " in line["event"] for line in host.json_logs())


def peak_memory_kib(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM), in KiB."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    found = re.search(r"^VmHWM:\s+(\d+) kB$", status, re.MULTILINE)
    assert found is not None, status
    return int(found[1])


def test_a_100_mb_streamed_upload_keeps_the_hosts_memory_flat(host: HostProcess) -> None:
    megabyte = b"m" * 1_000_000
    host.post("/api/upload", content=iter([megabyte] * 2))  # warm up the code paths
    before = peak_memory_kib(host.process.pid)
    response = host.post("/api/upload", content=iter([megabyte] * 100), timeout=60.0)
    assert response.json()["bytes"] == 100_000_000
    grown_mib = (peak_memory_kib(host.process.pid) - before) / 1024
    assert grown_mib < 20, f"the host's peak memory grew by {grown_mib:.0f} MiB"


# --- in process, and declarations --------------------------------------------------------------


def test_outside_a_host_the_stream_is_collected_into_a_whole_response(
    extkit_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``extkit invoke`` and ``extkit.testing`` have no client to stream to: the content is
    collected, and post hooks see (and the timer appends to) an ordinary ``HttpResponse``."""
    monkeypatch.setenv("STREAM_TIMER_APPEND", "1")
    app: AppUnderTest = extkit_app(APP)
    outcome = app.invoke("shaped")
    response = outcome.response
    assert type(response) is extkit.HttpResponse
    assert response.status_code == 201
    assert response.headers["X-Stream"] == "yes"
    assert response.mimetype == "text/event-stream"
    body = response.get_body().decode()
    assert re.fullmatch(r"h\u00e9llo w\u00f6rld \(TimeElapsed: [0-9.]+ sec\)", body)
    assert "recorder post hook: shaped ok HttpResponse" in outcome.messages()
    assert app.invoke("via_out").response.get_body() == b"set on out"


def test_extkit_invoke_prints_a_streamed_body_whole() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "extkit", "invoke", str(APP), "shaped"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "h\u00e9llo w\u00f6rld\n"


def test_a_streaming_response_has_no_body_to_get_or_replace() -> None:
    response = StreamingResponse(iter([b"a"]))
    with pytest.raises(TypeError, match="sent as it is produced"):
        response.get_body()
    with pytest.raises(TypeError, match="sent as it is produced"):
        response.set_body(b"other")
    response.append_body(" tail")  # sent after the last chunk
    assert response.mimetype == "text/plain"


@pytest.mark.parametrize("content", [b"bytes", "text", 42, None])
def test_content_must_be_an_iterable_of_chunks(content: Any) -> None:
    with pytest.raises(TypeError, match="iterator or async iterator of bytes or str"):
        StreamingResponse(content)


def test_req_stream_of_a_whole_request_yields_its_body() -> None:
    async def read(request: HttpRequest) -> list[bytes]:
        return [chunk async for chunk in request.stream()]

    assert asyncio.run(read(HttpRequest("POST", "/api/x", body=b"all of it"))) == [b"all of it"]
    assert asyncio.run(read(HttpRequest("GET", "/api/x"))) == []


HOST_JSON = {"version": "2.0"}


def test_stream_request_needs_an_async_function(tmp_path: Path) -> None:
    source = (
        "import extkit\n"
        "app = extkit.FunctionApp(http_auth_level='anonymous')\n\n"
        "@app.route(route='up', methods=['POST'], stream_request=True)\n"
        "def up(req):\n"
        "    return 'no'\n"
    )
    app = write_app(tmp_path, {"host.json": HOST_JSON, "function_app.py": source})
    with pytest.raises(AppLoadError) as failed:
        load_app(app)
    message = str(failed.value)
    assert "function_app.py" in message
    assert "'up'" in message
    assert "async def" in message


def folder_app(root: Path, source: str, trigger: dict[str, Any]) -> Path:
    """An app with the one folder-per-function function ``Up``."""
    http_trigger = {"type": "httpTrigger", "name": "req", **trigger}
    bindings = [http_trigger, {"type": "http", "name": "$return"}]
    files = {"Up/__init__.py": source, "Up/function.json": {"bindings": bindings}}
    return write_app(root, {"host.json": HOST_JSON, **files})


def test_stream_request_in_function_json_must_be_true_or_false(tmp_path: Path) -> None:
    app = folder_app(tmp_path, "async def main(req):\n    return 'x'\n", {"streamRequest": "yes"})
    with pytest.raises(AppLoadError, match=r'Up/function.json.*"streamRequest" must be true'):
        load_app(app)


def test_stream_request_in_function_json_streams_the_body(tmp_path: Path) -> None:
    source = "async def main(req):\n    return str(sum([len(c) async for c in req.stream()]))\n"
    app = folder_app(tmp_path, source, {"authLevel": "anonymous", "streamRequest": True})
    loaded = load_app(app)
    try:
        assert loaded.functions[0].spec.stream_request
    finally:
        loaded.unload()
    with running_host(app) as running:
        response = running.post("/api/Up", content=iter([b"abc"] * 4))
        assert (response.status_code, response.text) == (200, "12")


def test_cors_headers_go_out_with_a_streamed_head(tmp_path: Path) -> None:
    app = app_copy(APP, tmp_path)
    cors = {"IsEncrypted": False, "Values": {}, "Host": {"CORS": "http://page.example"}}
    write_app(app, {"local.settings.json": cors})
    with running_host(app) as running:
        head = b"GET /api/shaped HTTP/1.1\r\nHost: test\r\nOrigin: http://page.example\r\n\r\n"
        stream = Exchange(running, head)
        try:
            stream.read_head()
            assert stream.headers["access-control-allow-origin"] == "http://page.example"
            assert stream.headers["access-control-expose-headers"] == "x-invocation-id"
            assert stream.headers["vary"] == "Origin"
            assert stream.rest() == ["h\u00e9llo ".encode(), "w\u00f6rld".encode()]
        finally:
            stream.close()
