"""The invocation's span, started in one step instead of through ``Tracer.start_span``.

``start_span`` is general: it validates every attribute value (a chain of ``isinstance`` checks
per value), asks the sampler even when the kind of parent alone decides, passes a dozen keyword
arguments through two constructors, and gives every span empty event and link lists (a deque and
a lock each) that most invocation spans never use. On CPython 3.11 with SDK 1.45 that is about
half of what the extension's span costs, for values the extension built itself. So where it is
provably the same, :class:`SpanStarter` makes the span itself:

- the span is the SDK's: :class:`InvocationSpan` subclasses the SDK's span class, so every
  method, ``end()`` and the ``ReadableSpan`` processors receive are the SDK's own;
- the id generator, tracer metrics and span processors are the tracer's, called as
  ``start_span`` calls them (processors see the attributes already in place on start);
- the sampler is the tracer's: where it decides by the kind of parent alone (a
  ``StaticSampler``, itself or as the delegate ``ParentBased`` picks: the default sampler, for
  every span) its decision is read once, with the parent's trace state, as the sampler would
  return them; anything else (a trace-id ratio) is asked per span;
- what differs: the extension's own attribute dict becomes the span's storage unchecked (plain
  ``str``, ``bool`` and ``int`` values, checked by the hook), and the event and link lists are
  created on first use (an empty tuple until then, which exporters read the same).

:func:`span_starter` decides once per tracer, and returns ``None`` (the normal path, always)
when any condition fails:

- the tracer is exactly the SDK's ``Tracer``;
- the sampler is one of the SDK's built-in samplers, which pass the attributes on unchanged
  (exact types: a subclass may look at them and change them, which only the normal path honours);
- the span limits keep every attribute the extension sets whole: no value length limit, room
  for at least :data:`MAX_START_ATTRIBUTES`;
- the SDK's span has exactly the fields :class:`InvocationSpan` sets (a release that adds one
  gets the normal path rather than a span missing it);
- probes, on private providers (nothing is exported): a root span and a child of a remote
  parent, started both ways and given the same calls (attributes, an event, a link, status,
  name, end), reach the span processor identical but for their ids and times; and with the
  tracer's sampler, spans started both ways under every kind of parent record alike and have
  the same span context.

Per span, the tracer's sampler must still be the one the verdict was for, and the tracer enabled.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from time import time_ns
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context as OtelContext
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import (
    ReadableSpan,
    SpanLimits,
    SpanProcessor,
    TracerProvider,
    _Span,
)
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from . import _conventions as conv

__all__ = [
    "MAX_START_ATTRIBUTES",
    "InvocationSpan",
    "SpanStarter",
    "set_attribute",
    "span_starter",
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
_UNSET: Final = Status(StatusCode.UNSET)
#: The span's trace flags by (sampled, random trace id), made once rather than per span.
_FLAGS: Final = {
    (sampled, random): TraceFlags(
        (TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
        | (getattr(TraceFlags, "RANDOM_TRACE_ID", 0) if random else 0)
    )
    for sampled in (False, True)
    for random in (False, True)
}


class InvocationSpan(_Span):
    """The SDK's recording span, built by :class:`SpanStarter` with the fields its constructor
    sets (same names, same meaning), and event and link lists made on first use."""

    def __init__(
        self,
        starter: SpanStarter,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: BoundedAttributes,
        record_end_metrics: Any,
    ) -> None:
        tracer = starter.tracer
        self._name = name
        self._context = context
        self._kind = kind
        self._instrumentation_info = tracer.instrumentation_info
        self._instrumentation_scope = starter.scope
        self._parent = parent
        self._start_time = None
        self._end_time = None
        self._attributes = attributes
        self._events = ()
        self._links = ()
        self._resource = tracer.resource
        self._status = _UNSET
        self._sampler = tracer.sampler
        self._trace_config = None
        self._record_exception = False
        self._set_status_on_exception = False
        self._span_processor = tracer.span_processor
        self._limits = starter.limits
        self._lock = threading.Lock()
        self._record_end_metrics = record_end_metrics

    def _add_event(self, event: Any) -> None:
        with self._lock:
            if type(self._events) is tuple:  # the first event: the list the SDK makes up front
                self._events = self._new_events()  # type: ignore[no-untyped-call]
        super()._add_event(event)

    def _add_link(self, link: Any) -> None:
        with self._lock:
            if type(self._links) is tuple:
                self._links = self._new_links(())
        super()._add_link(link)


#: Every field the SDK's span constructor sets, which :class:`InvocationSpan` sets too.
_FIELDS: Final = frozenset(
    {
        "_name", "_context", "_kind", "_instrumentation_info", "_instrumentation_scope",
        "_parent", "_start_time", "_end_time", "_attributes", "_events", "_links",
        "_resource", "_status", "_sampler", "_trace_config", "_record_exception",
        "_set_status_on_exception", "_span_processor", "_limits", "_lock",
        "_record_end_metrics",
    }
)  # fmt: skip
#: The fields every span of a tracer starts with the same (compared by the probe).
_SHARED_FIELDS: Final = _FIELDS - {
    "_name", "_context", "_parent", "_start_time", "_attributes", "_events", "_links",
    "_status", "_lock", "_record_end_metrics",
}  # fmt: skip


class SpanStarter:
    """Starts the invocation's span for one tracer, as ``tracer.start_span(name, parent, kind,
    attributes, record_exception=False, set_status_on_exception=False)`` would."""

    __slots__ = ("decisions", "limits", "sampler", "scope", "tracer")

    def __init__(self, tracer: SdkTracer) -> None:
        self.tracer = tracer
        self.limits: SpanLimits = tracer._span_limits
        self.scope = tracer._instrumentation_scope
        #: The sampler the verdict was for, and what it decides by the kind of parent alone.
        self.sampler = tracer.sampler
        self.decisions = _decisions(tracer.sampler)

    def start(
        self, name: str, parent: OtelContext | None, kind: SpanKind, attributes: dict[str, Any]
    ) -> Span | None:
        """The started span; ``None`` when the tracer is disabled or its sampler replaced
        (``start_span`` then decides). ``attributes`` (valid values, within the limits) becomes
        the span's storage: the caller must not use it afterwards."""
        tracer = self.tracer
        sampler = tracer.sampler
        if sampler is not self.sampler or not tracer._is_enabled():
            return None
        ids = tracer.id_generator
        parent_span: SpanContext | None = trace.get_current_span(parent).get_span_context()
        if parent_span is None or not parent_span.is_valid:
            parent_span = None
            trace_id = ids.generate_trace_id()
            random_trace_id = ids.is_trace_id_random()
            decision = self.decisions[_NO_PARENT]
            trace_state = None
        else:
            trace_id = parent_span.trace_id
            flags = parent_span.trace_flags
            random_trace_id = flags.random_trace_id
            decision = self.decisions[True, parent_span.is_remote, flags.sampled]
            trace_state = parent_span.trace_state
        if decision is None:  # it depends on more than the parent: ask
            sampled = sampler.should_sample(parent, trace_id, name, kind, attributes, ())
            decision = sampled.decision
            trace_state = sampled.trace_state
        context = SpanContext(
            trace_id,
            ids.generate_span_id(),
            is_remote=False,
            trace_flags=_FLAGS[decision.is_sampled(), bool(random_trace_id)],  # type: ignore[no-untyped-call]
            trace_state=trace_state,
        )
        record_end_metrics = tracer._tracer_metrics.start_span(parent_span, decision)
        if not decision.is_recording():  # type: ignore[no-untyped-call]
            return NonRecordingSpan(context)
        limits = self.limits
        storage = BoundedAttributes(
            limits.max_span_attributes,
            None,
            immutable=False,
            max_value_len=limits.max_span_attribute_length,
        )
        storage._dict = attributes
        span = InvocationSpan(self, name, context, parent_span, kind, storage, record_end_metrics)
        # ``span.start()`` less its lock and its check for a second start: nobody else has it yet.
        span._start_time = time_ns()
        tracer.span_processor.on_start(span, parent_context=parent)
        return span


