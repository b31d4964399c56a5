"""The tracing extension's cost: per invocation in process, and per request over HTTP beside
Starlette with OpenTelemetry's ASGI instrumentation.

Run from the repository root::

    python bench/bench_tracing.py [--json PATH] [--check]        # per invocation, in process
    python bench/bench_tracing.py --http [--exporter otlp|drop]   # req/s over HTTP (needs wrk)
    python bench/bench_tracing.py --instructions [--exporter ...] # per request, under callgrind

``--http`` and ``--instructions`` need ``opentelemetry-instrumentation-asgi`` and ``starlette``.
They serve the same hello world from three servers with one worker each: Starlette on uvicorn
(asyncio + h11) wrapped in ``OpenTelemetryMiddleware``, and ``extkit start`` with the tracing
extension for an ``async def`` and a ``def`` function. Both kinds build the same SDK pipeline (a
``BatchSpanProcessor`` and a ``PeriodicExportingMetricReader``) with the same exporters: OTLP/HTTP
to a local sink of their own that accepts and counts every export (default), or exporters that
drop everything (``--exporter drop``). ``--http`` runs ``wrk`` against each in rotated rounds,
servers pinned to one CPU and wrk to the other, and reports req/s, the ratio to Starlette (median
of per-round ratios) and the server CPU time per request. ``--instructions`` counts the
instructions one request costs each server, export thread included, which a shared machine
does not disturb.

In process (the default), every variant traces into the same SDK ``TracerProvider`` with a
``BatchSpanProcessor`` and an exporter that drops everything, so what is compared is the
per-invocation work, not the network. Needs, for the Lambda row,
``opentelemetry-instrumentation-aws-lambda`` (the row is skipped without it). Absolute times drift
between runs on shared machines, so each variant is compared with the bare SDK span timed in the
same round: each round times every variant once, in a shuffled order, and the table reports the
median of the per-round ratios.

Time is the measuring thread's CPU time by default, so other processes on a shared machine do not
count. The batch processor's export thread is then left out for every variant alike (one span
each), and so is the export the Lambda wrapper's per-invocation flush waits for: the Lambda row is
a lower bound. ``--wall-clock`` counts everything, on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import types
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from _rounds import Variant, measure  # bench/ is on sys.path when a script here runs
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import extkit
from extkit import AppExtensionBase, Engine, HttpRequest, LoadedFunction, Registry

#: Targets: the extension's invocation (engine included) over a bare SDK span, and over the
#: Lambda instrumentation wrapper.
TARGET_VS_SDK_SPAN = 1.2
TARGET_VS_LAMBDA = 0.4
#: Reference figures (µs per invocation, 2-vCPU machine, CPython 3.11; see docs/performance.md).
REFERENCE_US = {"sdk span": 32.7, "lambda": 97.0}

API_GATEWAY_EVENT: dict[str, Any] = {
    "resource": "/items/{id}",
    "path": "/items/7",
    "httpMethod": "GET",
    "headers": {"Host": "api.example", "User-Agent": "bench", "X-Forwarded-Proto": "https"},
    "queryStringParameters": {"name": "Ada"},
    "pathParameters": {"id": "7"},
    "requestContext": {"resourcePath": "/items/{id}", "httpMethod": "GET", "stage": "prod"},
    "body": None,
}  # fmt: skip


class DropExporter(SpanExporter):
    """Accepts every batch and keeps nothing: the pipeline runs, the network does not."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def handler(req: HttpRequest) -> str:
    """The traced function: as cheap as possible, so the tracing cost stands out."""
    return "ok"


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def traced_function(registry: Registry) -> LoadedFunction:
    engine = Engine(registry=registry, enabled=True)
    return engine.load(handler, name="HttpTrigger", trigger="http")


def tracing_registry() -> Registry:
    from extkit_tracing import TracingExtension

    registry = Registry()
    registry.register(
        TracingExtension, scope="app", key="extkit_tracing.TracingExtension", name="Tracing"
    )
    return registry


