"""A small OTLP/HTTP receiver on 127.0.0.1 for tests: decodes what the real exporters send.

It accepts ``POST /v1/traces`` and ``POST /v1/metrics`` with ``application/x-protobuf`` bodies
(gzip or not), parses them with ``opentelemetry-proto`` into ``ExportTraceServiceRequest`` /
``ExportMetricsServiceRequest`` and keeps flat, comparable records of every span and histogram
point. Tests wait on a real condition (``wait_for``) instead of sleeping.

Run it by hand to look at what an app exports::

    python otlp_receiver.py --port 4318
"""

from __future__ import annotations

import argparse
import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus

__all__ = [
    "HistogramPoint",
    "OTLPReceiver",
    "ReceivedSpan",
    "running_grpc_receiver",
    "running_receiver",
]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived, with ids in hex and enums as their names (``SPAN_KIND_SERVER``)."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    kind: str
    attributes: dict[str, Any]
    status_code: str  # STATUS_CODE_UNSET / _OK / _ERROR
    status_message: str
    events: list[tuple[str, dict[str, Any]]]
    resource: dict[str, Any]
    scope: str
    trace_state: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class HistogramPoint:
    """One histogram data point (cumulative) of a metric that arrived."""

    name: str
    unit: str
    attributes: dict[str, Any]
    count: int
    sum: float
    bounds: tuple[float, ...]
    resource: dict[str, Any]


@dataclass
class OTLPReceiver:
    """What the server received; every method is safe to call from any thread."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    histograms: list[HistogramPoint] = field(default_factory=list)
    #: Every export request's body as it arrived (uncompressed), for what decoding hides.
    bodies: list[bytes] = field(default_factory=list)
    requests: int = 0
    url: str = ""
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def add_traces(self, body: bytes) -> None:
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        found = []
        for resource_spans in message.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=ProtoSpan.SpanKind.Name(span.kind),
                            attributes=_attributes(span.attributes),
                            status_code=ProtoStatus.StatusCode.Name(span.status.code),
                            status_message=span.status.message,
                            events=[(e.name, _attributes(e.attributes)) for e in span.events],
                            resource=resource,
                            scope=scope_spans.scope.name,
                            trace_state=span.trace_state,
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                        )
                    )
        with self._changed:
            self.spans.extend(found)
            self.bodies.append(body)
            self.requests += 1
            self._changed.notify_all()

    def add_metrics(self, body: bytes) -> None:
        message = ExportMetricsServiceRequest()
        message.ParseFromString(body)
        found = []
        for resource_metrics in message.resource_metrics:
            resource = _attributes(resource_metrics.resource.attributes)
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.WhichOneof("data") != "histogram":
                        continue
                    for point in metric.histogram.data_points:
                        found.append(
                            HistogramPoint(
                                name=metric.name,
                                unit=metric.unit,
                                attributes=_attributes(point.attributes),
                                count=point.count,
                                sum=point.sum,
                                bounds=tuple(point.explicit_bounds),
                                resource=resource,
                            )
                        )
        with self._changed:
            self.histograms.extend(found)
            self.bodies.append(body)
            self.requests += 1
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[OTLPReceiver], bool], timeout: float = 15.0) -> bool:
        """Block until ``condition(self)`` holds (re-checked on every arrival) or time runs out."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.5))
            return True

    def spans_named(self, name: str) -> list[ReceivedSpan]:
        with self._changed:
            return [span for span in self.spans if span.name == name]


def _handler(receiver: OTLPReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            if self.path.rstrip("/") == "/v1/traces":
                receiver.add_traces(body)
                reply = ExportTraceServiceResponse().SerializeToString()
            elif self.path.rstrip("/") == "/v1/metrics":
                receiver.add_metrics(body)
                reply = ExportMetricsServiceResponse().SerializeToString()
            else:
                self.send_error(404, f"no OTLP signal at {self.path}")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_receiver(port: int = 0) -> Iterator[OTLPReceiver]:
    """Serve OTLP/HTTP on 127.0.0.1 (a free port unless one is given) for the block."""
    receiver = OTLPReceiver()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def running_grpc_receiver() -> Iterator[OTLPReceiver]:
    """Serve OTLP/gRPC on 127.0.0.1 (a free port) for the block; ``url`` is ``http://host:port``
    (the ``http`` scheme tells the gRPC exporter to connect without TLS)."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    receiver = OTLPReceiver()

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC's naming
            receiver.add_traces(request.SerializeToString())
            return ExportTraceServiceResponse()

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):  # type: ignore[misc]
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC's naming
            receiver.add_metrics(request.SerializeToString())
            return ExportMetricsServiceResponse()

    with ThreadPoolExecutor(max_workers=2) as pool:
        server = grpc.server(pool)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        receiver.url = f"http://127.0.0.1:{port}"
        server.start()
        try:
            yield receiver
        finally:
            server.stop(grace=None).wait(5)


def main() -> None:  # pragma: no cover - a manual tool
    parser = argparse.ArgumentParser(description="print the spans an OTLP/HTTP exporter sends")
    parser.add_argument("--port", type=int, default=4318)
    port = parser.parse_args().port
    with running_receiver(port) as receiver:
        print(f"listening on {receiver.url}", flush=True)
        printed = 0

        def more(r: OTLPReceiver) -> bool:
            return len(r.spans) > printed

        try:
            while True:
                receiver.wait_for(more, timeout=3600)
                for span in receiver.spans[printed:]:
                    print(json.dumps(span.__dict__, default=str, indent=2), flush=True)
                printed = len(receiver.spans)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
