"""Code written for Azure Functions, on extkit (``pip install "extkit[azure]"``).

Apps written against ``azure.functions`` run on extkit's host unchanged, and so do extensions
written against ``azure.functions.AppExtensionBase`` / ``FuncExtensionBase``. The loader and the
bindings call into this package only once an app has imported ``azure.functions``; importing
``extkit.azure`` itself does not need that library.

- :func:`enable`: inside Azure's own Python worker, run extkit's engine (extkit's extensions and
  Azure-written ones) around each invocation it makes: ``extkit.azure.enable(app)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._runtime import enable

__all__ = ["enable"]


def __getattr__(name: str) -> Any:
    # Imported on first use: it needs azure.functions, which importing this package does not.
    if name == "enable":
        from ._runtime import enable

        return enable
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
