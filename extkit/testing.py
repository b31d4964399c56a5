"""Test helpers for extension authors and app owners, shipped as a pytest plugin (loaded
automatically once extkit is installed, through the ``pytest11`` entry point).

Test an extension the way the host runs it: a fresh registry per test, a real
:class:`~extkit.Engine`, the app loaded in-process by the same loader the host uses, and for each
invocation the result, the log records (also as the structured lines the host would print) and
the ordered list of hook calls::

    def test_greeting_is_timed(extkit_app):
        app = extkit_app("path/to/app", extensions=[TimerExtension])
        outcome = app.invoke("HttpTrigger", make_http_request("GET", "/api/HttpTrigger?name=Ada"))
        assert outcome.response.status_code == 200
        assert outcome.hook_names() == [
            "TimerExtension.pre_invocation_app_level",
            "TimerExtension.post_invocation_app_level",
        ]

Hook calls are recorded by :class:`RecordingRegistry`: the engine reports each call it makes to
the registry's observer, so what is recorded is what the engine does, and production registries
(which have no observer) pay nothing for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlsplit

import pytest

from ._types import Scope
from .context import Context, RetryContext, TraceContext
from .correlation import install_record_factory
from .engine import Engine, LoadedFunction
from .http import HttpRequest, HttpResponse
from .registry import HookPhase, Registration, Registry, isolated_registry

if TYPE_CHECKING:
    from .loader import LoadedApp

__all__ = [
    "AppUnderTest",
    "CapturedLogs",
    "HookCall",
    "InvocationResult",
    "RecordingRegistry",
    "capture_logs",
    "extkit_app",
    "extkit_engine",
    "extkit_hook_calls",
    "extkit_logs",
    "extkit_registry",
    "invoke",
    "load_test_app",
    "make_context",
    "make_http_request",
    "make_timer_request",
    "structured",
]


# --- log capture ----------------------------------------------------------------------------------


def structured(record: logging.LogRecord) -> dict[str, Any]:
    """The record as the host's JSON log line would carry it (``event``, ``level``, ``logger``,
    ``timestamp``, ``invocation_id``, ``function_name``, extras), as a dict."""
    from .logs import line_fields

    return line_fields(record)


@dataclass
class CapturedLogs:
    """Log records captured while a block ran, with the correlation fields extkit stamps."""

    records: list[logging.LogRecord] = field(default_factory=list)

    def messages(self, logger: str | None = None) -> list[str]:
        return [
            record.getMessage()
            for record in self.records
            if logger is None or record.name == logger or record.name.startswith(logger + ".")
        ]

    def for_invocation(self, invocation_id: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, "invocation_id", None) == invocation_id]

    def lines(self, logger: str | None = None) -> list[dict[str, Any]]:
        """The records as structured log lines (see :func:`structured`)."""
        return [
            structured(record)
            for record in self.records
            if logger is None or record.name == logger or record.name.startswith(logger + ".")
        ]


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self._sink.append(record)


@contextmanager
def capture_logs(level: int = logging.DEBUG) -> Iterator[CapturedLogs]:
    """Capture every log record (stdlib and structlog-through-stdlib) made inside the block."""
    install_record_factory()
    captured = CapturedLogs()
    handler = _ListHandler(captured.records)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


# --- building what the host would pass ------------------------------------------------------------


def make_context(
    function_name: str = "test_function",
    *,
    function_directory: str = "",
    invocation_id: str | None = None,
    trace_parent: str | None = None,
    trace_state: str | None = None,
    retry_count: int = 0,
    max_retry_count: int = 0,
    trigger: str = "other",
) -> Context:
    """A ``Context`` as the host would build it, for calling hooks or functions directly."""
    return Context(
        function_name,
        function_directory,
        invocation_id=invocation_id,
        trace_context=TraceContext(trace_parent, trace_state),
        retry_context=RetryContext(retry_count, max_retry_count),
        trigger=trigger,
    )


def make_http_request(
    method: str = "GET",
    url: str = "/",
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    route_params: Mapping[str, Any] | None = None,
    body: str | bytes | None = None,
    json_body: Any = None,
) -> HttpRequest:
    """An ``HttpRequest`` as the host builds it: query parameters parsed from ``url`` (and
    ``params``), ``json_body`` serialised with a JSON content type."""
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    query.update(params or {})
    all_headers = dict(headers or {})
    if json_body is not None:
        if body is not None:
            raise ValueError("make_http_request: give body or json_body, not both")
        body = json.dumps(json_body)
        all_headers.setdefault("Content-Type", "application/json")
    return HttpRequest(
        method, url, headers=all_headers, params=query, route_params=route_params, body=body
    )


def make_timer_request(*, past_due: bool = False) -> Any:
    """What a timer-triggered function receives (``past_due``, ``schedule_status``)."""
    from .schedule import TimerRequest

    return TimerRequest(past_due=past_due)


# --- recording hook calls -------------------------------------------------------------------------

Phase = HookPhase


@dataclass(frozen=True)
class HookCall:
    """One call of one extension's hook.

    Around hooks are recorded twice: ``enter`` when they start, ``exit`` when the outcome is sent
    in at their ``yield``; every other hook once, as ``call``.
    """

    extension: str
    hook: str
    scope: Scope
    function_name: str | None
    invocation_id: str | None
    phase: Phase = "call"

    def __str__(self) -> str:
        suffix = "" if self.phase == "call" else f":{self.phase}"
        return f"{self.extension}.{self.hook}{suffix}"


#: Calls recorded while :func:`invoke` (or ``AppUnderTest.invoke``) runs, besides the registry's.
_capturing: Final[ContextVar[list[HookCall] | None]] = ContextVar("extkit_capturing", default=None)


class RecordingRegistry(Registry):
    """A :class:`~extkit.Registry` that records every hook call of its extensions, in order.

    The engine tells it about each call it makes (``Registry.hook_observer``), when it builds a
    plan from this registry: the hooks themselves and the engine's dispatch are those of
    production, and a plain registry pays nothing.
    """

    def __init__(self, *, keep_calls: bool = True) -> None:
        super().__init__()
        #: Whether every call is kept in :attr:`calls` (a test that runs a million invocations
        #: turns it off; :func:`invoke` still collects each invocation's calls).
        self.keep_calls = keep_calls
        self._calls: list[HookCall] = []
        self._calls_lock = threading.Lock()
        self.hook_observer = self._observe

    @property
    def calls(self) -> list[HookCall]:
        """Every call, in order, since ``keep_calls`` was turned on (the list keeps filling)."""
        if not self.keep_calls:
            raise RuntimeError(
                "this RecordingRegistry keeps no calls (keep_calls=False, as the extkit_registry "
                "fixture's): ask for the extkit_hook_calls fixture, set keep_calls = True, or use "
                "the hook_names() of each invoke() result"
            )
        return self._calls

    def add(self, *extensions: type) -> None:
        """Register app extension classes imported before this registry existed (the import
        registered them elsewhere), in the given order."""
        from .discovery import ensure_registered

        for extension in extensions:
            ensure_registered(self, extension)

    def names(self, invocation_id: str | None = None) -> list[str]:
        """``"Extension.hook"`` for every recorded call (of one invocation, if given)."""
        return [
            str(call)
            for call in list(self.calls)  # raises when no calls are kept
            if invocation_id is None or call.invocation_id == invocation_id
        ]

    def _observe(
        self,
        entry: Registration,
        hook: str,
        phase: Phase,
        function_name: str | None,
        invocation_id: str | None,
    ) -> None:
        call = HookCall(entry.name, hook, entry.scope, function_name, invocation_id, phase)
        if self.keep_calls:
            with self._calls_lock:
                self._calls.append(call)
        capturing = _capturing.get()
        if capturing is not None:
            capturing.append(call)


# --- invoking -------------------------------------------------------------------------------------


#: Why an invocation has no hook calls to show: its engine's registry records none.
_NOT_RECORDED: Final = (
    "hook calls are recorded only when the engine's registry is a RecordingRegistry, and this "
    "one's is not a RecordingRegistry: in a test ask for the extkit_engine fixture; elsewhere make "
    "the registry current before defining extensions (with isolated_registry(RecordingRegistry())"
    " as registry: ...) and load functions with Engine(registry=registry, enabled=True)"
)


@dataclass
class InvocationResult:
    """What one invocation produced. ``result`` re-raises the invocation's exception, so a test
    that expects success fails with the real traceback; look at ``error`` to test failures."""

    context: Context
    error: BaseException | None
    records: list[logging.LogRecord]
    #: ``None`` when the engine's registry does not record (asking for the calls then raises).
    _hook_calls: list[HookCall] | None
    response: HttpResponse | None = None
    _result: Any = None

    @property
    def hook_calls(self) -> list[HookCall]:
        """Each hook call of this invocation, in the order they ran."""
        if self._hook_calls is None:
            raise RuntimeError(_NOT_RECORDED)
        return self._hook_calls

    @property
    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self._result

    @property
    def invocation_id(self) -> str:
        return self.context.invocation_id

    @property
    def logs(self) -> list[dict[str, Any]]:
        """This invocation's log records as structured lines (see :func:`structured`)."""
        return [structured(record) for record in self.records]

    def messages(self, logger: str | None = None) -> list[str]:
        return [
            record.getMessage()
            for record in self.records
            if logger is None or record.name == logger or record.name.startswith(logger + ".")
        ]

    def hook_names(self) -> list[str]:
        """``"Extension.hook"`` for each hook call, in the order they ran."""
        return [str(call) for call in self.hook_calls]


