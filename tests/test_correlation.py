"""Log correlation (design §4): each record made for an invocation carries its id and function name,
wherever the code runs, and no record made for anything else ever does."""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import extkit
from extkit import (
    AppExtensionBase,
    Context,
    ContextThreadPoolExecutor,
    Engine,
    current_invocation,
    invocation_scope,
)
from extkit.testing import CapturedLogs

log = logging.getLogger("app.user")
INVOCATION_IN_MESSAGE = re.compile(r"inv=(\S+)")

pytestmark = pytest.mark.usefixtures("no_invocation_outlives_the_test")


def _record(logs: CapturedLogs, message: str) -> logging.LogRecord:
    found = [record for record in logs.records if record.getMessage() == message]
    assert len(found) == 1, [record.getMessage() for record in logs.records]
    return found[0]


def _stamp(record: logging.LogRecord) -> tuple[Any, Any]:
    return getattr(record, "invocation_id", "missing"), getattr(record, "function_name", "missing")


def _assert_each_record_carries_the_id_in_its_message(logs: CapturedLogs, expected: int) -> None:
    """Every record whose message names an invocation (``inv=<id>``) carries exactly that id."""
    checked = 0
    for record in logs.records:
        match = INVOCATION_IN_MESSAGE.match(record.getMessage())
        if match is None:
            continue
        checked += 1
        assert record.invocation_id == match.group(1), record.getMessage()  # type: ignore[attr-defined]
    assert checked == expected


# --- where records come from ------------------------------------------------------------------


