"""Discovery of installed extensions and the ``extkit extensions`` listing.

Installed packages are real ``*.dist-info`` folders on ``sys.path`` (what pip writes), so
``importlib.metadata`` finds their entry points exactly as it finds those of an installed wheel.
"""

from __future__ import annotations

import importlib
import itertools
import json
import subprocess
import sys
import textwrap
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

from extkit import AppExtensionBase, isolated_registry
from extkit.cli import main
from extkit.cli.extensions import hooks_of, list_extensions, render_report
from extkit.discovery import ENTRY_POINT_GROUP, installed_extensions, load_installed
from extkit.testing import RecordingRegistry

_counter = itertools.count()


def install_package(
    site: Path,
    code: str,
    *,
    entry_point: str,
    class_name: str,
    distribution_name: str | None = None,
    version: str = "1.2.3",
) -> str:
    """Write a module and its dist-info into ``site``; return the module's (unique) name."""
    module = f"discovered_ext_{next(_counter)}"
    dist = distribution_name or module.replace("_", "-")
    (site / f"{module}.py").write_text(textwrap.dedent(code), encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n{entry_point} = {module}:{class_name}\n", encoding="utf-8"
    )
    (info / "top_level.txt").write_text(f"{module}\n", encoding="utf-8")
    (info / "RECORD").write_text(f"{module}.py,,\n", encoding="utf-8")
    return module


STOPWATCH = """
    from extkit import AppExtensionBase

    class Stopwatch(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls):
            pass

        @classmethod
        def post_invocation_app_level(cls, func_exc):
            pass
"""

PER_FUNCTION = """
    from extkit import FuncExtensionBase

    class PerFunction(FuncExtensionBase):
        def pre_invocation(self, context):
            pass
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on ``sys.path`` to install packages into, like site-packages."""
    folder = tmp_path / "site-packages"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delenv("EXTKIT_DISABLED_EXTENSIONS", raising=False)
    return folder


def _by_name(items: list, name: str):  # type: ignore[no-untyped-def, type-arg]
    return next(item for item in items if item.name == name)


def test_installed_extensions_are_listed_with_scope_hooks_and_distribution(site: Path) -> None:
    install_package(site, STOPWATCH, entry_point="stopwatch", class_name="Stopwatch",
                    distribution_name="extkit-stopwatch", version="2.0.1")  # fmt: skip
    install_package(site, PER_FUNCTION, entry_point="per-function", class_name="PerFunction")

    report = list_extensions()
    stopwatch = _by_name(report.installed, "stopwatch")
    assert stopwatch.scope == "app"
    assert stopwatch.hooks == ["pre_invocation_app_level", "post_invocation_app_level"]
    assert (stopwatch.distribution, stopwatch.version) == ("extkit-stopwatch", "2.0.1")
    assert stopwatch.state == "active"
    per_function = _by_name(report.installed, "per-function")
    assert (per_function.scope, per_function.hooks) == ("function", ["pre_invocation"])
    text = render_report(report)
    assert "stopwatch" in text and "extkit-stopwatch 2.0.1" in text


