"""The HTTP throttle's bookkeeping: admission, turns in arrival order, and waiters that give up."""

from __future__ import annotations

import asyncio

import pytest

from extkit.throttle import RequestThrottle


def test_admission_stops_at_max_outstanding_and_resumes_when_one_leaves() -> None:
    throttle = RequestThrottle(concurrent=None, outstanding=2)
    assert throttle.admit() and throttle.admit()
    assert not throttle.admit()
    throttle.leave()
    assert throttle.admit()


def test_no_caps_admit_and_start_everything() -> None:
    throttle = RequestThrottle(concurrent=None, outstanding=None)

    async def main() -> list[bool]:
        return [await throttle.start(0.01) for _ in range(100)]

    assert all(throttle.admit() for _ in range(100))
    assert all(asyncio.run(main()))


def test_turns_go_to_waiters_in_arrival_order_and_never_to_a_newcomer() -> None:
    throttle = RequestThrottle(concurrent=1, outstanding=None)
    order: list[str] = []

    async def request(name: str) -> None:
        assert await throttle.start(None)
        order.append(name)
        await asyncio.sleep(0)
        throttle.finish()

    async def main() -> None:
        assert await throttle.start(None)  # the first request holds the only turn
        waiters = [asyncio.ensure_future(request(name)) for name in ("b", "c")]
        await asyncio.sleep(0)  # both are queued now
        throttle.finish()
        # A newcomer arriving right after the turn was handed on waits behind the queue.
        late = asyncio.ensure_future(request("newcomer"))
        await asyncio.gather(*waiters, late)

    asyncio.run(main())
    assert order == ["b", "c", "newcomer"]


@pytest.mark.parametrize("gives_up", ["timeout", "cancel"])
def test_a_waiter_that_gives_up_leaves_the_queue_and_takes_no_turn(gives_up: str) -> None:
    throttle = RequestThrottle(concurrent=1, outstanding=None)

    async def main() -> bool:
        assert await throttle.start(None)
        if gives_up == "timeout":
            assert not await throttle.start(0.01)
        else:
            waiting = asyncio.ensure_future(throttle.start(None))
            await asyncio.sleep(0)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        throttle.finish()  # nobody waits: the turn is free again
        return await throttle.start(0.01)

    assert asyncio.run(main())
