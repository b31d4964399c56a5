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
    "SettingWarning",
    "gate_hint",
    "parse_truthy",
    "resolve_truthy",
]

#: The variable that switches extension hooks on, named as in the reference system.
EXTENSIONS_GATE: Final = "PYTHON_ENABLE_WORKER_EXTENSIONS"

TRUE_LIKE: Final = frozenset({"1", "true", "t", "yes", "y"})
FALSE_LIKE: Final = frozenset({"0", "false", "f", "no", "n"})


class SettingWarning(RuntimeWarning):
    """A setting's value is not understood; the message names the variable, the value and the
    accepted spellings in one line (the command line prints it as that one line)."""


def gate_hint(value: str | None, *, from_environment: bool) -> str:
    """How to turn the extensions gate on, true to where its value comes from: a variable set
    in the process environment overrides ``local.settings.json``'s ``Values``."""
    if from_environment:
        return (
            f"{EXTENSIONS_GATE} is {value!r} in the environment, which overrides "
            "local.settings.json: set it to 1 there, or unset it"
        )
    if value is not None:
        return (
            f'local.settings.json sets {EXTENSIONS_GATE} to {value!r}: make it "1" in its '
            "Values (the environment overrides local.settings.json)"
        )
    return (
        f"set {EXTENSIONS_GATE}=1 in local.settings.json Values or in the environment (the "
        "environment overrides local.settings.json)"
    )


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
            SettingWarning,
            stacklevel=2,
        )
        return default
    return parsed
