"""``extkit invoke`` as users run it: a real subprocess, the body on stdout, logs on stderr."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
HELLO = ROOT / "examples" / "hello"
HELLO_V2 = ROOT / "examples" / "hello_v2"
APPS = Path(__file__).resolve().parent / "apps"
CLI_APP = APPS / "cli_app"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def extkit_command() -> list[str]:
    script = Path(sys.executable).with_name("extkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "extkit"]


def invoke(*args: str | Path, timeout: float = 60) -> Run:
    """Run ``extkit invoke ARGS`` from the repository root; always reaped, never left running."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OTEL_", "PYTHON_ENABLE_WORKER", "EXTKIT_", "AzureWebJobs"))
    }
    process = subprocess.Popen(
        [*extkit_command(), "invoke", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return Run(process.returncode, stdout, stderr)


def test_hello_answers_like_the_reference_tutorial() -> None:
    run = invoke(HELLO, "HttpTrigger", "--param", "name=Ada")
    assert run.code == 0, run.stderr
    assert re.fullmatch(
        r"Hello, Ada\. This HTTP triggered function executed successfully\. "
        r"\(TimeElapsed: \d+\.\d+ sec\)\n",
        run.stdout,
    ), run.stdout
    # Logs go to stderr, each with the invocation id; none leak into the body.
    assert "Python HTTP trigger function processed a request." in run.stderr
    assert re.search(f"invocation_id={UUID}", run.stderr), run.stderr


def test_json_body_and_json_logs() -> None:
    run = invoke(HELLO, "HttpTrigger", "--json", '{"name": "Grace"}', "--log-format", "json")
    assert run.code == 0, run.stderr
    assert run.stdout.startswith("Hello, Grace. This HTTP triggered function")
    lines = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    processed = [line for line in lines if line["event"].startswith("Python HTTP trigger")]
    assert len(processed) == 1 and re.fullmatch(UUID, processed[0]["invocation_id"])
    assert processed[0]["function_name"] == "HttpTrigger"


def test_unknown_function_lists_the_existing_ones() -> None:
    run = invoke(HELLO, "Nope")
    assert run.code == 2
    assert run.stdout == ""
    assert "no function named 'Nope'" in run.stderr
    assert "AsyncHttpTrigger, HttpTrigger, ThreadLogging" in run.stderr


def test_request_parts_reach_the_function() -> None:
    run = invoke(
        CLI_APP, "echo", "--method", "put", "--data", "some text",
        "--param", "id=42", "--param", "q=a b",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    echoed = json.loads(run.stdout)
    assert echoed == {
        "method": "PUT",
        "url": "http://localhost/api/echo/42?q=a+b",
        "params": {"q": "a b"},
        "route_params": {"id": 42},
        "body": "some text",
        "content_type": "text/plain; charset=utf-8",
    }


def test_route_parameters_must_fit_the_template() -> None:
    run = invoke(CLI_APP, "Echo", "--param", "id=abc")
    assert run.code == 2
    assert "route 'echo/{id:int}'" in run.stderr and "--param id=" in run.stderr


def test_method_the_function_does_not_accept() -> None:
    run = invoke(CLI_APP, "Echo", "--param", "id=1", "--method", "DELETE")
    assert run.code == 2
    assert "Echo accepts GET, POST, PUT, not DELETE" in run.stderr


def test_invalid_json_argument() -> None:
    run = invoke(CLI_APP, "Echo", "--param", "id=1", "--json", "{nope")
    assert run.code == 2 and "--json: not valid JSON" in run.stderr


def test_function_that_raises_fails_with_a_generic_body() -> None:
    run = invoke(CLI_APP, "Fails")
    assert run.code == 1
    found = re.fullmatch(
        f"Function 'Fails' failed \\(invocation ({UUID})\\)\\. The details are in the host's "
        "log\\.\n",
        run.stdout,
    )
    assert found, run.stdout
    assert "ValueError: kaboom" in run.stderr  # the traceback, in the log
    assert f"answered 500 (invocation {found.group(1)})" in run.stderr


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_key_in_the_url_of_a_failure_is_redacted(log_format: str) -> None:
    run = invoke(CLI_APP, "Fails", "--param", "code=k3y-1n-a-url", "--log-format", log_format)
    assert run.code == 1
    assert "kaboom at http://localhost/api/Fails?code=REDACTED" in run.stderr
    assert "k3y-1n-a-url" not in run.stdout + run.stderr


def test_rejected_invocation_fails() -> None:
    run = invoke(CLI_APP, "Echo", "--param", "id=1", "--param", "deny=yes")
    assert run.code == 1
    assert run.stdout == "denied by Guard\n"
    assert "answered 403" in run.stderr


def test_function_timeout_ends_the_command() -> None:
    """host.json sets functionTimeout to half a second; the function would never return."""
    run = invoke(CLI_APP, "Hang")
    assert run.code == 1
    assert re.fullmatch(
        f"Function 'Hang' timed out after 0.5 s \\(invocation {UUID}\\)\\.\n", run.stdout
    )
    assert "answered 504" in run.stderr


def test_timer_function() -> None:
    run = invoke(CLI_APP, "Tick")
    assert run.code == 0, run.stderr
    assert run.stdout == ""
    assert "tick past_due=False" in run.stderr


def test_timer_function_takes_no_request() -> None:
    run = invoke(CLI_APP, "Tick", "--data", "x")
    assert run.code == 2 and "Tick is a timer function" in run.stderr


def test_app_that_cannot_load() -> None:
    run = invoke(APPS / "broken_app", "Fine")
    assert run.code == 3
    assert run.stdout == ""
    assert "cannot be loaded (9 problems)" in run.stderr
    assert "BadJson/function.json:4:21: not valid JSON" in run.stderr
    assert "RuntimeError: boom at import time" in run.stderr


def test_missing_app_folder() -> None:
    run = invoke(APPS / "no_such_app", "Fn")
    assert run.code == 3
    assert "no_such_app: the app folder does not exist" in run.stderr


def test_decorator_model_example() -> None:
    run = invoke(HELLO_V2, "get_item", "--param", "id=21")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout) == {"id": 21, "name": "item 21", "doubled": 42}
    hello = invoke(HELLO_V2, "Hello", "--param", "name=Ada")
    assert hello.stdout == "Hello, Ada. This HTTP triggered function executed successfully.\n"
    assert "audit: GET http://localhost/api/hello/Ada" in hello.stderr


def test_logs_from_user_threads_and_to_thread_carry_the_invocation_id() -> None:
    run = invoke(HELLO, "ThreadLogging", "--log-format", "json")
    assert run.code == 0, run.stderr
    lines = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    by_event = {line["event"]: line.get("invocation_id") for line in lines}
    expected = [
        "Before threads.",
        "Thread1 used.",
        "Thread2 used.",
        "Thread3 used.",
        "After threads.",
    ]
    assert [event for event in by_event if event in expected] == expected
    ids = {by_event[event] for event in expected}
    assert len(ids) == 1 and re.fullmatch(UUID, str(ids.pop()))

    run = invoke(HELLO, "AsyncHttpTrigger", "--param", "name=Bob", "--log-format", "json")
    assert run.code == 0, run.stderr
    assert run.stdout.startswith("Hello, Bob. This HTTP triggered function executed successfully.")
    lines = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    composing = [line for line in lines if line["event"] == "composing a greeting for Bob"]
    requested = [line for line in lines if line["event"] == "async greeting requested for Bob"]
    assert len(composing) == len(requested) == 1
    assert composing[0]["invocation_id"] == requested[0]["invocation_id"] is not None
