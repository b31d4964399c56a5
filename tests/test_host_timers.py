"""The host's timer loop in process: due times, ``past_due``, ``runOnStartup``, stopping."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

from apputil import one_function_app

from extkit import Engine, Registry
from extkit.app import FunctionSpec
from extkit.host import Host
from extkit.schedule import Schedule, TimerRequest, parse_schedule
from extkit.timer_lock import NoLock


class Scripted(Schedule):
    """A schedule whose next firings are given in advance (then never again, in effect)."""

    def __init__(self, *due: datetime) -> None:
        self.expression = "scripted"
        self.due = list(due)

    def next_after(self, moment: datetime) -> datetime:
        return self.due.pop(0) if self.due else moment + timedelta(days=365)


def timer_app(tmp_path: Path, *, run_on_startup: bool = False) -> tuple[Host, list[TimerRequest]]:
    seen: list[TimerRequest] = []

    def tick(timer: TimerRequest) -> None:
        seen.append(timer)

    spec = FunctionSpec(
        name="tick",
        func=tick,
        trigger="timer",
        trigger_arg="timer",
        schedule="0 0 0 1 1 *",
        run_on_startup=run_on_startup,
    )
    engine = Engine(registry=Registry(), enabled=False)
    return Host(one_function_app(engine, spec, tmp_path)), seen


async def run_until(host: Host, schedule: Schedule, seen: list[TimerRequest], count: int) -> None:
    stopping = asyncio.Event()
    host._stopping = stopping
    fn = host.app.functions[0]
    task = asyncio.ensure_future(
        host._run_timer(fn, schedule, stopping, lock=NoLock(), startup=True)
    )
    for _ in range(200):  # bounded: 200 x 10 ms
        if len(seen) >= count:
            break
        await asyncio.sleep(0.01)
    stopping.set()
    await asyncio.wait_for(task, 5)
    host.pool.shutdown()


def test_an_occurrence_due_long_ago_fires_once_and_is_past_due(tmp_path: Path) -> None:
    host, seen = timer_app(tmp_path)
    now = datetime.now(timezone.utc)
    late, missed = now - timedelta(seconds=30), now - timedelta(seconds=20)
    schedule = Scripted(late, missed)  # both in the past: they collapse into one invocation
    asyncio.run(run_until(host, schedule, seen, 1))
    assert len(seen) == 1
    timer = seen[0]
    assert timer.past_due is True
    assert timer.scheduled_time == late
    assert timer.schedule_status is not None
    assert timer.schedule_status.last is None
    assert timer.schedule_status.next > now  # the missed one was skipped


def test_an_occurrence_on_time_is_not_past_due_and_knows_the_last_one(tmp_path: Path) -> None:
    host, seen = timer_app(tmp_path)
    now = datetime.now(timezone.utc)
    first, second = now + timedelta(milliseconds=50), now + timedelta(milliseconds=150)
    asyncio.run(run_until(host, Scripted(first, second), seen, 2))
    assert [t.scheduled_time for t in seen[:2]] == [first, second]
    assert [t.past_due for t in seen[:2]] == [False, False]
    assert seen[1].schedule_status is not None
    assert seen[1].schedule_status.last == first


def test_run_on_startup_fires_before_the_first_occurrence(tmp_path: Path) -> None:
    host, seen = timer_app(tmp_path, run_on_startup=True)
    asyncio.run(run_until(host, parse_schedule("0 0 0 1 1 *"), seen, 1))
    assert len(seen) == 1
    assert seen[0].is_startup is True
    assert seen[0].past_due is False


def test_stopping_ends_a_timer_that_waits_for_its_next_occurrence(tmp_path: Path) -> None:
    host, seen = timer_app(tmp_path)
    # The next occurrence is up to a year away: stopping must not wait for it (the task must end
    # within run_until's bounded wait).
    asyncio.run(run_until(host, parse_schedule("0 0 0 1 1 *"), seen, 0))
    assert seen == []
