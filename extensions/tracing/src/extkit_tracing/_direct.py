"""Setting the extension's own span attributes without the SDK's per-value validation.

``tracer.start_span(..., attributes)`` copies the attributes into the span's ``BoundedAttributes``
through ``_clean_attribute_value``, a chain of ``isinstance`` checks per value: about 10 µs of
the ~25 µs a span with the extension's ten attributes costs (CPython 3.11, SDK 1.45), for values
the extension built itself and knows to be plain ``str`` and ``bool``. So where it is provably
the same, the span is started without attributes and the extension's dict becomes its storage
(``span._attributes._dict``, an SDK internal); the status code set at the end goes in likewise.

It is the same only when nothing looks at the attributes between the start and the fill, and the
storage behaves as the probe below expects; :func:`direct_attributes` decides that once per
pipeline, and returns ``None`` (the normal path, always) when any condition fails:

- the tracer is exactly the SDK's ``Tracer`` and its span processors sit in a
  ``SynchronousMultiSpanProcessor``;
- the sampler is one of the SDK's built-in samplers, which ignore the attributes and pass them on
  unchanged (exact types: a subclass may look at them, and a sampler that does must see them);
- the span limits keep every attribute the extension sets whole: no value length limit, room for
  at least :data:`MAX_START_ATTRIBUTES`;
- a probe span started and filled this way, on a private provider (nothing is exported), has the
  same ``BoundedAttributes`` as one started with the attributes.

Per invocation two more checks remain (see :meth:`DirectAttributes.recheck` and
the extension's hook): every span processor's ``on_start`` is one of the SDK's no-ops (processors
can be added at any time, so the tuple of processors checked is compared by identity), and the
span returned is the SDK's recording span (a dropped or disabled one has no storage).
"""

from __future__ import annotations

