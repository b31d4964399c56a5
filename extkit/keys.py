"""Function and admin keys: who may call HTTP functions whose ``authLevel`` is not anonymous.

Keys come from the environment (or ``local.settings.json`` ``Values``, which become environment
variables when the app loads)::

    EXTKIT_FUNCTION_KEY=k1,k2     keys for authLevel "function" (comma-separated, for rotation)
    EXTKIT_ADMIN_KEY=secret       keys for authLevel "admin"; they open "function" functions too

Enforcement follows the configuration: with at least one key configured, a request to a
``function`` or ``admin`` function must present a valid key, in the ``code`` query parameter or the
``x-functions-key`` header, or it gets 401. With no key configured the host runs in local
development mode: keys are not checked, and the host says so at startup. ``anonymous`` functions
are always open.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ADMIN_KEY_ENV",
    "AUTH_LEVELS",
    "FUNCTION_KEY_ENV",
    "KEY_HEADER",
    "KEY_QUERY_PARAMETER",
    "Keys",
]

FUNCTION_KEY_ENV: Final = "EXTKIT_FUNCTION_KEY"
ADMIN_KEY_ENV: Final = "EXTKIT_ADMIN_KEY"
KEY_HEADER: Final = "x-functions-key"
KEY_QUERY_PARAMETER: Final = "code"
AUTH_LEVELS: Final = ("anonymous", "function", "admin")


def _split(raw: str | None) -> tuple[str, ...]:
    return tuple(key.strip() for key in (raw or "").split(",") if key.strip())


@dataclass(frozen=True, slots=True)
class Keys:
    """The configured keys; :meth:`allows` decides one request."""

    function_keys: tuple[str, ...] = ()
    admin_keys: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Keys:
        """The keys in the environment. A key variable that is set but holds no key (``""``,
        ``"  "``, ``","``) is a ``ValueError`` naming it: read as "no keys", it would turn
        enforcement off for every function."""
        found = {name: _split(environ.get(name)) for name in (FUNCTION_KEY_ENV, ADMIN_KEY_ENV)}
        for name, keys in found.items():
            if name in environ and not keys:
                raise ValueError(
                    f"{name} is set to {environ[name]!r}, which holds no key: set it to one or "
                    "more comma-separated keys, or unset it"
                )
        return cls(found[FUNCTION_KEY_ENV], found[ADMIN_KEY_ENV])

    @property
    def enforced(self) -> bool:
        """Keys are checked once any key is configured; otherwise local development mode."""
        return bool(self.function_keys or self.admin_keys)

    def allows(self, auth_level: str, presented: str | None) -> bool:
        """Whether a request presenting ``presented`` may call a function of ``auth_level``."""
        if auth_level == "anonymous" or not self.enforced:
            return True
        if not presented:
            return False
        candidates = (
            self.admin_keys if auth_level == "admin" else self.admin_keys + self.function_keys
        )
        # Compare with every key, in constant time each, so timing tells nothing about a key.
        found = False
        for key in candidates:
            found |= hmac.compare_digest(key.encode(), presented.encode())
        return found

    def describe(self) -> str:
        """One line for the startup report; never shows a key."""
        if not self.enforced:
            return (
                f"keys are not enforced (local development mode): set {FUNCTION_KEY_ENV} and/or "
                f"{ADMIN_KEY_ENV} to require them"
            )
        return (
            f"keys are enforced: {len(self.function_keys)} function key(s), "
            f"{len(self.admin_keys)} admin key(s); pass one as ?{KEY_QUERY_PARAMETER}= or in the "
            f"{KEY_HEADER} header"
        )
