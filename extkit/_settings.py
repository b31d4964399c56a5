"""One place that turns code settings, environment variables and defaults into a value.

Every extkit setting resolves the same way: an explicit value given in code beats the environment,
which beats the default. Keeping the rule in one helper means no module grows its own variant.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Final

__all__ = [
    "EXTENSIONS_GATE",
    "FALSE_LIKE",
    "TRUE_LIKE",
    "parse_truthy",
    "resolve_truthy",
]

#: The variable that switches extension hooks on, named as in the reference system.
EXTENSIONS_GATE: Final = "PYTHON_ENABLE_WORKER_EXTENSIONS"

TRUE_LIKE: Final = frozenset({"1", "true", "t", "yes", "y"})
FALSE_LIKE: Final = frozenset({"0", "false", "f", "no", "n"})


def parse_truthy(value: str) -> bool | None:
    """``True``/``False`` for a recognised spelling, ``None`` for anything else."""
    folded = value.strip().lower()
    if folded in TRUE_LIKE:
        return True
    if folded in FALSE_LIKE:
        return False
    return None


def resolve_truthy(
    name: str,
    explicit: bool | None = None,
    *,
    default: bool = False,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Resolve a boolean setting: ``explicit`` > environment variable ``name`` > ``default``.

    An unrecognised environment value is not silently treated as unset: it warns, naming the
    variable, the value and the accepted spellings, and then the default applies.
    """
    if explicit is not None:
        return explicit
    env = os.environ if environ is None else environ
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    parsed = parse_truthy(raw)
    if parsed is None:
        warnings.warn(
            f"{name}={raw!r} is not a recognised boolean; use one of "
            f"{', '.join(sorted(TRUE_LIKE))} or {', '.join(sorted(FALSE_LIKE))}. "
            f"Using the default ({'on' if default else 'off'}).",
            RuntimeWarning,
            stacklevel=2,
        )
        return default
    return parsed
