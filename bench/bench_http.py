"""HTTP throughput of ``extkit start`` beside a bare Starlette app, both on uvicorn (asyncio + h11).

Run from the repository root: ``python bench/bench_http.py [--duration 5] [--rounds 8]``.
Needs ``wrk`` (``apt-get install wrk``); without it the benchmark says so and exits.

Five servers answer a hello world, each started once, with one worker, on each of two uvicorn
stacks: asyncio + h11 (as in the reference figures) and uvloop + httptools (what a default install
of extkit serves on, and Starlette with ``uvicorn[standard]``); ``--stack`` measures one of them.
Ratios compare servers on the same stack:

- ``starlette``: a bare Starlette app (``PlainTextResponse``), no access log;
- ``starlette + timing middleware``: the same app behind a hand-written pure-ASGI middleware that
  does the timer extension's work (time the request, one structlog JSON line with the invocation
  id, an ``x-invocation-id`` header): what a user would write instead of extkit;
- ``extkit async``: an ``async def`` function served by ``extkit start``;
- ``extkit sync``: a plain ``def`` function, run on the host's thread pool;
- ``extkit async, gate off``: the async one with the extensions gate off, for reading the others:
  what the host and the engine cost without any hook or per-invocation log line;

``extkit async`` and ``extkit sync`` run with the extensions gate on and the timer extension active
(it logs one line per invocation, in JSON, as a deployment would) and no other extension.
``--timer-at-warning`` adds both again with the timer's logger set to WARNING in ``host.json``,
which filters that line out: the difference is what the line costs. ``--azure`` adds both again
written against ``azure.functions`` (``func.FunctionApp``, ``func.HttpRequest``,
``func.HttpResponse``; needs ``pip install "extkit[azure]"``), with the same timer: the difference
is what converting to and from the library's types costs (target: within 10 %). ``--frameworks``
adds a FastAPI hello on bare uvicorn and the same FastAPI app served by ``extkit start`` as an
``AsgiFunctionApp`` (through ``AsgiMiddleware``, one invocation per request), as it is deployed by
default, with the extensions gate off (the same work as bare FastAPI; target: 0.7x), and with the
timer extension on (which adds its log line per request, for reading it). Each round runs
``wrk -t2 -c64 -d<duration>s`` against every server, in a rotated order, so drift on a shared
machine hits them all alike; the table reports medians over rounds, and the ratio to Starlette is
the median of the per-round ratios. Where the machine allows, each server is pinned to one CPU and
wrk to another, as in the reference measurement. On Linux the server's CPU time per request is
measured too: on a machine shared with other work, req/s depends on the CPU share a server gets,
CPU time per request much less.

``--streaming`` measures instead a streaming response's time to first byte: from a request sent
on a kept-alive connection to its first body chunk, one request at a time, against Starlette's
``StreamingResponse`` and extkit's with an async and with a sync generator (the guide's shape:
an async function returning a sync generator, stepped on the thread pool), all on uvicorn's
default stack. No wrk needed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Reference figures, ``wrk -t2 -c64 -d10s`` on 127.0.0.1 with the server on one CPU and wrk on
#: the other (2-vCPU machine, CPython 3.11): req/s, ratio to Starlette, p50 ms, p99 ms.
REFERENCE = {
    "Starlette, uvicorn asyncio+h11, 1 worker": (4692, 1.00, 12.7, 17.2),
    "Starlette, uvicorn uvloop+httptools, 1 worker": (15394, 3.34, 3.9, 6.3),
    "functions-framework (Flask on gunicorn, 8 threads)": (2379, 0.51, 24.1, 81.7),
    "functions-framework --asgi": (10510, 2.27, 5.7, 10.3),
    "Flask on gunicorn, sync worker": (2792, 0.60, 21.8, 31.7),
}
#: The hand-written equivalent of extkit with the timer extension (see ``STARLETTE_TIMED_APP``).
HAND = "starlette + timing middleware"
#: Targets, measured in the same rounds: (the server to compare with, the least ratio).
TARGETS = {
    "extkit async": (HAND, 1.1),
    "extkit async, gate off": ("starlette", 0.9),
    "extkit sync": ("starlette", 0.5),
    "extkit async, azure.functions types": ("extkit async", 0.9),
    "extkit sync, azure.functions types": ("extkit sync", 0.9),
    "extkit AsgiFunctionApp(FastAPI), gate off": ("fastapi", 0.7),
}
#: The uvicorn stacks: name -> (--loop, --http).
STACKS = {"asyncio+h11": ("asyncio", "h11"), "uvloop+httptools": ("uvloop", "httptools")}

FASTAPI_APP = """
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.get("/api/hello", response_class=PlainTextResponse)
async def hello():
    return "Hello, world"
