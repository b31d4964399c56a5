"""Under concurrent load every request succeeds and every log line names the right invocation."""

from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from hostutil import running_host, wait_until

APPS = Path(__file__).parent / "apps"
REQUESTS = 2000
CONNECTIONS = 64


def _load(base_url: str) -> dict[int, httpx.Response]:
    """``REQUESTS`` requests over ``CONNECTIONS`` keep-alive connections, all busy at once.

    One thread and one client per connection, each taking the next request number from a shared
    queue (sync clients: httpx's async client looks up the async library on every request,
    which costs more than the request itself here).
    """
    numbers: queue.SimpleQueue[int] = queue.SimpleQueue()
    for n in range(REQUESTS):
        numbers.put(n)
    responses: dict[int, httpx.Response] = {}

    def connection() -> None:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            while True:
                try:
                    n = numbers.get_nowait()
                except queue.Empty:
                    return
                responses[n] = client.get(f"/api/{'sync' if n % 2 else 'async'}/{n}")

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        for done in [pool.submit(connection) for _ in range(CONNECTIONS)]:
            done.result()
    return responses


@pytest.mark.slow
def test_load_mixed_sync_and_async_keeps_every_log_line_on_its_invocation() -> None:
    with running_host(APPS / "host_load", "--log-format", "json") as host:
        responses = _load(host.base_url)

        failures = {n: r.status_code for n, r in responses.items() if r.status_code != 200}
        assert failures == {}
        for n, response in responses.items():
            assert response.text == f"{'sync' if n % 2 else 'async'} {n}"
        ids = {n: response.headers["x-invocation-id"] for n, response in responses.items()}
        assert len(set(ids.values())) == REQUESTS

        # Each sync request logs once, each async one twice (on the loop and on a thread), and
        # the timer extension once per invocation.
        expected = REQUESTS // 2 * 1 + REQUESTS // 2 * 2
        lines = wait_until(
            lambda: (
                len(found := [r for r in host.json_logs() if "request_number" in r]) >= expected
                and found
            ),
            timeout=30,
            what=f"{expected} request log lines",
        )
        assert len(lines) == expected
        wrong = [
            (line["request_number"], line["invocation_id"], ids[line["request_number"]])
            for line in lines
            if line["invocation_id"] != ids[line["request_number"]]
        ]
        assert wrong == []

        by_invocation = {value: n for n, value in ids.items()}
        correlated = [r for r in host.json_logs() if r.get("invocation_id") is not None]
        strangers = [r for r in correlated if r["invocation_id"] not in by_invocation]
        assert strangers == []
        timed = [r for r in correlated if r["logger"] == "extkit.extensions.TimerExtension"]
        assert sorted(r["invocation_id"] for r in timed) == sorted(ids.values())
        assert all(r["function_name"] in {"sync_handler", "async_handler"} for r in correlated)