def invoke(
    function: LoadedFunction,
    func_args: Mapping[str, Any] | None = None,
    *,
    context: Context | None = None,
) -> InvocationResult:
    """Invoke a loaded function once through the engine; never raises the function's error.

    Hook calls are captured when the engine's registry is a :class:`RecordingRegistry` (the
    ``extkit_registry`` fixture is one); otherwise asking the result for them raises.
    """
    context = context if context is not None else function.new_context()
    recording = isinstance(function.engine.registry, RecordingRegistry)
    return _observed(context, lambda: function.invoke(func_args, context), recording=recording)


def _observed(
    context: Context, run: Callable[[], Any], *, recording: bool = True
) -> InvocationResult:
    """Run one invocation, collecting its hook calls and log records; keep its exception."""
    calls: list[HookCall] = []
    token = _capturing.set(calls)
    error: BaseException | None = None
    result: Any = None
    try:
        with capture_logs() as captured:
            try:
                result = run()
            except Exception as exc:
                error = exc
    finally:
        _capturing.reset(token)
    return InvocationResult(
        context=context,
        error=error,
        records=captured.for_invocation(context.invocation_id),
        _hook_calls=calls if recording else None,
        _result=result,
    )


# --- apps -----------------------------------------------------------------------------------------


class AppUnderTest:
    """A function app loaded in-process into a test's registry, by the loader the host uses."""

    def __init__(self, loaded: LoadedApp, registry: RecordingRegistry) -> None:
        self.loaded = loaded
        self.registry = registry

    @property
    def function_names(self) -> list[str]:
        return [function.name for function in self.loaded.functions]

    def invoke(
        self,
        function_name: str,
        request: HttpRequest | None = None,
        *,
        timer: Any = None,
        context: Context | None = None,
        **inputs: Any,
    ) -> InvocationResult:
        """Invoke one function as the host does: with a built ``HttpRequest`` (or ``timer``
        info; a timer function gets one by default), other inputs by parameter name, through
        the engine's async path (sync functions on a worker thread, the app's function timeout).
        HTTP outcomes are also turned into ``response``, with the ``x-invocation-id`` header."""
        from . import bindings

        function = self.loaded.get(function_name)
        if function is None:
            raise KeyError(
                f"no function {function_name!r} in the app; it has "
                f"{', '.join(self.function_names) or 'none'}"
            )
        spec = function.spec
        if spec.trigger == "http" and request is None:
            prefix = self.loaded.settings.route_prefix
            request = make_http_request("GET", f"/{prefix}/{spec.route or spec.name}")
        trigger_value: Any = request if spec.trigger == "http" else timer
        if spec.trigger == "timer" and trigger_value is None:
            trigger_value = make_timer_request()
        func_args = bindings.build_args(spec, trigger_value, **inputs)
        if context is None:
            context = function.loaded.new_context(
                trace_context=bindings.trace_context_of(request) if request is not None else None
            )
        timeout = self.loaded.settings.function_timeout

        async def run() -> Any:
            return await function.loaded.invoke_async(func_args, context, timeout=timeout)

        outcome = _observed(context, lambda: asyncio.run(run()))
        if spec.trigger == "http":
            invocation_id = context.invocation_id
            response = bindings.to_http_response(
                spec, outcome._result, func_args, outcome.error, invocation_id=invocation_id
            )
            outcome.response = bindings.stamp(response, invocation_id)
        return outcome

    def shutdown(self) -> None:
        """Run the extensions' shutdown hooks, as the host does when it stops."""
        self.loaded.engine.shutdown()