"""

#: The same FastAPI app as the whole extkit app (its routing, behind one catch-all function).
EXTKIT_FASTAPI_APP = """
import extkit
from fastapi_app import app as fastapi_app

app = extkit.AsgiFunctionApp(app=fastapi_app, http_auth_level="anonymous")
"""

STARLETTE_APP = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request):
    return PlainTextResponse("Hello, world")


app = Starlette(routes=[Route("/api/hello", hello)])
"""

#: The same work as extkit with the timer extension, done by hand on Starlette: a pure-ASGI
#: middleware that times the request on a monotonic clock, writes one structlog JSON line with
#: the invocation id, function name and elapsed seconds, and answers with ``x-invocation-id``.
STARLETTE_TIMED_APP = """
import sys
import time
import uuid

import structlog
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

structlog.configure(
    processors=[
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.JSONRenderer(),
    ],
    logger_factory=structlog.WriteLoggerFactory(sys.stdout),
    cache_logger_on_first_use=True,
)
log = structlog.get_logger("timing")


class TimingMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        invocation_id = str(uuid.uuid4())
        started = time.perf_counter_ns()

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-invocation-id", invocation_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = (time.perf_counter_ns() - started) / 1e9
            log.info(
                "TimeElapsed",
                logger="timing",
                function_name="hello",
                invocation_id=invocation_id,
                elapsed=elapsed,
            )


async def hello(request):
    return PlainTextResponse("Hello, world")


app = TimingMiddleware(Starlette(routes=[Route("/api/hello", hello)]))
"""

EXTKIT_APP = """
from extkit import HttpRequest, HttpResponse
from extkit.app import AuthLevel, FunctionApp
from extkit_timer import TimerExtension

TimerExtension.configure()
app = FunctionApp(http_auth_level=AuthLevel.ANONYMOUS)


@app.route(route="hello", methods=["GET"])
{prefix}def hello(req: HttpRequest) -> HttpResponse:
    return HttpResponse("Hello, world")
"""

#: The same hello world written against azure.functions, with the same (extkit) timer.
AZURE_APP = """
import azure.functions as func
from extkit_timer import TimerExtension

TimerExtension.configure()
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello", methods=["GET"])
{prefix}def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("Hello, world")
"""


#: A streaming hello: the first chunk at once, then one more. The same in each app below.
STARLETTE_STREAM_APP = """
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route


async def chunks():
    yield b"first\\n"
    yield b"second\\n"


async def hello(request):
    return StreamingResponse(chunks())


app = Starlette(routes=[Route("/api/hello", hello)])
"""

EXTKIT_STREAM_APP = """
from extkit import FunctionApp, HttpRequest, StreamingResponse


def chunks():
    yield b"first\\n"
    yield b"second\\n"


async def chunks_async():
    yield b"first\\n"
    yield b"second\\n"


app = FunctionApp(http_auth_level="anonymous")


@app.route(route="hello", methods=["GET"])
async def hello(req: HttpRequest) -> StreamingResponse:
    return StreamingResponse({generator}())
"""


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    stack: str = "asyncio+h11"
    runs: list[dict[str, float]] = field(default_factory=list)
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/hello"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child to ``cpu`` (Linux); ``None`` where that is not
    possible."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


