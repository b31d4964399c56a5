"""What a response must be to go on the wire: the HTTP grammar the server enforces.

uvicorn's HTTP/1.1 implementations refuse a status outside 200-599 or a header that is not
``token: field-value`` (RFC 9110, 5.1 and 5.5) by dropping the connection, so the host checks a
function's response first and answers 500 instead, with a reason for the log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

__all__ = ["response_problem"]

_name_ok: Final = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+").fullmatch
_VCHAR: Final = rb"[\x21-\x7e\x80-\xff]"
_value_ok: Final = re.compile(rb"(?:%s+(?:[ \t]+%s+)*)?" % (_VCHAR, _VCHAR)).fullmatch


#: Header names found valid: an app answers with the same few names again and again. Bounded,
#: as the names are the app's to choose.
_valid_names: Final[set[bytes]] = set()


def response_problem(status: object, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why a response with this status and these encoded headers is not valid HTTP, or ``None``.

    1xx is refused too: an informational status is not a final answer to a request."""
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        return f"its status code {status!r} is not a number from 200 to 599"
    for name, value in headers:
        if name not in _valid_names:
            if _name_ok(name) is None:
                return f"its header name {name.decode('latin-1')!r} is not an HTTP token"
            if len(_valid_names) < 256:
                _valid_names.add(name)
        if _value_ok(value) is None:
            return (
                f"its header {name.decode('latin-1')} has a value HTTP cannot carry (a line "
                "break, a control character, or whitespace at either end)"
            )
    return None
