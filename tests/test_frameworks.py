"""Web frameworks inside functions: real FastAPI and Flask apps behind ``extkit start``.

``AsgiFunctionApp`` / ``WsgiFunctionApp`` serve the whole app under a catch-all route with the
framework's own routing; ``AsgiMiddleware`` / ``WsgiMiddleware`` hand one function's requests to a
framework. Every request is one invocation: hooks around it, its id on its logs. The in-process
tests at the end pin what the framework is given (the ASGI scope, the WSGI environ) and how
mistakes in an app are reported.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from hostutil import HostProcess, run_host_to_exit, running_host, wait_until

import extkit
from extkit import AsgiMiddleware, HttpRequest, WsgiMiddleware

APPS = Path(__file__).parent / "apps"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def log_lines(host: HostProcess, invocation_id: str) -> list[str]:
    """The events the host logged for one invocation, in order."""
    return [
        str(line["event"])
        for line in host.json_logs()
        if line.get("invocation_id") == invocation_id
    ]


def wait_for_event(host: HostProcess, invocation_id: str, text: str) -> list[str]:
    """Wait until the invocation logged a line containing ``text``; its events, in order."""
    return list(
        wait_until(
            lambda: (events := log_lines(host, invocation_id))
            and any(text in event for event in events)
            and events,
            what=f"{text!r} logged for invocation {invocation_id}",
        )
    )


def cookies_of(response: httpx.Response) -> list[str]:
    return [value.split(";")[0] for value in response.headers.get_list("set-cookie")]


# --- FastAPI as the whole app -------------------------------------------------------------------


@pytest.fixture(scope="module")
def fastapi_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    marker = tmp_path_factory.mktemp("fastapi") / "lifespan.txt"
    with running_host(
        APPS / "fastapi_app", "--log-format", "json", env={"LIFESPAN_MARKER": str(marker)}
    ) as host:
        yield host


def test_fastapi_routes_path_parameters_and_query(fastapi_host: HostProcess) -> None:
    response = fastapi_host.get("/items/5", params={"q": "green tea"})
    assert response.status_code == 200
    # The greeting comes from the lifespan's state: the app's lifespan ran before the request.
    assert response.json() == {"item_id": 5, "q": "green tea", "greeting": "Hello"}
    assert response.headers["content-type"] == "application/json"
    encoded = fastapi_host.get("/files/caf%C3%A9%20menu.txt")  # decoded as under uvicorn
    assert encoded.json() == {"name": "café menu.txt", "path": "/files/café menu.txt"}


def test_fastapi_json_body_and_its_own_validation(fastapi_host: HostProcess) -> None:
    created = fastapi_host.post("/items", json={"name": "tea", "price": 2.5})
    assert created.status_code == 201
    assert created.json() == {"created": {"name": "tea", "price": 2.5}}
    invalid = fastapi_host.post("/items", json={"name": "tea"})
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["body", "price"]


def test_fastapi_answers_unknown_paths_and_methods_itself(fastapi_host: HostProcess) -> None:
    missing = fastapi_host.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}  # FastAPI's body, not the host's
    assert missing.headers["x-invocation-id"]
    wrong_method = fastapi_host.request("DELETE", "/items/5")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": "Method Not Allowed"}
    teapot = fastapi_host.get("/teapot")
    assert (teapot.status_code, teapot.text) == (418, "short and stout")
    assert teapot.headers["content-type"] == "text/plain; charset=utf-8"


def test_fastapi_headers_both_ways(fastapi_host: HostProcess) -> None:
    response = fastapi_host.get("/headers", headers={"X-Custom": "abc"})
    assert response.status_code == 200
    assert response.headers["x-echo"] == "abc"
    assert response.json() == {"host": f"127.0.0.1:{fastapi_host.port}"}


def test_fastapi_sets_two_cookies(fastapi_host: HostProcess) -> None:
    response = fastapi_host.get("/cookies")
    assert response.status_code == 200
    assert cookies_of(response) == ["first=1", "second=2"]
    assert "HttpOnly" in response.headers.get_list("set-cookie")[1]


def test_every_fastapi_request_is_one_invocation_with_hooks_around_it(
    fastapi_host: HostProcess,
) -> None:
    response = fastapi_host.get("/items/7")
    invocation_id = response.headers["x-invocation-id"]
    events = wait_for_event(fastapi_host, invocation_id, "witness post")
    assert [event.split(" ", 2)[:2] for event in events if event.startswith("witness")] == [
        ["witness", "pre"],
        ["witness", "post"],
    ]
    pre = events.index(f"witness pre http_app_func {invocation_id}")
    handler = events.index("fastapi handler read_item 7")
    post = events.index(f"witness post http_app_func {invocation_id} 200")
    assert pre < handler < post


def test_a_sync_fastapi_handler_logs_with_the_invocation_id(fastapi_host: HostProcess) -> None:
    ids = []
    with ThreadPoolExecutor(4) as pool:  # concurrent requests: each line keeps its own id
        for response in pool.map(lambda _: fastapi_host.get("/headers"), range(8)):
            ids.append(response.headers["x-invocation-id"])
    assert len(set(ids)) == 8
    for invocation_id in ids:
        events = wait_for_event(fastapi_host, invocation_id, "witness post")
        assert events.count("fastapi sync handler headers") == 1


def test_the_fastapi_lifespan_runs_once_per_process(tmp_path: Path) -> None:
    marker = tmp_path / "lifespan.txt"
    with running_host(APPS / "fastapi_app", env={"LIFESPAN_MARKER": str(marker)}) as host:
        started = marker.read_text(encoding="utf-8").splitlines()
        assert [line.split()[0] for line in started] == ["startup"]  # at host start
        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(lambda n: host.get(f"/items/{n}").status_code, range(12)))
        assert statuses == [200] * 12
        assert marker.read_text(encoding="utf-8").splitlines() == started
        assert host.stop() == 0
    lines = marker.read_text(encoding="utf-8").splitlines()
    pid = started[0].split()[1]
    assert lines == [f"startup {pid}", f"shutdown {pid}"]


def test_a_fastapi_lifespan_that_fails_stops_the_host_with_its_reason() -> None:
    result = run_host_to_exit(APPS / "fastapi_app", env={"LIFESPAN_FAILS": "1"})
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "host startup failed" in output
    assert "lifespan startup failed" in output and "the database is down" in output


# --- Flask as the whole app ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def flask_host() -> Iterator[HostProcess]:
    with running_host(APPS / "flask_app", "--log-format", "json") as host:
        yield host


def test_flask_routes_path_parameters_and_query(flask_host: HostProcess) -> None:
    response = flask_host.get("/hello/Ada", params={"greeting": "Hi"})
    assert response.status_code == 200
    assert response.json() == {"message": "Hi, Ada", "path": "/hello/Ada"}
    spaced = flask_host.get("/hello/Ada%20Lovelace")
    assert spaced.json()["message"] == "Hello, Ada Lovelace"


def test_flask_json_body_status_and_404(flask_host: HostProcess) -> None:
    created = flask_host.post("/items", json={"name": "tea"})
    assert created.status_code == 201
    assert created.json() == {"created": {"name": "tea"}}
    missing = flask_host.get("/no/such/page")
    assert missing.status_code == 404
    assert "The requested URL was not found on the server" in missing.text  # Flask's own page
    assert missing.headers["content-type"] == "text/html; charset=utf-8"


def test_flask_headers_and_two_cookies(flask_host: HostProcess) -> None:
    response = flask_host.get("/headers", headers={"X-Custom": "abc"})
    assert response.headers["x-echo"] == "abc"
    assert response.json() == {"host": f"127.0.0.1:{flask_host.port}"}
    cookies = flask_host.get("/cookies")
    assert cookies.text == "two cookies"
    assert cookies_of(cookies) == ["first=1", "second=2"]


def test_a_flask_handler_logs_with_the_invocation_id(flask_host: HostProcess) -> None:
    response = flask_host.get("/hello/Grace")
    invocation_id = response.headers["x-invocation-id"]
    events = wait_for_event(flask_host, invocation_id, "flask handler hello Grace")
    assert "flask handler hello Grace" in events


# --- the middleware inside ordinary functions ---------------------------------------------------


@pytest.fixture(scope="module")
def middleware_host() -> Iterator[HostProcess]:
    with running_host(APPS / "framework_middleware", "--log-format", "json") as host:
        yield host


@pytest.mark.parametrize(
    ("mode", "function", "handler_line"),
    [
        ("asgi", "asgi_async", "fastapi handler asgi 3"),
        ("asgi-sync", "asgi_sync", "fastapi handler asgi-sync 3"),
        ("wsgi", "wsgi_sync", "flask handler 3"),
    ],
)
def test_a_function_hands_its_request_to_a_framework(
    middleware_host: HostProcess, mode: str, function: str, handler_line: str
) -> None:
    response = middleware_host.get(f"/api/{mode}/items/3")
    assert response.status_code == 200
    assert response.json() == {"mode": mode, "item_id": 3}
    assert response.headers["x-wrapped-by"] == function  # the function changed the response
    assert cookies_of(response) == ["first=1", "second=2"]
    events = wait_for_event(middleware_host, response.headers["x-invocation-id"], handler_line)
    assert handler_line in events


def test_the_framework_behind_a_function_answers_its_own_404(middleware_host: HostProcess) -> None:
    assert middleware_host.get("/api/asgi/elsewhere").json() == {"detail": "Not Found"}
    assert "not found on the server" in middleware_host.get("/api/wsgi/elsewhere").text


# --- apps written for Azure Functions -----------------------------------------------------------


def test_func_asgi_function_app_runs_with_its_lifespan(tmp_path: Path) -> None:
    marker = tmp_path / "lifespan.txt"
    env = {"LIFESPAN_MARKER": str(marker)}
    with running_host(APPS / "azure_fastapi", "--log-format", "json", env=env) as host:
        assert marker.read_text(encoding="utf-8") == "startup\n"
        response = host.get("/orders/12", params={"q": "x"})
        assert response.status_code == 200
        assert response.json() == {"order_id": 12, "q": "x"}
        assert cookies_of(response) == ["first=1", "second=2"]
        assert host.get("/missing").json() == {"detail": "Not Found"}
        direct = host.get("/direct/orders/13")  # a function of its own, func.AsgiMiddleware
        assert (direct.json(), direct.headers["x-direct"]) == ({"order_id": 13, "q": ""}, "yes")
        assert cookies_of(direct) == ["first=1", "second=2"]
        wait_for_event(host, response.headers["x-invocation-id"], "azure fastapi handler 12")
        assert host.stop() == 0
        assert "Exception ignored" not in host.errors()
    assert marker.read_text(encoding="utf-8") == "startup\nshutdown\n"


def test_func_wsgi_function_app_runs(tmp_path: Path) -> None:
    with running_host(APPS / "azure_flask", "--log-format", "json") as host:
        response = host.get("/orders/4")
        assert response.status_code == 200
        assert response.json() == {"order_id": 4}
        assert cookies_of(response) == ["first=1", "second=2"]
        wait_for_event(host, response.headers["x-invocation-id"], "azure flask handler 4")


# --- in process: what the framework is given ----------------------------------------------------


def recording_asgi_app(seen: list[dict[str, Any]]) -> Callable[..., Any]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        seen.append({"scope": scope, "body": message.get("body")})
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [
                    (b"content-type", b"text/csv; charset=latin-1"),
                    (b"set-cookie", b"a=1"),
                    (b"set-cookie", b"b=2"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"one,", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})

    return app


def test_the_asgi_scope_carries_the_request() -> None:
    seen: list[dict[str, Any]] = []
    request = HttpRequest(
        "POST",
        "http://example.com:8080/api/shop/caf%C3%A9?x=1&y=",
        headers={"Content-Type": "text/plain", "X-Two": "a, b"},
        body=b"payload",
    )
    response = asyncio.run(AsgiMiddleware(recording_asgi_app(seen)).handle_async(request))
    scope = seen[0]["scope"]
    assert seen[0]["body"] == b"payload"
    assert (scope["type"], scope["method"], scope["scheme"]) == ("http", "POST", "http")
    assert (scope["path"], scope["raw_path"]) == ("/api/shop/café", b"/api/shop/caf%C3%A9")
    assert (scope["query_string"], scope["root_path"]) == (b"x=1&y=", "")
    assert scope["server"] == ("example.com", 8080)
    assert (b"content-type", b"text/plain") in scope["headers"]
    assert (b"x-two", b"a, b") in scope["headers"]
    assert (b"host", b"example.com:8080") in scope["headers"]
    assert scope["asgi"]["version"] == "3.0"
    assert response.status_code == 201
    assert response.get_body() == b"one,two"
    assert (response.mimetype, response.charset) == ("text/csv", "latin-1")
    assert response.header_values("set-cookie") == ["a=1", "b=2"]


def test_a_request_built_in_a_unit_test_gives_its_params_as_the_query() -> None:
    seen: list[dict[str, Any]] = []
    request = HttpRequest(method="GET", body=None, url="/api/HttpTrigger", params={"name": "Test"})
    AsgiMiddleware(recording_asgi_app(seen)).handle(request)
    scope = seen[0]["scope"]
    assert (scope["path"], scope["query_string"]) == ("/api/HttpTrigger", b"name=Test")
    assert scope["server"] == ("localhost", 80)


def test_an_asgi_app_listening_for_the_client_to_leave_hears_it_once_it_has_answered() -> None:
    """What a streaming response does: ``receive()`` after the body waits until the answer is
    complete, then says ``http.disconnect`` (and again, at once, to any later call)."""
    heard: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # the body
        listener = asyncio.ensure_future(receive())
        await asyncio.sleep(0)
        heard.append("waiting" if not listener.done() else "early")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        await asyncio.sleep(0)
        heard.append("waiting" if not listener.done() else "early")
        await send({"type": "http.response.body", "body": b" and the rest"})
        heard.append((await asyncio.wait_for(listener, 5))["type"])
        heard.append((await receive())["type"])

    response = AsgiMiddleware(app).handle(HttpRequest("GET", "/"))
    assert response.get_body() == b"part and the rest"
    assert heard == ["waiting", "waiting", "http.disconnect", "http.disconnect"]


def test_an_asgi_app_that_raises_fails_the_invocation() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise LookupError("no such table")

    with pytest.raises(LookupError, match="no such table"):
        AsgiMiddleware(broken).handle(HttpRequest("GET", "/"))


def test_an_asgi_app_that_sends_no_response_is_named() -> None:
    async def silent(scope: Any, receive: Any, send: Any) -> None:
        return None

    with pytest.raises(RuntimeError, match="returned without sending a response"):
        AsgiMiddleware(silent).handle(HttpRequest("GET", "/"))


def test_the_sync_handle_inside_an_event_loop_points_to_handle_async() -> None:
    middleware = AsgiMiddleware(recording_asgi_app([]))

    async def misuse() -> None:
        middleware.handle(HttpRequest("GET", "/"))

    with pytest.raises(RuntimeError, match=r"await .*handle_async"):
        asyncio.run(misuse())


def test_the_wsgi_environ_carries_the_request() -> None:
    seen: dict[str, Any] = {}
    closed: list[bool] = []

    class Body:
        def __init__(self, chunks: Iterable[bytes]) -> None:
            self.chunks = list(chunks)

        def __iter__(self) -> Iterator[bytes]:
            return iter(self.chunks)

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Body:
        seen.update(environ)
        seen["input"] = environ["wsgi.input"].read()
        write = start_response("202 Accepted", [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        write(b"written,")
        environ["wsgi.errors"].write("a warning from the app\n")
        return Body([b"one,", b"", b"two"])

    request = HttpRequest(
        "PUT",
        "https://example.com/api/shop/caf%C3%A9?x=1",
        headers={"Content-Type": "application/json", "X-Trace": "t"},
        body=b"{}",
    )
    response = WsgiMiddleware(app).handle(request)
    assert (seen["REQUEST_METHOD"], seen["SCRIPT_NAME"]) == ("PUT", "")
    assert seen["PATH_INFO"] == "/api/shop/café".encode().decode("latin-1")
    assert (seen["QUERY_STRING"], seen["SERVER_NAME"], seen["SERVER_PORT"]) == (
        "x=1",
        "example.com",
        "443",
    )
    assert (seen["CONTENT_TYPE"], seen["CONTENT_LENGTH"], seen["input"]) == (
        "application/json",
        "2",
        b"{}",
    )
    assert seen["HTTP_X_TRACE"] == "t" and "HTTP_CONTENT_TYPE" not in seen
    assert (seen["wsgi.url_scheme"], seen["wsgi.multithread"]) == ("https", True)
    assert closed == [True]
    assert response.status_code == 202
    assert response.get_body() == b"written,one,two"
    assert response.header_values("set-cookie") == ["a=1", "b=2"]


def test_wsgi_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        environ["wsgi.errors"].write("first line\nsecond ")
        environ["wsgi.errors"].writelines(["line\n"])
        start_response("200 OK", [])
        return [b""]

    WsgiMiddleware(app).handle(HttpRequest("GET", "/"))
    assert [r.getMessage() for r in caplog.records if r.name == "extkit.wsgi"] == [
        "first line",
        "second line",
    ]


def test_an_error_page_replaces_the_headers_given_before() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("X-Partial", "yes")])
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("500 Internal Server Error", [("X-Error", "yes")], sys.exc_info())
        return [b"error page"]

    response = WsgiMiddleware(app).handle(HttpRequest("GET", "/"))
    assert response.status_code == 500
    assert "X-Partial" not in response.headers and response.headers["X-Error"] == "yes"


def test_a_wsgi_app_that_never_starts_a_response_is_named() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        return [b"no status"]

    with pytest.raises(RuntimeError, match="start_response"):
        WsgiMiddleware(app).handle(HttpRequest("GET", "/"))


def test_function_apps_register_one_catch_all_function() -> None:
    asgi_app = extkit.AsgiFunctionApp(app=recording_asgi_app([]), http_auth_level="anonymous")
    (spec,) = asgi_app.get_functions()
    assert (spec.name, spec.route, spec.methods, spec.trigger) == (
        "http_app_func",
        "{*route}",
        None,
        "http",
    )
    assert str(spec.auth_level) == "anonymous"
    assert spec.source_file == str(Path(__file__).resolve())
    assert spec.lifespan is not None
    wsgi_app = extkit.WsgiFunctionApp(app=lambda e, s: [], function_name="site")
    (wsgi_spec,) = wsgi_app.get_functions()
    assert (wsgi_spec.name, str(wsgi_spec.auth_level), wsgi_spec.lifespan) == (
        "site",
        "function",
        None,
    )


def test_an_asgi_lifespan_starts_on_the_first_request_when_the_server_runs_none() -> None:
    """A server that skips the lifespan protocol: startup comes with the first request, once."""
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                scope["state"]["ready"] = "yes"
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await receive()
        body = scope["state"]["ready"].encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    function_app = extkit.AsgiFunctionApp(app=app, http_auth_level="anonymous")
    (spec,) = function_app.get_functions()
    assert spec.lifespan is not None

    async def serve() -> list[bytes]:
        bodies = []
        for _ in range(3):
            response = await spec.func(HttpRequest("GET", "/"), None)
            bodies.append(response.get_body())
        await spec.lifespan.shutdown()
        await spec.lifespan.shutdown()  # once only
        return bodies

    assert asyncio.run(serve()) == [b"yes"] * 3
    assert events == ["lifespan.startup", "lifespan.shutdown"]


def test_an_asgi_lifespan_starts_again_on_each_event_loop_that_serves_the_app() -> None:
    """As ``extkit invoke`` runs it: an event loop per call, the lifespan started on each."""
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            events.append(message["type"])
            await send({"type": "lifespan.startup.complete"})
            await receive()  # the shutdown never comes: the loop ends under it
            return
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    (spec,) = extkit.AsgiFunctionApp(app=app, http_auth_level="anonymous").get_functions()

    async def two_requests() -> list[int]:
        return [(await spec.func(HttpRequest("GET", "/"), None)).status_code for _ in range(2)]

    assert asyncio.run(two_requests()) == [204, 204]
    assert asyncio.run(two_requests()) == [204, 204]
    assert events == ["lifespan.startup", "lifespan.startup"]


def test_an_asgi_lifespan_that_fails_fails_startup_with_its_reason() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    (spec,) = extkit.AsgiFunctionApp(app=app).get_functions()
    assert spec.lifespan is not None
    with pytest.raises(RuntimeError, match="lifespan startup failed: no database"):
        asyncio.run(spec.lifespan.startup())


def test_an_app_without_lifespan_support_still_serves() -> None:
    seen: list[dict[str, Any]] = []
    inner = recording_asgi_app(seen)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"unsupported scope {scope['type']}")
        await inner(scope, receive, send)

    (spec,) = extkit.AsgiFunctionApp(app=app).get_functions()
    response = asyncio.run(spec.func(HttpRequest("GET", "/"), None))
    assert response.status_code == 201


def test_http_response_keeps_repeated_headers() -> None:
    response = extkit.HttpResponse("x", headers={"Set-Cookie": "a=1"})
    response.add_header("Set-Cookie", "b=2")
    response.add_header("X-Other", "o")
    assert response.header_values("set-cookie") == ["a=1", "b=2"]
    assert response.headers["set-cookie"] == "a=1"  # a lookup gives the first value
    assert list(response.headers) == ["Set-Cookie", "X-Other"]
    response.headers["Set-Cookie"] = "c=3"  # setting replaces every value
    response.add_header("set-cookie", "d=4")
    del response.headers["X-Other"]
    assert len(response.headers) == 1
    assert response.header_values("Set-Cookie") == ["c=3", "d=4"]
    assert response.header_values("X-Other") == []
    plain = extkit.HttpResponse("y")
    plain.headers = {"A": "1"}  # a plain dict set by a function
    plain.add_header("A", "2")
    assert plain.header_values("a") == ["1", "2"]