def load_test_app(
    app_dir: str | os.PathLike[str],
    registry: RecordingRegistry,
    *,
    extensions: Iterable[type] | None = None,
    enabled: bool = True,
) -> AppUnderTest:
    """Load ``app_dir`` into ``registry`` (see the ``extkit_app`` fixture); ``unload()`` the
    result's ``loaded`` app when done."""
    from .discovery import installed_extensions
    from .loader import load_app

    if extensions is not None:
        chosen = list(extensions)
        registry.add(*chosen)
        names = {extension.__name__.lower() for extension in chosen}
        others = [item for item in installed_extensions() if item.class_name.lower() not in names]
        if others:
            for item in others:
                registry.disable_installed(item.package, item.class_name)
    loaded = load_app(os.fspath(app_dir), enabled=enabled, registry=registry)
    return AppUnderTest(loaded, registry)


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def extkit_registry() -> Iterator[RecordingRegistry]:
    """A fresh registry: extensions defined in the test register here and vanish afterwards.

    ``extkit_registry.add(SomeExtension)`` brings in one imported earlier. Hook calls are
    collected per invocation by :func:`invoke`; ask for ``extkit_hook_calls`` to keep them all.
    """
    registry = RecordingRegistry(keep_calls=False)
    with isolated_registry(registry):
        yield registry