def cpus() -> tuple[int | None, int | None]:
    """The CPUs for the servers and for wrk: two different ones when there are two."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return available[0], available[1]


def wait_ready(server: Server, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{server.name} exited with {process.returncode} before serving")
        try:
            with urllib.request.urlopen(server.url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{server.name} did not answer within {timeout:g} s")
        time.sleep(0.05)


@contextmanager
def started(server: Server, cpu: int | None) -> Iterator[Server]:
    process = subprocess.Popen(
        server.command,
        env=server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=pinned(cpu),
    )
    try:
        wait_ready(server, process)
        server.pid = process.pid
        yield server
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    found = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if found is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(found[1]) * _UNITS[found[2]]


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system, all threads) a process has used so far; ``None`` without /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(server: Server, args: argparse.Namespace, cpu: int | None) -> dict[str, float]:
    """One wrk run against ``server``, plus the server's CPU time per request when known."""
    before = cpu_seconds(server.pid)
    found = run_wrk(server.url, args.duration, args.threads, args.connections, cpu)
    after = cpu_seconds(server.pid)
    if before is not None and after is not None and found["rps"] > 0:
        found["cpu_us"] = (after - before) / (found["rps"] * args.duration) * 1e6
    return found


def run_wrk(
    url: str, duration: int, threads: int, connections: int, cpu: int | None
) -> dict[str, float]:
    """One wrk run: req/s, p50 and p99 in ms, and the count of errors and non-2xx answers."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, preexec_fn=pinned(cpu)
    ).stdout
    found: dict[str, float] = {"errors": 0.0}
    for line in output.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            found["rps"] = float(parts[1])
        elif parts[:1] == ["50%"]:
            found["p50"] = _ms(parts[1])
        elif parts[:1] == ["99%"]:
            found["p99"] = _ms(parts[1])
        elif line.strip().startswith("Non-2xx"):
            found["errors"] += float(parts[-1])
        elif line.strip().startswith("Socket errors"):
            found["errors"] += sum(float(n.rstrip(",")) for n in parts[3::2])
    if "rps" not in found:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    return found


def run_rounds(measured: list[Server], args: argparse.Namespace, wrk_cpu: int | None) -> None:
    """Warm every server up, then ``args.rounds`` rounds of one wrk run each, in an order rotated
    by one per round, so drift on a shared machine hits every server alike."""
    for server in measured:
        run_wrk(server.url, args.warmup, args.threads, args.connections, wrk_cpu)
    for round_number in range(args.rounds):
        shift = round_number % len(measured)
        for server in measured[shift:] + measured[:shift]:
            server.runs.append(measure(server, args, wrk_cpu))
            print(
                f"round {round_number + 1}: {server.name}: {server.runs[-1]['rps']:,.0f} req/s",
                file=sys.stderr,
            )


#: host.json of the ``--timer-at-warning`` servers: the timer's INFO line is filtered out.
QUIET_TIMER_HOST_JSON = (
    '{"version": "2.0", "logging": {"logLevel": {"extkit.extensions.TimerExtension": "Warning"}}}'
)


def servers(
    workdir: Path,
    timer_at_warning: bool = False,
    azure: bool = False,
    stacks: tuple[str, ...] = ("asyncio+h11",),
    frameworks: bool = False,
) -> list[Server]:
    """Every server of the run, on each stack, in the report's order."""
    found = []
    for stack in stacks:
        folder = workdir / stack.replace("+", "_")
        found += _servers(folder, timer_at_warning, azure, stack, frameworks)
    return found


