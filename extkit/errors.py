"""Exceptions that are part of extkit's contract with extension authors and app owners."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ClientDisconnected",
    "ExtensionDefinitionError",
    "FunctionExtensionException",
    "InvocationNotStarted",
    "InvocationTimeout",
    "RejectInvocation",
    "RequestBodyTooLarge",
    "ShortCircuit",
]


class FunctionExtensionException(Exception):
    """Misuse of the extension API (the reference system's name, kept for familiarity)."""


class ExtensionDefinitionError(FunctionExtensionException, TypeError):
    """An extension class is wrong in a way that would only fail later: raised at definition time.

    Subclasses ``TypeError`` because that is what a wrong signature would have raised at call time.
    """


class RejectInvocation(Exception):
    """Raised deliberately by a pre or around hook to make the invocation fail.

    Unlike any other exception from a hook, this one is not isolated: the function does not run,
    the post hooks of the extensions already entered still run (they see it as ``func_exc``), and
    the invocation fails with it. A host turns it into ``response`` when one is given, otherwise
    into ``status_code`` with ``reason`` as the body.
    """

    def __init__(self, reason: str, *, status_code: int = 403, response: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.response = response


class RequestBodyTooLarge(RejectInvocation):
    """A request body read with ``req.stream()`` grew past the host's limit
    (``extkit.maxRequestBodyBytes`` in host.json). Let it propagate and the answer is 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Payload Too Large: the limit is {limit} bytes", status_code=413)
        self.limit = limit


class ClientDisconnected(ConnectionError):
    """The client went away before the exchange was over: raised by ``req.stream()`` during an
    upload, and what post hooks see as ``func_exc`` when a client leaves a streaming response
    early. It is not a server error: the host logs it at INFO."""


class ShortCircuit(Exception):
    """Raised by a pre or around hook to answer without running the function.

    The invocation succeeds with ``result`` (a cache hit, a canned reply); the post hooks of the
    extensions already entered see it as ``func_ret``.
    """

    def __init__(self, result: Any) -> None:
        super().__init__(result)
        self.result = result


class InvocationTimeout(TimeoutError):
    """The function ran past its time limit; post hooks see this as ``func_exc``."""

    def __init__(self, function_name: str, timeout: float) -> None:
        super().__init__(f"function {function_name!r} timed out after {timeout:g} s")
        self.function_name = function_name
        self.timeout = timeout


class InvocationNotStarted(InvocationTimeout):
    """No thread was free to start the function within its time limit: it never runs (HTTP 503
    with ``Retry-After``). No hook has run for it."""

    def __init__(self, function_name: str, timeout: float) -> None:
        TimeoutError.__init__(
            self, f"function {function_name!r} could not start within its {timeout:g} s limit"
        )
        self.function_name = function_name
        self.timeout = timeout
