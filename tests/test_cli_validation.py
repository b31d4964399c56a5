"""The CLI refuses bad input before serving, and says what was wrong in one place.

Each test runs the real ``extkit`` command as a subprocess (through ``hostutil``).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from apputil import write_app
from hostutil import HostProcess, host_environment, run_host_to_exit, running_host

from extkit.cli.exit_codes import ExitCode

DOCS = Path(__file__).resolve().parent.parent / "docs"

#: One HTTP function, at /api/hello.
FUNCTION_APP = """\
from extkit.app import AuthLevel, FunctionApp

app = FunctionApp(http_auth_level=AuthLevel.ANONYMOUS)


@app.route(route="hello")
def hello(req):
    return "hello"
"""


@pytest.fixture(scope="module")
def plain_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_app(
        tmp_path_factory.mktemp("plain") / "app",
        {"function_app.py": FUNCTION_APP, "host.json": {"version": "2.0"}},
    )


# --- port and workers ---------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["0", "99999", "65536", "-1", "abc"])
def test_a_port_outside_1_to_65535_is_refused_before_serving(plain_app: Path, port: str) -> None:
    result = run_host_to_exit(plain_app, "--port", port)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"argument --port: {port!r} is not a port number; expected 1-65535" in result.stderr
    assert "Traceback" not in result.stderr
    assert "http://" not in result.stdout  # no URL was announced


@pytest.mark.parametrize("flag", ["--workers", "--threads"])
@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_worker_and_thread_flags_below_one_are_refused(
    plain_app: Path, flag: str, value: str
) -> None:
    result = run_host_to_exit(plain_app, flag, value, timeout=15)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"argument {flag}: {value!r} is not a whole number of 1 or more" in result.stderr
    assert "http://" not in result.stdout


@pytest.mark.parametrize(
    "variable", ["FUNCTIONS_WORKER_PROCESS_COUNT", "PYTHON_THREADPOOL_THREAD_COUNT"]
)
@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_worker_and_thread_variables_below_one_are_refused(
    plain_app: Path, variable: str, value: str
) -> None:
    result = run_host_to_exit(plain_app, env={variable: value}, timeout=15)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert result.stderr.strip() == (
        f"extkit start: {variable}={value!r} is not a whole number of 1 or more"
    )
    assert "http://" not in result.stdout


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_address_in_use_is_one_line_with_its_own_exit_code(
    plain_app: Path, workers: str
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_host_to_exit(plain_app, "--port", str(port), "--workers", workers, timeout=15)
    assert result.returncode == ExitCode.ADDRESS_IN_USE, result.stdout + result.stderr
    documented = re.search(
        r"^extkit start: 127\.0\.0\.1:7071 is already in use .*$",
        (DOCS / "cli.md").read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    assert documented is not None
    assert result.stderr.splitlines() == [documented[0].replace(":7071 ", f":{port} ")]
    assert "Uvicorn" not in result.stdout and "startup" not in result.stdout  # nothing started


# --- settings files -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def misspelt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """A host whose settings files have typos next to keys the reference knows and extkit
    ignores on purpose; started with disabled names that match nothing."""
    host_json = {
        "version": "2.0",
        "functionTimout": "00:00:05",
        "extensionBundle": {
            "id": "Microsoft.Azure.Functions.ExtensionBundle",
            "version": "[4.*, 5.0.0)",
        },
        "aggregator": {"batchSize": 1000},
        "extensions": {"http": {"routePrefx": "v1", "dynamicThrottlesEnabled": True}, "queues": {}},
        "logging": {
            "logLevl": {"default": "Warning"},
            "logLevel": {"Function.hello": "Information", "extkit": "Information"},
            "applicationInsights": {"samplingSettings": {"isEnabled": True}},
        },
    }
    local_settings = {
        "IsEncrypted": False,
        "Value": {"SOME_SETTING": "1"},
        "ConnectionStrings": {},
        "Host": {"LocalHttpPrt": 7072, "CORS": "*"},
    }
    app = write_app(
        tmp_path_factory.mktemp("misspelt") / "app",
        {
            "function_app.py": FUNCTION_APP,
            "host.json": host_json,
            "local.settings.json": local_settings,
        },
    )
    env = {"EXTKIT_DISABLED_EXTENSIONS": "stopwach, timr,tracing"}
    with running_host(app, "--log-format", "json", env=env) as host:
        assert host.get("/api/hello").text == "hello"  # warnings do not stop the host
        yield host


def warnings_of(host: HostProcess) -> list[str]:
    return [line["event"] for line in host.json_logs() if line.get("level") == "warning"]


def one_warning(host: HostProcess, text: str) -> str:
    found = [event for event in warnings_of(host) if text in event]
    assert len(found) == 1, (text, warnings_of(host))
    return found[0]


def test_unknown_host_json_keys_are_warnings_with_did_you_mean(misspelt: HostProcess) -> None:
    documented = re.search(
        r"^host\.json: 'functionTimout' .*$",
        (DOCS / "host.md").read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    assert documented is not None
    top = one_warning(misspelt, "functionTimout")
    assert top.endswith(f"/{documented[0]}"), top  # after the folder of the app
    assert "did you mean 'functionTimeout'?" in top
    assert "did you mean 'routePrefix'?" in one_warning(misspelt, "'extensions.http.routePrefx'")
    assert "did you mean 'logLevel'?" in one_warning(misspelt, "'logging.logLevl'")


def test_keys_the_reference_knows_are_not_warned_about(misspelt: HostProcess) -> None:
    everything = "\n".join(warnings_of(misspelt))
    for known in (
        "extensionBundle",
        "aggregator",
        "dynamicThrottlesEnabled",
        "queues",
        "Function.hello",
        "applicationInsights",
        "IsEncrypted",
        "ConnectionStrings",
        "CORS",
    ):
        assert f"'{known}'" not in everything and f".{known}" not in everything, known


def test_unknown_local_settings_keys_are_warnings_with_did_you_mean(
    misspelt: HostProcess,
) -> None:
    values = one_warning(misspelt, "'Value'")
    assert "local.settings.json: 'Value' is not a setting" in values
    assert "did you mean 'Values'?" in values
    assert "did you mean 'LocalHttpPort'?" in one_warning(misspelt, "'Host.LocalHttpPrt'")


def test_disabled_names_that_match_no_extension_are_warnings(misspelt: HostProcess) -> None:
    nothing = one_warning(misspelt, "'stopwach'")
    assert "EXTKIT_DISABLED_EXTENSIONS" in nothing
    assert "matches no installed or registered extension" in nothing
    assert "timer (TimerExtension)" in nothing  # what is installed, to pick from
    assert "did you mean" not in nothing
    assert "did you mean 'timer'?" in one_warning(misspelt, "'timr'")
    assert not [event for event in warnings_of(misspelt) if "'tracing'" in event]


def test_disabled_names_in_host_json_are_checked_too(tmp_path: Path) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "function_app.py": FUNCTION_APP,
            "host.json": {"version": "2.0", "extkit": {"disabledExtensions": ["Timerextention"]}},
        },
    )
    with running_host(app, "--log-format", "json") as host:
        warning = one_warning(host, "'Timerextention'")
    assert "host.json extkit.disabledExtensions" in warning
    assert "did you mean 'TimerExtension'?" in warning


# --- function.json ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "suggestion"),
    [("httpTriger", "httpTrigger"), ("timer_trigger", "timerTrigger"), ("queueTrigger", None)],
)
def test_a_misspelt_binding_type_gets_did_you_mean(
    tmp_path: Path, kind: str, suggestion: str | None
) -> None:
    function_json = {
        "bindings": [
            {"type": kind, "direction": "in", "name": "req"},
            {"type": "http", "direction": "out", "name": "$return"},
        ]
    }
    app = write_app(
        tmp_path / "app",
        {
            "Hello/function.json": function_json,
            "Hello/__init__.py": "def main(req):\n    return 'hi'\n",
        },
    )
    result = run_host_to_exit(app)
    assert result.returncode == ExitCode.APP_NOT_LOADED, result.stderr
    problem = next(line for line in result.stderr.splitlines() if kind in line)
    assert "Hello/function.json: bindings[0] has type" in problem
    if suggestion is None:
        assert "did you mean" not in problem  # a real binding type that extkit does not serve
    else:
        assert f"did you mean {suggestion!r}?" in problem
    assert "supported binding types: httpTrigger, http, timerTrigger" in problem


# --- the exit-code table ------------------------------------------------------------------------


def test_the_exit_code_table_in_the_docs_lists_every_code() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    section = text.split("## Exit status", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \|", section, flags=re.MULTILINE)
    assert rows == [(str(code.value), code.name) for code in ExitCode]


# --- the server stack ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ((), "uvloop loop, httptools parser"),  # the default install has both
        (("--loop", "asyncio", "--http", "h11"), "asyncio loop, h11 parser"),
        (("--loop", "uvloop", "--http", "h11"), "uvloop loop, h11 parser"),
        (("--loop", "asyncio", "--http", "httptools"), "asyncio loop, httptools parser"),
    ],
)
def test_the_startup_says_which_loop_and_parser_it_serves_on(
    plain_app: Path, flags: tuple[str, ...], said: str
) -> None:
    pytest.importorskip("uvloop")
    pytest.importorskip("httptools")
    with running_host(plain_app, *flags) as host:
        assert host.get("/api/hello").text == "hello"
        assert f"serving on uvicorn {uvicorn.__version__}, {said}" in host.output()


#: Runs ``extkit start`` in a Python that cannot find the module ``sys.argv[1]``, as where it
#: is not installed; the other arguments go to ``extkit``.
WITHOUT_MODULE = """\
import sys
from importlib.abc import MetaPathFinder

hidden = sys.argv.pop(1)


class Hide(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == hidden or name.startswith(hidden + "."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, Hide())
from extkit.cli import main

sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(("flag", "package"), [("--loop", "uvloop"), ("--http", "httptools")])
def test_a_stack_whose_package_is_missing_is_refused(
    plain_app: Path, flag: str, package: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_MODULE, package, "start", str(plain_app), flag, package],
        capture_output=True,
        text=True,
        timeout=30,
        env=host_environment(),
        check=False,
    )
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert (
        f"extkit start: {flag} {package}: the {package} package is not installed "
        f'(pip install {package}, or pip install "uvicorn[standard]")'
    ) in result.stderr
