"""An app-level extension that makes its hooks visible: post hooks and the shutdown hook log,
and the shutdown hook writes the file named by PROBE_SHUTDOWN_FILE (when set)."""

import logging
import os
from contextvars import ContextVar
from typing import Any

from extkit import AppExtensionBase, Context, FuncExtensionBase

#: Set by the pre hook for the rest of its invocation: every request must start without it.
request_marker: ContextVar[str] = ContextVar("request_marker", default="unset")


class Probe(AppExtensionBase):
    @classmethod
    def pre_invocation_app_level(
        cls, logger: logging.Logger, context: Context, func_args: dict[str, Any]
    ) -> None:
        context.app_ext_attributes["marker_on_entry"] = request_marker.get()
        request_marker.set(context.invocation_id)

    @classmethod
    def post_invocation_app_level(
        cls,
        logger: logging.Logger,
        context: Context,
        func_args: dict[str, Any],
        func_ret: Any,
        func_exc: BaseException | None,
    ) -> None:
        outcome = type(func_exc).__name__ if func_exc is not None else "ok"
        logger.info("probe post hook: %s %s", context.function_name, outcome)

    @classmethod
    def shutdown_app_level(cls) -> None:
        path = os.environ.get("PROBE_SHUTDOWN_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("shutdown hook ran\n")
        logging.getLogger("probe").info("probe shutdown hook ran")


class Orphan(FuncExtensionBase):
    """A function-level extension aimed at a function the app does not have."""

    def pre_invocation(self, context: Context) -> None:
        context.func_ext_attributes["orphan"] = True


Orphan(functions=["no_such_function"])
