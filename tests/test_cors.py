"""CORS from ``local.settings.json`` ``Host.CORS`` / ``Host.CORSCredentials``, on real hosts.

httpx plays the browser first, sending the ``Origin`` and ``Access-Control-Request-*`` headers a
browser would and reading what the host answers (one host per configuration, module fixtures);
then headless Chromium enforces it on a page served from another origin.
"""

from __future__ import annotations

import html
import http.server
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from apputil import write_app
from hostutil import HostProcess, required_program, run_host_to_exit, running_host

from extkit import Registry
from extkit.cors import CorsPolicy
from extkit.loader import AppLoadError, load_app

PAGE = "http://127.0.0.1:5173"  # an allowed origin: a page's dev server
OTHER = "http://evil.example"
KEY = "cors-test-key"

FUNCTION_APP = """\
import extkit

app = extkit.FunctionApp(http_auth_level=extkit.AuthLevel.ANONYMOUS)


@app.route(route="hello", methods=["GET", "POST"])
def hello(req: extkit.HttpRequest) -> str:
    return f"hello by {req.method}"


@app.route(route="anything")
def anything(req: extkit.HttpRequest) -> str:
    return f"anything by {req.method}"


@app.route(route="own", methods=["GET"])
def own(req: extkit.HttpRequest) -> extkit.HttpResponse:
    return extkit.HttpResponse(
        "own headers",
        headers={
            "Access-Control-Allow-Origin": "https://elsewhere.example",
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": "x-own",
            "x-own": "1",
            "Vary": "Accept-Encoding",
        },
    )


@app.route(route="keyed", methods=["GET"], auth_level=extkit.AuthLevel.FUNCTION)
def keyed(req: extkit.HttpRequest) -> str:
    return "keyed"
"""

HOST_JSON = {
    "version": "2.0",
    "extensions": {
        "http": {
            "customHeaders": {
                "Access-Control-Allow-Origin": "*",
                "X-Content-Type-Options": "nosniff",
            }
        }
    },
}


def cors_app(root: Path, host: dict[str, Any] | None) -> Path:
    """The test app, with ``host`` as local.settings.json's ``Host`` section (``None``: none)."""
    settings: dict[str, Any] = {"IsEncrypted": False, "Values": {}}
    if host is not None:
        settings["Host"] = host
    files = {"function_app.py": FUNCTION_APP, "host.json": HOST_JSON}
    return write_app(root, {**files, "local.settings.json": settings})


def _host(tmp: pytest.TempPathFactory, host: dict[str, Any] | None) -> Iterator[HostProcess]:
    app = cors_app(tmp.mktemp("app"), host)
    with running_host(app, env={"EXTKIT_FUNCTION_KEY": KEY}) as running:
        yield running


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """Two origins (the second written with a default port and upper case), no credentials."""
    yield from _host(tmp_path_factory, {"CORS": f"{PAGE}, HTTPS://App.Example:443"})


@pytest.fixture(scope="module")
def anyone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    yield from _host(tmp_path_factory, {"CORS": "*"})


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    yield from _host(tmp_path_factory, {"CORS": PAGE, "CORSCredentials": True})


@pytest.fixture(scope="module")
def unconfigured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    yield from _host(tmp_path_factory, None)


def preflight(
    host: HostProcess, path: str, origin: str, method: str, headers: str | None = None
) -> httpx.Response:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        asked["Access-Control-Request-Headers"] = headers
    return host.request("OPTIONS", path, headers=asked)


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.startswith("access-control-")
    }


def vary(response: httpx.Response) -> list[str]:
    return [token.strip().lower() for token in response.headers.get("vary", "").split(",")]


# --- preflight ------------------------------------------------------------------------------


def test_a_preflight_from_a_listed_origin_is_answered_by_the_host(listed: HostProcess) -> None:
    response = preflight(listed, "/api/hello", PAGE, "POST", "content-type, x-trace")
    assert response.status_code == 204
    assert response.content == b""
    assert cors_headers(response) == {
        "access-control-allow-origin": PAGE,
        "access-control-allow-methods": "GET, POST",
        "access-control-allow-headers": "content-type, x-trace",
        "access-control-max-age": "600",
    }
    assert "origin" in vary(response)
    assert "hello by" not in response.text  # the function did not run


