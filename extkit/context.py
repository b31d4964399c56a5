"""The invocation ``Context``: what one invocation knows about itself.

The same object reaches the pre hooks, the function (when it declares a ``context`` parameter) and
the post hooks, and is dropped when the invocation ends, so state kept on it cannot leak into the
next invocation the way class-level dicts keyed by invocation id do.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._types import FunctionInfo

__all__ = [
    "Context",
    "ExtensionState",
    "RetryContext",
    "TraceContext",
    "invocation_local",
]


#: Invocations that have started and not ended, by id. ``correlation`` keeps it up to date; it
#: lives here so the thread-local below can tell a live id from a stale one.
running_invocations: Final[dict[str, Context]] = {}


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
        if value is not None and value not in running_invocations:
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


class ExtensionState(dict[object, SimpleNamespace]):
    """Per-invocation private data of extensions: ``context.state[MyExtension].started = ...``.

    Each key (usually the extension class) gets its own namespace, created on first use, so two
    extensions cannot trample each other's names; all of it goes away with the invocation. A dict
    underneath, so reading a namespace that exists is a plain lookup (hooks do it on every
    invocation).
    """

    __slots__ = ()

    def __missing__(self, key: object) -> SimpleNamespace:
        # setdefault: two threads asking first at once still share one namespace.
        return self.setdefault(key, SimpleNamespace())

    def __repr__(self) -> str:
        return f"ExtensionState({dict.__repr__(self)})"


#: Invocation ids come from a generator of extkit's own, so an app that seeds ``random`` (tests
#: often do) cannot make them repeat; reseeded from the OS in a forked child, as ``random`` is.
_ids: Final = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.seed)
_VERSION_4: Final = (~(0xF000 << 64) & ~(0xC000 << 48), (0x4000 << 64) | (0x8000 << 48))


def new_invocation_id() -> str:
    """A random UUID in its usual text form (version 4, RFC 4122 variant), like
    ``str(uuid.uuid4())`` at a fraction of the cost: this runs once per invocation. The bits come
    from a seeded Mersenne Twister rather than the OS: an id must be unique, not unguessable."""
    clear, set_bits = _VERSION_4
    h = (_ids.getrandbits(128) & clear | set_bits).to_bytes(16, "big").hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Lazy:
    """A ``Context`` attribute built on first access rather than for every invocation (most
    invocations never touch it). It then lives in the instance's ``__dict__``, which shadows this
    descriptor, so later reads and any assignment are those of a plain attribute. (A
    ``__getattr__`` would do the same but slow down every attribute of the class.)"""

    __slots__ = ("make", "name")

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        # setdefault: two threads reading it first at once still get one and the same object.
        return instance.__dict__.setdefault(self.name, self.make())


class Context:
    """One invocation's identity and the channels between extensions and the function.

    - ``app_ext_attributes`` / ``func_ext_attributes``: dicts app- and function-level extensions
      fill for the function to read (what the reference's docs promise but never built).
    - ``state``: extensions' private per-invocation data, see :class:`ExtensionState`.
    - ``function_info``: what the engine knows about the function (its trigger, its route), when
      the context comes from ``LoadedFunction.new_context``.
    - Other attributes may be set freely (``context.tracer`` by the tracing extension).
    """

    if TYPE_CHECKING:  # for type checkers these are plain attributes
        trace_context: TraceContext
        retry_context: RetryContext
        app_ext_attributes: dict[str, Any]
        func_ext_attributes: dict[str, Any]
        state: ExtensionState
    else:
        trace_context = _Lazy(TraceContext)
        retry_context = _Lazy(RetryContext)
        app_ext_attributes = _Lazy(dict)
        func_ext_attributes = _Lazy(dict)
        state = _Lazy(ExtensionState)

    def __init__(
        self,
        function_name: str,
        function_directory: str = "",
        *,
        invocation_id: str | None = None,
        trace_context: TraceContext | None = None,
        retry_context: RetryContext | None = None,
        trigger: str = "other",
        function_info: FunctionInfo | None = None,
    ) -> None:
        # Built once per invocation, so only what is given is stored now; the rest of the
        # attributes (the ``_Lazy`` ones above) are made the first time they are read.
        self.invocation_id: str = (
            invocation_id if invocation_id is not None else new_invocation_id()
        )
        self.function_name = function_name
        self.function_directory = function_directory
        self.trigger = trigger
        self.function_info = function_info
        if trace_context is not None:
            self.trace_context = trace_context
        if retry_context is not None:
            self.retry_context = retry_context

    @property
    def thread_local_storage(self) -> _InvocationLocal:
        """Thread-local storage whose ``invocation_id`` correlates logs from user threads."""
        return invocation_local

    def __repr__(self) -> str:
        return (
            f"Context(function_name={self.function_name!r}, invocation_id={self.invocation_id!r})"
        )
