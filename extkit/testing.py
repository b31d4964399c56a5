"""Test helpers for extension authors, shipped as a pytest plugin (``-p extkit.testing`` is
automatic once extkit is installed).

Test an extension the way the host runs it: define it inside an isolated registry, load a function
through a real :class:`~extkit.Engine`, invoke it, and look at the result and the log records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from .context import Context, RetryContext, TraceContext
from .correlation import install_record_factory
from .engine import Engine
from .registry import Registry, isolated_registry

__all__ = [
    "CapturedLogs",
    "capture_logs",
    "extkit_engine",
    "extkit_logs",
    "extkit_registry",
    "make_context",
]


@dataclass
class CapturedLogs:
    """Log records captured while a block ran, with the correlation fields extkit stamps."""

    records: list[logging.LogRecord] = field(default_factory=list)

    def messages(self, logger: str | None = None) -> list[str]:
        return [
            record.getMessage()
            for record in self.records
            if logger is None or record.name == logger or record.name.startswith(logger + ".")
        ]

    def for_invocation(self, invocation_id: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, "invocation_id", None) == invocation_id]


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self._sink.append(record)


@contextmanager
def capture_logs(level: int = logging.DEBUG) -> Iterator[CapturedLogs]:
    """Capture every log record (stdlib and structlog-through-stdlib) made inside the block."""
    install_record_factory()
    captured = CapturedLogs()
    handler = _ListHandler(captured.records)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def make_context(
    function_name: str = "test_function",
    *,
    function_directory: str = "",
    invocation_id: str | None = None,
    trace_parent: str | None = None,
    trace_state: str | None = None,
    retry_count: int = 0,
    max_retry_count: int = 0,
    trigger: str = "other",
) -> Context:
    """A ``Context`` as the host would build it, for calling hooks or functions directly."""
    return Context(
        function_name,
        function_directory,
        invocation_id=invocation_id,
        trace_context=TraceContext(trace_parent, trace_state),
        retry_context=RetryContext(retry_count, max_retry_count),
        trigger=trigger,
    )


@pytest.fixture
def extkit_registry() -> Iterator[Registry]:
    """A fresh registry: extensions defined in the test register here and vanish afterwards."""
    with isolated_registry() as registry:
        yield registry


@pytest.fixture
def extkit_engine(extkit_registry: Registry) -> Engine:
    """An engine over the test's isolated registry, with the extensions gate on."""
    return Engine(registry=extkit_registry, enabled=True)


@pytest.fixture
def extkit_logs() -> Iterator[CapturedLogs]:
    """Log records made during the test, each with ``invocation_id`` and ``function_name``."""
    with capture_logs() as captured:
        yield captured