def span_starter(tracer: trace.Tracer) -> SpanStarter | None:
    """A :class:`SpanStarter` when starting spans with it is provably the same as
    ``start_span`` for this tracer (see the module docstring), else ``None``."""
    if type(tracer) is not SdkTracer:
        return None
    limits = getattr(tracer, "_span_limits", None)
    if not isinstance(limits, SpanLimits) or not _ignores_attributes(tracer.sampler):
        return None
    if limits.max_span_attribute_length is not None:
        return None
    if limits.max_span_attributes is not None and limits.max_span_attributes < (
        MAX_START_ATTRIBUTES
    ):
        return None
    if not _probe(limits) or not _probe_decisions(tracer.sampler, limits):
        return None
    return SpanStarter(tracer)


def set_attribute(span: InvocationSpan, key: str, value: int | str) -> None:
    """``span.set_attribute(key, value)`` for a valid ``value``, straight into the storage in
    the common case (about 1.3 µs less): the span still open, the key new (an existing one moves
    to the end) and room left (a full span drops its oldest). Otherwise, through the SDK. Under
    the span's lock, as the SDK's own update."""
    with span._lock:
        storage: BoundedAttributes = span._attributes  # type: ignore[assignment]
        items = storage._dict
        if span._end_time is None and key not in items:
            maxlen = storage.maxlen
            if maxlen is None or len(items) < maxlen:
                items[key] = value
                return
    span.set_attribute(key, value)


