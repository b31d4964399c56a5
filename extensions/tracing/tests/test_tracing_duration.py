"""The duration recorder (``_duration``): bound where that gives the SDK's own points, and the
SDK's path everywhere else.

Every comparison records the same values through ``Histogram.record`` on one instrument and
through a :class:`DurationRecorder` on a twin instrument of the same provider, then compares
the collected points (times aside: the twins record microseconds apart).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from extkit_tracing import TracingExtension, _duration
from extkit_tracing._conventions import INVOKE_DURATION_BUCKETS
from extkit_tracing._duration import (
    MAX_SETS,
    DurationRecorder,
    _comparable,
    direct_recording,
    metric_attributes,
)
from opentelemetry import trace
from opentelemetry.context import attach, detach
from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from extkit import Engine, HttpRequest

Record = tuple[float, str, "str | None"]

#: A mix of buckets, two attribute sets and one error set, in an order that revisits each.
RECORDS: list[Record] = [
    (0.002, "http", None),
    (0.3, "http", None),
    (0.3, "timer", None),
    (4.0, "http", "ValueError"),
    (0.0, "http", None),
    (11.0, "timer", None),
    (0.01, "http", "ValueError"),
]


class Twins:
    """A provider with two identically configured duration histograms: one fed through the SDK,
    one through a recorder."""

    def __init__(self, readers: Sequence[InMemoryMetricReader], views: Sequence[View] = ()) -> None:
        self.readers = list(readers)
        self.provider = MeterProvider(
            metric_readers=self.readers,
            resource=Resource.get_empty(),
            shutdown_on_exit=False,
            views=list(views),
        )
        meter = self.provider.get_meter("tests")
        self.sdk, twin = (
            meter.create_histogram(
                name, unit="s", explicit_bucket_boundaries_advisory=list(INVOKE_DURATION_BUCKETS)
            )
            for name in ("duration.sdk", "duration.recorder")
        )
        self.recorder = DurationRecorder(twin, direct=direct_recording())

    def record(self, records: Sequence[Record]) -> None:
        for seconds, trigger, error_type in records:
            self.sdk.record(seconds, metric_attributes(trigger, error_type))
            self.recorder.record(seconds, trigger, error_type)

    def points(self, reader: InMemoryMetricReader) -> dict[str, list[tuple[Any, ...]]]:
        data = reader.get_metrics_data()
        assert data is not None
        return {
            metric.name: sorted(
                (_comparable(point) for point in metric.data.data_points),  # type: ignore[union-attr]
                key=repr,
            )
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }

    def assert_same(self, reader: InMemoryMetricReader) -> list[tuple[Any, ...]]:
        points = self.points(reader)
        assert points["duration.recorder"] == points["duration.sdk"]
        return points["duration.sdk"]

    def bound(self) -> list[bool]:
        return [b.aggregations is not None for b in self.recorder._bindings.values()]


@pytest.fixture
def twins() -> Iterator[Twins]:
    made = Twins([InMemoryMetricReader()])
    yield made
    made.provider.shutdown()


def test_the_probe_finds_this_sdk_bindable() -> None:
    assert direct_recording(), (
        "bound duration recording no longer applies to this opentelemetry-sdk: see _duration.py"
    )


def test_bound_recording_gives_the_sdks_points(twins: Twins) -> None:
    twins.record(RECORDS)
    points = twins.assert_same(twins.readers[0])
    assert twins.bound() == [True, True, True]
    assert all(b.buckets_only for b in twins.recorder._bindings.values())
    counts = {tuple(sorted(p[0].items())): p[1] for p in points}
    assert counts == {
        (("faas.trigger", "http"),): 3,
        (("faas.trigger", "timer"),): 2,
        (("error.type", "ValueError"), ("faas.trigger", "http")): 2,
    }
    # Cumulative: a second collection still holds everything, plus what came after it.
    twins.record(RECORDS[:2])
    assert sum(p[1] for p in twins.assert_same(twins.readers[0])) == len(RECORDS) + 2


def test_the_bound_path_does_not_go_through_histogram_record(
    twins: Twins, monkeypatch: pytest.MonkeyPatch
) -> None:
    twins.record(RECORDS[:1])  # binds ("http", None)
    calls: list[float] = []
    original = HistogramInstrument.record

    def counting(self: Any, amount: float, *args: Any, **kwargs: Any) -> None:
        calls.append(amount)
        original(self, amount, *args, **kwargs)

    monkeypatch.setattr(HistogramInstrument, "record", counting)
    twins.recorder.record(0.5, "http")
    assert calls == []
    monkeypatch.undo()
    twins.sdk.record(0.5, {"faas.trigger": "http"})
    twins.assert_same(twins.readers[0])


def test_exemplars_are_the_sdks_inside_a_sampled_span(twins: Twins) -> None:
    parent = SpanContext(
        0x0AF7651916CD43DD8448EB211C80319C,
        0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    twins.record(RECORDS[:1])  # bound outside any span
    token = attach(trace.set_span_in_context(NonRecordingSpan(parent)))
    try:
        twins.record(RECORDS[1:])
    finally:
        detach(token)
    points = twins.assert_same(twins.readers[0])
    exemplars = [exemplar for point in points for exemplar in point[-1]]
    assert exemplars, "the trace-based exemplar filter offered nothing inside a sampled span"
    assert {exemplar[1] for exemplar in exemplars} == {parent.trace_id}


def test_a_delta_reader_is_never_bound() -> None:
    delta = InMemoryMetricReader(
        preferred_temporality={HistogramInstrument: AggregationTemporality.DELTA}
    )
    made = Twins([delta])
    try:
        made.record(RECORDS)
        made.assert_same(delta)
        assert made.bound() == [False, False, False]
        made.record(RECORDS[:3])  # after a collection that replaced the aggregations
        assert sum(p[1] for p in made.assert_same(delta)) == 3
    finally:
        made.provider.shutdown()


def test_a_view_that_drops_attributes_is_never_bound() -> None:
    reader = InMemoryMetricReader()
    views = [View(instrument_name="duration.*", attribute_keys={"faas.trigger"})]
    made = Twins([reader], views)
    try:
        made.record(RECORDS)
        points = made.assert_same(reader)
        assert made.bound() == [False, False, False]
        assert [p[0] for p in points] == [{"faas.trigger": "http"}, {"faas.trigger": "timer"}]
    finally:
        made.provider.shutdown()


def test_a_view_with_other_buckets_is_bound_and_followed() -> None:
    reader = InMemoryMetricReader()
    views = [
        View(
            instrument_name="duration.*",
            aggregation=ExplicitBucketHistogramAggregation(boundaries=(0.1, 1.0)),
        )
    ]
    made = Twins([reader], views)
    try:
        made.record(RECORDS)
        points = made.assert_same(reader)
        assert made.bound() == [True, True, True]
        assert {p[6] for p in points} == {(0.1, 1.0)}
    finally:
        made.provider.shutdown()


def test_a_view_with_another_aggregation_is_bound_through_it() -> None:
    reader = InMemoryMetricReader()
    views = [
        View(instrument_name="duration.*", aggregation=ExponentialBucketHistogramAggregation())
    ]
    made = Twins([reader], views)
    try:
        made.record(RECORDS)
        data = reader.get_metrics_data()
        assert data is not None
        points = {
            metric.name: sorted(
                repr((dict(p.attributes), p.count, p.sum, p.min, p.max, p.positive, p.zero_count))
                for p in metric.data.data_points  # type: ignore[union-attr]
            )
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }
        assert points["duration.recorder"] == points["duration.sdk"]
        assert made.bound() == [True, True, True]
        assert not any(b.buckets_only for b in made.recorder._bindings.values())
    finally:
        made.provider.shutdown()


def test_readers_added_and_removed_later_are_followed() -> None:
    first, second = InMemoryMetricReader(), InMemoryMetricReader()
    made = Twins([first])
    if not hasattr(made.provider, "add_metric_reader"):
        pytest.skip("this opentelemetry-sdk cannot add readers to a provider")
    try:
        made.record(RECORDS)
        made.provider.add_metric_reader(second)  # replaces the reader-to-storage mapping
        made.record(RECORDS[:4])
        assert sum(p[1] for p in made.assert_same(first)) == len(RECORDS) + 4
        assert sum(p[1] for p in made.assert_same(second)) == 4
        assert made.bound() == [True, True, True]  # bound anew, to both readers
        made.provider.remove_metric_reader(first)
        made.record(RECORDS[:2])
        assert sum(p[1] for p in made.assert_same(second)) == 6
        current = made.provider._measurement_consumer._reader_storages
        # Only the set recorded since is bound anew; the others will be on their next record.
        assert [b.storages is current for b in made.recorder._bindings.values()] == [
            True,
            False,
            False,
        ]
    finally:
        made.provider.shutdown()


def test_values_the_sdk_refuses_are_refused_alike(twins: Twins) -> None:
    twins.record(RECORDS[:1])
    twins.record([(-1.0, "http", None), (float("inf"), "http", None), (float("nan"), "http", None)])
    [point] = twins.assert_same(twins.readers[0])
    assert point[1] == 1


def test_sets_past_the_limit_are_still_recorded(twins: Twins) -> None:
    records: list[Record] = [(0.1, "http", f"Error{n}") for n in range(MAX_SETS + 5)]
    twins.record(records * 2)
    points = twins.assert_same(twins.readers[0])
    assert len(points) == MAX_SETS + 5
    assert all(point[1] == 2 for point in points)
    assert len(twins.recorder._bindings) == MAX_SETS


def test_the_extension_records_through_a_bound_recorder(engine: Engine) -> None:
    reader = InMemoryMetricReader()
    TracingExtension.configure(exporter="none", metric_exporter=reader)
    duration = TracingExtension._runtime.started().duration
    assert duration is not None and duration.direct

    def hello(req: HttpRequest) -> str:
        return "hello"

    loaded = engine.load(hello, name="Hello", trigger="http")
    for _ in range(3):
        loaded.invoke({"req": HttpRequest("GET", "http://127.0.0.1/api/hello")})
    assert [b.aggregations is not None for b in duration._bindings.values()] == [True]
    data = reader.get_metrics_data()
    assert data is not None
    [point] = [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "faas.invoke_duration"
        for point in metric.data.data_points  # type: ignore[union-attr]
    ]
    assert dict(point.attributes) == {"faas.trigger": "http"}
    assert point.count == 3  # type: ignore[union-attr]


def test_a_set_whose_aggregations_cannot_be_found_stays_on_the_sdks_path(
    twins: Twins, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unexpected(*args: Any) -> Any:
        raise AttributeError("an SDK laid out otherwise")

    monkeypatch.setattr(_duration, "_find_aggregations", unexpected)
    twins.record(RECORDS)
    twins.assert_same(twins.readers[0])
    assert twins.bound() == [False, False, False]
