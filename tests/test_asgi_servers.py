"""``extkit.asgi:app`` on real servers: gunicorn with uvicorn's worker class, granian and uvicorn.

Each runs as ``extkit start`` would: the same loading errors, lifespan, timers (once per tick
across worker processes) and shutdown hooks.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest
from apputil import write_app
from hostutil import (
    HostProcess,
    free_port,
    host_environment,
    run_host_to_exit,
    running_server,
    wait_until,
)
from test_docs import DOCS, code_blocks

from extkit.settings_files import HostSettings

pytestmark = pytest.mark.slow

APPS = Path(__file__).parent / "apps"
#: How long a stopped server may take to exit (gunicorn's graceful timeout is 30 s).
EXIT_TIMEOUT = 20.0


def gunicorn(port: int, workers: int = 2) -> list[str]:
    """The command the deploying docs show, on ``port``."""
    return [
        sys.executable, "-m", "gunicorn", "-k", "uvicorn_worker.UvicornWorker", "extkit.asgi:app",
        "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
    ]  # fmt: skip


def granian(port: int) -> list[str]:
    return [
        sys.executable, "-m", "granian", "--interface", "asgi", "extkit.asgi:app",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip


def uvicorn(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "extkit.asgi:app", "--port", str(port)]


def stopped(server: HostProcess) -> int:
    """SIGTERM the server and return its exit status."""
    server.signal(signal.SIGTERM)
    try:
        return server.process.wait(EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after SIGTERM\n{server.describe()}") from None


def test_importing_the_module_loads_no_app() -> None:
    """Not even a broken one: the server's lifespan startup loads it."""
    env = host_environment({"EXTKIT_APP_DIR": str(APPS / "broken_app")})
    code = "import extkit.asgi; from extkit.asgi import app; print(type(app).__name__)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "LazyHost\n", "")


def test_gunicorn_workers_answer_with_invocation_ids_and_fire_each_tick_once() -> None:
    env = {"EXTKIT_APP_DIR": str(APPS / "host_workers"), "EXTKIT_LOG_FORMAT": "json"}
    with running_server(gunicorn, env=env) as server:
        seen: set[str] = set()

        def two_pids() -> bool:
            # A new connection each time, so the kernel may hand it to either worker.
            with httpx.Client(base_url=server.base_url, timeout=10) as client:
                response = client.get("/api/pid", headers={"connection": "close"})
            assert response.status_code == 200
            assert response.headers["x-invocation-id"]
            seen.add(response.text)
            return len(seen) >= 2

        wait_until(two_pids, timeout=30, interval=0.01, what="answers from two worker pids")
        ticks = wait_until(
            lambda: (
                len(t := [r for r in server.json_logs() if r["event"].startswith("tick")]) >= 3
                and t
            ),
            timeout=15,
            what="three timer ticks",
        )
        assert {line["event"].rsplit(" ", 1)[1] for line in ticks} <= seen
        assert len({line["event"] for line in ticks}) == 1, "ticks fired in both workers"
        reports = [r for r in server.json_logs() if r["event"] == "functions:"]
        assert len(reports) == 2  # each worker process reports what it serves
        assert stopped(server) == 0


def test_gunicorn_sigterm_runs_the_shutdown_hooks_of_every_worker(tmp_path: Path) -> None:
    marker = tmp_path / "shutdown.txt"
    env = {"EXTKIT_APP_DIR": str(APPS / "host_basic"), "PROBE_SHUTDOWN_FILE": str(marker)}
    with running_server(gunicorn, env=env) as server:
        assert server.get("/api/items/42").json() == {"id": 42, "type": "int"}
        wait_until(
            lambda: server.errors().count("Application startup complete") == 2,
            timeout=30,
            what="both workers started",
        )
        assert stopped(server) == 0
        assert server.output().count("probe shutdown hook ran") == 2
    assert marker.read_text() == "shutdown hook ran\n"