#: The kinds of parent a sampler tells apart: (valid, remote, sampled); none is (False, ...).
_NO_PARENT: Final = (False, False, False)
_PARENTS: Final = (
    _NO_PARENT,
    (True, True, True),
    (True, True, False),
    (True, False, True),
    (True, False, False),
)


def _decisions(sampler: object) -> dict[tuple[bool, bool, bool], Decision | None]:
    """What a built-in sampler decides for each kind of parent, where that alone decides: a
    ``StaticSampler``'s decision, itself or as the delegate ``ParentBased`` picks for that kind
    of parent (and its trace state is the parent's, as the sampler's would be). ``None``: ask
    the sampler (a trace-id ratio, or any other sampler)."""
    if type(sampler) is StaticSampler:
        return dict.fromkeys(_PARENTS, sampler._decision)
    if type(sampler) not in _PARENT_BASED_SAMPLERS:
        return dict.fromkeys(_PARENTS)
    decisions: dict[tuple[bool, bool, bool], Decision | None] = {}
    for parent, name in zip(_PARENTS, _PARENT_BASED_DELEGATES, strict=True):
        delegate = getattr(sampler, name)
        decisions[parent] = delegate._decision if type(delegate) is StaticSampler else None
    return decisions


def _ignores_attributes(sampler: object) -> bool:
    kind = type(sampler)
    if kind in _PASS_THROUGH_SAMPLERS:
        return True
    if kind in _PARENT_BASED_SAMPLERS:
        return all(
            _ignores_attributes(getattr(sampler, name, None)) for name in _PARENT_BASED_DELEGATES
        )
    return False


def _private_tracer(
    sampler: Sampler,
    limits: SpanLimits,
    processor: SpanProcessor | None = None,
    id_generator: IdGenerator | None = None,
) -> SdkTracer:
    """A tracer of the probes' own, with nothing to export to."""
    provider = TracerProvider(
        sampler=sampler,
        resource=Resource.get_empty(),
        shutdown_on_exit=False,
        id_generator=id_generator,
        span_limits=limits,
    )
    if processor is not None:
        provider.add_span_processor(processor)
    tracer = provider.get_tracer(__name__)
    assert isinstance(tracer, SdkTracer)
    return tracer


class _Collect(SpanProcessor):
    """The probe's processor: keeps what ``on_start`` and ``on_end`` receive."""

    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []
        self.ended: list[ReadableSpan] = []

    def on_start(self, span: Any, parent_context: OtelContext | None = None) -> None:
        self.started.append(dict(span.attributes))

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