def test_a_preflight_for_a_function_of_any_method_allows_them_all(listed: HostProcess) -> None:
    response = preflight(listed, "/api/anything", PAGE, "DELETE")
    assert response.status_code == 204
    methods = response.headers["access-control-allow-methods"].split(", ")
    assert {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"} <= set(methods)
    assert "access-control-allow-headers" not in response.headers  # none were asked for


def test_origins_are_compared_as_browsers_send_them(listed: HostProcess) -> None:
    """``HTTPS://App.Example:443`` in the settings is the origin ``https://app.example``."""
    response = preflight(listed, "/api/hello", "https://app.example", "GET")
    assert response.headers["access-control-allow-origin"] == "https://app.example"


@pytest.mark.parametrize(
    ("path", "origin", "method"),
    [
        ("/api/hello", OTHER, "POST"),  # an origin not listed
        ("/api/hello", "http://127.0.0.1:5174", "GET"),  # another port is another origin
        ("/api/hello", PAGE, "DELETE"),  # a method the function does not take
        ("/api/no-such-function", PAGE, "GET"),  # no function there
    ],
)
def test_a_preflight_that_is_not_allowed_gets_no_allowance(
    listed: HostProcess, path: str, origin: str, method: str
) -> None:
    response = preflight(listed, path, origin, method, "content-type")
    assert response.status_code == 204
    assert cors_headers(response) == {}
    assert "origin" in vary(response)


def test_a_preflight_needs_no_key(listed: HostProcess) -> None:
    """Browsers send no credentials with a preflight: it cannot carry the function key."""
    response = preflight(listed, "/api/keyed", PAGE, "GET", "x-functions-key")
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == PAGE
    assert response.headers["access-control-allow-headers"] == "x-functions-key"


def test_options_without_a_requested_method_reaches_the_function(listed: HostProcess) -> None:
    response = listed.request("OPTIONS", "/api/anything", headers={"Origin": PAGE})
    assert (response.status_code, response.text) == (200, "anything by OPTIONS")
    assert response.headers["access-control-allow-origin"] == PAGE


# --- actual requests --------------------------------------------------------------------------


def test_a_listed_origin_gets_its_origin_back(listed: HostProcess) -> None:
    response = listed.post("/api/hello", headers={"Origin": PAGE})
    assert (response.status_code, response.text) == (200, "hello by POST")
    assert cors_headers(response) == {
        "access-control-allow-origin": PAGE,
        "access-control-expose-headers": "x-invocation-id",
    }
    assert "origin" in vary(response)


def test_another_origin_is_served_without_cors_headers(listed: HostProcess) -> None:
    """The browser, not the host, keeps the page from reading the answer."""
    response = listed.get("/api/hello", headers={"Origin": OTHER})
    assert (response.status_code, response.text) == (200, "hello by GET")
    assert cors_headers(response) == {}
    assert "origin" in vary(response)


def test_a_request_without_origin_varies_on_it_for_caches(listed: HostProcess) -> None:
    response = listed.get("/api/hello")
    assert cors_headers(response) == {}
    assert "origin" in vary(response)
    assert response.headers["x-content-type-options"] == "nosniff"  # other custom headers stay


def test_the_hosts_cors_replaces_the_functions_own(listed: HostProcess) -> None:
    allowed = listed.get("/api/own", headers={"Origin": PAGE})
    assert cors_headers(allowed) == {
        "access-control-allow-origin": PAGE,
        "access-control-expose-headers": "x-own, x-invocation-id",
    }
    assert vary(allowed) == ["accept-encoding", "origin"]
    refused = listed.get("/api/own", headers={"Origin": OTHER})
    assert cors_headers(refused) == {"access-control-expose-headers": "x-own"}
    assert refused.headers["x-own"] == "1"


def test_the_hosts_own_answers_carry_cors_headers_too(listed: HostProcess) -> None:
    """A page can read why it failed: 401 without the key, 404, 405."""
    for method, path, status in [
        ("GET", "/api/keyed", 401),
        ("GET", "/api/nothing-here", 404),
        ("DELETE", "/api/hello", 405),
    ]:
        response = listed.request(method, path, headers={"Origin": PAGE})
        assert response.status_code == status
        assert response.headers["access-control-allow-origin"] == PAGE
    keyed = listed.get("/api/keyed", headers={"Origin": PAGE, "x-functions-key": KEY})
    assert (keyed.status_code, keyed.headers["access-control-allow-origin"]) == (200, PAGE)


# --- "*", credentials, none -----------------------------------------------------------------


def test_any_origin_gets_a_star(anyone: HostProcess) -> None:
    response = anyone.get("/api/hello", headers={"Origin": OTHER})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    allowed = preflight(anyone, "/api/hello", OTHER, "POST")
    assert allowed.headers["access-control-allow-origin"] == "*"
    assert allowed.headers["access-control-allow-methods"] == "GET, POST"


def test_with_credentials_the_origin_is_echoed_and_credentials_allowed(
    credentials: HostProcess,
) -> None:
    response = credentials.get("/api/hello", headers={"Origin": PAGE, "Cookie": "session=1"})
    assert response.headers["access-control-allow-origin"] == PAGE
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = preflight(credentials, "/api/hello", PAGE, "POST", "authorization")
    assert allowed.headers["access-control-allow-origin"] == PAGE
    assert allowed.headers["access-control-allow-credentials"] == "true"
    refused = credentials.get("/api/hello", headers={"Origin": OTHER})
    assert cors_headers(refused) == {}


def test_without_host_cors_nothing_changes(unconfigured: HostProcess) -> None:
    response = unconfigured.get("/api/hello", headers={"Origin": PAGE})
    assert response.status_code == 200
    assert "vary" not in response.headers
    # host.json customHeaders and the function's own CORS headers go out as they are.
    assert cors_headers(response) == {"access-control-allow-origin": "*"}
    own = unconfigured.get("/api/own", headers={"Origin": PAGE})
    assert own.headers["access-control-allow-origin"] == "*, https://elsewhere.example"
    options = preflight(unconfigured, "/api/anything", PAGE, "PUT")
    assert (options.status_code, options.text) == (200, "anything by OPTIONS")
    assert preflight(unconfigured, "/api/hello", PAGE, "GET").status_code == 405


# --- bad settings -----------------------------------------------------------------------------


def problems(root: Path) -> list[str]:
    with pytest.raises(AppLoadError) as raised:
        load_app(root, registry=Registry(), enabled=False)
    return raised.value.problems


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ({"CORS": ["http://a.example"]}, "Host.CORS must be a string of origins"),
        ({"CORS": True}, "Host.CORS must be a string of origins"),
        (
            {"CORS": "http://localhost:3000/"},
            "'http://localhost:3000/' is not an origin (scheme://host[:port]) "
            "(did you mean 'http://localhost:3000'?)",
        ),
        ({"CORS": "localhost:3000"}, "did you mean 'http://localhost:3000'?"),
        ({"CORS": "http://localhost:99999"}, "'http://localhost:99999' is not an origin"),
        ({"CORS": "https://*.example.com"}, 'there are no wildcards but "*" alone'),
        ({"CORS": "null"}, '"null" origin of sandboxed pages and file: URLs is allowed by "*"'),
        ({"CORS": "https://bücher.example"}, "did you mean 'https://xn--bcher-kva.example'?"),
        ({"CORS": "*, http://a.example"}, '"*" (any origin) must stand alone'),
        (
            {"CORS": "*", "CORSCredentials": True},
            'Host.CORS "*" with Host.CORSCredentials true',
        ),
        ({"CORS": "http://a.example", "CORSCredentials": "true"}, "Host.CORSCredentials must"),
        ({"CORSCredentials": 1}, "Host.CORSCredentials must be true or false, got 1"),
    ],
)
def test_bad_cors_settings_are_startup_errors(
    tmp_path: Path, host: dict[str, Any], expected: str
) -> None:
    (problem,) = problems(cors_app(tmp_path, host))
    assert "local.settings.json: Host." in problem, problem
    assert expected in problem, problem


