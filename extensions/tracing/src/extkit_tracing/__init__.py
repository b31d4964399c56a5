"""extkit-tracing: one OpenTelemetry span (and a duration metric) per function invocation.

Installing the package is enough: the extkit host imports it through the ``extkit.extensions``
entry point. ``TracingExtension.configure(...)`` in function code chooses the exporter and service
name; without it the standard ``OTEL_*`` environment variables decide.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("extkit-tracing")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

from .extension import TracingExtension

__all__ = ["TracingExtension", "__version__"]