@pytest.fixture
def extkit_engine(extkit_registry: Registry) -> Engine:
    """An engine over the test's isolated registry, with the extensions gate on."""
    return Engine(registry=extkit_registry, enabled=True)


@pytest.fixture
def extkit_hook_calls(extkit_registry: RecordingRegistry) -> list[HookCall]:
    """Every hook call made in this test, in order (the list keeps filling as the test runs)."""
    extkit_registry.keep_calls = True
    return extkit_registry.calls


@pytest.fixture
def extkit_logs() -> Iterator[CapturedLogs]:
    """Log records made during the test, each with ``invocation_id`` and ``function_name``."""
    with capture_logs() as captured:
        yield captured


@pytest.fixture
def extkit_app(
    extkit_registry: RecordingRegistry,
) -> Iterator[Callable[..., AppUnderTest]]:
    """Load a function app in-process: ``app = extkit_app(path)``, then ``app.invoke(...)``.

    As in the host, the app's ``local.settings.json`` and ``host.json`` apply, installed
    extensions are imported and function code registers its own. ``extensions=[A, B]`` limits
    the installed extensions to these (registered first, in this order); ``enabled=False`` turns
    the extensions gate off. Afterwards the shutdown hooks run and the app is unloaded (its
    modules, ``sys.path`` entry and settings are forgotten).
    """
    apps: list[AppUnderTest] = []

    def load(
        app_dir: str | os.PathLike[str],
        *,
        extensions: Iterable[type] | None = None,
        enabled: bool = True,
    ) -> AppUnderTest:
        app = load_test_app(app_dir, extkit_registry, extensions=extensions, enabled=enabled)
        apps.append(app)
        return app

    try:
        yield load
    finally:
        for app in reversed(apps):
            try:
                app.shutdown()
            finally:
                app.loaded.unload()
