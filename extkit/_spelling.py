"""'Did you mean ...?': one matcher for every misspelt name extkit reports.

Hook names, settings keys, binding types and extension names are all suggested the same way, so
a near miss is caught with the same judgement everywhere. Names are compared ignoring case (the
reference's settings files are read case-insensitively; extkit tells the exact spelling) unless
the caller says case matters (Python names).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Final

__all__ = ["closest", "did_you_mean"]

#: How alike a name must be to be suggested. High, because a wrong suggestion misleads more
#: than none: ``queueTrigger`` is a real binding type, not a misspelt ``timerTrigger``.
CUTOFF: Final = 0.8


def closest(
    word: str, choices: Iterable[str], *, cutoff: float = CUTOFF, fold_case: bool = True
) -> str | None:
    """The choice ``word`` most likely misspells, spelt as the choice is; ``None`` if none is."""

    def key(name: str) -> str:
        return name.casefold() if fold_case else name

    spelt: dict[str, str] = {}
    for choice in choices:
        spelt.setdefault(key(choice), choice)
    found = difflib.get_close_matches(key(word), list(spelt), n=1, cutoff=cutoff)
    return spelt[found[0]] if found else None


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = CUTOFF) -> str:
    """``" (did you mean 'x'?)"`` for the nearest choice, or ``""``: to put after the name."""
    found = closest(word, choices, cutoff=cutoff)
    return "" if found is None else f" (did you mean {found!r}?)"