def _servers(
    workdir: Path, timer_at_warning: bool, azure: bool, stack: str, frameworks: bool
) -> list[Server]:
    loop, http = STACKS[stack]
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "starlette_app.py").write_text(STARLETTE_APP, encoding="utf-8")
    (workdir / "fastapi_app.py").write_text(FASTAPI_APP, encoding="utf-8")
    (workdir / "starlette_timed_app.py").write_text(STARLETTE_TIMED_APP, encoding="utf-8")
    plain = '{"version": "2.0"}'
    apps = [("async", "async ", plain, EXTKIT_APP), ("sync", "", plain, EXTKIT_APP)]
    if timer_at_warning:
        apps += [
            ("async_quiet", "async ", QUIET_TIMER_HOST_JSON, EXTKIT_APP),
            ("sync_quiet", "", QUIET_TIMER_HOST_JSON, EXTKIT_APP),
        ]
    if azure:
        apps += [("azure_async", "async ", plain, AZURE_APP), ("azure_sync", "", plain, AZURE_APP)]
    if frameworks:
        apps += [("fastapi", "", plain, EXTKIT_FASTAPI_APP)]
    for kind, prefix, host_json, source in apps:
        app = workdir / f"extkit_{kind}"
        app.mkdir()
        (app / "function_app.py").write_text(source.format(prefix=prefix), encoding="utf-8")
        (app / "host.json").write_text(host_json, encoding="utf-8")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EXTKIT_", "PYTHON_ENABLE_WORKER_EXTENSIONS"))
    }
    extkit_env = {
        **env,
        "PYTHON_ENABLE_WORKER_EXTENSIONS": "1",
        "EXTKIT_DISABLED_EXTENSIONS": "tracing",  # the timer extension alone, as documented
    }
    found = []
    bare = [("starlette", "starlette_app"), (HAND, "starlette_timed_app")]
    if frameworks:
        bare.append(("fastapi", "fastapi_app"))
    for name, module in bare:
        port = free_port()
        found.append(
            Server(name, uvicorn_command(module, workdir, port, (loop, http)), env, port, stack)
        )
    variants = [
        ("extkit async", "async", extkit_env),
        ("extkit sync", "sync", extkit_env),
        # For reading the others: the host and engine alone, no hook and no log line.
        ("extkit async, gate off", "async", {**extkit_env, "PYTHON_ENABLE_WORKER_EXTENSIONS": "0"}),
    ]
    if timer_at_warning:  # what the timer's log line costs: the same servers without it
        variants += [
            ("extkit async, timer log at WARNING", "async_quiet", extkit_env),
            ("extkit sync, timer log at WARNING", "sync_quiet", extkit_env),
        ]
    if azure:  # what the azure.functions types cost: the same servers written against them
        variants += [
            ("extkit async, azure.functions types", "azure_async", extkit_env),
            ("extkit sync, azure.functions types", "azure_sync", extkit_env),
        ]
    if frameworks:
        fastapi_env = {**extkit_env, "PYTHONPATH": str(workdir)}  # the app imports fastapi_app
        variants += [
            # As deployed by default: the host and the bridge, no hook and no log line.
            (
                "extkit AsgiFunctionApp(FastAPI), gate off",
                "fastapi",
                {**fastapi_env, "PYTHON_ENABLE_WORKER_EXTENSIONS": "0"},
            ),
            # For reading it: the timer extension on, which adds its line per request.
            ("extkit AsgiFunctionApp(FastAPI)", "fastapi", fastapi_env),
        ]
    for name, kind, variant_env in variants:
        port = free_port()
        command = extkit_command(workdir / f"extkit_{kind}", port, (loop, http))
        found.append(Server(name, command, variant_env, port, stack))
    return found


def uvicorn_command(
    module: str, workdir: Path, port: int, stack: tuple[str, str] = ("asyncio", "h11")
) -> list[str]:
    """``module:app`` on bare uvicorn, asyncio and h11 unless ``stack`` (loop, http) says
    otherwise, without access log."""
    server = [f"{module}:app", "--app-dir", str(workdir), "--port", str(port)]
    loop, http = stack
    quiet = ["--loop", loop, "--http", http, "--no-access-log", "--log-level", "warning"]
    return [sys.executable, "-m", "uvicorn", *server, *quiet]


def extkit_command(app: Path, port: int, stack: tuple[str, str] | None = None) -> list[str]:
    """``extkit start`` for the app folder ``app``, logging JSON lines, on ``stack`` (loop,
    http) or the default install's."""
    options = ["--port", str(port), "--log-format", "json"]
    if stack is not None:
        options += ["--loop", stack[0], "--http", stack[1]]
    return [sys.executable, "-m", "extkit", "start", str(app), *options]


