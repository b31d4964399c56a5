"""Code written for Azure Functions, on extkit (``pip install "extkit[azure]"``).

Apps written against ``azure.functions`` run on extkit's host unchanged, and so do extensions
written against ``azure.functions.AppExtensionBase`` / ``FuncExtensionBase``. The loader and the
bindings call into this package only once an app has imported ``azure.functions``; importing
``extkit.azure`` itself does not need that library.
"""

from __future__ import annotations

__all__: list[str] = []
