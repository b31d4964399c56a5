"""The hooks that run outside any invocation: a function's load hooks, every extension's shutdown.

Each is called once, in the registry's order (shutdown hooks innermost first), an ``async def``
one run to completion. As in an invocation, an ``Exception`` from one is logged on its
extension's logger and the others still run.
"""

from __future__ import annotations

import inspect

from ._bridge import to_completion
from ._types import FunctionInfo
from .registry import Registry

__all__ = ["run_load_hooks", "run_shutdown_hooks"]


def run_load_hooks(registry: Registry, info: FunctionInfo) -> None:
    """The load hooks of the extensions that apply to the function just loaded."""
    observer = registry.hook_observer
    for entry in registry.for_function(info):
        hook_name = "post_function_load_app_level" if entry.scope == "app" else "post_function_load"
        found = entry.hooks.get(hook_name)
        if found is None:
            continue
        fn, shape = found
        values = {"function_name": info.name, "function_directory": info.directory}
        if observer is not None:
            observer(entry, hook_name, "call", info.name, None)
        try:
            result = fn(**{arg: values[arg] for arg in shape.argnames})
            if shape.is_async:
                to_completion(lambda: result)  # noqa: B023 - called before the next loop
        except Exception as exc:
            entry.logger.error(
                "extension %s failed in %s for function %s: %s",
                entry.name,
                hook_name,
                info.name,
                exc,
                exc_info=exc,
            )


def run_shutdown_hooks(registry: Registry) -> None:
    """Every registered extension's shutdown hook, innermost first."""
    observer = registry.hook_observer
    for entry in reversed(registry.entries()):
        hook_name = "shutdown_app_level" if entry.scope == "app" else "shutdown"
        found = entry.hooks.get(hook_name)
        if found is None:
            continue
        if observer is not None:
            observer(entry, hook_name, "call", None, None)
        try:
            result = found[0]()
            if inspect.isawaitable(result):
                to_completion(lambda: result)  # noqa: B023 - called before the next loop
        except Exception as exc:
            entry.logger.error(
                "extension %s failed in %s: %s", entry.name, hook_name, exc, exc_info=exc
            )
