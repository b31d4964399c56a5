"""Secrets never recorded: function keys are ``REDACTED`` in what extkit writes about a request.

A key reaches the host in the ``code`` query parameter or the ``x-functions-key`` header
(:mod:`extkit.keys`); neither may reach a log line or a span. extkit's log handler writes every
line through :func:`redact`, ``HttpRequest``'s repr shows its URL through it, and the tracing
extension records ``url.query`` through :func:`redact_query` and failure messages through
:func:`redact`. So a function that logs its request, or fails with its URL in the message, does
not write a key either. Signed-URL credentials (the parameters the OpenTelemetry HTTP conventions
list for ``url.query``) are redacted the same way.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote_plus

from .keys import KEY_HEADER, KEY_QUERY_PARAMETER

__all__ = ["REDACTED", "SECRET_QUERY_PARAMETERS", "redact", "redact_query"]

#: What stands in for a secret.
REDACTED: Final = "REDACTED"
#: Query parameters whose values are credentials, lower-cased: the function key, and those the
#: HTTP conventions list for signed URLs (``url.query``: "SHOULD be redacted ... REDACTED").
SECRET_QUERY_PARAMETERS: Final = frozenset(
    {KEY_QUERY_PARAMETER, "awsaccesskeyid", "signature", "sig", "x-goog-signature"}
)

#: A URL's query string inside free text: from ``?`` up to whitespace, a quote, ``\`` (a JSON
#: escape) or ``#``.
_QUERY_IN_TEXT: Final = re.compile(r"\?([^\s\"'<>\\#]+)")
#: The key header's value inside free text: ``x-functions-key: v``, ``'x-functions-key': 'v'``,
#: ``"x-functions-key":"v"`` (also JSON-escaped), ``x-functions-key=v``.
_HEADER_IN_TEXT: Final = re.compile(
    rf"({re.escape(KEY_HEADER)}\\?['\"]?\s*[:=]\s*\\?['\"]?)[^\s'\"\\,;&}}]+", re.IGNORECASE
)


def redact_query(query: str) -> str:
    """``query`` (without its ``?``) with the value of every credential parameter replaced by
    ``REDACTED``.

    Names are compared as the host reads them (percent- and plus-decoded), in any case, so no
    spelling that opens a function keeps its key.
    """
    parts = query.split("&")
    for index, part in enumerate(parts):
        name, equals, _ = part.partition("=")
        if not equals:
            continue
        read = unquote_plus(name) if "%" in name or "+" in name else name
        if read.lower() in SECRET_QUERY_PARAMETERS:
            parts[index] = f"{name}={REDACTED}"
    return "&".join(parts)


def redact(text: str) -> str:
    """``text`` (a log line, a message, a URL) with the credentials in every query string in it
    and every ``x-functions-key`` value it quotes replaced by ``REDACTED``.

    Cheap for the usual line, which has neither a ``?`` nor the header's name.
    """
    if "?" in text:
        text = _QUERY_IN_TEXT.sub(_redacted_query, text)
    if "unctions-" in text or "UNCTIONS-" in text:  # x-functions-key in its usual spellings
        text = _HEADER_IN_TEXT.sub(rf"\1{REDACTED}", text)
    return text


def _redacted_query(found: re.Match[str]) -> str:
    return "?" + redact_query(found.group(1))