def no_op_around_registry() -> Registry:
    """An around hook that does nothing: the engine's general path alone."""
    registry = Registry()
    with extkit.isolated_registry(registry):

        class NoOpAround(AppExtensionBase):
            @classmethod
            def around_invocation_app_level(cls) -> Any:
                return (yield)

    return registry


def lambda_wrapper() -> Any | None:
    """The instrumented Lambda handler, or ``None`` when the instrumentation is not installed."""
    try:
        from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor
    except ImportError:
        return None
    module = types.ModuleType("bench_lambda_app")
    module.handler = lambda_handler  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    os.environ.setdefault("AWS_LAMBDA_FUNCTION_NAME", "HttpTrigger")
    os.environ["_HANDLER"] = f"{module.__name__}.handler"
    # A meter provider without readers: the wrapper flushes metrics after every invocation, and
    # this keeps that flush as cheap as it can be (the wrapper records no metric itself).
    from opentelemetry.sdk.metrics import MeterProvider

    AwsLambdaInstrumentor().instrument(meter_provider=MeterProvider())
    return module.handler


def build_variants(metrics: bool) -> tuple[Variant, list[Variant]]:
    from extkit_tracing import TracingExtension

    reader = InMemoryMetricReader() if metrics else None
    TracingExtension.configure(
        service_name="bench", exporter=DropExporter(), metric_exporter=reader, metrics=metrics
    )
    traced = traced_function(tracing_registry())
    TracingExtension._runtime.started()  # installs the global provider every variant shares
    tracer = trace.get_tracer_provider().get_tracer("bench")
    request = HttpRequest(
        "GET", "http://127.0.0.1:7071/api/items/7?name=Ada", headers={"User-Agent": "bench"}
    )
    args = {"req": request}
    base: dict[str, Any] = {"fn": handler, "args": args, "tracer": tracer}
    sdk = Variant(
        "bare SDK span (start_as_current_span + 3 attributes + end)",
        "with tracer.start_as_current_span('HttpTrigger') as span:\n"
        "    span.set_attribute('faas.trigger', 'http')\n"
        "    span.set_attribute('faas.invocation_id', 'id')\n"
        "    span.set_attribute('faas.coldstart', False)\n"
        "    fn(**args)",
        base,
    )
    same_attributes = {
        "faas.trigger": "http",
        "faas.invocation_id": "0bd1f97a-8d5b-4a14-a677-4954fcba33f2",
        "faas.name": "HttpTrigger",
        "faas.coldstart": False,
        "http.request.method": "GET",
        "url.scheme": "http",
        "url.path": "/api/items/7",
        "url.query": "name=Ada",
        "user_agent.original": "bench",
    }
    variants = [
        Variant("bare fn(**args)", "fn(**args)", base),
        Variant(
            "SDK span with the extension's attributes (SERVER, 10 attributes)",
            "with start('HttpTrigger', kind=SERVER, attributes=attrs) as s:\n"
            "    fn(**args)\n"
            "    s.set_attribute('http.response.status_code', 200)",
            {
                **base,
                "start": tracer.start_as_current_span,
                "attrs": same_attributes,
                "SERVER": trace.SpanKind.SERVER,
            },
        ),
        Variant(
            "extkit engine, no-op around hook (new_context + invoke)",
            "invoke(args, new_context())",
            {
                **base,
                "invoke": (plain := traced_function(no_op_around_registry())).invoke,
                "new_context": plain.new_context,
            },
        ),
        Variant(
            "extkit + TracingExtension (new_context + invoke)",
            "invoke(args, new_context())",
            {**base, "invoke": traced.invoke, "new_context": traced.new_context},
        ),
    ]
    wrapped = lambda_wrapper()
    if wrapped is not None:
        lambda_context = types.SimpleNamespace(
            function_name="HttpTrigger",
            aws_request_id="8f6c9f1a-0000-4000-8000-000000000000",
            invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:HttpTrigger",
        )
        variants.append(
            Variant(
                "OpenTelemetry AWS Lambda wrapper (API Gateway event)",
                "wrapped(event, lambda_context)",
                {**base, "wrapped": wrapped, "event": API_GATEWAY_EVENT,
                 "lambda_context": lambda_context},
            )
        )  # fmt: skip
    return sdk, variants


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def results(sdk: Variant, variants: list[Variant], metrics: bool, clock: str) -> dict[str, Any]:
    by_name = {variant.name: variant for variant in variants}
    traced = next(v for v in variants if "TracingExtension" in v.name)
    lam = next((v for v in variants if "Lambda" in v.name), None)
    rows = []
    for variant in [sdk, *variants]:
        rows.append(
            {
                "variant": variant.name,
                "us": round(statistics.median(variant.per_call_ns) / 1000, 2),
                "ratio_to_sdk_span": round(statistics.median(variant.ratios), 3),
            }
        )
    vs_lambda = None
    if lam is not None:
        vs_lambda = statistics.median(
            t / w for t, w in zip(traced.per_call_ns, lam.per_call_ns, strict=True)
        )
    vs_sdk = statistics.median(traced.ratios)
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "extkit": extkit.__version__,
        "extkit_tracing": _installed("extkit-tracing"),
        "opentelemetry_sdk": _installed("opentelemetry-sdk"),
        "aws_lambda_instrumentation": _installed("opentelemetry-instrumentation-aws-lambda"),
        "metrics": metrics,
        "clock": clock,
        "rounds": len(sdk.per_call_ns),
        "variants": rows,
        "tracing_vs_sdk_span": round(vs_sdk, 3),
        "tracing_vs_lambda": None if vs_lambda is None else round(vs_lambda, 3),
        "met": vs_sdk <= TARGET_VS_SDK_SPAN
        and (vs_lambda is None or vs_lambda <= TARGET_VS_LAMBDA),
        "names": list(by_name),
    }


