"""An app-level extension whose post hook logs what it saw, so tests can tell when it ran."""

import logging
from typing import Any

from extkit import AppExtensionBase, Context


class Recorder(AppExtensionBase):
    @classmethod
    def post_invocation_app_level(
        cls,
        logger: logging.Logger,
        context: Context,
        func_args: dict[str, Any],
        func_ret: Any,
        func_exc: BaseException | None,
    ) -> None:
        outcome = "ok" if func_exc is None else type(func_exc).__name__
        logger.info(
            "recorder post hook: %s %s %s",
            context.function_name,
            outcome,
            type(func_ret).__name__,
        )
