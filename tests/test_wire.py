"""What a response must be to go on the wire (``extkit.wire``)."""

from __future__ import annotations

import pytest

from extkit.wire import response_problem


@pytest.mark.parametrize("status", [199, 600, True, "200"])
def test_a_status_outside_200_to_599_is_named(status: object) -> None:
    assert response_problem(status, []) == (
        f"its status code {status!r} is not a number from 200 to 599"
    )


def test_each_header_is_judged_on_its_own_however_often_a_name_was_seen() -> None:
    good = [(b"x-name", b"value"), (b"content-type", b"text/plain")]
    for _ in range(3):
        assert response_problem(200, good) is None
        assert response_problem(200, [*good, (b"bad name", b"v")]) == (
            "its header name 'bad name' is not an HTTP token"
        )
        assert "has a value HTTP cannot carry" in str(
            response_problem(200, [(b"x-name", b"line\r\nbreak")])
        )
