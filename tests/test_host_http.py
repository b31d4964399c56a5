"""``extkit start`` over real HTTP: routing, bindings, limits, headers (one host per module)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hostutil import HostProcess, running_host

APPS = Path(__file__).parent / "apps"


@pytest.fixture(scope="module")
def host() -> Iterator[HostProcess]:
    with running_host(APPS / "host_basic", "--log-format", "json") as running:
        yield running


def is_uuid(value: str | None) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def test_typed_route_parameter_arrives_converted(host: HostProcess) -> None:
    response = host.get("/api/items/42")
    assert response.status_code == 200
    assert response.json() == {"id": 42, "type": "int"}


def test_a_value_that_fits_no_constraint_is_404(host: HostProcess) -> None:
    assert host.get("/api/items/alpha").json() == {"name": "alpha", "method": "GET"}
    response = host.get("/api/items/4x2")
    assert response.status_code == 404
    assert is_uuid(response.headers["x-invocation-id"])


def test_unknown_path_is_404(host: HostProcess) -> None:
    assert host.get("/api/no/such/function").status_code == 404
    assert host.get("/items/42").status_code == 404  # the route prefix is required


def test_the_root_says_where_the_functions_are(host: HostProcess) -> None:
    """A newcomer who opens http://127.0.0.1:7071/ learns the routes are under /api/."""
    response = host.get("/")
    assert response.status_code == 404
    assert response.text.startswith("Not Found: this extkit host serves its functions at /api/")
    assert "/api/items/{id:int}" in response.text
    assert host.get("/api/no/such/function").text == "Not Found"


def test_other_methods_get_405_with_allow(host: HostProcess) -> None:
    response = host.request("DELETE", "/api/items/42")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert is_uuid(response.headers["x-invocation-id"])
    assert host.post("/api/items/abc").json() == {"name": "abc", "method": "POST"}


def test_catch_all_route_and_query_parameters(host: HostProcess) -> None:
    response = host.get("/api/files/css/site.css", params={"v": "3", "empty": ""})
    assert response.json() == {"path": "css/site.css", "params": {"v": "3", "empty": ""}}