def test_a_bad_setting_stops_the_host_naming_file_and_key(tmp_path: Path) -> None:
    app = cors_app(tmp_path / "app", {"CORS": "http://localhost:3000/"})
    result = run_host_to_exit(app)
    assert result.returncode != 0
    assert "local.settings.json: Host.CORS" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("host", "policy"),
    [
        ({}, None),
        ({"CORS": ""}, None),  # as the reference's tools read it: no CORS
        ({"CORS": " , "}, None),
        ({"CORSCredentials": True}, None),  # credentials alone allow no origin
        ({"CORS": "*"}, CorsPolicy(origins=None, credentials=False)),
        (
            {"CORS": "http://a.example:8080,, HTTP://B.example:80 ", "CORSCredentials": False},
            CorsPolicy(origins=frozenset({"http://a.example:8080", "http://b.example"})),
        ),
        (
            {"CORS": "https://[::1]:8443", "CORSCredentials": True},
            CorsPolicy(origins=frozenset({"https://[::1]:8443"}), credentials=True),
        ),
    ],
)
def test_good_cors_settings(tmp_path: Path, host: dict[str, Any], policy: Any) -> None:
    app = load_app(cors_app(tmp_path, host), registry=Registry(), enabled=False)
    try:
        assert app.settings.cors == policy
    finally:
        app.unload()


