"""Shared vocabulary: the small types every other module speaks in."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["FunctionInfo", "Layout", "Lifespan", "Scope"]

Scope = Literal["app", "function"]
#: How the app declares its functions: a folder with ``function.json`` each, the decorator model
#: (``function_app.py``), or plain callables handed to the engine (tests, embedding).
Layout = Literal["folder", "decorator", "plain"]


class Lifespan(Protocol):
    """Something a function needs started before it serves and stopped when the host stops (the
    ASGI lifespan of a web framework behind ``AsgiFunctionApp``). Both are idempotent: the host
    calls them once per process, and a function may start it on its first request."""

    async def startup(self) -> None: ...

    async def shutdown(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    """What the engine knows about a loaded function, independent of how it was declared."""

    name: str
    directory: str = ""
    source_file: str | None = None
    trigger: str = "other"
    layout: Layout = "plain"
    is_async: bool = False
    bindings: tuple[dict[str, Any], ...] = field(default=())
    #: HTTP functions: the full route template with the host's prefix, ``/api/items/{id:int}``.
    route: str | None = None

    def defined_in(self, path: str) -> bool:
        """Whether ``path`` is the file that defines this function."""
        if self.source_file is None:
            return False
        return os.path.normcase(os.path.abspath(self.source_file)) == os.path.normcase(
            os.path.abspath(path)
        )
