"""Function keys are ``REDACTED`` wherever extkit writes a request: one rule, in one place."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from extkit import HttpRequest
from extkit.logs import configure_logging, get_logger
from extkit.redaction import redact, redact_query


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name=Ada", "name=Ada"),
        ("code=k1", "code=REDACTED"),
        ("name=Ada&CODE=k1&co%64e=k2&c+o+d+e=x&sig=s", "name=Ada&CODE=REDACTED&co%64e=REDACTED&"
         "c+o+d+e=x&sig=REDACTED"),
        ("code", "code"),  # no value, nothing to hide
    ],
)  # fmt: skip
def test_redact_query_hides_credential_parameters_however_spelled(
    query: str, expected: str
) -> None:
    assert redact_query(query) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET http://h/api/x?name=Ada&code=k1 failed",
            "GET http://h/api/x?name=Ada&code=REDACTED failed",
        ),
        ('{"event":"at /x?code=k1#top"}', '{"event":"at /x?code=REDACTED#top"}'),
        ("{'x-functions-key': 'k1', 'a': 'b'}", "{'x-functions-key': 'REDACTED', 'a': 'b'}"),
        ('{\\"X-Functions-Key\\": \\"k1\\"}', '{\\"X-Functions-Key\\": \\"REDACTED\\"}'),
        ("x-functions-key: k1", "x-functions-key: REDACTED"),
        ("is it? yes=1, code=2", "is it? yes=1, code=2"),  # no URL: left alone
    ],
)
def test_redact_finds_keys_in_free_text(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_requests_repr_hides_its_key() -> None:
    request = HttpRequest("GET", "http://h/api/x?code=k1&name=Ada")
    assert repr(request) == "HttpRequest(method='GET', url='http://h/api/x?code=REDACTED&name=Ada')"
    assert request.url.endswith("code=k1&name=Ada")  # the function still reads it


@pytest.fixture
def written(restore_logging: None) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    yield stream


def test_no_log_line_holds_a_key_whoever_logs_it(written: io.StringIO) -> None:
    logging.getLogger("app").info("calling %s", "https://other/api/f?code=k1")
    get_logger("app").warning("headers %s", {"x-functions-key": "k1"})
    try:
        raise ValueError("upstream https://other/api/f?code=k1 failed")
    except ValueError:
        logging.getLogger("app").exception("failed")
    text = written.getvalue()
    # Four: the traceback shows the raising line as well as the message.
    assert "k1" not in text and text.count("REDACTED") == 4
