"""The invocation ``Context``: what one invocation knows about itself.

The same object reaches the pre hooks, the function (when it declares a ``context`` parameter) and
the post hooks, and is dropped when the invocation ends, so state kept on it cannot leak into the
next invocation the way class-level dicts keyed by invocation id do.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Final

__all__ = [
    "Context",
    "ExtensionState",
    "RetryContext",
    "TraceContext",
    "invocation_local",
]


#: Invocations that have started and not ended, by id. ``correlation`` keeps it up to date; it
#: lives here so the thread-local below can tell a live id from a stale one.
_running: Final[dict[str, Context]] = {}


class _InvocationLocal(threading.local):
    """Thread-local storage with an ``invocation_id`` slot (the reference's user-thread workaround).

    A user thread sets ``context.thread_local_storage.invocation_id = context.invocation_id``; logs
    from that thread then carry the id. The id only counts while its invocation runs: once it has
    ended the slot reads ``None`` again, so a pooled thread that set it once never stamps a stale
    id onto later records (nor shows one to code that reads it).
    """

    _invocation_id: str | None = None

    @property
    def invocation_id(self) -> str | None:
        value = self._invocation_id
        if value is not None and value not in _running:
            value = self._invocation_id = None  # its invocation ended: cleared for good
        return value

    @invocation_id.setter
    def invocation_id(self, value: str | None) -> None:
        self._invocation_id = value


#: Shared by every context, as in the reference: each thread sees its own value.
invocation_local: Final = _InvocationLocal()


@dataclass(slots=True)
class TraceContext:
    """The caller's W3C trace context (``traceparent``/``tracestate``) and host attributes."""

    trace_parent: str | None = None
    trace_state: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    # The reference worker's spellings, kept so existing extensions work unchanged.
    @property
    def Traceparent(self) -> str | None:  # noqa: N802 - reference spelling
        return self.trace_parent

    @property
    def Tracestate(self) -> str | None:  # noqa: N802 - reference spelling
        return self.trace_state

    @property
    def Attributes(self) -> dict[str, str]:  # noqa: N802 - reference spelling
        return self.attributes


@dataclass(slots=True)
class RetryContext:
    """Retry bookkeeping of the trigger: how many tries so far and the last failure."""

    retry_count: int = 0
    max_retry_count: int = 0
    exception: BaseException | None = None

    @property
    def rpc_exception(self) -> BaseException | None:
        """The reference worker's name for ``exception``."""
        return self.exception


class ExtensionState:
    """Per-invocation private data of extensions: ``context.state[MyExtension].started = ...``.

    Each key (usually the extension class) gets its own namespace, created on first use, so two
    extensions cannot trample each other's names; all of it goes away with the invocation.
    """

    __slots__ = ("_spaces",)

    def __init__(self) -> None:
        self._spaces: dict[object, SimpleNamespace] = {}

    def __getitem__(self, key: object) -> SimpleNamespace:
        space = self._spaces.get(key)
        if space is None:
            space = self._spaces[key] = SimpleNamespace()
        return space

    def __contains__(self, key: object) -> bool:
        return key in self._spaces

    def __len__(self) -> int:
        return len(self._spaces)


class Context:
    """One invocation's identity and the channels between extensions and the function.

    - ``app_ext_attributes`` / ``func_ext_attributes``: dicts app- and function-level extensions
      fill for the function to read (what the reference's docs promise but never built).
    - ``state``: extensions' private per-invocation data, see :class:`ExtensionState`.
    - Other attributes may be set freely (``context.tracer`` by the tracing extension).
    """

    def __init__(
        self,
        function_name: str,
        function_directory: str = "",
        *,
        invocation_id: str | None = None,
        trace_context: TraceContext | None = None,
        retry_context: RetryContext | None = None,
        trigger: str = "other",
    ) -> None:
        self.invocation_id: str = invocation_id if invocation_id is not None else str(uuid.uuid4())
        self.function_name = function_name
        self.function_directory = function_directory
        self.trigger = trigger
        self.trace_context = trace_context if trace_context is not None else TraceContext()
        self.retry_context = retry_context if retry_context is not None else RetryContext()
        self.app_ext_attributes: dict[str, Any] = {}
        self.func_ext_attributes: dict[str, Any] = {}
        self.state = ExtensionState()

    @property
    def thread_local_storage(self) -> _InvocationLocal:
        """Thread-local storage whose ``invocation_id`` correlates logs from user threads."""
        return invocation_local

    def __repr__(self) -> str:
        return (
            f"Context(function_name={self.function_name!r}, invocation_id={self.invocation_id!r})"
        )