def test_json_body_round_trip(host: HostProcess) -> None:
    response = host.post("/api/echo", json={"item": "tea"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {"got": {"item": "tea"}}


def test_malformed_json_is_handled_by_the_function(host: HostProcess) -> None:
    response = host.post(
        "/api/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.text.startswith("bad JSON: HTTP request body is not valid JSON")


@pytest.mark.parametrize(
    ("path", "status", "content_type", "body"),
    [
        ("/api/text", 200, "text/plain; charset=utf-8", b"plain text"),
        ("/api/raw", 200, "application/octet-stream", b"\x00\x01\x02"),
        ("/api/nothing", 204, None, b""),
        ("/api/custom", 201, "text/plain; charset=utf-8", b"made"),
        ("/api/named", 202, "text/plain; charset=utf-8", b"from the named output"),
    ],
)
def test_return_values_and_named_outputs_become_responses(
    host: HostProcess, path: str, status: int, content_type: str | None, body: bytes
) -> None:
    response = host.get(path)
    assert response.status_code == status
    assert response.content == body
    if content_type is not None:
        assert response.headers["content-type"] == content_type
    assert is_uuid(response.headers["x-invocation-id"])


def test_response_headers_of_the_function_and_host_json_are_sent(host: HostProcess) -> None:
    response = host.get("/api/custom")
    assert response.headers["x-custom"] == "yes"
    assert response.headers["x-served-by"] == "extkit-tests"


def test_a_result_that_fits_no_response_is_500_and_logged(host: HostProcess) -> None:
    response = host.get("/api/wrong-type")
    assert response.status_code == 500
    invocation = response.headers["x-invocation-id"]
    line = host.wait_for_log(
        lambda r: r.get("invocation_id") == invocation and r["level"] == "error"
    )
    assert "int" in line["event"]


def test_a_failing_function_is_500_naming_the_invocation_and_post_hooks_see_it(
    host: HostProcess,
) -> None:
    response = host.get("/api/boom")
    assert response.status_code == 500
    invocation = response.headers["x-invocation-id"]
    assert invocation in response.text
    assert "on purpose" not in response.text  # details stay in the log
    error = host.wait_for_log(
        lambda r: r.get("invocation_id") == invocation and r["level"] == "error"
    )
    assert "the function failed on purpose" in json.dumps(error)
    host.wait_for_log(
        lambda r: (
            r.get("invocation_id") == invocation
            and r["event"] == "probe post hook: boom RuntimeError"
        )
    )


def test_traceparent_and_tracestate_fill_the_trace_context(host: HostProcess) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = host.get("/api/trace", headers={"traceparent": parent, "tracestate": "congo=t61"})
    data = response.json()
    assert data["trace_parent"] == parent
    assert data["trace_state"] == "congo=t61"
    assert data["invocation_id"] == response.headers["x-invocation-id"]


def test_context_variables_set_by_hooks_end_with_their_request(host: HostProcess) -> None:
    # One keep-alive connection, so every request is served by the same server connection.
    with httpx.Client(base_url=host.base_url, timeout=30.0) as client:
        for path in ["/api/marker/async", "/api/marker/sync"] * 3:
            response = client.get(path)
            assert response.status_code == 200, response.text
            seen = response.json()
            assert seen["on_entry"] == "unset", f"{path} started with a variable set before"
            assert (
                seen["in_function"] == seen["invocation_id"] == response.headers["x-invocation-id"]
            )


def test_every_response_has_its_own_invocation_id(host: HostProcess) -> None:
    ids = {host.get("/api/text").headers["x-invocation-id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(is_uuid(value) for value in ids)


def test_body_over_the_limit_is_413(host: HostProcess) -> None:
    assert host.post("/api/size", content=b"x" * 1024).text == "1024"
    response = host.post("/api/size", content=b"x" * 4096)
    assert response.status_code == 413
    assert "1024" in response.text
    assert is_uuid(response.headers["x-invocation-id"])


def test_chunked_body_over_the_limit_is_413(host: HostProcess) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b"y" * 256

    response = host.post("/api/size", content=chunks())
    assert response.status_code == 413


def test_a_chunked_body_without_content_length_arrives_whole(host: HostProcess) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            yield b"z" * 100

    response = host.post("/api/size", content=chunks())
    assert response.status_code == 200
    assert response.text == "300"


def test_a_request_without_length_or_chunks_has_an_empty_body(host: HostProcess) -> None:
    with httpx.Client(base_url=host.base_url) as client:
        request = client.build_request("POST", "/api/size")
        del request.headers["content-length"]
        response = client.send(request)
    assert "content-length" not in request.headers
    assert (response.status_code, response.text) == (200, "0")


def test_bad_input_is_4xx_and_the_host_keeps_serving(host: HostProcess) -> None:
    assert host.get("/api/items/%ff").status_code == 404  # not UTF-8 once decoded
    assert host.get("/api//items/1").status_code == 404
    with httpx.Client(base_url=host.base_url) as client:
        response = client.post("/api/size", content=b"abc", headers={"content-length": "3"})
        assert response.text == "3"
    assert host.get("/api/text").status_code == 200


def test_keys_are_not_enforced_without_configured_keys(host: HostProcess) -> None:
    assert host.get("/api/secure").text == "function-level secret"
    assert host.get("/api/admin-only").text == "admin-level secret"
    assert "keys are not enforced (local development mode)" in host.output()


def test_head_request_has_headers_and_no_body(host: HostProcess) -> None:
    response = host.request("HEAD", "/api/text")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(b"plain text"))


def test_startup_report_lists_functions_extensions_and_the_gate(host: HostProcess) -> None:
    events = [line["event"] for line in host.json_logs()]
    assert "worker extensions are on (PYTHON_ENABLE_WORKER_EXTENSIONS)" in events
    assert any(e.startswith("extension Probe (scope app)") for e in events)
    assert any(
        e == f"  item_by_id: [GET] {host.base_url}/api/items/{{id:int}} (authLevel anonymous)"
        for e in events
    )
    assert any(
        e == f"  secure: [any method] {host.base_url}/api/secure (authLevel function)"
        for e in events
    )
    assert f"extkit host listening on {host.base_url}" in events
    orphans = [e for e in events if e.startswith("function-level extension Orphan")]
    assert len(orphans) == 1
    assert "bound to no function of this app" in orphans[0]
