"""The real OTLP exporters, chosen by configure() or the OTEL_* variables, decoded on arrival."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from extkit_tracing import TracingExtension
from extkit_tracing._export import Options, exporter_names, metric_exporter_names, otlp_protocol
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from otlp_receiver import OTLPReceiver, running_grpc_receiver, running_receiver

from extkit import Engine


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with running_receiver() as running:
        yield running


def invoke_a_few(engine: Engine, name: str, count: int = 3) -> None:
    loaded = engine.load(lambda: "ok", name=name)
    for _ in range(count):
        loaded.invoke({}, loaded.new_context())


def test_configure_otlp_endpoint_sends_spans_and_metrics(
    engine: Engine, receiver: OTLPReceiver
) -> None:
    TracingExtension.configure(service_name="orders", exporter="otlp", endpoint=receiver.url)
    invoke_a_few(engine, "Exported")
    TracingExtension.shutdown_app_level()  # what the host does on SIGTERM

    assert receiver.wait_for(lambda r: len(r.spans_named("Exported")) == 3)
    span = receiver.spans_named("Exported")[0]
    assert span.kind == "SPAN_KIND_SERVER"
    assert span.resource["service.name"] == "orders"
    assert span.scope == "extkit_tracing"
    assert span.attributes["faas.name"] == "Exported"
    assert receiver.wait_for(
        lambda r: any(p.name == "faas.invoke_duration" and p.count == 3 for p in r.histograms)
    )
    point = next(p for p in receiver.histograms if p.name == "faas.invoke_duration")
    assert point.unit == "s" and point.attributes == {"faas.trigger": "other"}
    assert point.resource["service.name"] == "orders"


def test_standard_variables_choose_otlp_http(
    engine: Engine, receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "env-service")
    TracingExtension.configure()
    invoke_a_few(engine, "FromEnv", count=2)
    TracingExtension.shutdown_app_level()
    assert receiver.wait_for(lambda r: len(r.spans_named("FromEnv")) == 2)
    assert receiver.spans_named("FromEnv")[0].resource["service.name"] == "env-service"


def test_otlp_over_grpc(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_grpc_receiver() as receiver:
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        TracingExtension.configure(service_name="over-grpc")
        invoke_a_few(engine, "OverGrpc", count=2)
        TracingExtension.shutdown_app_level()
        assert receiver.wait_for(lambda r: len(r.spans_named("OverGrpc")) == 2)
        assert receiver.spans_named("OverGrpc")[0].resource["service.name"] == "over-grpc"
        assert receiver.wait_for(
            lambda r: any(p.name == "faas.invoke_duration" and p.count == 2 for p in r.histograms)
        )


def test_an_endpoint_variable_alone_turns_otlp_on(
    engine: Engine, receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    TracingExtension.configure()
    invoke_a_few(engine, "EndpointOnly", count=1)
    TracingExtension.shutdown_app_level()
    assert receiver.wait_for(lambda r: len(r.spans_named("EndpointOnly")) == 1)


def test_explicit_choice_beats_the_environment(
    engine: Engine, receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    TracingExtension.configure(exporter="none")
    invoke_a_few(engine, "NotExported", count=2)
    TracingExtension.shutdown_app_level()
    assert receiver.requests == 0


def test_console_exporter(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    TracingExtension.configure(exporter="console", metrics=False)
    invoke_a_few(engine, "Printed", count=1)
    TracingExtension.shutdown_app_level()
    out = capsys.readouterr().out
    assert '"name": "Printed"' in out and '"faas.trigger": "other"' in out


def test_exporter_instance(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    TracingExtension.configure(exporter=ConsoleSpanExporter(out=sys.stdout), metrics=False)
    invoke_a_few(engine, "Instance", count=1)
    TracingExtension.shutdown_app_level()
    assert '"name": "Instance"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("options", "env", "traces", "metrics"),
    [
        (Options(), {}, (), ()),
        (Options(), {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x"}, ("otlp",), ("otlp",)),
        (Options(), {"OTEL_TRACES_EXPORTER": "console,otlp"}, ("console", "otlp"),
         ("console", "otlp")),
        (Options(), {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "none"},
         ("otlp",), ()),
        (Options(exporter="console"), {"OTEL_TRACES_EXPORTER": "otlp"}, ("console",), ("console",)),
        (Options(exporter="otlp", metric_exporter="console"), {}, ("otlp",), ("console",)),
        (Options(exporter=ConsoleSpanExporter()), {}, (), ()),
        (Options(), {"OTEL_TRACES_EXPORTER": "none"}, (), ()),
    ],
)  # fmt: skip
def test_exporter_resolution(
    options: Options, env: dict[str, str], traces: tuple[str, ...], metrics: tuple[str, ...]
) -> None:
    assert exporter_names(options, env) == traces
    assert metric_exporter_names(options, env, traces) == metrics


def test_protocol_resolution() -> None:
    assert otlp_protocol(Options(), {}, "traces") == "http/protobuf"
    assert otlp_protocol(Options(), {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "traces") == "grpc"
    per_signal = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
    }
    assert otlp_protocol(Options(), per_signal, "traces") == "http/protobuf"
    assert otlp_protocol(Options(protocol="grpc"), per_signal, "traces") == "grpc"


def test_bad_environment_values_are_named() -> None:
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER: unsupported exporter 'zipkin'"):
        exporter_names(Options(), {"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ValueError, match=r"OTEL_EXPORTER_OTLP_PROTOCOL: .*'http/json'"):
        otlp_protocol(Options(), {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "traces")


def test_a_bad_setting_is_reported_once_and_invocations_go_on(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    TracingExtension.configure()
    loaded = engine.load(lambda: "still served", name="Misconfigured")
    assert loaded.invoke({}, loaded.new_context()) == "still served"
    assert loaded.invoke({}, loaded.new_context()) == "still served"
    reports = [r for r in caplog.records if "unsupported exporter 'zipkin'" in r.getMessage()]
    assert len(reports) == 1
    assert reports[0].name == "extkit.extensions.TracingExtension"
    assert "OTEL_TRACES_EXPORTER" in reports[0].getMessage()
