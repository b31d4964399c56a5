"""The health endpoints over real HTTP: ``/admin/host/ping`` and ``/admin/host/status``.

One host serves an app that tries to take them: ``routePrefix`` "" with a catch-all function, a
function on the literal route ``admin/host/status``, and the tightest request throttle, with keys
enforced.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from apputil import write_app
from hostutil import HostProcess, running_host

import extkit

FUNCTION_KEY, ADMIN_KEY = "function-key-1", "admin-key-1"

APP = {
    "host.json": {
        "version": "2.0",
        "extensions": {
            "http": {"routePrefix": "", "maxConcurrentRequests": 1, "maxOutstandingRequests": 1}
        },
    },
    "function_app.py": (
        "import logging, time\n"
        "from extkit import AuthLevel, FunctionApp\n"
        "app = FunctionApp(http_auth_level=AuthLevel.ANONYMOUS)\n"
        "@app.route(route='admin/host/status')\n"
        "def shadowed(req):\n"
        "    return 'the function'\n"
        "@app.route(route='{*path}')\n"
        "def everything(req):\n"
        "    if 'sleep' in req.params:\n"
        "        logging.getLogger('app').info('sleeping %s s', req.params['sleep'])\n"
        "        time.sleep(float(req.params['sleep']))\n"
        "    return 'function: ' + req.route_params.get('path', '')\n"
        "@app.schedule(schedule='0 0 0 1 1 *', arg_name='timer')\n"
        "def yearly(timer):\n"
        "    pass\n"
    ),
}


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_app(tmp_path_factory.mktemp("health") / "app", dict(APP))


@pytest.fixture(scope="module")
def host(app_dir: Path) -> Iterator[HostProcess]:
    keys = {"EXTKIT_FUNCTION_KEY": FUNCTION_KEY, "EXTKIT_ADMIN_KEY": ADMIN_KEY}
    with running_host(app_dir, env=keys) as running:
        yield running


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_ping_is_200_with_an_empty_body_and_needs_no_key(host: HostProcess, method: str) -> None:
    response = host.request(method, "/admin/host/ping")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store, no-cache"


def test_ping_with_another_method_is_405_with_allow(host: HostProcess) -> None:
    response = host.request("DELETE", "/admin/host/ping")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"


def test_status_needs_an_admin_key_when_keys_are_enforced(host: HostProcess) -> None:
    assert host.get("/admin/host/status").status_code == 401
    function_key = {"x-functions-key": FUNCTION_KEY}
    assert host.get("/admin/host/status", headers=function_key).status_code == 401
    assert host.get("/admin/host/status", params={"code": "wrong"}).status_code == 401
    by_header = host.get("/admin/host/status", headers={"x-functions-key": ADMIN_KEY})
    by_query = host.get("/admin/host/status", params={"code": ADMIN_KEY})
    assert by_header.status_code == by_query.status_code == 200
    assert by_header.json() == by_query.json()


def test_status_tells_the_state_the_version_and_the_functions(host: HostProcess) -> None:
    response = host.get("/admin/host/status", headers={"x-functions-key": ADMIN_KEY})
    assert response.headers["content-type"].startswith("application/json")
    status = response.json()
    assert status["state"] == "Running"
    assert status["version"] == extkit.__version__
    assert sorted(status["functions"], key=lambda fn: fn["name"]) == [
        {"name": "everything", "trigger": "http"},
        {"name": "shadowed", "trigger": "http"},
        {"name": "yearly", "trigger": "timer"},
    ]


def test_no_function_route_shadows_them(host: HostProcess) -> None:
    """With routePrefix "", a catch-all and a literal route do not take the host's paths; the
    startup report names the function that is never called."""
    assert host.get("/ADMIN/Host/Ping/").content == b""  # paths compare as routes do
    assert host.get("/admin/host/status").text != "the function"
    assert host.get("/admin/host/other").text == "function: admin/host/other"
    host.wait_for_output(
        "function shadowed is never called: its route is one of the host's health endpoints"
    )


def test_a_full_throttle_does_not_hold_up_the_health_endpoints(host: HostProcess) -> None:
    """maxConcurrentRequests and maxOutstandingRequests 1: while a request runs, another is
    refused with 429, and ping and status are still answered."""
    answers: list[int] = []
    slow = threading.Thread(
        target=lambda: answers.append(host.get("/work", params={"sleep": "3"}).status_code)
    )
    slow.start()
    try:
        host.wait_for_output("sleeping 3 s")
        with httpx.Client(base_url=host.base_url, timeout=10) as client:
            assert client.get("/another").status_code == 429
        assert host.get("/admin/host/ping").status_code == 200
        status = host.get("/admin/host/status", headers={"x-functions-key": ADMIN_KEY})
        assert status.status_code == 200
    finally:
        slow.join(timeout=15)
    assert answers == [200]


def test_status_is_open_when_no_keys_are_configured(app_dir: Path) -> None:
    with running_host(app_dir) as host:
        response = host.get("/admin/host/status")
        assert response.status_code == 200
        assert response.json()["state"] == "Running"
