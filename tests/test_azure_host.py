"""Apps and extensions written for Azure Functions, served unchanged by real ``extkit start``
processes, with the real ``azure-functions`` package.

The fixture apps are written the way Azure's documentation shows: the quickstart's HTTP function,
the worker-extension tutorial's timer (imported as the installed package it is there), a
decorator-model ``function_app.py`` with a blueprint, and extensions in the style of the
opencensus and Datadog ones.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostutil import HostProcess, running_host

pytestmark = pytest.mark.slow

APPS = Path(__file__).resolve().parent / "apps"
FOLDER_APP = APPS / "azure_folder"
DECORATOR_APP = APPS / "azure_decorator"
EXTKIT_TIMER_APP = APPS / "azure_extkit_timer"
#: The tutorial's extension package, importable as if pip-installed.
TIMER_PACKAGE = APPS / "azure_timer_extension"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
#: The tutorial's own suffix: the elapsed seconds as Python prints a float.
TUTORIAL_ELAPSED = re.compile(r" \(TimeElapsed: [0-9.e-]+ sec\)$")


def environment(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(TIMER_PACKAGE), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "EXTKIT_DISABLED_EXTENSIONS": "tracing", **extra}


@pytest.fixture(scope="module")
def folder_host() -> Iterator[HostProcess]:
    env = environment(EXTKIT_FUNCTION_KEY="test-key")
    with running_host(FOLDER_APP, "--log-format", "json", env=env) as host:
        yield host


@pytest.fixture(scope="module")
def decorator_host() -> Iterator[HostProcess]:
    env = environment(EXTKIT_FUNCTION_KEY="test-key")
    with running_host(DECORATOR_APP, "--log-format", "json", env=env) as host:
        yield host


def logs_of(host: HostProcess, invocation_id: str) -> list[dict[str, Any]]:
    return [line for line in host.json_logs() if line.get("invocation_id") == invocation_id]


# --- folder per function ------------------------------------------------------------------------


def test_the_quickstart_function_with_the_tutorial_s_timer(folder_host: HostProcess) -> None:
    response = folder_host.get("/api/HttpExample", params={"name": "Ada"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    body = response.text
    assert body.startswith("Hello, Ada. This HTTP triggered function executed successfully.")
    assert TUTORIAL_ELAPSED.search(body), body
    invocation = response.headers["x-invocation-id"]
    messages = [line["event"] for line in logs_of(folder_host, invocation)]
    assert "Recording start time of HttpExample" in messages
    assert any(m.startswith("Time taken to execute HttpExample is ") for m in messages)
    assert "Python HTTP trigger function processed a request." in messages


def test_the_quickstart_reads_a_json_body_and_skips_a_body_that_is_not_json(
    folder_host: HostProcess,
) -> None:
    named = folder_host.post("/api/HttpExample", json={"name": "Bob"})
    assert named.text.startswith("Hello, Bob.")
    unnamed = folder_host.post("/api/HttpExample", content=b"not json")
    assert unnamed.status_code == 200
    assert unnamed.text.startswith("This HTTP triggered function executed successfully.")


def test_the_function_gets_the_library_s_request_and_its_response_is_the_answer(
    folder_host: HostProcess,
) -> None:
    response = folder_host.post(
        "/api/items/5",
        params={"colour": "red"},
        json={"n": 1},
        headers={"X-Custom": "given", "x-functions-key": "test-key"},
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["x-item"] == "5"
    seen = json.loads(TUTORIAL_ELAPSED.sub("", response.text))
    assert seen["is_azure_request"] is True
    assert seen["body_type"] == "bytes"
    assert seen["id"] == "5"  # text, as the reference gives route values
    assert seen["params"] == {"colour": "red"}
    assert seen["params_read_only"] is True
    assert seen["payload"] == {"n": 1}
    assert seen["header"] == "given"
    assert seen["function_name"] == "Items"
    assert seen["invocation_id"] == response.headers["x-invocation-id"]
    assert seen["function_directory"] == str(FOLDER_APP / "Items")


def test_the_function_key_is_required_for_an_auth_level_function_function(
    folder_host: HostProcess,
) -> None:
    assert folder_host.get("/api/items/5").status_code == 401


def test_an_extension_s_context_and_arguments_are_the_reference_s(
    folder_host: HostProcess,
) -> None:
    response = folder_host.post(
        "/api/items/5",
        params={"code": "test-key"},
        headers={"traceparent": TRACEPARENT, "tracestate": "k=v"},
    )
    probe = json.loads(response.headers["x-probe"])
    assert probe["function_name"] == "Items"
    assert probe["function_directory"] == str(FOLDER_APP / "Items")
    assert probe["kept_attribute"] is True  # set in pre, read back in post
    assert probe["thread_local"] is True
    assert probe["Traceparent"] == probe["trace_parent"] == TRACEPARENT
    assert probe["Tracestate"] == probe["trace_state"] == "k=v"
    assert probe["attributes"] == {}
    assert (probe["retry_count"], probe["max_retry_count"]) == (0, 0)
    assert probe["args"] == ["context:Context", "req:AzureHttpRequest"]
    assert probe["azure_request"] is True
    assert probe["func_ret"] == "HttpResponse"


def test_a_named_http_output(folder_host: HostProcess) -> None:
    response = folder_host.post("/api/Outputs", content=b"abc")
    assert response.status_code == 202
    assert response.content == b"stored abc"
    assert response.headers["x-out"] == "yes"
    assert response.headers["content-type"] == "application/octet-stream"


def test_a_function_extension_runs_for_its_own_function_only(folder_host: HostProcess) -> None:
    first = folder_host.get("/api/Stamped")
    second = folder_host.get("/api/Stamped")
    assert first.text.startswith("stamped")
    assert (first.headers["x-stamp"], second.headers["x-stamp"]) == ("Stamped #1", "Stamped #2")
    assert "x-stamp" not in folder_host.get("/api/HttpExample").headers
    output = folder_host.output()
    assert "StampExtension bound to Stamped" in output
    assert "StampExtension bound to HttpExample" not in output


def test_load_hooks_run_once_per_function(folder_host: HostProcess) -> None:
    output = folder_host.output()
    for name in ("Fails", "HttpExample", "Items", "Outputs", "Stamped"):
        assert output.count(f"ContextProbe loaded {name} from {FOLDER_APP / name}") == 1


def test_post_hooks_run_when_the_function_raised_and_hook_errors_name_the_extension(
    folder_host: HostProcess,
) -> None:
    response = folder_host.get("/api/Fails")
    assert response.status_code == 500
    invocation = response.headers["x-invocation-id"]
    lines = folder_host.wait_for_log(
        lambda line: (
            line.get("invocation_id") == invocation
            and line.get("event") == "ContextProbe post for Fails: NoneType"
        )
    )
    assert lines["logger"] == "extkit.extensions.ContextProbe"
    (line,) = [
        line for line in logs_of(folder_host, invocation) if "BrokenExtension" in line["event"]
    ]
    assert line["logger"] == "extkit.extensions.BrokenExtension"
    assert line["level"] == "error"
    assert "extension BrokenExtension failed in pre_invocation for function Fails" in line["event"]
    assert "BrokenExtension failed on purpose" in line["event"]


def test_the_conversion_does_not_depend_on_the_extensions_gate() -> None:
    env = environment(PYTHON_ENABLE_WORKER_EXTENSIONS="0")
    with running_host(FOLDER_APP, env=env) as host:
        response = host.get("/api/HttpExample", params={"name": "Ada"})
        assert response.status_code == 200
        assert response.text == "Hello, Ada. This HTTP triggered function executed successfully."
        outputs = host.post("/api/Outputs", content=b"x")
        assert (outputs.status_code, outputs.content) == (202, b"stored x")
        assert "x-probe" not in response.headers


# --- function_app.py ----------------------------------------------------------------------------


def test_a_decorator_model_app_loads_and_answers(decorator_host: HostProcess) -> None:
    response = decorator_host.get("/api/hello", params={"name": "Ada"})
    assert response.status_code == 200
    assert response.text.startswith("Hello, Ada. This HTTP triggered function executed")
    assert TUTORIAL_ELAPSED.search(response.text)
    assert decorator_host.post("/api/hello", json={"name": "Bob"}).text.startswith("Hello, Bob.")
    assert decorator_host.get("/api/hello").status_code == 400
    assert decorator_host.request("DELETE", "/api/hello").status_code == 405  # methods=[GET, POST]


def test_auth_levels_from_the_app_and_the_route(decorator_host: HostProcess) -> None:
    assert decorator_host.get("/api/secret").status_code == 401
    allowed = decorator_host.get("/api/secret", headers={"x-functions-key": "test-key"})
    assert allowed.status_code == 200 and allowed.text.startswith("the secret")


def test_a_blueprint_s_functions_and_their_route_parameters(decorator_host: HostProcess) -> None:
    response = decorator_host.get("/api/greet/Ada")
    assert response.text.startswith("Greetings, Ada")


def test_a_route_with_a_named_output(decorator_host: HostProcess) -> None:
    response = decorator_host.post("/api/stored", content=b"abc")
    assert (response.status_code, response.content) == (202, b"stored abc")


def test_a_function_extension_serves_the_functions_of_its_own_file(
    decorator_host: HostProcess,
) -> None:
    assert decorator_host.get("/api/hello?name=x").headers["x-stamp"] == "function_app.py"
    assert decorator_host.get("/api/greet/x").headers["x-stamp"] == "greetings.py"


def test_the_timer_runs_on_startup_with_the_library_s_timer_request(
    decorator_host: HostProcess,
) -> None:
    line = decorator_host.wait_for_log(
        lambda line: str(line.get("event", "")).startswith("startup_timer ran")
    )
    assert line["event"] == "startup_timer ran: TimerRequest past_due=False"
    assert line["function_name"] == "startup_timer"


# --- extkit's own extensions --------------------------------------------------------------------


def test_extkit_s_bundled_timer_applies_to_an_azure_typed_function() -> None:
    with running_host(EXTKIT_TIMER_APP, "--log-format", "json", env=environment()) as host:
        response = host.get("/api/HttpExample", params={"name": "Ada"})
        assert response.status_code == 200
        assert re.fullmatch(r"Hello, Ada\. \(TimeElapsed: \d+\.\d{6} sec\)", response.text)
        assert response.headers["server-timing"].startswith("total;dur=")
        invocation = response.headers["x-invocation-id"]
        line = host.wait_for_log(
            lambda line: line.get("invocation_id") == invocation and "elapsed_sec" in line
        )
        assert line["logger"] == "extkit.extensions.TimerExtension"