def render(report: dict[str, Any]) -> str:
    lines = [
        f"CPython {report['python']}, {report['cpus']} CPUs, extkit {report['extkit']}, "
        f"extkit-tracing {report['extkit_tracing']}, opentelemetry-sdk "
        f"{report['opentelemetry_sdk']}, aws-lambda instrumentation "
        f"{report['aws_lambda_instrumentation'] or 'not installed'}; {report['rounds']} rounds, "
        f"{report['clock']} clock; duration metric {'on' if report['metrics'] else 'off'}",
        "",
        "| variant | per invocation | ratio to bare SDK span |",
        "|---|---:|---:|",
    ]
    for row in report["variants"]:
        lines.append(f"| {row['variant']} | {row['us']:.2f} µs | {row['ratio_to_sdk_span']:.2f}x |")
    lines.append("")
    lines.append(
        f"TracingExtension / bare SDK span: {report['tracing_vs_sdk_span']:.2f}x "
        f"(target ≤ {TARGET_VS_SDK_SPAN}x)"
    )
    if report["tracing_vs_lambda"] is not None:
        lines.append(
            f"TracingExtension / AWS Lambda wrapper: {report['tracing_vs_lambda']:.2f}x "
            f"(target ≤ {TARGET_VS_LAMBDA}x)"
        )
    return "\n".join(lines)


# --- over HTTP: extkit-tracing beside Starlette with OpenTelemetry's ASGI instrumentation --------

#: Target: extkit async + TracingExtension req/s over Starlette + OpenTelemetryMiddleware's.
TARGET_VS_ASGI_INSTRUMENTATION = 2.5

