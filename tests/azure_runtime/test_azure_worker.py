"""``extkit.azure.enable(app)`` in Azure's own Python 3.13+ worker, driven as the host drives it.

The real ``azure-functions`` 2.x library and ``azure-functions-runtime``; the app in
``apps/runtime_app`` is written as Azure's developer guide shows. Every test goes through the
runtime's own handlers: init, metadata, load, then invocation requests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("azure_functions_runtime", reason="Azure's Python worker needs Python 3.13+")

from azure_worker import AzureWorker, Outcome

from extkit.testing import CapturedLogs, HookCall

APP = "runtime_app"
APP_DIR = Path(__file__).parent / "apps" / APP


def calls(hook_calls: list[HookCall], outcome: Outcome) -> list[str]:
    return [str(call) for call in hook_calls if call.invocation_id == outcome.invocation_id]


def messages(logs: CapturedLogs, outcome: Outcome, logger: str | None = None) -> list[str]:
    return [
        record.getMessage()
        for record in logs.for_invocation(outcome.invocation_id)
        if logger is None or record.name == logger
    ]


def test_the_worker_indexes_and_loads_every_function(azure_worker, extkit_hook_calls) -> None:
    worker: AzureWorker = azure_worker(APP)

    assert worker.init_response.result.status == 1, worker.init_response.result.exception
    names = [m.name for m in worker.metadata_response.function_metadata_results]
    assert names[:2] == ["greet", "async_greet"]  # from the blueprint, registered first
    assert {"hello", "AsyncHello", "via_out", "tick"} <= set(names)
    loaded = {name: load.result.status for name, load in worker.load_responses.items()}
    assert loaded == dict.fromkeys(names, 1)
    hello = next(m for m in worker.metadata_response.function_metadata_results if m.name == "hello")
    assert {name: info.type for name, info in hello.bindings.items()} == {
        "req": "httpTrigger",
        "$return": "http",
    }
    assert hello.directory == str(APP_DIR)
    # Load hooks ran once per function, when the worker indexed the app.
    loads = [call for call in extkit_hook_calls if call.hook == "post_function_load_app_level"]
    assert sorted(call.function_name for call in loads) == sorted(names)


def test_hooks_run_around_an_http_invocation(azure_worker, extkit_hook_calls, extkit_logs) -> None:
    worker = azure_worker(APP)

    outcome = worker.http("hello", params={"name": "Ada"})

    answer = outcome.http()
    assert (answer.status, answer.text) == (200, "Hello, Ada!")
    # A post hook changed the answer the worker sends.
    assert answer.headers["x-stamp"] == outcome.invocation_id
    assert calls(extkit_hook_calls, outcome) == [
        "Stamp.pre_invocation_app_level",
        "Cache.pre_invocation_app_level",
        "Stamp.post_invocation_app_level",
    ]
    assert messages(extkit_logs, outcome) == [
        "before hello",
        "saying hello to Ada",
        "after hello (failed: None)",
    ]


def test_the_function_gets_the_workers_invocation(azure_worker) -> None:
    worker = azure_worker(APP)
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    outcome = worker.http("whoami", trace_parent=traceparent)

    assert outcome.http().json() == {
        "invocation_id": outcome.invocation_id,
        "function_name": "whoami",
        "function_directory": str(APP_DIR),
        "trace_parent": traceparent,
        "thread_local_id": outcome.invocation_id,
    }


def test_string_annotations_and_blueprint_functions(azure_worker, extkit_hook_calls) -> None:
    worker = azure_worker(APP)

    greeted = worker.http("greet", path="greet/Ada", route_params={"name": "Ada"})
    async_greeted = worker.http("async_greet", route_params={"name": "Grace"})

    assert greeted.http().text == "Greetings, Ada (greet)"
    assert async_greeted.http().text == "Async greetings, Grace"
    assert "Stamp.post_invocation_app_level" in calls(extkit_hook_calls, async_greeted)


def test_an_async_function_is_awaited_on_the_workers_loop(
    azure_worker, extkit_hook_calls, extkit_logs
) -> None:
    worker = azure_worker(APP)

    outcome = worker.http("AsyncHello")

    # The worker awaited it (on the loop's thread), rather than running it in its thread pool.
    assert outcome.http().text == "async, on MainThread"
    assert calls(extkit_hook_calls, outcome)[-1] == "Stamp.post_invocation_app_level"
    assert messages(extkit_logs, outcome, "root") == ["from a task", "from asyncio.to_thread"]


def test_logs_from_the_functions_threads_carry_its_invocation_id(azure_worker, extkit_logs) -> None:
    worker = azure_worker(APP)

    outcome = worker.http("threads")

    assert outcome.http().text == "threads done"
    assert messages(extkit_logs, outcome, "root") == [
        "from an extkit.Thread",
        "from a thread that set thread_local_storage",
        "from a ContextThreadPoolExecutor",
    ]


def test_concurrent_invocations_keep_their_own_ids(azure_worker, extkit_logs) -> None:
    worker = azure_worker(APP)
    names = [f"caller-{n}" for n in range(8)]

    outcomes = worker.gather(
        [worker.http_invocation("hello", params={"name": name}) for name in names]
        + [worker.http_invocation("AsyncHello") for _ in names]
    )

    for name, outcome in zip(names, outcomes, strict=False):
        assert outcome.http().text == f"Hello, {name}!"
        assert messages(extkit_logs, outcome, "root") == [f"saying hello to {name}"]
    for outcome in outcomes[len(names) :]:
        assert messages(extkit_logs, outcome, "root") == ["from a task", "from asyncio.to_thread"]


def test_the_out_the_worker_created_is_the_one_set(azure_worker, extkit_hook_calls) -> None:
    worker = azure_worker(APP)

    outcome = worker.http("via_out")

    assert outcome.response.return_value is None
    answer = outcome.http("resp")
    assert (answer.status, answer.text) == (201, "set on the Out")
    assert calls(extkit_hook_calls, outcome)[-1] == "Stamp.post_invocation_app_level"


def test_a_timer_invocation_runs_the_hooks(azure_worker, extkit_hook_calls, extkit_logs) -> None:
    worker = azure_worker(APP)

    outcome = worker.timer("tick", past_due=True)

    assert outcome.succeeded
    assert calls(extkit_hook_calls, outcome) == [
        "Stamp.pre_invocation_app_level",
        "Cache.pre_invocation_app_level",
        "Stamp.post_invocation_app_level",
    ]
    assert messages(extkit_logs, outcome, "root") == ["tick (past due: True)"]


@pytest.mark.parametrize(
    ("function", "error"),
    [("fail", "the function failed"), ("async_fail", "the async function failed")],
)
def test_post_hooks_run_when_the_function_raises_and_the_worker_reports_it(
    azure_worker, extkit_logs, function: str, error: str
) -> None:
    worker = azure_worker(APP)

    outcome = worker.http(function)

    assert outcome.failure == f"ValueError: {error}"
    assert messages(extkit_logs, outcome, "extkit.extensions.Stamp") == [
        f"before {function}",
        f"after {function} (failed: ValueError)",
    ]


def test_a_rejection_is_the_http_answer(azure_worker, extkit_hook_calls, extkit_logs) -> None:
    worker = azure_worker(APP)

    rejected = worker.http("guarded")
    admitted = worker.http("guarded", headers={"x-key": "secret"})

    answer = rejected.http()
    assert (answer.status, answer.text) == (401, "a key is needed")
    assert calls(extkit_hook_calls, rejected) == [
        "Stamp.pre_invocation_app_level",
        "Cache.pre_invocation_app_level",
        "Gate.pre_invocation",
        "Stamp.post_invocation_app_level",
    ]
    assert "after guarded (failed: RejectInvocation)" in messages(extkit_logs, rejected)
    assert admitted.http().text == "the key was right"


def test_a_short_circuit_is_the_http_answer(azure_worker) -> None:
    worker = azure_worker(APP)

    returned = worker.http("cached")
    set_on_out = worker.http("cached_out")

    for answer in (returned.http(), set_on_out.http("resp")):
        assert (answer.status, answer.text) == (200, "from the cache")
        assert answer.headers["x-cache"] == "hit"
    assert set_on_out.response.return_value is None


def test_with_the_gate_off_no_hook_runs(
    azure_worker, extkit_hook_calls, extkit_logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_ENABLE_WORKER_EXTENSIONS", "0")
    worker = azure_worker(APP)

    outcome = worker.http("hello", params={"name": "Ada"})
    failed = worker.http("fail")

    assert outcome.http().text == "Hello, Ada!"
    assert "x-stamp" not in outcome.http().headers
    assert failed.failure == "ValueError: the function failed"
    assert extkit_hook_calls == []
    # The function's own logs still carry the invocation id.
    assert messages(extkit_logs, outcome) == ["saying hello to Ada"]
    assert (
        "worker extensions are off (PYTHON_ENABLE_WORKER_EXTENSIONS): Stamp, Cache, Gate will "
        "not run"
    ) in extkit_logs.messages("extkit.azure")


def test_installed_extensions_run_as_on_extkit_start(
    azure_worker, extkit_logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("extkit_timer")
    monkeypatch.setenv("EXTKIT_DISABLED_EXTENSIONS", "tracing")
    worker = azure_worker(APP)

    outcome = worker.http("hello")

    [line] = messages(extkit_logs, outcome, "extkit.extensions.TimerExtension")
    assert line.startswith("Time taken to execute hello is ")


def test_a_binding_named_context_keeps_its_name(azure_worker, extkit_logs) -> None:
    worker = azure_worker(APP)

    outcome = worker.http("binding_named_context", trigger="context", method="POST")

    assert outcome.http().text == "a binding named context"
    # The worker hands over no invocation context here; its invocation id variable is used.
    assert messages(extkit_logs, outcome, "root") == ["the request is named context: POST"]
