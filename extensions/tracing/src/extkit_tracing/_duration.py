"""Recording the invocation-duration histogram without the SDK's per-measurement bookkeeping.

``Histogram.record`` costs about 10 µs (CPython 3.11, SDK 1.45), as much as a third of a span:
most of it validates the attributes, wraps them in a ``Measurement`` and hashes them to find the
aggregation they belong in. The extension records a handful of fixed attribute sets (one per
trigger, and one per trigger and error type), so that lookup gives the same answer every time.
Each set's first measurement therefore goes through the SDK, which creates its aggregations;
later ones go straight to those aggregations (``aggregate``, an SDK internal), with the exemplar
decision the SDK would make; the default explicit-bucket aggregation, when no exemplar is offered,
has its counts updated in place as its ``aggregate`` would. About a fifth of the cost.

It is the same only where the aggregations found stay the ones the SDK would use, so a set is
bound only when all of these hold, and otherwise always goes through the SDK:

- the histogram is exactly the SDK's, its measurement consumer the SDK's synchronous one;
- every reader keeps its aggregations from one collection to the next (cumulative temporality;
  a delta reader replaces them at each collection, under a lock only the SDK's path takes) and
  no view drops attributes;
- each aggregation is found under the SDK's own key for the set (not the overflow one a set gets
  past the cardinality limit);
- once per process, a probe on a private provider, fed both ways, ends with the same points.

Per measurement the recorder checks that the instrument is still enabled, that the readers are
still the same mapping (adding or removing one replaces it; the set is then bound anew) and that
the value is a finite, non-negative number, as the SDK checks.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from time import time_ns
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.context import attach, detach, get_current
from opentelemetry.metrics import Histogram
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from . import _conventions as conv

try:  # SDK internals: an SDK laid out differently records through ``Histogram.record`` only
    from opentelemetry.sdk.metrics._internal._view_instrument_match import (
        _hash_attributes,
        _ViewInstrumentMatch,
    )
    from opentelemetry.sdk.metrics._internal.aggregation import (
        _ExplicitBucketHistogramAggregation,
    )
    from opentelemetry.sdk.metrics._internal.instrument import _Histogram
    from opentelemetry.sdk.metrics._internal.measurement import Measurement
    from opentelemetry.sdk.metrics._internal.measurement_consumer import (
        SynchronousMeasurementConsumer,
    )
except ImportError:  # pragma: no cover - depends on the installed SDK
    _INTERNALS = False
else:
    _INTERNALS = True

__all__ = ["DurationRecorder", "direct_recording", "metric_attributes"]

#: The most attribute sets the recorder keeps; any beyond go through the SDK every time.
MAX_SETS: Final = 64


class _Binding:
    """Where one attribute set's measurements go, for one mapping of readers to storages;
    ``aggregations`` is ``None`` when the set cannot be bound there (the SDK's path, always)."""

    __slots__ = ("aggregations", "attributes", "buckets_only", "storages")

    def __init__(
        self, storages: object, aggregations: tuple[Any, ...] | None, attributes: Any
    ) -> None:
        self.storages = storages
        self.aggregations = aggregations
        self.attributes = attributes
        #: Every aggregation is the SDK's explicit-bucket histogram one (the default), which
        #: :func:`_add_to_buckets` updates itself when no exemplar is offered.
        self.buckets_only = aggregations is not None and all(
            type(aggregation) is _ExplicitBucketHistogramAggregation for aggregation in aggregations
        )


class DurationRecorder:
    """Records the duration histogram by trigger and error type, binding each attribute set to
    its aggregations where that is the same as ``histogram.record`` (see the module docstring).
    Safe to share between threads: a binding is replaced whole, never changed in place."""

    __slots__ = ("_bindings", "_sets", "direct", "histogram")

    def __init__(self, histogram: Histogram, *, direct: bool) -> None:
        self.histogram = histogram
        #: Whether sets may be bound at all (:func:`direct_recording`'s verdict).
        self.direct = direct and _INTERNALS and type(histogram) is _Histogram
        self._sets: dict[tuple[str, str | None], dict[str, str]] = {}
        self._bindings: dict[tuple[str, str | None], _Binding] = {}

    def record(self, seconds: float, trigger: str, error_type: str | None = None) -> None:
        """``histogram.record(seconds, {faas.trigger, error.type})``, at a fraction of the cost
        once the set is bound."""
        key = (trigger, error_type)
        binding = self._bindings.get(key)
        if binding is not None:
            histogram: Any = self.histogram
            consumer = histogram._measurement_consumer
            if consumer._reader_storages is binding.storages:
                aggregations = binding.aggregations
                config = histogram._meter_config
                if (
                    aggregations is not None
                    and 0.0 <= seconds < math.inf
                    and (config is None or config.is_enabled)
                ):
                    now = time_ns()
                    context = get_current()
                    attributes = binding.attributes
                    sample = consumer._sdk_config.exemplar_filter.should_sample(
                        seconds, now, attributes, context
                    )
                    if binding.buckets_only and not sample:
                        for aggregation in aggregations:
                            _add_to_buckets(aggregation, seconds)
                        return
                    measurement = _measurement(seconds, now, histogram, context, attributes)
                    for aggregation in aggregations:
                        aggregation.aggregate(measurement, sample)
                    return
                self.histogram.record(seconds, binding.attributes)
                return
        attributes = self._sets.get(key)
        if attributes is None:
            attributes = metric_attributes(trigger, error_type)
            if len(self._sets) < MAX_SETS:
                self._sets[key] = attributes
        self.histogram.record(seconds, attributes)
        if self.direct and key in self._sets:
            self._bindings[key] = _bind(self.histogram, attributes)


def metric_attributes(trigger: str, error_type: str | None = None) -> dict[str, str]:
    """The duration histogram's attributes for one invocation's outcome."""
    attributes = {conv.FAAS_TRIGGER: trigger}
    if error_type is not None:
        attributes[conv.ERROR_TYPE] = error_type
    return attributes


def _add_to_buckets(aggregation: Any, value: float) -> None:
    """``aggregation.aggregate(measurement, False)`` for the SDK's explicit-bucket histogram
    aggregation: the same updates under the same lock, without a ``Measurement`` to build or
    an exemplar reservoir to skip."""
    with aggregation._lock:
        counts = aggregation._value
        if counts is None:
            counts = aggregation._value = aggregation._get_empty_bucket_counts()
        aggregation._sum += value
        if aggregation._record_min_max:
            if value < aggregation._min:
                aggregation._min = value
            if value > aggregation._max:
                aggregation._max = value
        counts[bisect_left(aggregation._boundaries, value)] += 1


def _measurement(value: float, now: int, instrument: Any, context: Any, attributes: Any) -> Any:
    """The ``Measurement`` the SDK would build, from attributes it already cleaned: its
    ``__post_init__`` would clean them again (most of a measurement's cost)."""
    measurement = object.__new__(Measurement)
    measurement.__dict__.update(
        value=value,
        time_unix_nano=now,
        instrument=instrument,
        context=context,
        attributes=attributes,
    )
    return measurement


def _bind(histogram: Any, attributes: dict[str, str]) -> _Binding:
    """The aggregations ``histogram.record(..., attributes)`` has just fed, when every one of
    them will keep being the one the SDK feeds (see the module docstring)."""
    consumer = histogram._measurement_consumer
    storages = consumer._reader_storages
    if type(consumer) is not SynchronousMeasurementConsumer:
        return _Binding(storages, None, attributes)
    try:
        return _find_aggregations(histogram, storages, attributes)
    except Exception:  # internals other than the probe saw: this set stays on the SDK's path
        return _Binding(storages, None, attributes)


def _find_aggregations(histogram: Any, storages: Any, attributes: dict[str, str]) -> _Binding:
    cleaned = Measurement(0.0, 0, histogram, get_current(), attributes).attributes
    key = _hash_attributes(dict(cleaned or {}))
    found: list[Any] = []
    for storage in storages.values():
        matches = storage._instrument_view_instrument_matches.get(histogram)
        if not matches:
            return _Binding(storages, None, attributes)
        for match in matches:
            if (
                type(match) is not _ViewInstrumentMatch
                or match._reset_on_collect
                or match._view._attribute_keys is not None
            ):
                return _Binding(storages, None, attributes)
            aggregation = match._attributes_aggregation.get(key)
            if aggregation is None:
                return _Binding(storages, None, attributes)
            found.append(aggregation)
    return _Binding(storages, tuple(found), cleaned)


_verdict: list[bool] = []
_verdict_lock = threading.Lock()


def direct_recording() -> bool:
    """Whether bound recording gives the SDK's own points here: probed once per process."""
    with _verdict_lock:
        if not _verdict:
            _verdict.append(_INTERNALS and _probe())
        return _verdict[0]


#: Values that land in different buckets, at a bucket boundary, and zero.
_PROBE_VALUES: Final = (0.003, 0.25, 7.0, 0.0, 0.01, 12.5)
_PROBE_SETS: Final = (("http", None), ("timer", "TimeoutError"))


def _probe() -> bool:
    """Record the same measurements through the SDK and through a recorder on a private
    provider (nothing is exported), some inside a sampled span so exemplars are offered too,
    and compare the points."""
    try:
        reader = InMemoryMetricReader()
        provider = MeterProvider(
            metric_readers=[reader], resource=Resource.get_empty(), shutdown_on_exit=False
        )
        meter = provider.get_meter(__name__)
        histograms = [
            meter.create_histogram(
                name,
                unit="s",
                explicit_bucket_boundaries_advisory=list(conv.INVOKE_DURATION_BUCKETS),
            )
            for name in ("probe.sdk", "probe.direct")
        ]
        recorder = DurationRecorder(histograms[1], direct=True)
        sampled = SpanContext(
            0x5CE0E9A5, 0x5CE0E9A5, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )
        for index, value in enumerate(_PROBE_VALUES):
            token = (
                attach(trace.set_span_in_context(NonRecordingSpan(sampled))) if index % 2 else None
            )
            try:
                for trigger, error_type in _PROBE_SETS:
                    histograms[0].record(value, metric_attributes(trigger, error_type))
                    recorder.record(value, trigger, error_type)
            finally:
                if token is not None:
                    detach(token)
        bound = all(binding.aggregations is not None for binding in recorder._bindings.values())
        data = reader.get_metrics_data()
        provider.shutdown()
        points = {
            metric.name: [_comparable(point) for point in metric.data.data_points]
            for resource in data.resource_metrics  # type: ignore[union-attr]
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }
        return (
            bound
            and len(recorder._bindings) == len(_PROBE_SETS)
            and len(points.get("probe.sdk", ())) == len(_PROBE_SETS)
            and points["probe.sdk"] == points.get("probe.direct")
        )
    except Exception:  # an SDK whose internals differ: the SDK's path
        return False


def _comparable(point: Any) -> tuple[Any, ...]:
    """A histogram point without its times (the two instruments record microseconds apart)."""
    exemplars = tuple(
        (e.value, e.trace_id, e.span_id, dict(e.filtered_attributes or {})) for e in point.exemplars
    )
    return (
        dict(point.attributes),
        point.count,
        point.sum,
        point.min,
        point.max,
        tuple(point.bucket_counts),
        tuple(point.explicit_bounds),
        exemplars,
    )