# --- a real browser ---------------------------------------------------------------------------

#: The page a browser loads from one origin; it calls the host (another origin) and writes what
#: each call came to into ``#result`` as JSON once all have settled.
BROWSER_PAGE = """\
<!doctype html>
<html><body><pre id="result">pending</pre><script>
const host = new URLSearchParams(location.search).get("host");
async function attempt(path, init) {
  try {
    const response = await fetch(host + path, init);
    return {
      status: response.status,
      body: await response.text(),
      invocation: response.headers.get("x-invocation-id"),
      own: response.headers.get("x-own"),
    };
  } catch (error) {
    return {error: error.name};
  }
}
(async () => {
  const results = {
    get: await attempt("/api/hello"),
    put: await attempt("/api/anything", {
      method: "PUT",
      headers: {"Content-Type": "application/json", "X-Trace": "1"},
      body: "{}",
    }),
    delete: await attempt("/api/hello", {method: "DELETE"}),
    own: await attempt("/api/own"),
  };
  document.getElementById("result").textContent = JSON.stringify(results);
})();
</script></body></html>
"""


class _PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = BROWSER_PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def page_server() -> Iterator[str]:
    """A static server on a free 127.0.0.1 port serving :data:`BROWSER_PAGE`; yields its origin."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def browse(chromium: str, url: str, profile: Path) -> dict[str, Any]:
    """Load ``url`` in headless Chromium and return what the page wrote into ``#result``.

    ``--virtual-time-budget`` lets the page's timers run for 10 s of virtual time, which does not
    pass while a fetch is pending, so the DOM is dumped once every fetch has settled."""
    shown = subprocess.run(
        [
            chromium,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r'<pre id="result">(.*?)</pre>', shown.stdout, re.S)
    assert found is not None, f"no result in the page\n{shown.stdout}\n{shown.stderr[-2000:]}"
    text = html.unescape(found.group(1))
    assert text != "pending", f"the page's fetches did not settle\n{shown.stderr[-2000:]}"
    return dict(json.loads(text))


@pytest.mark.slow
def test_a_browser_reads_the_answers_only_from_an_allowed_origin(tmp_path: Path) -> None:
    chromium = required_program("chromium", "chromium")
    with page_server() as allowed, page_server() as refused:
        app = cors_app(tmp_path / "app", {"CORS": allowed})
        with running_host(app) as host:
            seen = browse(chromium, f"{allowed}/?host={host.base_url}", tmp_path / "profile")
            assert seen["get"]["status"] == 200
            assert seen["get"]["body"] == "hello by GET"
            assert re.fullmatch(r"[0-9a-f-]{36}", seen["get"]["invocation"])  # exposed to it
            # Preflighted (a method and headers beyond the simple ones): allowed.
            assert (seen["put"]["status"], seen["put"]["body"]) == (200, "anything by PUT")
            # hello takes GET and POST only: the preflight allows no DELETE.
            assert seen["delete"] == {"error": "TypeError"}
            # The function's own Access-Control-Allow-Origin is not the page's: the host's wins.
            assert (seen["own"]["body"], seen["own"]["own"]) == ("own headers", "1")

            elsewhere = browse(chromium, f"{refused}/?host={host.base_url}", tmp_path / "other")
            assert elsewhere == {
                "get": {"error": "TypeError"},
                "put": {"error": "TypeError"},
                "delete": {"error": "TypeError"},
                "own": {"error": "TypeError"},
            }
