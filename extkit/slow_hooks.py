"""A sync hook of an async function runs on the event loop: one that holds it is reported.

While a sync hook runs there, no other request can; one that takes over 100 ms is logged once,
as a WARNING on ``extkit.engine`` naming the extension and the hook, so its author can make it
``async def``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final

from .plan import Layer

__all__ = ["watched"]

_SLOW_HOOK_S: Final = 0.1  # a sync hook holding the event loop longer than this is reported
_log: Final = logging.getLogger("extkit.engine")
_clock: Final = time.perf_counter


def watched(
    watch: set[tuple[str, str]] | None, layer: Layer, role: str, fn: Callable[..., Any], *args: Any
) -> Any:
    """Call a hook from the async runner (an async one just makes its coroutine here). With
    ``watch``, the engine's set of reports made, a sync hook that held the event loop from other
    requests is reported, once per extension and hook."""
    if watch is None:
        return fn(*args)
    started = _clock()
    try:
        return fn(*args)
    finally:
        held = _clock() - started
        if held > _SLOW_HOOK_S and (layer.name, role) not in watch:
            watch.add((layer.name, role))
            _log.warning(
                "extension %s held the event loop for %.0f ms in %s; no other request could "
                "run meanwhile: write hooks that wait for I/O as async def",
                layer.name,
                held * 1000,
                layer.hook(role),
            )
