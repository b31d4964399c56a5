"""Reading an app's files for the loader, so every problem names the file (and line) it is in.

The loader collects problems instead of raising at the first one (an app owner fixes them all in
one go); these helpers append to that list and say where, as the app owner sees the path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["read_json_object", "shown"]


def shown(path: Path) -> str:
    """A path as error messages show it: relative to the working directory when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative


def read_json_object(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """The JSON object in ``path``; ``None`` (with a problem naming file, line and column) if it
    cannot be read or is not an object."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{shown(path)}: cannot be read ({exc})")
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(
            f"{shown(path)}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})"
        )
        return None
    if not isinstance(data, dict):
        problems.append(f"{shown(path)}: expected a JSON object {{...}}, got {type(data).__name__}")
        return None
    return data