from typing import Any, Final

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import (
    SpanLimits,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    ParentBased,
    ParentBasedTraceIdRatio,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind, Tracer

from . import _conventions as conv

__all__ = [
    "MAX_START_ATTRIBUTES",
    "DirectAttributes",
    "direct_attributes",
    "fill",
    "set_attribute",
]

#: The most attributes the extension gives a span at its start (4 FaaS + 6 HTTP).
MAX_START_ATTRIBUTES: Final = 10

#: Built-in samplers that return the attributes they are given, unchanged (or none when they
#: drop the span), whatever those are.
_PASS_THROUGH_SAMPLERS: Final = (StaticSampler, TraceIdRatioBased)
_PARENT_BASED_SAMPLERS: Final = (ParentBased, ParentBasedTraceIdRatio)
_PARENT_BASED_DELEGATES: Final = (
    "_root",
    "_remote_parent_sampled",
    "_remote_parent_not_sampled",
    "_local_parent_sampled",
    "_local_parent_not_sampled",
)
#: ``on_start`` implementations that do nothing (and so cannot see the attributes missing).
_QUIET_ON_START: Final = frozenset(
    {SpanProcessor.on_start, BatchSpanProcessor.on_start, SimpleSpanProcessor.on_start}
)


class DirectAttributes:
    """The verdict of :func:`direct_attributes` for one tracer, and what is re-checked per
    invocation: the span type to fill and the span processors seen so far."""

    __slots__ = ("multi", "processors", "rejected", "span_type")

    def __init__(self, multi: SynchronousMultiSpanProcessor, span_type: type[Any]) -> None:
        self.multi = multi
        #: The span class (the SDK's ``_Span``) whose storage may be filled; other spans
        #: (dropped, disabled tracer) take nothing.
        self.span_type = span_type
        #: The processor tuple last found quiet on start, and the last one found not to be.
        self.processors: tuple[SpanProcessor, ...] | None = None
        self.rejected: tuple[SpanProcessor, ...] | None = None

    def recheck(self) -> bool:
        """Whether every span processor ignores ``on_start`` (run when the processors changed:
        ``add_span_processor`` replaces the tuple, so the hook compares it by identity)."""
        current = self.multi._span_processors
        if current is self.processors:
            return True
        if current is self.rejected:
            return False
        if all(getattr(type(p), "on_start", None) in _QUIET_ON_START for p in current):
            self.processors = current
            return True
        self.rejected = current
        return False


def direct_attributes(tracer: Tracer) -> DirectAttributes | None:
    """A :class:`DirectAttributes` when filling the storage is provably the same as passing the
    attributes to ``start_span`` for this tracer (see the module docstring), else ``None``."""
    if type(tracer) is not SdkTracer:
        return None
    multi = getattr(tracer, "span_processor", None)
    limits = getattr(tracer, "_span_limits", None)
    if type(multi) is not SynchronousMultiSpanProcessor or not isinstance(limits, SpanLimits):
        return None
    if not isinstance(getattr(multi, "_span_processors", None), tuple):
        return None
    if not _ignores_attributes(tracer.sampler):
        return None
    if limits.max_span_attribute_length is not None:
        return None
    if limits.max_span_attributes is not None and limits.max_span_attributes < (
        MAX_START_ATTRIBUTES
    ):
        return None
    span_type = _probe(limits)
    if span_type is None:
        return None
    return DirectAttributes(multi, span_type)


def fill(span: Any, attributes: dict[str, Any]) -> None:
    """Make ``attributes`` (valid values, a dict of the caller's own that it no longer uses) the
    storage of a just-started span, whose own storage is an empty plain ``dict``."""
    span._attributes._dict = attributes


def set_attribute(span: Any, key: str, value: int | str) -> None:
    """``span.set_attribute(key, value)`` for a valid ``value`` and a span of ``span_type``,
    straight into the storage in the common case (about 1.3 µs less): the span still open, the
    key new (an existing one moves to the end) and room left (a full span drops its oldest).
    Otherwise, through the SDK. Under the span's lock, as the SDK's own update."""
    with span._lock:
        storage = span._attributes
        items = storage._dict
        if span._end_time is None and key not in items:
            maxlen = storage.maxlen
            if maxlen is None or len(items) < maxlen:
                items[key] = value
                return
    span.set_attribute(key, value)


def _ignores_attributes(sampler: object) -> bool:
    kind = type(sampler)
    if kind in _PASS_THROUGH_SAMPLERS:
        return True
    if kind in _PARENT_BASED_SAMPLERS:
        return all(
            _ignores_attributes(getattr(sampler, name, None)) for name in _PARENT_BASED_DELEGATES
        )
    return False


def _probe(limits: SpanLimits) -> type[Any] | None:
    """Start one span each way on a private provider (no processor: nothing leaves it) and
    compare; the span class when they match, ``None`` when the SDK's internals differ."""
    expected: dict[str, Any] = {
        conv.FAAS_TRIGGER: "http",
        conv.FAAS_INVOCATION_ID: "probe",
        conv.FAAS_COLDSTART: False,
        conv.HTTP_REQUEST_METHOD: "GET",
    }
    try:
        provider = TracerProvider(
            sampler=ALWAYS_ON,
            resource=Resource.get_empty(),
            shutdown_on_exit=False,
            span_limits=limits,
        )
        tracer = provider.get_tracer(__name__)
        normal = tracer.start_span("probe", None, SpanKind.SERVER, dict(expected))
        direct = tracer.start_span("probe", None, SpanKind.SERVER, None)
        storage = getattr(getattr(direct, "_attributes", None), "_dict", None)
        if type(direct) is not type(normal) or type(storage) is not dict or storage:
            return None
        fill(direct, dict(expected))
        normal.set_attribute(conv.HTTP_RESPONSE_STATUS_CODE, 200)
        set_attribute(direct, conv.HTTP_RESPONSE_STATUS_CODE, 200)
        open_before = direct._end_time is None  # type: ignore[attr-defined]
        normal.end()
        direct.end()
        if not open_before or direct._end_time is None:  # type: ignore[attr-defined]
            return None  # ``set_attribute`` could not tell an ended span
        stored = direct.attributes  # type: ignore[attr-defined]
        reference = normal.attributes  # type: ignore[attr-defined]
        if not (
            type(direct._attributes) is BoundedAttributes  # type: ignore[attr-defined]
            and type(normal._attributes) is BoundedAttributes  # type: ignore[attr-defined]
            and list(stored.items()) == list(reference.items())
            and stored == {**expected, conv.HTTP_RESPONSE_STATUS_CODE: 200}
            and direct._attributes.maxlen == limits.max_span_attributes  # type: ignore[attr-defined]
            and direct.dropped_attributes == normal.dropped_attributes == 0  # type: ignore[attr-defined]
        ):
            return None
        return type(direct)
    except Exception:  # an SDK whose internals differ: the normal path
        return None