#: Shared by both servers (on PYTHONPATH): the same SDK exporters, OTLP/HTTP or dropping.
EXPORTERS_MODULE = """
import os
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class DropSpans(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


class DropMetrics(MetricExporter):
    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis=10_000):
        return True

    def shutdown(self, timeout_millis=30_000, **kwargs):
        pass


def span_exporter():
    if os.environ["BENCH_EXPORTER"] == "drop":
        return DropSpans()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter()  # OTEL_EXPORTER_OTLP_ENDPOINT


def metric_exporter():
    if os.environ["BENCH_EXPORTER"] == "drop":
        return DropMetrics()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    return OTLPMetricExporter()
"""

STARLETTE_OTEL_APP = """
from bench_exporters import metric_exporter, span_exporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

resource = Resource.create({"service.name": "bench"})
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter()))
meter_provider = MeterProvider(
    resource=resource, metric_readers=[PeriodicExportingMetricReader(metric_exporter())]
)


async def hello(request):
    return PlainTextResponse("Hello, world")


app = OpenTelemetryMiddleware(
    Starlette(routes=[Route("/api/hello", hello)]),
    tracer_provider=tracer_provider,
    meter_provider=meter_provider,
)
"""

EXTKIT_TRACED_APP = """
from bench_exporters import metric_exporter, span_exporter
from extkit_tracing import TracingExtension

from extkit import HttpRequest, HttpResponse
from extkit.app import AuthLevel, FunctionApp

TracingExtension.configure(
    service_name="bench", exporter=span_exporter(), metric_exporter=metric_exporter()
)
app = FunctionApp(http_auth_level=AuthLevel.ANONYMOUS)


@app.route(route="hello", methods=["GET"])
{prefix}def hello(req: HttpRequest) -> HttpResponse:
    return HttpResponse("Hello, world")
"""


