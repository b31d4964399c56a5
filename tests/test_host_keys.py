"""Function and admin keys over real HTTP, with keys configured (enforced).

Without configured keys (local development mode) nothing is enforced: see
``test_host_http.py::test_keys_are_not_enforced_without_configured_keys``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hostutil import HostProcess, running_host

from extkit.keys import Keys

APPS = Path(__file__).parent / "apps"
FUNCTION_KEY = "function-key-for-tests"
ADMIN_KEY = "admin-key-for-tests"


@pytest.fixture(scope="module")
def host() -> Iterator[HostProcess]:
    env = {"EXTKIT_FUNCTION_KEY": f"old-key, {FUNCTION_KEY}", "EXTKIT_ADMIN_KEY": ADMIN_KEY}
    with running_host(APPS / "host_basic", env=env) as running:
        yield running


def test_startup_says_keys_are_enforced_without_showing_them(host: HostProcess) -> None:
    output = host.output()
    assert "keys are enforced: 2 function key(s), 1 admin key(s)" in output
    assert FUNCTION_KEY not in output
    assert ADMIN_KEY not in output


def test_function_level_needs_a_function_or_admin_key(host: HostProcess) -> None:
    missing = host.get("/api/secure")
    assert missing.status_code == 401
    assert missing.headers["x-invocation-id"]
    assert host.get("/api/secure", params={"code": "wrong"}).status_code == 401
    assert host.get("/api/secure", params={"code": FUNCTION_KEY}).text == "function-level secret"
    assert host.get("/api/secure", params={"code": "old-key"}).status_code == 200
    assert host.get("/api/secure", headers={"x-functions-key": FUNCTION_KEY}).status_code == 200
    assert host.get("/api/secure", headers={"x-functions-key": ADMIN_KEY}).status_code == 200


def test_admin_level_needs_the_admin_key(host: HostProcess) -> None:
    assert host.get("/api/admin-only").status_code == 401
    assert host.get("/api/admin-only", params={"code": FUNCTION_KEY}).status_code == 401
    response = host.get("/api/admin-only", headers={"X-Functions-Key": ADMIN_KEY})
    assert response.text == "admin-level secret"


def test_anonymous_functions_stay_open(host: HostProcess) -> None:
    assert host.get("/api/text").status_code == 200


def test_unauthorised_requests_do_not_run_the_function(host: HostProcess) -> None:
    invocation = host.get("/api/secure").headers["x-invocation-id"]
    host.get("/api/text")  # a later request whose hook log line proves the earlier one is written
    host.wait_for_output("probe post hook: text ok")
    assert invocation not in host.output()


def test_keys_from_environment() -> None:
    keys = Keys.from_environ({"EXTKIT_FUNCTION_KEY": " a , b ,"})
    assert keys.function_keys == ("a", "b")
    assert keys.enforced
    assert keys.allows("function", "b")
    assert not keys.allows("admin", "a")
    assert not keys.allows("function", None)
    assert keys.allows("anonymous", None)
    assert not Keys.from_environ({}).enforced
    assert Keys.from_environ({}).allows("admin", None)
    with pytest.raises(ValueError, match="EXTKIT_ADMIN_KEY is set to ''"):
        Keys.from_environ({"EXTKIT_FUNCTION_KEY": "a", "EXTKIT_ADMIN_KEY": ""})
