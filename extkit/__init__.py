"""extkit: worker-extension middleware for function apps.

Extensions run code around every invocation of a function app: timing, tracing, authentication,
log correlation. They are ordinary pip-installable packages; an app owner lists one in
``requirements.txt``, calls ``SomeExtension.configure(...)`` in function code and starts the app.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .app import AuthLevel, Blueprint, FunctionApp, FunctionSpec
from .context import Context, ExtensionState, RetryContext, TraceContext
from .correlation import current_invocation, invocation_scope
from .engine import Engine, LoadedFunction
from .errors import (
    ClientDisconnected,
    ExtensionDefinitionError,
    FunctionExtensionException,
    InvocationNotStarted,
    InvocationTimeout,
    RejectInvocation,
    RequestBodyTooLarge,
    ShortCircuit,
)
from .extension import AppExtensionBase, FuncExtensionBase
from .frameworks import AsgiFunctionApp, AsgiMiddleware, WsgiFunctionApp, WsgiMiddleware
from .hookspecs import hookimpl
from .http import HttpRequest, HttpResponse, Out, StreamingResponse
from .registry import Registry, current_registry, isolated_registry, reset_registry
from .schedule import TimerRequest
from .threads import ContextThreadPoolExecutor, Thread, propagate

try:
    __version__ = version("extkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "AppExtensionBase",
    "AsgiFunctionApp",
    "AsgiMiddleware",
    "AuthLevel",
    "Blueprint",
    "ClientDisconnected",
    "Context",
    "ContextThreadPoolExecutor",
    "Engine",
    "ExtensionDefinitionError",
    "ExtensionState",
    "FuncExtensionBase",
    "FunctionApp",
    "FunctionSpec",
    "FunctionExtensionException",
    "HttpRequest",
    "HttpResponse",
    "InvocationNotStarted",
    "InvocationTimeout",
    "LoadedFunction",
    "Out",
    "Registry",
    "RejectInvocation",
    "RequestBodyTooLarge",
    "RetryContext",
    "ShortCircuit",
    "StreamingResponse",
    "Thread",
    "TimerRequest",
    "TraceContext",
    "WsgiFunctionApp",
    "WsgiMiddleware",
    "__version__",
    "current_invocation",
    "current_registry",
    "hookimpl",
    "invocation_scope",
    "isolated_registry",
    "propagate",
    "reset_registry",
]
