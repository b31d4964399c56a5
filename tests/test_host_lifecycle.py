"""``extkit start`` end to end: startup, timeouts, timers, graceful shutdown, bad apps, the gate."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from hostutil import run_host_to_exit, running_host, wait_until

HERE = Path(__file__).parent
APPS = HERE / "apps"
EXAMPLES = HERE.parent / "examples"


def test_timeouts_answer_504_and_post_hooks_still_run() -> None:
    with running_host(APPS / "host_timeout", "--log-format", "json") as host:
        for path, name in (("/api/slow-async", "slow_async"), ("/api/slow-sync", "slow_sync")):
            response = host.get(path)
            assert response.status_code == 504
            assert "timed out after 1 s" in response.text
            invocation = response.headers["x-invocation-id"]
            host.wait_for_log(
                lambda r, i=invocation, n=name: (
                    r.get("invocation_id") == i
                    and r["event"] == f"probe post hook: {n} InvocationTimeout"
                )
            )
        assert host.get("/api/quick").text == "in time"  # the pool thread was not lost


def test_stop_does_not_wait_forever_for_a_function_thread_that_never_ends() -> None:
    with running_host(APPS / "host_timeout", "--log-format", "json") as host:
        response = host.get("/api/stuck")  # times out after 1 s; its thread sleeps on for 10 s
        assert response.status_code == 504
        assert host.stop(timeout=8) == 0  # drained for functionTimeout + 1 s, then abandoned
        events = [line["event"] for line in host.json_logs()]
        assert any("they are abandoned" in event for event in events)
        assert "probe shutdown hook ran" in events


def test_sigterm_drains_in_flight_requests_then_runs_shutdown_hooks(tmp_path: Path) -> None:
    marker = tmp_path / "shutdown.txt"
    env = {"PROBE_SHUTDOWN_FILE": str(marker)}
    with running_host(APPS / "host_basic", "--log-format", "json", env=env) as host:
        result: dict[str, Any] = {}

        def call() -> None:
            with httpx.Client(base_url=host.base_url, timeout=30) as client:
                result["response"] = client.get("/api/sleep/1500")

        caller = threading.Thread(target=call)
        caller.start()
        try:
            host.wait_for_output("sleep started for 1500 ms")
            assert not marker.exists()
            host.signal()  # SIGTERM while the request is in flight
        finally:
            caller.join(timeout=30)
        assert result["response"].status_code == 200
        assert result["response"].text == "slept 1500 ms"
        assert host.process.wait(timeout=15) == 0
        assert marker.read_text() == "shutdown hook ran\n"
        events = [line["event"] for line in host.json_logs()]
        finished = events.index("sleep finished after 1500 ms")
        shutdown = events.index("probe shutdown hook ran")
        assert finished < shutdown
        assert events.count("probe shutdown hook ran") == 1
        assert events[-1] != "probe shutdown hook ran" or "extkit host stopped" in events[-1]


def test_sigint_stops_gracefully_too(tmp_path: Path) -> None:
    marker = tmp_path / "shutdown.txt"
    with running_host(APPS / "host_basic", env={"PROBE_SHUTDOWN_FILE": str(marker)}) as host:
        host.signal(signal.SIGINT)
        assert host.process.wait(timeout=15) == 0
        assert marker.exists()


def test_timer_runs_on_startup_through_the_engine() -> None:
    with running_host(APPS / "host_timer", "--log-format", "json") as host:
        fired = host.wait_for_log(lambda r: r["event"].startswith("timer fired: is_startup=True"))
        assert "past_due=False" in fired["event"]
        assert "next=" in fired["event"] and "-01-01T00:00:00+00:00" in fired["event"]
        invocation = fired["invocation_id"]
        assert f"invocation={invocation}" in fired["event"]
        host.wait_for_log(
            lambda r: (
                r.get("invocation_id") == invocation and r["event"] == "probe post hook: yearly ok"
            )
        )
        report = [line["event"] for line in host.json_logs()]
        assert any(e.startswith("  yearly: timer '0 0 0 1 1 *', next at ") for e in report)


def test_bad_app_refuses_to_start_with_one_message_per_problem() -> None:
    result = run_host_to_exit(APPS / "host_bad")
    assert result.returncode != 0
    assert "listening" not in result.stdout
    problems = [line for line in result.stderr.splitlines() if line.startswith("- ")]
    expected = {
        "BadJson/function.json": "not valid JSON",
        "UnknownType/function.json": "queueTrigger",
        "ImportFails/__init__.py": "module_that_does_not_exist",
        "BadRoute/function.json": "unknown constraint 'number'",
        "BadSchedule/function.json": "has 5 field(s)",
    }
    for where, what in expected.items():
        assert any(where in line for line in problems), (where, result.stderr)
        assert what in result.stderr
    assert "Fine" not in result.stderr


def test_missing_app_folder_is_an_error_not_a_crash(tmp_path: Path) -> None:
    result = run_host_to_exit(tmp_path / "nowhere")
    assert result.returncode != 0
    assert "nowhere" in result.stderr
    assert "Traceback" not in result.stderr


def test_hello_example_with_the_timer_extension() -> None:
    with running_host(EXAMPLES / "hello") as host:
        response = host.get("/api/HttpTrigger", params={"name": "Ada"})
        assert response.status_code == 200
        assert response.text.startswith("Hello, Ada. This HTTP triggered function executed")
        assert "(TimeElapsed: " in response.text
        greeting = host.get("/api/greetings/Bob")
        assert greeting.text.startswith("Hello, Bob.")
        threads = host.get("/api/ThreadLogging")
        assert threads.headers["x-invocation-id"] in threads.text
        assert "worker extensions are on" in host.output()


def test_gate_off_answers_without_extensions_and_says_so() -> None:
    env = {"PYTHON_ENABLE_WORKER_EXTENSIONS": "0"}
    with running_host(EXAMPLES / "hello", env=env) as host:
        response = host.get("/api/HttpTrigger", params={"name": "Ada"})
        assert response.status_code == 200
        assert response.text.startswith("Hello, Ada.")
        assert "TimeElapsed" not in response.text
        output = host.output()
        assert "worker extensions are off (PYTHON_ENABLE_WORKER_EXTENSIONS)" in output
        gate_notes = [
            line
            for line in output.splitlines()
            if "registered but their hooks will not run" in line
        ]
        assert len(gate_notes) == 1
        assert "TimerExtension" in gate_notes[0]
        assert "PYTHON_ENABLE_WORKER_EXTENSIONS" in gate_notes[0]


def test_hello_v2_decorator_example() -> None:
    with running_host(EXAMPLES / "hello_v2", "--log-format", "json") as host:
        assert host.get("/api/hello/Ada").text.startswith("Hello, Ada.")
        assert host.get("/api/items/42").json() == {"id": 42, "name": "item 42", "doubled": 84}
        assert host.get("/api/items/x").status_code == 404
        created = host.post("/api/orders", json={"item": "tea"})
        assert created.status_code == 201
        assert created.json() == {"item": "tea", "audited": True}
        assert host.post("/api/orders", content=b"{oops").status_code == 400
        assert host.get("/api/orders").status_code == 405
        events = [line["event"] for line in host.json_logs()]
        assert any(e.startswith("  hourly: timer '0 0 * * * *'") for e in events)


@pytest.mark.parametrize("threads", ["0", "many"])
def test_bad_thread_count_is_a_clear_error(threads: str) -> None:
    env = {"PYTHON_THREADPOOL_THREAD_COUNT": threads}
    result = run_host_to_exit(APPS / "host_basic", env=env)
    assert result.returncode != 0
    assert f"PYTHON_THREADPOOL_THREAD_COUNT={threads!r} is not a whole number" in result.stderr


def test_threads_flag_limits_concurrent_sync_invocations() -> None:
    with running_host(APPS / "host_basic", "--threads", "1", "--log-format", "json") as host:
        results: list[int] = []

        def call() -> None:
            with httpx.Client(base_url=host.base_url, timeout=30) as client:
                results.append(client.get("/api/sleep/300").status_code)

        callers = [threading.Thread(target=call) for _ in range(2)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(timeout=30)
        assert results == [200, 200]
        events = [line["event"] for line in host.json_logs() if line["logger"] == "host_basic"]
        # One thread: the second invocation starts only after the first finished.
        assert events == [
            "sleep started for 300 ms",
            "sleep finished after 300 ms",
            "sleep started for 300 ms",
            "sleep finished after 300 ms",
        ]


def test_workers_serve_from_several_processes_and_run_timers_in_one() -> None:
    with running_host(APPS / "host_workers", "--workers", "2", "--log-format", "json") as host:
        seen: set[str] = set()

        def two_pids() -> bool:
            # A new connection each time, so the kernel may hand it to either worker.
            with httpx.Client(base_url=host.base_url, timeout=10) as client:
                response = client.get("/api/pid", headers={"connection": "close"})
            assert response.status_code == 200
            seen.add(response.text)
            return len(seen) >= 2

        wait_until(two_pids, timeout=30, interval=0.01, what="answers from two worker pids")
        ticks = wait_until(
            lambda: (
                len(t := [r for r in host.json_logs() if r["event"].startswith("tick")]) >= 3 and t
            ),
            timeout=15,
            what="three timer ticks",
        )
        tick_pids = {line["event"].rsplit(" ", 1)[1] for line in ticks}
        assert len(tick_pids) == 1
        assert tick_pids <= seen  # one of the two workers that answered
        listening = [
            r for r in host.json_logs() if r["event"].startswith("extkit host listening on")
        ]
        assert len(listening) == 2
        assert host.stop() == 0


def test_a_worker_that_dies_is_replaced() -> None:
    with running_host(APPS / "host_workers", "--workers", "2", "--log-format", "json") as host:
        victim = host.get("/api/pid", headers={"connection": "close"}).text
        os.kill(int(victim), signal.SIGKILL)
        host.wait_for_log(lambda r: r["event"] == f"worker pid {victim} ended (exit status -9): "
                          "starting another")  # fmt: skip
        seen: set[str] = set()

        def two_others() -> bool:
            with httpx.Client(base_url=host.base_url, timeout=10) as client:
                seen.add(client.get("/api/pid", headers={"connection": "close"}).text)
            return len(seen - {victim}) >= 2

        wait_until(two_others, timeout=30, interval=0.01, what="two workers, neither the dead one")
        assert host.stop() == 0


def test_workers_stop_when_their_supervisor_dies() -> None:
    """A supervisor killed outright (the OOM killer, SIGKILL) leaves no workers serving on."""
    with running_host(APPS / "host_workers", "--workers", "2", "--log-format", "json") as host:
        children: set[int] = set()

        def both_seen() -> bool:
            with httpx.Client(base_url=host.base_url, timeout=10) as client:
                children.add(int(client.get("/api/pid", headers={"connection": "close"}).text))
            return len(children) == 2

        wait_until(both_seen, timeout=30, interval=0.01, what="both workers to answer")
        host.process.send_signal(signal.SIGKILL)
        host.process.wait(timeout=10)

        def gone() -> bool:
            return not any(os.path.exists(f"/proc/{pid}") and _alive(pid) for pid in children)

        wait_until(gone, timeout=30, what="the orphaned workers to stop")
        assert len(children) == 2 and gone()
        for pid in children:  # each said why it stopped, in the output they shared
            assert f"worker pid {pid}: the supervisor has gone: stopping" in host.output()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, waiting for init to reap it, has ended)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_worker_that_cannot_start_stops_the_others(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "host.json").write_text('{"version": "2.0"}', encoding="utf-8")
    (app / "function_app.py").write_text(
        "import os\n"
        "from extkit.app import FunctionApp\n"
        "if os.environ.get('EXTKIT_HOST_APP_DIR'):  # set for the workers only\n"
        "    raise RuntimeError('this worker cannot start')\n"
        "app = FunctionApp()\n"
        "@app.route(route='x')\n"
        "def x(req): return 'x'\n",
        encoding="utf-8",
    )
    result = run_host_to_exit(app, "--workers", "2")
    assert result.returncode == 3
    assert "could not start: stopping the others" in result.stdout
