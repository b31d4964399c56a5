"""Shared fixtures for extkit's own tests.

The ``extkit_registry``, ``extkit_engine`` and ``extkit_logs`` fixtures come from extkit's pytest
plugin (:mod:`extkit.testing`), so these tests use the same helpers extension authors do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from extkit import correlation
from extkit._settings import EXTENSIONS_GATE


@pytest.fixture(autouse=True)
def _no_gate_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set the extensions gate explicitly; a value exported in the shell must not leak in."""
    monkeypatch.delenv(EXTENSIONS_GATE, raising=False)


@pytest.fixture
def no_invocation_outlives_the_test() -> Iterator[None]:
    """Every invocation the test starts has ended by the time it is over (none leaks)."""
    yield
    assert correlation.running_invocations == {}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo ``configure_logging``: root handlers and level, and structlog's global config."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()