def test_granian_serves_the_host_and_runs_the_shutdown_hooks(tmp_path: Path) -> None:
    marker = tmp_path / "shutdown.txt"
    env = {"PROBE_SHUTDOWN_FILE": str(marker), "EXTKIT_LOG_FORMAT": "json"}
    with running_server(granian, env=env, cwd=APPS / "host_basic") as server:  # the default dir
        response = server.get("/api/items/42")
        assert response.json() == {"id": 42, "type": "int"}
        invocation = response.headers["x-invocation-id"]
        server.wait_for_log(
            lambda r: r.get("invocation_id") == invocation and "probe post hook" in r["event"]
        )
        assert stopped(server) == 0
    assert marker.read_text() == "shutdown hook ran\n"


@pytest.mark.parametrize("server", [gunicorn, granian, uvicorn])
def test_a_broken_app_gives_the_loaders_report_and_a_non_zero_exit(
    server: Callable[[int], Sequence[str]],
) -> None:
    broken = str(APPS / "broken_app")
    report = run_host_to_exit(broken).stderr.removeprefix("extkit start: ").strip()
    assert report.startswith(f"function app {broken} cannot be loaded (")
    result = subprocess.run(
        server(free_port()),
        env=host_environment({"EXTKIT_APP_DIR": broken}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0, result.stdout + result.stderr
    assert f"extkit.asgi: {report}\n" in result.stderr
    if server is not gunicorn:  # whose arbiter may add its own, when two workers fail at once
        others = (result.stdout + result.stderr).replace(report, "")
        assert "Traceback" not in others  # the report's (an import error's) only


def test_behind_nginx_functions_see_the_address_the_client_used(tmp_path: Path) -> None:
    """The deploying page's nginx headers, as nginx sends them for https://shop.example.com,
    reach a function through gunicorn: ``req.url`` is the client's URL."""
    (block,) = [
        b
        for b in code_blocks(DOCS / "deploying.md")
        if b.marker is not None and b.marker[1].startswith("test_behind_nginx_")
    ]
    nginx = {
        "$host": "shop.example.com",
        "$scheme": "https",
        "$proxy_add_x_forwarded_for": "203.0.113.7",
    }
    headers = {
        name: nginx[value]
        for name, value in re.findall(r"proxy_set_header (\S+) (\S+);", block.code)
        if value != '""'  # Connection "": keep-alive to the upstream
    }
    assert set(headers) == {"Host", "X-Forwarded-Proto", "X-Forwarded-For"}
    assert "server 127.0.0.1:8000;" in block.code  # where the page's gunicorn listens
    size = re.search(r"client_max_body_size (\d+)m;", block.code)
    assert size is not None and int(size[1]) * 2**20 == HostSettings().max_request_body_bytes
    app = write_app(
        tmp_path / "app",
        {
            "host.json": {"version": "2.0"},
            "function_app.py": (
                "from extkit import AuthLevel, FunctionApp\n"
                "app = FunctionApp(http_auth_level=AuthLevel.ANONYMOUS)\n"
                "@app.route(route='whereami')\n"
                "def whereami(req):\n"
                "    return {'url': req.url, 'client': req.headers.get('x-forwarded-for')}\n"
            ),
        },
    )
    env = {"EXTKIT_APP_DIR": str(app)}
    with running_server(lambda port: gunicorn(port, workers=1), env=env) as server:
        answer = server.get("/api/whereami", params={"q": "1"}, headers=headers).json()
        assert answer == {
            "url": "https://shop.example.com/api/whereami?q=1",
            "client": "203.0.113.7",
        }
        assert stopped(server) == 0


def test_a_bad_log_format_is_refused_naming_the_variable() -> None:
    env = {"EXTKIT_APP_DIR": str(APPS / "host_basic"), "EXTKIT_LOG_FORMAT": "jsonl"}
    result = subprocess.run(
        uvicorn(free_port()),
        env=host_environment(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert (
        "extkit.asgi: EXTKIT_LOG_FORMAT='jsonl' is not a log format: expected json or console "
        "(did you mean 'json'?)\n" in result.stderr
    )
