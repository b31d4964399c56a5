"""The extensions gate: explicit code settings beat the environment, which beats the default."""

from __future__ import annotations

import pytest

from extkit import Engine
from extkit._settings import EXTENSIONS_GATE, parse_truthy, resolve_truthy

TRUE_LIKE = ["1", "true", "t", "yes", "y", "TRUE", "True", "T", "YES", "Y", " yes "]
FALSE_LIKE = ["0", "false", "f", "no", "n", "FALSE", "False", "F", "NO", "N", " no "]


@pytest.mark.parametrize("value", TRUE_LIKE)
def test_true_like_values_switch_the_gate_on(value: str) -> None:
    assert parse_truthy(value) is True
    assert resolve_truthy(EXTENSIONS_GATE, environ={EXTENSIONS_GATE: value}) is True


@pytest.mark.parametrize("value", FALSE_LIKE)
def test_false_like_values_switch_the_gate_off(value: str) -> None:
    assert parse_truthy(value) is False
    assert resolve_truthy(EXTENSIONS_GATE, default=True, environ={EXTENSIONS_GATE: value}) is False


@pytest.mark.parametrize("value", ["on", "enabled", "2", "yes please"])
def test_an_unrecognised_value_warns_naming_it_and_the_default_applies(value: str) -> None:
    assert parse_truthy(value) is None
    with pytest.warns(RuntimeWarning) as warned:
        assert resolve_truthy(EXTENSIONS_GATE, environ={EXTENSIONS_GATE: value}) is False
    message = str(warned[0].message)
    assert EXTENSIONS_GATE in message
    assert repr(value) in message


@pytest.mark.parametrize("environ", [{}, {EXTENSIONS_GATE: ""}, {EXTENSIONS_GATE: "  "}])
def test_the_gate_is_off_by_default(environ: dict[str, str]) -> None:
    assert resolve_truthy(EXTENSIONS_GATE, environ=environ) is False


def test_an_explicit_setting_beats_the_environment() -> None:
    assert resolve_truthy(EXTENSIONS_GATE, False, environ={EXTENSIONS_GATE: "1"}) is False
    assert resolve_truthy(EXTENSIONS_GATE, True, environ={EXTENSIONS_GATE: "0"}) is True
    assert resolve_truthy(EXTENSIONS_GATE, True, environ={EXTENSIONS_GATE: "junk"}) is True


def test_the_engine_reads_the_gate_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Engine().enabled is False
    monkeypatch.setenv(EXTENSIONS_GATE, "Yes")
    assert Engine().enabled is True
    monkeypatch.setenv(EXTENSIONS_GATE, "n")
    assert Engine().enabled is False


def test_the_engine_s_explicit_enabled_beats_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(EXTENSIONS_GATE, "1")
    assert Engine(enabled=False).enabled is False
    monkeypatch.setenv(EXTENSIONS_GATE, "0")
    assert Engine(enabled=True).enabled is True


def test_the_engine_warns_about_an_unrecognised_gate_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(EXTENSIONS_GATE, "sure")
    with pytest.warns(RuntimeWarning, match=f"{EXTENSIONS_GATE}='sure'"):
        engine = Engine()
    assert engine.enabled is False