def test_json_output_is_machine_readable(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install_package(site, STOPWATCH, entry_point="stopwatch", class_name="Stopwatch")
    assert main(["extensions", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    (item,) = [item for item in payload["installed"] if item["name"] == "stopwatch"]
    assert item["scope"] == "app"
    assert item["hooks"] == ["pre_invocation_app_level", "post_invocation_app_level"]
    assert item["error"] is None
    assert payload["app"] is None


def test_an_extension_is_disabled_by_entry_point_or_class_name(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_package(site, STOPWATCH, entry_point="stopwatch", class_name="Stopwatch")
    install_package(site, PER_FUNCTION, entry_point="per-function", class_name="PerFunction")
    monkeypatch.setenv("EXTKIT_DISABLED_EXTENSIONS", "stopwatch, perfunction")

    report = list_extensions()
    assert _by_name(report.installed, "stopwatch").state == "disabled"
    assert _by_name(report.installed, "per-function").state == "disabled"
    assert "Disabled by name: perfunction, stopwatch" in render_report(report)


def test_a_broken_extension_is_reported_and_fails_the_command(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install_package(site, "import not_a_module_anywhere\n", entry_point="broken", class_name="X")
    install_package(site, "class NotAnExtension:\n    pass\n", entry_point="odd",
                    class_name="NotAnExtension")  # fmt: skip

    assert main(["extensions"]) == 1
    out = capsys.readouterr().out
    assert "broken: error: cannot import" in out
    assert "ModuleNotFoundError" in out
    assert "odd: error:" in out and "is not an AppExtensionBase/FuncExtensionBase class" in out


def test_load_installed_registers_a_class_imported_earlier(site: Path) -> None:
    """The second registry of a process (a test's, a second app) still gets the extension."""
    module = install_package(site, STOPWATCH, entry_point="stopwatch", class_name="Stopwatch")
    first, second = RecordingRegistry(), RecordingRegistry()
    load_installed(first)
    load_installed(second)
    load_installed(second)  # idempotent
    for registry in (first, second):
        names = [entry.name for entry in registry.entries()]
        assert names.count("Stopwatch") == 1
        (entry,) = [entry for entry in registry.entries() if entry.name == "Stopwatch"]
        assert entry.extension is sys.modules[module].Stopwatch


def test_load_installed_switches_disabled_ones_off(site: Path) -> None:
    install_package(site, STOPWATCH, entry_point="stopwatch", class_name="Stopwatch")
    with isolated_registry() as registry:
        loaded = load_installed(registry, disabled=["stopwatch"])
    assert "stopwatch" not in [described.name for described, _ in loaded]
    assert "Stopwatch" not in [entry.name for entry in registry.entries()]


def test_disabling_an_entry_point_leaves_a_same_named_class_from_elsewhere_on(
    site: Path,
) -> None:
    """``EXTKIT_DISABLED_EXTENSIONS=timing`` switches off that entry point's class, not an app's
    own extension that happens to share its class name."""
    module = install_package(site, STOPWATCH, entry_point="timing", class_name="Stopwatch")
    with isolated_registry() as registry:
        load_installed(registry, disabled=["timing"])
        exec(textwrap.dedent(STOPWATCH), {"__name__": "the_apps_own_extensions"})
        importlib.import_module(module)  # function code importing the disabled one

    active = [entry.source for entry in registry.entries() if entry.name == "Stopwatch"]
    assert active == ["the_apps_own_extensions.Stopwatch"]


def _write_app(root: Path, *, gate: str = "1", host_extra: str = "") -> Path:
    root.mkdir()
    (root / "host.json").write_text(f'{{"version": "2.0"{host_extra}}}', encoding="utf-8")
    (root / "local.settings.json").write_text(
        json.dumps({"Values": {"PYTHON_ENABLE_WORKER_EXTENSIONS": gate}}), encoding="utf-8"
    )
    (root / "shared.py").write_text(
        textwrap.dedent(
            """
            from extkit import AppExtensionBase, FuncExtensionBase

            class Audit(AppExtensionBase):
                @classmethod
                def pre_invocation_app_level(cls):
                    pass

            class OnlySome(FuncExtensionBase):
                def post_invocation(self, func_ret):
                    pass
            """
        ),
        encoding="utf-8",
    )
    (root / "function_app.py").write_text(
        textwrap.dedent(
            """
            from extkit import HttpRequest
            from extkit.app import FunctionApp
            from shared import OnlySome

            app = FunctionApp(http_auth_level="anonymous")
            OnlySome(functions=["one"])


            @app.route(route="one")
            def one(req: HttpRequest) -> str:
                return "1"


            @app.route(route="two")
            def two(req: HttpRequest) -> str:
                return "2"
            """
        ),
        encoding="utf-8",
    )
    return root


def test_an_apps_registered_extensions_show_their_bound_functions(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install_package(site, STOPWATCH, entry_point="stopwatch", class_name="Stopwatch",
                    distribution_name="extkit-stopwatch")  # fmt: skip
    app = _write_app(tmp_path / "app")

    report = list_extensions(app)
    assert report.gate is True
    assert report.functions == ["one", "two"]
    assert report.registered is not None
    stopwatch = _by_name(report.registered, "Stopwatch")
    assert (stopwatch.scope, stopwatch.functions) == ("app", None)
    assert (stopwatch.distribution, stopwatch.entry_point) == ("extkit-stopwatch", "stopwatch")
    only_some = _by_name(report.registered, "OnlySome")
    assert only_some.scope == "function"
    assert only_some.functions == ["one"]
    assert only_some.hooks == ["post_invocation"]
    assert only_some.source == "shared.py (OnlySome)"
    assert only_some.distribution is None
    assert _by_name(report.registered, "Audit").functions is None

    assert main(["extensions", str(app)]) == 0
    out = capsys.readouterr().out
    assert f"Registered in {app} (extensions gate on):" in out
    assert "functions: one, two" in out
    (row,) = [line for line in out.splitlines() if line.strip().startswith("OnlySome ")]
    assert row.split()[-1] == "one"


def test_listing_an_app_runs_no_hook_and_restores_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHON_ENABLE_WORKER_EXTENSIONS", raising=False)
    app = _write_app(tmp_path / "app", gate="0")
    (app / "function_app.py").write_text(
        (app / "function_app.py").read_text(encoding="utf-8")
        + textwrap.dedent(
            """
            import pathlib
            from extkit import AppExtensionBase

            class Loud(AppExtensionBase):
                @classmethod
                def post_function_load_app_level(cls, function_name):
                    (pathlib.Path(__file__).parent / "hook-ran").write_text(function_name)
            """
        ),
        encoding="utf-8",
    )
    report = list_extensions(app)
    assert not (app / "hook-ran").exists()
    assert report.gate is False
    assert "extensions gate OFF" in render_report(report)
    import os

    assert "PYTHON_ENABLE_WORKER_EXTENSIONS" not in os.environ


def test_host_json_can_disable_an_extension_for_one_app(site: Path, tmp_path: Path) -> None:
    install_package(site, STOPWATCH, entry_point="stopwatch", class_name="Stopwatch")
    app = _write_app(tmp_path / "app", host_extra=', "extkit": {"disabledExtensions": ["audit"]}')
    report = list_extensions(app)
    assert report.registered is not None
    assert _by_name(report.registered, "Audit").state == "disabled"
    assert _by_name(report.registered, "Stopwatch").state == "active"
    assert report.disabled == ["audit"]


def test_an_app_that_cannot_load_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "host.json").write_text("{not json", encoding="utf-8")
    assert main(["extensions", str(app)]) == 3
    err = capsys.readouterr().err
    assert "host.json" in err and "not valid JSON" in err


def _installed(name: str) -> bool:
    try:
        distribution(name)
    except PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(
    not (_installed("extkit-timer") and _installed("extkit-tracing")),
    reason="the bundled extensions are not installed in this environment",
)
def test_the_bundled_extensions_are_listed_once_installed() -> None:
    """``extkit extensions`` in a fresh process, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "extkit", "extensions", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    installed = {item["name"]: item for item in json.loads(done.stdout)["installed"]}
    assert installed["timer"]["distribution"] == "extkit-timer"
    assert installed["timer"]["source"] == "extkit_timer:TimerExtension"
    assert installed["tracing"]["distribution"] == "extkit-tracing"
    assert installed["tracing"]["scope"] == "app"
    assert "around_invocation_app_level" in installed["tracing"]["hooks"]
    assert [e.name for e in installed_extensions() if e.name in ("timer", "tracing")] == [
        "timer",
        "tracing",
    ]


def test_an_app_extension_class_is_recognised_as_one() -> None:
    with isolated_registry():

        class Only(AppExtensionBase):
            @classmethod
            def shutdown_app_level(cls) -> None:
                pass

    assert hooks_of(Only) == ("app", ["shutdown_app_level"])
    assert hooks_of(object()) == (None, [])


def test_an_unrecognised_gate_is_one_warning_line_and_the_hint_names_where_it_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """local.settings.json says 1, the environment says 'maybe': the environment wins, and the
    listing says so instead of advising to set what local.settings.json already sets."""
    app = _write_app(tmp_path / "app", gate="1")
    monkeypatch.setenv("PYTHON_ENABLE_WORKER_EXTENSIONS", "maybe")
    assert main(["extensions", str(app)]) == 0
    captured = capsys.readouterr()
    (warning,) = captured.err.splitlines()
    assert warning.startswith("extkit extensions: warning: PYTHON_ENABLE_WORKER_EXTENSIONS='maybe'")
    assert "RuntimeWarning" not in warning
    (gate_line,) = [line for line in captured.out.splitlines() if "extensions gate" in line]
    assert "PYTHON_ENABLE_WORKER_EXTENSIONS is 'maybe' in the environment" in gate_line
    assert "overrides local.settings.json" in gate_line


@pytest.mark.parametrize(
    ("gate", "says"),
    [
        ("0", "local.settings.json sets PYTHON_ENABLE_WORKER_EXTENSIONS to '0'"),
        (None, "set PYTHON_ENABLE_WORKER_EXTENSIONS=1 in local.settings.json"),
    ],
)
def test_the_gate_hint_names_local_settings_when_the_value_is_from_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gate: str | None, says: str
) -> None:
    monkeypatch.delenv("PYTHON_ENABLE_WORKER_EXTENSIONS", raising=False)
    app = _write_app(tmp_path / "app", gate=gate or "")
    if gate is None:
        (app / "local.settings.json").write_text('{"Values": {}}', encoding="utf-8")
    text = render_report(list_extensions(app))
    (gate_line,) = [line for line in text.splitlines() if "extensions gate" in line]
    assert says in gate_line
    assert "the environment overrides local.settings.json" in gate_line