def _probe(limits: SpanLimits) -> bool:
    """Start spans each way on a private provider and compare what its processor receives."""
    try:
        collect = _Collect()
        tracer = _private_tracer(ALWAYS_ON, limits, collect)
        starter = SpanStarter(tracer)
        remote = SpanContext(0x1F, 0x2F, is_remote=True, trace_flags=_FLAGS[True, False])
        linked = SpanContext(0x3F, 0x4F, is_remote=False, trace_flags=_FLAGS[True, False])
        start_attributes: dict[str, Any] = {conv.FAAS_TRIGGER: "http", conv.FAAS_COLDSTART: False}
        for parent in (None, trace.set_span_in_context(NonRecordingSpan(remote))):
            normal = tracer.start_span(
                "probe",
                parent,
                SpanKind.SERVER,
                dict(start_attributes),
                record_exception=False,
                set_status_on_exception=False,
            )
            lean = starter.start("probe", parent, SpanKind.SERVER, dict(start_attributes))
            if type(normal) is not _Span or type(lean) is not InvocationSpan:
                return False
            if set(vars(normal)) != _FIELDS or set(vars(lean)) != _FIELDS:
                return False
            if any(getattr(normal, key) != getattr(lean, key) for key in _SHARED_FIELDS):
                return False
            if (normal.status.status_code, normal.status.description) != (
                lean.status.status_code,
                lean.status.description,
            ):
                return False
            for span in (normal, lean):
                span.set_attribute(conv.HTTP_RESPONSE_STATUS_CODE, 200)
                span.add_event("probe", {"n": 1})
                span.add_link(linked, {"n": 2})
                span.set_status(Status(StatusCode.ERROR, "probe"))
                span.update_name("probe.renamed")
                span.end()
        if len(collect.ended) != 4 or collect.started[0::2] != collect.started[1::2]:
            return False
        ended = [_comparable(span) for span in collect.ended]
        return ended[0::2] == ended[1::2] and ended[0] != ended[2]
    except Exception:  # an SDK whose internals differ: the normal path
        return False


class _FixedIds(IdGenerator):
    """The same ids for both starts, so a trace-id ratio decides both alike."""

    def generate_span_id(self) -> int:
        return 0x5F

    def generate_trace_id(self) -> int:
        return 0x6F

    def is_trace_id_random(self) -> bool:
        return True


def _probe_decisions(sampler: Sampler, limits: SpanLimits) -> bool:
    """Start spans each way with ``sampler`` under every kind of parent, and compare whether
    they record and their span contexts (trace flags and trace state included)."""
    try:
        tracer = _private_tracer(sampler, limits, id_generator=_FixedIds())
        starter = SpanStarter(tracer)
        state = TraceState([("probe", "1")])
        parents = [None] + [
            trace.set_span_in_context(
                NonRecordingSpan(SpanContext(0x1F, 0x2F, remote, _FLAGS[sampled, False], state))
            )
            for _, remote, sampled in _PARENTS[1:]
        ]
        for parent in parents:
            normal = tracer.start_span("probe", parent, SpanKind.SERVER, {})
            lean = starter.start("probe", parent, SpanKind.SERVER, {})
            if lean is None:
                return False
            seen = [(span.is_recording(), span.get_span_context()) for span in (normal, lean)]
            normal.end()
            lean.end()
            if seen[0] != seen[1]:
                return False
        return True
    except Exception:  # an SDK whose internals differ: the normal path
        return False


def _comparable(span: ReadableSpan) -> tuple[Any, ...]:
    """What a processor or exporter reads from a span, minus its own ids and times."""
    context = span.get_span_context()
    links: Sequence[Any] = span.links
    return (
        type(span),
        span.name,
        span.kind,
        span.parent,
        context.trace_flags if context else None,
        context.trace_state if context else None,
        list((span.attributes or {}).items()),
        [(event.name, dict(event.attributes or {})) for event in span.events],
        [(link.context, dict(link.attributes or {})) for link in links],
        (span.status.status_code, span.status.description),
        span.resource,
        span.instrumentation_scope,
        (span.dropped_attributes, span.dropped_events, span.dropped_links),
    )
