"""Extensions written against ``azure.functions`` inside Azure's Python 3.13+ worker.

That worker runs no extension hooks; with ``extkit.azure.enable(app)`` they run on extkit's
engine, unchanged: the tutorial's timer extension (including its write to the response's private
body), an extension that keeps state on the context between its hooks, and a function extension
bound to ``function_app.py``. The app in ``apps/azure_written`` is driven through the runtime's
own handlers.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("azure_functions_runtime", reason="Azure's Python worker needs Python 3.13+")

from azure_worker import AzureWorker, Outcome

from extkit.testing import CapturedLogs, HookCall

APP = "azure_written"
#: The tutorial's timer extension, as its package ships it.
TIMER_PACKAGE = Path(__file__).parents[1] / "apps" / "azure_timer_extension"
TIMER_MODULE = "python_worker_extension_timer"

AROUND_HELLO = [
    "Outermost.pre_invocation_app_level",
    "TimerExtension.pre_invocation_app_level",
    "Propagation.pre_invocation_app_level",
    "Tagging.pre_invocation",
    "Tagging.post_invocation",
    "Propagation.post_invocation_app_level",
    "TimerExtension.post_invocation_app_level",
    "Outermost.post_invocation_app_level",
]


@pytest.fixture
def worker(azure_worker, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureWorker]:
    """The app with the timer extension importable, as ``pip install`` would make it; the
    extension's module is forgotten afterwards, so later apps do not adopt it."""
    monkeypatch.syspath_prepend(str(TIMER_PACKAGE))
    try:
        started = azure_worker(APP)
        assert started.init_response.result.status == 1, started.init_response.result.exception
        yield started
    finally:
        sys.modules.pop(TIMER_MODULE, None)


def calls(hook_calls: list[HookCall], outcome: Outcome) -> list[str]:
    return [str(call) for call in hook_calls if call.invocation_id == outcome.invocation_id]


def messages(logs: CapturedLogs, outcome: Outcome, logger: str) -> list[str]:
    return [
        record.getMessage()
        for record in logs.for_invocation(outcome.invocation_id)
        if record.name == logger
    ]


def test_azure_written_hooks_nest_inside_extkit_ones(
    worker: AzureWorker, extkit_hook_calls: list[HookCall]
) -> None:
    outcome = worker.http("hello", params={"name": "Ada"})

    assert outcome.http().text.startswith("Hello, Ada!")
    assert calls(extkit_hook_calls, outcome) == AROUND_HELLO


def test_the_tutorials_timer_changes_the_answer_the_worker_sends(
    worker: AzureWorker, extkit_logs: CapturedLogs
) -> None:
    outcome = worker.http("hello", params={"name": "Ada"})

    answer = outcome.http()
    assert answer.text.startswith("Hello, Ada! (TimeElapsed: ")
    assert answer.text.endswith(" sec)")
    logged = messages(extkit_logs, outcome, "extkit.extensions.TimerExtension")
    assert logged[0] == "Recording start time of hello"
    assert logged[1].startswith("Time taken to execute hello is ")


def test_a_function_extension_runs_for_its_own_files_functions_only(
    worker: AzureWorker, extkit_hook_calls: list[HookCall]
) -> None:
    tagged = worker.http("hello")
    elsewhere = worker.http("welcome")

    assert tagged.http().headers["x-tagged"] == tagged.invocation_id
    assert "x-tagged" not in elsewhere.http().headers
    assert elsewhere.http().text.startswith("Welcome! (TimeElapsed: ")
    assert not [call for call in calls(extkit_hook_calls, elsewhere) if "Tagging" in call]


def test_state_set_on_the_context_in_pre_is_there_in_post(
    worker: AzureWorker, extkit_logs: CapturedLogs
) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    outcome = worker.http("async_hello", trace_parent=traceparent)

    assert outcome.http().text.startswith("Hello from async!")
    assert messages(extkit_logs, outcome, "extkit.extensions.Propagation") == [
        f"tracer for {traceparent} ended (HttpResponse)"
    ]


def test_post_hooks_run_when_the_function_raises_and_the_worker_reports_it(
    worker: AzureWorker, extkit_hook_calls: list[HookCall], extkit_logs: CapturedLogs
) -> None:
    outcome = worker.http("fail")

    assert outcome.failure == "ValueError: the function failed"
    assert [call.replace("hello", "") for call in calls(extkit_hook_calls, outcome)] == AROUND_HELLO
    assert messages(extkit_logs, outcome, "extkit.extensions.Propagation") == [
        "tracer for  ended (NoneType)"
    ]


def test_an_out_answer_reaches_the_worker_past_the_hooks(
    worker: AzureWorker, extkit_hook_calls: list[HookCall]
) -> None:
    outcome = worker.http("via_out")

    assert outcome.http("resp").text == "set on the Out"
    assert calls(extkit_hook_calls, outcome) == AROUND_HELLO


def test_load_hooks_and_init_ran_once(worker: AzureWorker) -> None:
    timer = sys.modules[TIMER_MODULE].TimerExtension

    worker.http("hello")
    worker.http("hello")

    # ``init`` ran once, when the class was defined: the start times it made are the ones used.
    assert timer.start_timestamps == {}
    assert timer.append_to_http_response is True


def test_with_the_gate_off_no_azure_written_hook_runs(
    azure_worker, monkeypatch: pytest.MonkeyPatch, extkit_hook_calls: list[HookCall]
) -> None:
    monkeypatch.setenv("PYTHON_ENABLE_WORKER_EXTENSIONS", "false")
    monkeypatch.syspath_prepend(str(TIMER_PACKAGE))
    try:
        worker = azure_worker(APP)
        outcome = worker.http("hello", params={"name": "Ada"})
    finally:
        sys.modules.pop(TIMER_MODULE, None)

    answer = outcome.http()
    assert answer.text == "Hello, Ada!"
    assert "x-tagged" not in answer.headers
    assert extkit_hook_calls == []
