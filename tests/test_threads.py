"""Thread helpers: work on other threads keeps the context of the code that handed it over."""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import extkit
from extkit import ContextThreadPoolExecutor

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


def _read() -> str:
    return marker.get()


def test_propagate_runs_the_function_in_the_context_it_was_bound_in() -> None:
    token = marker.set("bound")
    try:
        bound = extkit.propagate(_read)
    finally:
        marker.reset(token)
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(bound).result(timeout=10) == "bound"
        assert pool.submit(_read).result(timeout=10) == "unset"


def test_propagate_can_be_called_from_several_threads_at_once() -> None:
    barrier = threading.Barrier(4, timeout=10)

    def meet() -> str:
        barrier.wait()
        return marker.get()

    token = marker.set("shared")
    try:
        bound = extkit.propagate(meet)
    finally:
        marker.reset(token)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(bound) for _ in range(4)]
        assert [future.result(timeout=10) for future in futures] == ["shared"] * 4


def test_context_thread_pool_executor_runs_each_task_in_the_submitter_s_context() -> None:
    with ContextThreadPoolExecutor(1) as pool:
        token = marker.set("first")
        try:
            first = pool.submit(_read).result(timeout=10)
        finally:
            marker.reset(token)
        after = pool.submit(_read).result(timeout=10)  # same thread, reused
        token = marker.set("mapped")
        try:
            mapped = list(pool.map(lambda _: marker.get(), range(3)))
        finally:
            marker.reset(token)
    assert (first, after, mapped) == ("first", "unset", ["mapped"] * 3)


def test_a_pool_task_s_changes_do_not_leak_into_the_next_task() -> None:
    def change() -> str:
        marker.set("changed by a task")
        return marker.get()

    with ContextThreadPoolExecutor(1) as pool:
        assert pool.submit(change).result(timeout=10) == "changed by a task"
        assert pool.submit(_read).result(timeout=10) == "unset"


def test_extkit_thread_runs_its_target_in_the_creator_s_context() -> None:
    results: list[str] = []
    token = marker.set("creator")
    try:
        thread = extkit.Thread(target=lambda: results.append(marker.get()), daemon=True)
    finally:
        marker.reset(token)
    plain = threading.Thread(target=lambda: results.append(marker.get()))
    thread.start()
    thread.join(timeout=10)
    plain.start()
    plain.join(timeout=10)
    assert results == ["creator", "unset"]


def test_extkit_thread_passes_args_and_kwargs_to_its_target() -> None:
    results: list[tuple[object, ...]] = []
    thread = extkit.Thread(
        target=lambda *a, **k: results.append((a, k)), args=(1, 2), kwargs={"x": 3}
    )
    thread.start()
    thread.join(timeout=10)
    assert results == [((1, 2), {"x": 3})]