def report(measured: list[Server], args: argparse.Namespace, cpu_note: str) -> str:
    with_cpu = all("cpu_us" in run for server in measured for run in server.runs)
    lines = [
        f"`wrk -t{args.threads} -c{args.connections} -d{args.duration}s`, {args.rounds} "
        f"interleaved rounds, medians; {cpu_note}; Python {sys.version.split()[0]}. Ratios are "
        "to the server named on the same stack.",
        "",
        "| server | stack | req/s | ratio | ratio to hand | target | p50 / p99 ms | errors"
        + (" | server CPU µs/request | CPU ratio |" if with_cpu else " |"),
        "|---|---|---:|---:|---:|---|---|---:|" + ("---:|---:|" if with_cpu else ""),
    ]
    by_name = {(server.name, server.stack): server for server in measured}

    def ratio_to(server: Server, other: str) -> float:
        pairs = zip(server.runs, by_name[other, server.stack].runs, strict=True)
        return statistics.median(run["rps"] / ref["rps"] for run, ref in pairs)

    for server in measured:
        base = by_name["starlette", server.stack]
        pairs = list(zip(server.runs, base.runs, strict=True))
        rps = statistics.median(run["rps"] for run in server.runs)
        ratio = ratio_to(server, base.name)
        to_hand = ratio_to(server, HAND)
        p50 = statistics.median(run["p50"] for run in server.runs)
        p99 = statistics.median(run["p99"] for run in server.runs)
        errors = sum(run["errors"] for run in server.runs)
        verdict = ""
        if server.name in TARGETS:
            other, least = TARGETS[server.name]
            measured = ratio_to(server, other)
            met = "met" if measured >= least else "MISSED"
            verdict = f">= {least:.1f}x {other}: {met} ({measured:.2f}x)"
        line = (
            f"| {server.name} | {server.stack} | {rps:,.0f} | {ratio:.2f}x | {to_hand:.2f}x "
            f"| {verdict} "
            f"| {p50:.1f} / {p99:.1f} | {errors:.0f} |"
        )
        if with_cpu:
            cpu_us = statistics.median(run["cpu_us"] for run in server.runs)
            cpu_ratio = statistics.median(ref["cpu_us"] / run["cpu_us"] for run, ref in pairs)
            line += f" {cpu_us:,.0f} | {cpu_ratio:.2f}x |"
        lines.append(line)
    if with_cpu:
        lines += [
            "",
            "CPU ratio: Starlette's server CPU time per request over this server's, per round. "
            "Unlike req/s it does not depend on how much of its CPU a server gets on a shared "
            "machine (a multi-threaded server gets a larger share of a contended CPU).",
        ]
    lines += ["", "Reference figures (same wrk settings, server and wrk on separate CPUs):", ""]
    lines += ["| server | req/s | ratio | p50 / p99 ms |", "|---|---:|---:|---|"]
    for name, (ref_rps, ref_ratio, ref_p50, ref_p99) in REFERENCE.items():
        lines.append(f"| {name} | {ref_rps:,} | {ref_ratio:.2f}x | {ref_p50} / {ref_p99} |")
    return "\n".join(lines)


# --- streaming: time to first byte ----------------------------------------------------------------


def streaming_servers(workdir: Path) -> list[Server]:
    """Starlette's StreamingResponse, and extkit's with an async and with a sync generator, all
    on uvicorn's default stack (uvloop and httptools where they are installed)."""
    (workdir / "starlette_stream_app.py").write_text(STARLETTE_STREAM_APP, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("EXTKIT_")}
    port = free_port()
    command = uvicorn_command("starlette_stream_app", workdir, port, ("auto", "auto"))
    found = [Server("starlette StreamingResponse", command, env, port)]
    for name, generator in (("async", "chunks_async"), ("sync", "chunks")):
        app = workdir / f"extkit_stream_{name}"
        app.mkdir()
        source = EXTKIT_STREAM_APP.format(generator=generator)
        (app / "function_app.py").write_text(source, encoding="utf-8")
        (app / "host.json").write_text('{"version": "2.0"}', encoding="utf-8")
        port = free_port()
        command = extkit_command(app, port)
        found.append(Server(f"extkit StreamingResponse, {name} generator", command, env, port))
    return found


def first_byte_ms(server: Server, duration: float) -> list[float]:
    """Milliseconds from each request to its first body chunk, one request after another on
    one kept-alive connection, for ``duration`` seconds."""
    request = f"GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    found = []
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        stop = time.monotonic() + duration
        while time.monotonic() < stop:
            started = time.perf_counter()
            sock.sendall(request)
            received = b""
            while not re.search(rb"\r\n\r\n[0-9a-fA-F]+\r\n.", received, re.DOTALL):
                received += sock.recv(65536)  # the head, then the first chunk
            found.append((time.perf_counter() - started) * 1000)
            while not received.endswith(b"\r\n0\r\n\r\n"):
                received += sock.recv(65536)  # the rest of the response
    return found


