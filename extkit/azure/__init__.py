"""Code written for Azure Functions, with extkit (``pip install "extkit[azure]"``).

- :func:`enable`: inside Azure's own Python worker, run extkit's engine (and every registered
  extension) around each invocation it makes.
"""

from __future__ import annotations

from ._runtime import enable

__all__ = ["enable"]