class _Sink(BaseHTTPRequestHandler):
    """A collector that accepts every OTLP/HTTP export and keeps only a count."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.exports += 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def sink() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.exports = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def http_servers(workdir: Path, exporter: str, sinks: list[ThreadingHTTPServer]) -> list[Any]:
    """Starlette + OpenTelemetryMiddleware, and ``extkit start`` with the tracing extension
    (async and sync functions), each exporting to its own sink."""
    from bench_http import Server, free_port

    (workdir / "bench_exporters.py").write_text(EXPORTERS_MODULE, encoding="utf-8")
    (workdir / "starlette_otel_app.py").write_text(STARLETTE_OTEL_APP, encoding="utf-8")
    for kind, prefix in (("async", "async "), ("sync", "")):
        app = workdir / f"extkit_traced_{kind}"
        app.mkdir()
        (app / "function_app.py").write_text(
            EXTKIT_TRACED_APP.format(prefix=prefix), encoding="utf-8"
        )
        (app / "host.json").write_text('{"version": "2.0"}', encoding="utf-8")
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EXTKIT_", "OTEL_", "PYTHON_ENABLE_WORKER_EXTENSIONS"))
    }
    base.update(PYTHONPATH=str(workdir), BENCH_EXPORTER=exporter)

    def env(sink: ThreadingHTTPServer, **extra: str) -> dict[str, str]:
        endpoint = f"http://127.0.0.1:{sink.server_address[1]}"
        return {**base, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, **extra}

    port = free_port()
    found = [
        Server(
            "Starlette + OpenTelemetry ASGI instrumentation",
            [sys.executable, "-m", "uvicorn", "starlette_otel_app:app", "--app-dir",
             str(workdir), "--port", str(port), "--loop", "asyncio", "--http", "h11",
             "--no-access-log", "--log-level", "warning"],
            env(sinks[0]),
            port,
        )
    ]  # fmt: skip
    for number, kind in enumerate(("async", "sync"), start=1):
        port = free_port()
        found.append(
            Server(
                f"extkit {kind} + TracingExtension",
                # The same stack as the Starlette server (a default install would use uvloop).
                [sys.executable, "-m", "extkit", "start", str(workdir / f"extkit_traced_{kind}"),
                 "--port", str(port), "--log-format", "json", "--loop", "asyncio", "--http", "h11"],
                env(sinks[number], PYTHON_ENABLE_WORKER_EXTENSIONS="1",
                    EXTKIT_DISABLED_EXTENSIONS="timer"),
                port,
            )
        )  # fmt: skip
    return found


def _can_run(tool: str, option: str) -> bool:
    """Whether ``tool`` and the ASGI instrumentation are installed; says what is missing."""
    missing = []
    if shutil.which(tool) is None:
        missing.append(f"{tool} (apt-get install {tool})")
    try:
        import opentelemetry.instrumentation.asgi  # noqa: F401
    except ImportError:
        missing.append("opentelemetry-instrumentation-asgi (pip install)")
    if missing:
        print(f"bench_tracing {option}: needs {' and '.join(missing)}; skipped.", file=sys.stderr)
    return not missing


def over_http(args: argparse.Namespace) -> int:
    """Run the servers side by side in rotated rounds of wrk; print req/s and ratios."""
    from bench_http import cpus, run_rounds, started

    if not _can_run("wrk", "--http"):
        return 0
    server_cpu, wrk_cpu = cpus()
    if wrk_cpu is not None:  # the sinks run here: on wrk's CPU, not the servers'
        os.sched_setaffinity(0, {wrk_cpu})
    with tempfile.TemporaryDirectory(prefix="extkit-bench-tracing-") as tmp, ExitStack() as stack:
        sinks = [stack.enter_context(sink()) for _ in range(3)]
        measured = [
            stack.enter_context(started(server, server_cpu))
            for server in http_servers(Path(tmp), args.exporter, sinks)
        ]
        run_rounds(measured, args, wrk_cpu)
        exports = [sink.exports for sink in sinks]  # type: ignore[attr-defined]
    print(http_report(measured, exports, args, server_cpu is not None))
    target = statistics.median(
        run["rps"] / base["rps"]
        for run, base in zip(measured[1].runs, measured[0].runs, strict=True)
    )
    return 1 if args.check and target < TARGET_VS_ASGI_INSTRUMENTATION else 0


def instructions(args: argparse.Namespace) -> int:
    """Each server under callgrind (``bench_instructions.per_request``): the instructions one
    request costs it, the export thread included, the same on a busy machine as on a quiet
    one."""
    if not _can_run("valgrind", "--instructions"):
        return 0
    from bench_instructions import per_request as counted

    per_request: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="extkit-bench-tracing-") as tmp, ExitStack() as stack:
        sinks = [stack.enter_context(sink()) for _ in range(3)]
        for server in http_servers(Path(tmp), args.exporter, sinks):
            cost = counted(server, args.requests, Path(tmp))["instructions"]
            per_request.append((server.name, cost))
            print(f"{server.name}: {cost:,.0f} instructions/request", file=sys.stderr)
    base = per_request[0][1]
    lines = [
        f"Instructions per request (callgrind, one keep-alive connection); exporter "
        f"{args.exporter}; Python {platform.python_version()}, opentelemetry-sdk "
        f"{_installed('opentelemetry-sdk')}.",
        "",
        "| server | instructions/request | ratio |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {cost:,.0f} | {base / cost:.2f}x |" for name, cost in per_request]
    print("\n".join(lines))
    return 1 if args.check and base / per_request[1][1] < TARGET_VS_ASGI_INSTRUMENTATION else 0


def http_report(
    measured: list[Any], exports: list[int], args: argparse.Namespace, pinned: bool
) -> str:
    base = measured[0]
    with_cpu = all("cpu_us" in run for server in measured for run in server.runs)
    lines = [
        f"`wrk -t{args.threads} -c{args.connections} -d{args.duration}s`, {args.rounds} rotated "
        f"rounds, medians; exporter {args.exporter}; "
        + ("servers on one CPU, wrk on the other; " if pinned else "no CPU pinning; ")
        + f"Python {platform.python_version()}, opentelemetry-sdk "
        f"{_installed('opentelemetry-sdk')}, opentelemetry-instrumentation-asgi "
        f"{_installed('opentelemetry-instrumentation-asgi')}.",
        "",
        "| server | req/s | ratio | p50 / p99 ms | errors | exports received"
        + (" | server CPU µs/request | CPU ratio |" if with_cpu else " |"),
        "|---|---:|---:|---|---:|---:|" + ("---:|---:|" if with_cpu else ""),
    ]
    for server, received in zip(measured, exports, strict=True):
        pairs = list(zip(server.runs, base.runs, strict=True))
        ratio = statistics.median(run["rps"] / ref["rps"] for run, ref in pairs)
        rps = statistics.median(run["rps"] for run in server.runs)
        p50 = statistics.median(run["p50"] for run in server.runs)
        p99 = statistics.median(run["p99"] for run in server.runs)
        errors = sum(run["errors"] for run in server.runs)
        line = (
            f"| {server.name} | {rps:,.0f} | {ratio:.2f}x | {p50:.1f} / {p99:.1f} | {errors:.0f} "
            f"| {received if args.exporter == 'otlp' else '-'} |"
        )
        if with_cpu:
            cpu_us = statistics.median(run["cpu_us"] for run in server.runs)
            cpu_ratio = statistics.median(ref["cpu_us"] / run["cpu_us"] for run, ref in pairs)
            line += f" {cpu_us:,.0f} | {cpu_ratio:.2f}x |"
        lines.append(line)
    lines += [
        "",
        f"Target: extkit async + TracingExtension >= {TARGET_VS_ASGI_INSTRUMENTATION}x the "
        "requests/s of Starlette + OpenTelemetry ASGI instrumentation. CPU ratio: the baseline's "
        "server CPU time per request over this server's, per round; on a machine shared with "
        "other work it holds up better than req/s.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--http",
        action="store_true",
        help="compare over HTTP with Starlette + OpenTelemetry's ASGI instrumentation (needs wrk)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="the --http servers' instructions per request, under callgrind (needs valgrind)",
    )
    parser.add_argument(
        "--requests", type=int, default=800, help="--instructions: requests counted (800)"
    )
    parser.add_argument(
        "--exporter",
        choices=("otlp", "drop"),
        default="otlp",
        help="--http: both servers export with OTLP/HTTP to a local sink (default) or drop spans",
    )
    parser.add_argument("--duration", type=int, default=5, help="--http: seconds per wrk run (5)")
    parser.add_argument("--warmup", type=int, default=2, help="--http: warm-up seconds (2)")
    parser.add_argument("--threads", type=int, default=2, help="--http: wrk threads (2)")
    parser.add_argument("--connections", type=int, default=64, help="--http: connections (64)")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds (default 21; 6 with --http)"
    )
    parser.add_argument("--sample-ms", type=float, default=40.0, help="ms per sample (default 40)")
    parser.add_argument(
        "--no-metrics", action="store_true", help="measure with the duration histogram off"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--wall-clock", action="store_true", help="time with perf_counter instead of CPU time"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    options = parser.parse_args(argv)
    if options.rounds is None:
        options.rounds = 6 if options.http else 21
    if options.instructions:
        return instructions(options)
    if options.http:
        return over_http(options)
    if options.rounds < 3:
        parser.error("--rounds must be at least 3")
    metrics = not options.no_metrics
    if options.wall_clock or time.get_clock_info("thread_time").resolution > 1e-6:
        clock, clock_name = time.perf_counter, "wall"
    else:
        clock, clock_name = time.thread_time, "thread CPU"
    sdk, variants = build_variants(metrics)
    measure(sdk, variants, options.rounds, options.sample_ms / 1000, clock)
    report = results(sdk, variants, metrics, clock_name)
    print(render(report))
    if options.json:
        with open(options.json, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
            out.write("\n")
    from extkit_tracing import TracingExtension

    TracingExtension.shutdown_app_level()
    return 1 if options.check and not report["met"] else 0


if __name__ == "__main__":
    sys.exit(main())
