"""Timers across machines: hosts sharing a Redis database fire every tick once.

Two real hosts (separate processes with no lock file in common, as on two machines) and a real
``redis-server`` that the test starts on a free 127.0.0.1 port. The lease is short (2 s) so a
takeover is seen quickly.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from hostutil import (
    HostProcess,
    free_port,
    required_program,
    run_host_to_exit,
    running_host,
    wait_until,
)

from extkit.cli.exit_codes import ExitCode
from extkit.timer_lock import FileLock, NoLock, RedisLease, configured_lock

APP = Path(__file__).parent / "apps" / "timer_lease"
LEASE = 2.0
RUNNER = "runs the app's timers"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh redis-server of its own, on 127.0.0.1, nothing saved to disk."""
    pytest.importorskip("redis")
    import redis

    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = subprocess.Popen(
        [required_program("redis-server", "redis-server"), *options, "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_until(answers, timeout=10, what="redis-server to answer PING")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=10)


def ticks(host: HostProcess) -> list[str]:
    return [str(line["tick"]) for line in host.json_logs() if line.get("event") == "tick"]


def runs_timers(host: HostProcess) -> bool:
    return any(RUNNER in str(line.get("event", "")) for line in host.json_logs())


def test_two_hosts_fire_every_tick_once_and_the_survivor_takes_over(
    redis_url: str, tmp_path: Path
) -> None:
    env = {"EXTKIT_TIMER_LOCK_URL": redis_url, "EXTKIT_TIMER_LEASE_SECONDS": str(LEASE)}
    with ExitStack() as stack:
        hosts = [
            stack.enter_context(running_host(APP, "--log-format", "json", env=env))
            for _ in range(2)
        ]
        wait_until(lambda: sum(len(ticks(h)) for h in hosts) >= 4, timeout=15, what="4 ticks")
        (runner,) = [h for h in hosts if runs_timers(h)]
        (other,) = [h for h in hosts if h is not runner]
        assert ticks(other) == []

        runner.process.send_signal(signal.SIGKILL)  # dies holding the lease
        killed = time.monotonic()
        runner.process.wait(timeout=10)
        fired_by_runner = ticks(runner)
        wait_until(lambda: runs_timers(other), timeout=LEASE * 3, what="the takeover")
        took_over = time.monotonic() - killed
        wait_until(lambda: len(ticks(other)) >= 3, timeout=10, what="3 ticks after the takeover")

        every_tick = fired_by_runner + ticks(other)
        assert [tick for tick, n in Counter(every_tick).items() if n > 1] == []
        assert took_over <= LEASE + LEASE / 3 + 1.0  # lease expiry, one retry, slack
        assert min(ticks(other)) > max(fired_by_runner)


def test_a_stalled_runner_and_its_successor_never_fire_one_tick_twice(redis_url: str) -> None:
    """A tick is claimed before it fires: two processes that both think they hold the lease
    (one stalled past its lease) fire each tick once between them."""
    import asyncio
    from datetime import datetime, timezone

    async def both_claim() -> list[bool]:
        first = RedisLease(redis_url, "stalled-app", lease=LEASE)
        second = RedisLease(redis_url, "stalled-app", lease=LEASE)
        tick = datetime(2026, 1, 1, tzinfo=timezone.utc)
        try:
            return [
                await first.claim("every_second", tick),
                await second.claim("every_second", tick),
            ]
        finally:
            await first.release()
            await second.release()

    assert asyncio.run(both_claim()) == [True, False]


def test_the_lease_is_held_by_one_and_renewed_while_it_lives(redis_url: str) -> None:
    import asyncio

    async def contend() -> dict[str, Any]:
        holder = RedisLease(redis_url, "renewed-app", lease=LEASE)
        rival = RedisLease(redis_url, "renewed-app", lease=LEASE)
        try:
            taken = await holder.acquire()
            refused = await rival.acquire()
            await asyncio.sleep(LEASE * 0.6)
            renewed = await holder.keep()
            await asyncio.sleep(LEASE * 0.6)  # past the first lease: only the renewal holds it
            still_refused = await rival.acquire()
            await holder.release()
            after_release = await rival.acquire()
            return {
                "taken": taken,
                "refused": refused,
                "renewed": renewed,
                "still_refused": still_refused,
                "after_release": after_release,
            }
        finally:
            await rival.release()

    assert asyncio.run(contend()) == {
        "taken": True,
        "refused": False,
        "renewed": True,
        "still_refused": False,
        "after_release": True,
    }


URL = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"EXTKIT_TIMER_LOCK_URL": "http://127.0.0.1:6379"},
            "EXTKIT_TIMER_LOCK_URL must be a redis:// (or rediss://, unix://) URL, "
            "got 'http://127.0.0.1:6379'",
        ),
        (
            {"EXTKIT_TIMER_LOCK_URL": URL, "EXTKIT_TIMER_LEASE_SECONDS": "soon"},
            "EXTKIT_TIMER_LEASE_SECONDS must be a number of seconds, got 'soon'",
        ),
        (
            {"EXTKIT_TIMER_LOCK_URL": URL, "EXTKIT_TIMER_LEASE_SECONDS": "0"},
            "EXTKIT_TIMER_LEASE_SECONDS must be a number of seconds above 0, got 0",
        ),
    ],
)
def test_bad_lock_settings_stop_the_host_before_it_serves(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        configured_lock("app", None, env)
    assert str(raised.value) == message

    done = run_host_to_exit(APP, env=env)
    assert done.returncode == ExitCode.USAGE
    assert f"extkit start: {message}" in done.stderr


def test_without_a_url_one_machine_needs_no_redis(tmp_path: Path) -> None:
    assert isinstance(configured_lock("app", None, {}), NoLock)
    lock_file = str(tmp_path / "timers.lock")
    assert isinstance(configured_lock("app", lock_file, {}), FileLock)
