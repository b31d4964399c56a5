"""Apps written for Azure Functions under ``extkit.testing`` and ``extkit invoke``, unchanged.

The same fixture apps as ``test_azure_host.py`` (which serves them over HTTP), loaded in process by
the loader the host uses, and invoked from the command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from extkit_timer import TimerExtension as ExtkitTimer

from extkit.testing import AppUnderTest, make_http_request

APPS = Path(__file__).resolve().parent / "apps"
FOLDER_APP = APPS / "azure_folder"
DECORATOR_APP = APPS / "azure_decorator"
TIMER_PACKAGE = APPS / "azure_timer_extension"
ROOT = Path(__file__).resolve().parent.parent

LoadApp = Callable[..., AppUnderTest]


@pytest.fixture
def tutorial_timer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The tutorial's extension package importable, as if installed; forgotten afterwards, so
    its extension does not follow the test into others (the library's registry is global)."""
    monkeypatch.syspath_prepend(str(TIMER_PACKAGE))
    yield
    for name in [n for n in sys.modules if n.partition(".")[0] == "python_worker_extension_timer"]:
        del sys.modules[name]


@pytest.fixture
def azure_app(extkit_app: LoadApp, tutorial_timer: None) -> LoadApp:
    def load(app_dir: Path) -> AppUnderTest:
        return extkit_app(app_dir, extensions=[ExtkitTimer])  # tracing off, for readable calls

    return load


def test_extkit_testing_invokes_a_folder_app_written_for_azure(azure_app: LoadApp) -> None:
    app = azure_app(FOLDER_APP)
    outcome = app.invoke("HttpExample", make_http_request("GET", "/api/HttpExample?name=Ada"))
    assert outcome.response is not None and outcome.response.status_code == 200
    body = outcome.response.get_body().decode()
    assert body.startswith("Hello, Ada. This HTTP triggered function executed successfully.")
    assert " (TimeElapsed: " in body


def test_azure_written_and_extkit_extensions_nest_as_one_set_of_layers(
    azure_app: LoadApp,
) -> None:
    app = azure_app(FOLDER_APP)
    outcome = app.invoke("HttpExample", make_http_request("GET", "/api/HttpExample"))
    # extkit's timer (installed, so registered first), then the app's Azure-written extensions
    # in import order: ContextProbe (shared_code, first imported by Fails), the tutorial's timer.
    assert [str(call) for call in outcome.hook_calls] == [
        "TimerExtension.pre_invocation_app_level",
        "ContextProbe.pre_invocation_app_level",
        "TimerExtension.pre_invocation_app_level",
        "TimerExtension.post_invocation_app_level",
        "ContextProbe.post_invocation_app_level",
        "TimerExtension.post_invocation_app_level",
    ]
    sources = [entry.source for entry in app.registry.entries()]
    assert sources == [
        "extkit_timer.TimerExtension",
        "shared_code.extensions.ContextProbe",
        "python_worker_extension_timer.TimerExtension",
        "shared_code.extensions.BrokenExtension",
        "shared_code.extensions.StampExtension",
    ]


def test_extkit_testing_invokes_a_decorator_app_written_for_azure(azure_app: LoadApp) -> None:
    app = azure_app(DECORATOR_APP)
    assert app.function_names == ["HttpExample", "secret", "stored", "startup_timer", "greet"]
    request = make_http_request("GET", "/api/greet/Ada", route_params={"name": "Ada"})
    greeting = app.invoke("greet", request)
    assert greeting.response is not None
    assert greeting.response.get_body().decode().startswith("Greetings, Ada")
    assert greeting.response.headers["X-Stamp"] == "greetings.py"
    timer = app.invoke("startup_timer")
    assert timer.error is None
    assert "startup_timer ran: TimerRequest past_due=False" in timer.messages()


def test_the_app_s_functions_keep_their_declared_shape(azure_app: LoadApp) -> None:
    app = azure_app(DECORATOR_APP)
    specs = {function.name: function.spec for function in app.loaded.functions}
    assert specs["HttpExample"].route == "hello"
    assert specs["HttpExample"].methods == ("GET", "POST")
    assert str(specs["HttpExample"].auth_level) == "anonymous"
    assert str(specs["secret"].auth_level) == "function"
    assert specs["stored"].http_output == "outresp"
    assert (specs["startup_timer"].schedule, specs["startup_timer"].run_on_startup) == (
        "0 0 0 1 1 *",
        True,
    )


# --- the command line ---------------------------------------------------------------------------


def extkit_invoke(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "PYTHON_ENABLE_WORKER", "EXTKIT_", "AzureWebJobs"))
    }
    environment["PYTHONPATH"] = str(TIMER_PACKAGE)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "extkit", "invoke", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("app", "function"), [(FOLDER_APP, "HttpExample"), (DECORATOR_APP, "HttpExample")]
)
def test_extkit_invoke_runs_an_app_written_for_azure(app: Path, function: str) -> None:
    run = extkit_invoke(str(app), function, "--param", "name=Ada")
    assert run.returncode == 0, run.stderr
    answer = run.stdout.splitlines()[-1]  # after what load hooks print
    assert answer.startswith("Hello, Ada. This HTTP triggered function executed successfully.")
    assert " (TimeElapsed: " in answer


HIDE_AZURE_FUNCTIONS = textwrap.dedent(
    """
    import importlib.abc, runpy, sys

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "azure.functions" or name.startswith("azure.functions."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    sys.argv = ["extkit", *sys.argv[1:]]
    runpy.run_module("extkit", run_name="__main__")
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("app", [FOLDER_APP, DECORATOR_APP])
def test_an_app_importing_azure_functions_without_it_installed_is_told_how_to_install_it(
    app: Path,
) -> None:
    """The import machinery answers as for a package that is not installed; see
    ``test_azure_install.py`` for a virtualenv that really lacks it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON_ENABLE")}
    run = subprocess.run(
        [sys.executable, "-c", HIDE_AZURE_FUNCTIONS, "invoke", str(app), "HttpExample"],
        cwd=ROOT,
        env={**environment, "PYTHONPATH": str(TIMER_PACKAGE)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 3
    problems = [line for line in run.stderr.splitlines() if line.startswith("- ")]
    assert problems
    hint = (
        "imports azure.functions, which is not installed; "
        'install it with: pip install "extkit[azure]"'
    )
    for line in problems:
        assert line.endswith(f": {hint}"), run.stderr
    assert "Traceback" not in run.stderr
