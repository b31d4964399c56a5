"""HTTP request and response objects and ``Out`` bindings, usable in unit tests without a host."""

from __future__ import annotations

import pytest

from extkit import HttpRequest, HttpResponse, Out
from extkit.http import Headers


def test_a_request_is_built_as_the_reference_guide_shows() -> None:
    req = HttpRequest(method="get", body=None, url="/api/HttpTrigger", params={"name": "Test"})
    assert req.method == "GET"
    assert req.url == "/api/HttpTrigger"
    assert req.params == {"name": "Test"}
    assert req.route_params == {}
    assert req.get_body() == b""


def test_request_headers_are_case_insensitive_and_keep_their_spelling() -> None:
    req = HttpRequest("POST", "/api/x", headers={"Content-Type": "application/json"})
    assert req.headers["content-type"] == "application/json"
    assert list(req.headers) == ["Content-Type"]
    assert "CONTENT-TYPE" in req.headers
    assert "Accept" not in req.headers
    assert 1 not in req.headers  # type: ignore[comparison-overlap]  # not a name: not there


def test_request_get_json_parses_the_body() -> None:
    req = HttpRequest("POST", "/api/x", body='{"name": "Ada"}', route_params={"id": 7})
    assert req.get_json() == {"name": "Ada"}
    assert req.get_body() == b'{"name": "Ada"}'
    assert req.route_params == {"id": 7}


@pytest.mark.parametrize("body", [None, "not json", b"\xff\xfe"])
def test_request_get_json_of_a_body_that_is_not_json_raises_value_error(
    body: str | bytes | None,
) -> None:
    with pytest.raises(ValueError, match="HTTP request body is not valid JSON"):
        HttpRequest("POST", "/api/x", body=body).get_json()


@pytest.mark.parametrize(
    "body",
    ["[" * 100_000, '{"a":' * 100_000, "[" * 100_000 + "]" * 100_000],
    ids=["open-lists", "open-objects", "closed-lists"],
)
def test_request_get_json_of_a_body_nested_too_deeply_raises_value_error(body: str) -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        HttpRequest("POST", "/api/x", body=body).get_json()


def test_a_request_body_of_another_type_is_rejected() -> None:
    with pytest.raises(TypeError, match="str or bytes, got int"):
        HttpRequest("POST", "/api/x", body=42)  # type: ignore[arg-type]


def test_a_response_body_is_bytes_with_status_headers_mimetype_and_charset() -> None:
    resp = HttpResponse("Hello, Ada", status_code=201, headers={"X-Id": "1"})
    assert resp.get_body() == b"Hello, Ada"
    assert resp.status_code == 201
    assert resp.headers["x-id"] == "1"
    assert resp.mimetype == "text/plain"
    assert resp.charset == "utf-8"
    assert HttpResponse(b"\x00").mimetype == "application/octet-stream"
    assert HttpResponse().get_body() == b""
    latin = HttpResponse("é", charset="latin-1", mimetype="text/html")
    assert (latin.get_body(), latin.mimetype) == (b"\xe9", "text/html")


def test_a_response_body_given_as_a_bytearray_is_bytes() -> None:
    body = bytearray(b"raw")
    resp = HttpResponse(body)
    body.extend(b" changed later")
    assert (type(resp.get_body()), resp.get_body()) == (bytes, b"raw")


def test_headers_from_items_keep_every_value_as_add_header_does() -> None:
    pairs = [("Set-Cookie", "a=1"), ("Content-Type", "text/plain"), ("set-cookie", "b=2")]
    built = Headers.from_items(pairs)
    added = Headers()
    for name, value in pairs:
        added.add_header(name, value)
    assert built.all_items() == added.all_items()
    assert built.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert list(built) == ["Set-Cookie", "Content-Type"]
    assert Headers.from_items([("X-Count", 3)]).all_items() == [("X-Count", "3")]  # type: ignore[list-item]


def test_append_body_and_set_body_encode_with_the_response_charset() -> None:
    resp = HttpResponse("Hello", charset="latin-1")
    resp.append_body(" (TimeElapsed: 0.1 sec)")
    resp.append_body(b"!")
    resp.append_body(" à")
    assert resp.get_body() == b"Hello (TimeElapsed: 0.1 sec)! \xe0"
    resp.set_body("café")
    assert resp.get_body() == "café".encode("latin-1")


def test_set_header_adds_or_replaces_case_insensitively() -> None:
    resp = HttpResponse("x", headers={"Server-Timing": "a"})
    resp.set_header("server-timing", "b")
    assert dict(resp.headers) == {"server-timing": "b"}


def test_out_holds_the_value_set_for_an_output_binding() -> None:
    out: Out[str] = Out()
    assert out.get() is None
    out.set("queued message")
    assert out.get() == "queued message"