def test_records_from_the_function_and_its_hooks_carry_the_invocation(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    class Logs(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, logger: logging.Logger) -> None:
            logger.info("from the pre hook")

        @classmethod
        async def post_invocation_app_level(cls, logger: logging.Logger) -> None:
            logger.info("from the async post hook")

    loaded = extkit_engine.load(lambda: log.info("from the function"), name="work")
    context = loaded.new_context()
    loaded.invoke(context=context)
    for message in ("from the pre hook", "from the function", "from the async post hook"):
        assert _stamp(_record(extkit_logs, message)) == (context.invocation_id, "work")


def test_records_from_asyncio_tasks_the_function_creates_carry_the_invocation(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    async def logs_in_a_task() -> None:
        await asyncio.sleep(0)
        log.info("from a task")

    async def work() -> None:
        await asyncio.gather(asyncio.ensure_future(logs_in_a_task()))
        asyncio.get_running_loop().call_soon(log.info, "from a callback")
        await asyncio.sleep(0)

    loaded = extkit_engine.load(work)
    context = loaded.new_context()
    asyncio.run(loaded.invoke_async(context=context))
    assert _stamp(_record(extkit_logs, "from a task")) == (context.invocation_id, "work")
    assert _stamp(_record(extkit_logs, "from a callback")) == (context.invocation_id, "work")


def test_records_from_asyncio_to_thread_carry_the_invocation(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    async def work() -> None:
        await asyncio.to_thread(log.info, "from to_thread")

    loaded = extkit_engine.load(work)
    context = loaded.new_context()
    asyncio.run(loaded.invoke_async(context=context))
    assert _stamp(_record(extkit_logs, "from to_thread")) == (context.invocation_id, "work")


def test_records_from_a_context_thread_pool_executor_carry_the_invocation(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    def work() -> None:
        with ContextThreadPoolExecutor(2) as pool:
            pool.submit(log.info, "from the executor").result(timeout=10)

    loaded = extkit_engine.load(work)
    context = loaded.new_context()
    loaded.invoke(context=context)
    assert _stamp(_record(extkit_logs, "from the executor")) == (context.invocation_id, "work")


def test_records_from_an_extkit_thread_carry_the_invocation(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    def work() -> None:
        thread = extkit.Thread(target=log.info, args=("from extkit.Thread",))
        thread.start()
        thread.join(timeout=10)

    loaded = extkit_engine.load(work)
    context = loaded.new_context()
    loaded.invoke(context=context)
    assert _stamp(_record(extkit_logs, "from extkit.Thread")) == (context.invocation_id, "work")


def test_a_plain_thread_that_sets_thread_local_storage_carries_the_invocation(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    """The reference's documented workaround keeps working."""

    def work(context: Context) -> None:
        def in_thread() -> None:
            log.info("before the workaround")
            context.thread_local_storage.invocation_id = context.invocation_id
            log.info("after the workaround")

        thread = threading.Thread(target=in_thread)
        thread.start()
        thread.join(timeout=10)

    loaded = extkit_engine.load(work)
    context = loaded.new_context()
    loaded.invoke(context=context)
    assert _stamp(_record(extkit_logs, "before the workaround")) == (None, None)
    assert _stamp(_record(extkit_logs, "after the workaround")) == (context.invocation_id, "work")


def test_records_outside_invocations_carry_no_invocation(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    loaded = extkit_engine.load(lambda: log.info("inside"), name="work")
    log.info("before")
    loaded.invoke()
    log.info("after")
    assert _stamp(_record(extkit_logs, "before")) == (None, None)
    assert _stamp(_record(extkit_logs, "after")) == (None, None)
    assert _stamp(_record(extkit_logs, "inside"))[1] == "work"
    assert current_invocation() is None


def test_records_carry_the_current_opentelemetry_span_s_ids(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("tests")

    def work() -> tuple[str, str]:
        log.info("outside the span")
        with tracer.start_as_current_span("work") as span:
            log.info("inside the span")
            ids = span.get_span_context()
        return format(ids.trace_id, "032x"), format(ids.span_id, "016x")

    trace_id, span_id = extkit_engine.load(work).invoke()
    inside = _record(extkit_logs, "inside the span")
    assert (inside.trace_id, inside.span_id) == (trace_id, span_id)  # type: ignore[attr-defined]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id) and re.fullmatch(r"[0-9a-f]{16}", span_id)
    outside = _record(extkit_logs, "outside the span")
    assert (outside.trace_id, outside.span_id) == (None, None)  # type: ignore[attr-defined]


# --- nothing stale ------------------------------------------------------------------------------


def test_a_pool_thread_reused_after_an_invocation_logs_no_invocation(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    loaded = extkit_engine.load(lambda: log.info("during"), name="work")
    with ThreadPoolExecutor(1) as pool:
        pool.submit(loaded.invoke).result(timeout=10)
        pool.submit(log.info, "reused after invoke").result(timeout=10)
        asyncio.run(loaded.invoke_async(executor=pool))
        pool.submit(log.info, "reused after invoke_async").result(timeout=10)
    during = [record for record in extkit_logs.records if record.getMessage() == "during"]
    assert [_stamp(record)[1] for record in during] == ["work", "work"]
    assert _stamp(_record(extkit_logs, "reused after invoke")) == (None, None)
    assert _stamp(_record(extkit_logs, "reused after invoke_async")) == (None, None)
    assert extkit.context.invocation_local.invocation_id is None


def test_a_plain_thread_that_set_thread_local_storage_logs_no_invocation_when_reused_later(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    tasks: queue.Queue[Callable[[], object] | None] = queue.Queue()

    def worker() -> None:  # a long-lived user thread, e.g. a hand-made pool
        for _ in range(10):
            task = tasks.get(timeout=10)
            if task is None:
                return
            task()

    thread = threading.Thread(target=worker)
    thread.start()

    def work(context: Context) -> None:
        done = threading.Event()

        def in_thread() -> None:
            context.thread_local_storage.invocation_id = context.invocation_id
            log.info("during the invocation")
            done.set()

        tasks.put(in_thread)
        assert done.wait(timeout=10)

    loaded = extkit_engine.load(work)
    context = loaded.new_context()
    loaded.invoke(context=context)
    later = threading.Event()
    read_later: list[str | None] = []

    def reused() -> None:
        read_later.append(context.thread_local_storage.invocation_id)
        log.info("reused later")
        later.set()

    tasks.put(reused)
    assert later.wait(timeout=10)
    tasks.put(None)
    thread.join(timeout=10)
    assert _stamp(_record(extkit_logs, "during the invocation")) == (context.invocation_id, "work")
    assert _stamp(_record(extkit_logs, "reused later")) == (None, None)
    assert read_later == [None]  # the workaround's id was cleared when the invocation ended


def test_a_background_task_started_by_an_invocation_logs_no_invocation_after_it_ended(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    async def background(started: asyncio.Event, release: asyncio.Event) -> None:
        log.info("background during")
        started.set()
        await asyncio.wait_for(release.wait(), 10)
        log.info("background after")

    async def work(
        started: asyncio.Event, release: asyncio.Event, tasks: list[asyncio.Task[None]]
    ) -> None:
        tasks.append(asyncio.ensure_future(background(started, release)))
        await asyncio.wait_for(started.wait(), 10)

    loaded = extkit_engine.load(work)
    context = loaded.new_context()

    async def main() -> None:
        started, release, tasks = asyncio.Event(), asyncio.Event(), []
        await loaded.invoke_async({"started": started, "release": release, "tasks": tasks}, context)
        release.set()
        await asyncio.wait_for(tasks[0], 10)

    asyncio.run(main())
    assert _stamp(_record(extkit_logs, "background during")) == (context.invocation_id, "work")
    assert _stamp(_record(extkit_logs, "background after")) == (None, None)


def test_invocation_scope_marks_a_block_and_nests(extkit_logs: CapturedLogs) -> None:
    context = Context("hosted")
    with invocation_scope(context):
        assert current_invocation() is context
        with invocation_scope(context):  # a host's scope around the engine's own
            log.info("inner")
        log.info("outer after inner")
    log.info("outside")
    assert current_invocation() is None
    assert _stamp(_record(extkit_logs, "inner")) == (context.invocation_id, "hosted")
    assert _stamp(_record(extkit_logs, "outer after inner"))[0] == context.invocation_id
    assert _stamp(_record(extkit_logs, "outside")) == (None, None)


@pytest.mark.parametrize("with_hooks", [False, True], ids=["no hooks", "hooks"])
def test_invoking_inside_the_invocation_s_own_scope_leaves_that_scope_intact(
    extkit_engine: Engine, extkit_logs: CapturedLogs, with_hooks: bool
) -> None:
    """A host may open the invocation's scope itself (to log around it) and invoke inside it."""
    if with_hooks:

        class Hook(AppExtensionBase):
            @classmethod
            def pre_invocation_app_level(cls) -> None:
                pass

    loaded = extkit_engine.load(lambda: log.info("function"), name="work")
    context = loaded.new_context()
    with invocation_scope(context):
        loaded.invoke(context=context)
        log.info("host, after the invocation")
    assert _stamp(_record(extkit_logs, "function")) == (context.invocation_id, "work")
    assert _stamp(_record(extkit_logs, "host, after the invocation"))[0] == context.invocation_id


# --- under concurrency ----------------------------------------------------------------------


class _LogsEverywhere(AppExtensionBase, abstract=True):
    """Hooks that log the id of the invocation they run for."""

    @classmethod
    def pre_invocation_app_level(cls, logger: logging.Logger, context: Context) -> None:
        logger.info("inv=%s pre", context.invocation_id)

    @classmethod
    def post_invocation_app_level(cls, logger: logging.Logger, context: Context) -> None:
        logger.info("inv=%s post", context.invocation_id)


def test_200_concurrent_threaded_invocations_each_log_their_own_invocation_id(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    workers = 8
    barrier = threading.Barrier(workers, timeout=30)  # keeps `workers` invocations in flight

    class Logs(_LogsEverywhere):
        pass

    def work(context: Context) -> str:
        log.info("inv=%s before", context.invocation_id)
        barrier.wait()
        child = extkit.Thread(target=log.info, args=("inv=%s child", context.invocation_id))
        child.start()
        child.join(timeout=10)
        log.info("inv=%s after", context.invocation_id)
        return context.invocation_id

    loaded = extkit_engine.load(work)
    with ThreadPoolExecutor(workers) as pool:
        ids = list(pool.map(lambda _: loaded.invoke(), range(200)))
    assert len(set(ids)) == 200
    _assert_each_record_carries_the_id_in_its_message(extkit_logs, 200 * 5)


def test_200_concurrent_asyncio_invocations_each_log_their_own_invocation_id(
    extkit_engine: Engine, extkit_logs: CapturedLogs
) -> None:
    count = 200

    class Logs(_LogsEverywhere):
        @classmethod
        async def pre_invocation_app_level(cls, logger: logging.Logger, context: Context) -> None:
            await asyncio.sleep(0)
            logger.info("inv=%s pre", context.invocation_id)

    async def in_task(invocation_id: str) -> None:
        await asyncio.sleep(0)
        log.info("inv=%s task", invocation_id)

    async def work(context: Context, started: list[str], all_started: asyncio.Event) -> str:
        log.info("inv=%s before", context.invocation_id)
        started.append(context.invocation_id)
        if len(started) == count:
            all_started.set()
        await asyncio.wait_for(all_started.wait(), 30)  # every invocation is in flight here
        log.info("inv=%s after", context.invocation_id)
        await asyncio.ensure_future(in_task(context.invocation_id))
        await asyncio.to_thread(log.info, "inv=%s to_thread", context.invocation_id)
        return context.invocation_id

    loaded = extkit_engine.load(work)

    async def main() -> list[str]:
        started: list[str] = []
        all_started = asyncio.Event()
        args = {"started": started, "all_started": all_started}
        return list(await asyncio.gather(*(loaded.invoke_async(args) for _ in range(count))))

    ids = asyncio.run(main())
    assert len(set(ids)) == count
    _assert_each_record_carries_the_id_in_its_message(extkit_logs, count * 6)


@pytest.mark.parametrize("executor", [False, True], ids=["loop", "executor"])
def test_concurrent_async_invocations_of_sync_functions_log_their_own_id(
    extkit_engine: Engine, extkit_logs: CapturedLogs, executor: bool
) -> None:
    class Logs(_LogsEverywhere):
        pass

    def work(context: Context) -> str:
        log.info("inv=%s function", context.invocation_id)
        return context.invocation_id

    loaded = extkit_engine.load(work)

    async def main(pool: ThreadPoolExecutor | None) -> list[str]:
        calls = (loaded.invoke_async(executor=pool) for _ in range(50))
        return list(await asyncio.gather(*calls))

    with ThreadPoolExecutor(4) as pool:
        ids = asyncio.run(main(pool if executor else None))
    assert len(set(ids)) == 50
    _assert_each_record_carries_the_id_in_its_message(extkit_logs, 50 * 3)


def test_records_carry_the_invocation_without_any_extkit_logging_setup() -> None:
    """An app with its own logging config (a format naming ``%(invocation_id)s``) gets the field
    as soon as an engine exists, without calling ``configure_logging`` or test helpers."""
    script = textwrap.dedent(
        """
        import io, logging
        import extkit

        stream = io.StringIO()
        logging.basicConfig(stream=stream, format="%(invocation_id)s %(function_name)s %(message)s")
        engine = extkit.Engine(enabled=True)
        loaded = engine.load(lambda: logging.getLogger("app").warning("hello"), name="work")
        context = loaded.new_context(invocation_id="abc-123")
        loaded.invoke(context=context)
        print(stream.getvalue().strip())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "abc-123 work hello"
