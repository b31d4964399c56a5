"""The invocation ``Context``: every attribute the reference offers, and how it reaches the
function and the hooks of one invocation."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from extkit import (
    AppExtensionBase,
    Context,
    Engine,
    ExtensionState,
    FuncExtensionBase,
    RetryContext,
    TraceContext,
    invocation_scope,
)

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

pytestmark = pytest.mark.usefixtures("no_invocation_outlives_the_test")


def test_a_context_has_identity_and_location() -> None:
    context = Context("HttpTrigger", "/app/HttpTrigger")
    assert context.function_name == "HttpTrigger"
    assert context.function_directory == "/app/HttpTrigger"
    assert str(uuid.UUID(context.invocation_id)) == context.invocation_id
    assert Context("HttpTrigger").invocation_id != context.invocation_id
    assert Context("f", invocation_id="given").invocation_id == "given"


def test_thread_local_storage_has_a_per_thread_invocation_id() -> None:
    context, other = Context("f"), Context("g")
    assert context.thread_local_storage.invocation_id is None
    seen: list[Any] = []

    def other_thread() -> None:
        seen.append(context.thread_local_storage.invocation_id)
        context.thread_local_storage.invocation_id = other.invocation_id
        seen.append(context.thread_local_storage.invocation_id)

    with invocation_scope(context), invocation_scope(other):
        context.thread_local_storage.invocation_id = context.invocation_id
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(timeout=10)
        assert seen == [None, other.invocation_id]
        assert context.thread_local_storage.invocation_id == context.invocation_id
    assert context.thread_local_storage.invocation_id is None  # cleared when it ended


def test_thread_local_storage_only_holds_the_id_of_a_running_invocation() -> None:
    context = Context("f")
    context.thread_local_storage.invocation_id = context.invocation_id
    assert context.thread_local_storage.invocation_id is None


def test_trace_context_has_both_spellings() -> None:
    trace = TraceContext(TRACEPARENT, "vendor=1", {"OperationName": "GET /api/x"})
    context = Context("f", trace_context=trace)
    assert context.trace_context.trace_parent == TRACEPARENT
    assert context.trace_context.Traceparent == TRACEPARENT
    assert context.trace_context.trace_state == "vendor=1"
    assert context.trace_context.Tracestate == "vendor=1"
    assert context.trace_context.attributes == {"OperationName": "GET /api/x"}
    empty = Context("f").trace_context
    assert (empty.trace_parent, empty.Tracestate, empty.attributes) == (None, None, {})


def test_retry_context_has_count_limit_and_exception() -> None:
    failure = ValueError("last try failed")
    context = Context("f", retry_context=RetryContext(2, 5, failure))
    assert context.retry_context.retry_count == 2
    assert context.retry_context.max_retry_count == 5
    assert context.retry_context.exception is failure
    assert context.retry_context.rpc_exception is failure
    first_try = Context("f").retry_context
    assert (first_try.retry_count, first_try.max_retry_count, first_try.exception) == (0, 0, None)


def test_extension_attributes_start_empty_and_are_per_context() -> None:
    first, second = Context("f"), Context("f")
    first.app_ext_attributes["timer"] = 1
    first.func_ext_attributes["auth"] = "ok"
    assert second.app_ext_attributes == {} and second.func_ext_attributes == {}


def test_extension_state_gives_each_key_its_own_namespace() -> None:
    state = ExtensionState()
    assert "A" not in state and len(state) == 0
    state["A"].value = 1
    state["B"].value = 2
    assert (state["A"].value, state["B"].value) == (1, 2)
    assert "A" in state and len(state) == 2


def test_a_function_declaring_context_receives_the_context_the_hooks_see(
    extkit_engine: Engine,
) -> None:
    seen: list[Context] = []

    class Fills(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, context: Context) -> None:
            seen.append(context)
            context.app_ext_attributes["fills"] = "from the app extension"

    class FillsToo(FuncExtensionBase):
        def pre_invocation(self, context: Context) -> None:
            context.func_ext_attributes["fills"] = "from the function extension"

    FillsToo(functions=["work"])

    def work(name: str, context: Context) -> tuple[Any, ...]:
        seen.append(context)
        return (
            name,
            context.function_name,
            context.app_ext_attributes["fills"],
            context.func_ext_attributes["fills"],
        )

    loaded = extkit_engine.load(work, directory="/app/work")
    given = loaded.new_context(invocation_id="abc")
    assert loaded.invoke({"name": "x"}, given) == (
        "x",
        "work",
        "from the app extension",
        "from the function extension",
    )
    assert seen == [given, given]
    assert given.function_directory == "/app/work"


def test_a_function_without_a_context_parameter_does_not_receive_one(
    extkit_engine: Engine,
) -> None:
    def work(**kwargs: Any) -> list[str]:
        return sorted(kwargs)

    assert extkit_engine.load(work).invoke({"a": 1}) == ["a"]