def streaming_report(args: argparse.Namespace, server_cpu: int | None) -> str:
    results: dict[str, list[list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="extkit-bench-stream-") as tmp, ExitStack() as stack:
        found = streaming_servers(Path(tmp))
        measured = [stack.enter_context(started(server, server_cpu)) for server in found]
        for server in measured:
            first_byte_ms(server, args.warmup)
        for round_number in range(args.rounds):
            shift = round_number % len(measured)
            for server in measured[shift:] + measured[:shift]:
                results.setdefault(server.name, []).append(first_byte_ms(server, args.duration))
    lines = [
        f"Time to first byte of a streaming response, one request at a time on a kept-alive "
        f"connection, uvicorn's default stack, {args.rounds} rounds of {args.duration} s, medians; "
        f"Python {sys.version.split()[0]}.",
        "",
        "| server | requests | first byte p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for name, rounds in results.items():
        p50 = statistics.median(statistics.median(times) for times in rounds)
        p99 = statistics.median(statistics.quantiles(times, n=100)[98] for times in rounds)
        count = sum(len(times) for times in rounds)
        lines.append(f"| {name} | {count:,} | {p50:.2f} | {p99:.2f} |")
    return "\n".join(lines)


# --- in process: where an extkit request's time goes, without a server ---------------------------


def in_process(
    rounds: int, requests: int = 1500, azure: bool = False, frameworks: bool = False
) -> str:
    """Per-request CPU time of the ASGI apps alone, driven by a loop that plays the server.

    No socket, no HTTP parsing: just the application's own work per request, which is what
    extkit adds to a server's. The variants run in interleaved rounds in this process.
    ``frameworks``: also the FastAPI app alone and the same app behind extkit's host as an
    ``AsgiFunctionApp``, with the gate off and with the timer extension.
    """
    import asyncio
    import logging

    os.environ["EXTKIT_DISABLED_EXTENSIONS"] = "tracing"
    from extkit.host import Host
    from extkit.loader import load_app
    from extkit.logs import configure_logging

    configure_logging("json", stream=open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    with tempfile.TemporaryDirectory(prefix="extkit-bench-http-") as tmp:
        workdir = Path(tmp)
        _servers(workdir, False, azure, "asyncio+h11", frameworks)  # writes the apps
        sys.path.insert(0, str(workdir))
        import starlette_app  # type: ignore[import-not-found]

        # The hand-written middleware writes its line to sys.stdout, bound when it is imported.
        stdout, sys.stdout = sys.stdout, open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
        try:
            import starlette_timed_app  # type: ignore[import-not-found]
        finally:
            sys.stdout = stdout

        # Configured as `extkit start` configures them. (The loop below awaits requests one
        # after another in one task rather than in a task each, as uvicorn would: that would
        # cost every variant alike, and the timer sets no context variable that could leak.)
        on = Host(load_app(workdir / "extkit_async", enabled=True), task_per_request=True)
        off = Host(load_app(workdir / "extkit_async", enabled=False), task_per_request=True)
        if azure:
            typed_app = load_app(workdir / "extkit_azure_async", enabled=True)
            typed = Host(typed_app, task_per_request=True)
        if frameworks:
            import fastapi_app  # type: ignore[import-not-found]

            framework_on = Host(
                load_app(workdir / "extkit_fastapi", enabled=True), task_per_request=True
            )
            framework_off = Host(
                load_app(workdir / "extkit_fastapi", enabled=False), task_per_request=True
            )
    timer_log = logging.getLogger("extkit.extensions.TimerExtension")
    variants: list[tuple[str, Any, int]] = [
        ("Starlette app", starlette_app.app, logging.NOTSET),
        (f"{HAND} (one structlog JSON line)", starlette_timed_app.app, logging.NOTSET),
        ("extkit, gate off (host, bindings, engine)", off, logging.NOTSET),
        ("extkit, timer extension, its log line filtered out", on, logging.WARNING),
        ("extkit, timer extension (one JSON log line)", on, logging.NOTSET),
    ]
    if azure:
        variants.append(("extkit, azure.functions types, timer extension", typed, logging.NOTSET))
    if frameworks:
        variants += [
            ("FastAPI app", fastapi_app.app, logging.NOTSET),
            ("extkit AsgiFunctionApp(FastAPI), gate off", framework_off, logging.NOTSET),
            ("extkit AsgiFunctionApp(FastAPI), timer extension", framework_on, logging.NOTSET),
        ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/hello",
        "raw_path": b"/api/hello",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"wrk")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def measure_all() -> dict[str, list[float]]:
        found: dict[str, list[float]] = {name: [] for name, _, _ in variants}
        for _ in range(rounds):
            for name, app, level in variants:
                timer_log.setLevel(level)
                started = time.process_time()
                for _ in range(requests):
                    await app(dict(scope), receive, send)
                found[name].append((time.process_time() - started) / requests * 1e6)
        return found

    results = asyncio.run(measure_all())
    lines = [
        f"In process, {rounds} interleaved rounds of {requests} requests, medians; "
        f"Python {sys.version.split()[0]}.",
        "",
        "| application | CPU µs/request |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {statistics.median(v):.1f} |" for name, v in results.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # Many short rounds rather than a few long ones: on a shared machine a disturbed round is
    # outvoted by the median of eight, not of three.
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (5)")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds (8)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per server (2)")
    parser.add_argument(
        "--timer-at-warning",
        action="store_true",
        help="also measure the two extkit servers with the timer's logger at WARNING (host.json "
        "logging.logLevel), which filters out its per-invocation INFO line",
    )
    parser.add_argument(
        "--azure",
        action="store_true",
        help="also measure the two extkit servers written against azure.functions (func.* types, "
        "same timer): what the conversion to and from the library's types costs",
    )
    parser.add_argument(
        "--stack",
        choices=("both", *STACKS),
        default="both",
        help="the uvicorn stack(s) every server runs on (default both, where uvloop and httptools "
        "are installed)",
    )
    parser.add_argument(
        "--frameworks",
        action="store_true",
        help="also measure FastAPI on bare uvicorn and the same app as an extkit AsgiFunctionApp",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="measure the ASGI apps alone, without a server or wrk (where the time goes)",
    )
    parser.add_argument(
        "--streaming",
        action="store_true",
        help="measure a streaming response's time to first byte instead (no wrk needed)",
    )
    args = parser.parse_args(argv)
    if args.frameworks and importlib.util.find_spec("fastapi") is None:
        print("bench_http: --frameworks needs fastapi (pip install fastapi)", file=sys.stderr)
        return 2
    if args.in_process:
        print(in_process(max(args.rounds, 5), azure=args.azure, frameworks=args.frameworks))
        return 0
    if args.streaming:
        print(streaming_report(args, cpus()[0]))
        return 0
    if shutil.which("wrk") is None:
        print("bench_http: wrk is not installed (apt-get install wrk); skipped.", file=sys.stderr)
        return 0
    server_cpu, wrk_cpu = cpus()
    fast = all(importlib.util.find_spec(name) for name in ("uvloop", "httptools"))
    if args.stack == "both":
        stacks: tuple[str, ...] = tuple(STACKS) if fast else ("asyncio+h11",)
        if not fast:
            print("bench_http: uvloop or httptools missing: asyncio+h11 only", file=sys.stderr)
    else:
        stacks = (args.stack,)
    cpu_note = (
        f"servers pinned to CPU {server_cpu}, wrk to CPU {wrk_cpu}"
        if server_cpu is not None
        else "no CPU pinning (fewer than two CPUs, or not supported here)"
    )
    with tempfile.TemporaryDirectory(prefix="extkit-bench-http-") as tmp, ExitStack() as stack:
        found = servers(Path(tmp), args.timer_at_warning, args.azure, stacks, args.frameworks)
        measured = [stack.enter_context(started(s, server_cpu)) for s in found]
        run_rounds(measured, args, wrk_cpu)
    print(report(measured, args, cpu_note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
