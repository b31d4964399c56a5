"""Logging from threads the function starts, both ways the invocation id reaches their logs.

- A plain ``threading.Thread`` knows nothing of the invocation. The reference's documented
  workaround still works: the thread sets ``context.thread_local_storage.invocation_id`` first.
  extkit honours it only while this invocation runs, so a reused thread never logs a stale id.
- ``extkit.Thread`` runs its target in a copy of the creator's context: nothing to set by hand.
"""

import logging
import threading

from extkit import Context, HttpRequest, HttpResponse, Thread

logger = logging.getLogger(__name__)


def legacy_worker(context: Context, number: int) -> None:
    context.thread_local_storage.invocation_id = context.invocation_id
    logger.info("Thread%d used.", number)


def worker(number: int) -> None:
    logger.info("Thread%d used.", number)


def main(req: HttpRequest, context: Context) -> HttpResponse:
    logger.info("Before threads.")
    threads = [
        threading.Thread(target=legacy_worker, args=(context, 1)),
        Thread(target=worker, args=(2,)),
        Thread(target=worker, args=(3,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logger.info("After threads.")
    return HttpResponse(
        f"Logged from {len(threads)} threads; their log lines carry the invocation id "
        f"{context.invocation_id}."
    )
