"""An app-level extension whose post hook logs what it saw, so tests can tell when it ran; it
answers the function ``short_circuited`` itself, with a stream."""

import logging
from typing import Any

from extkit import AppExtensionBase, Context, ShortCircuit, StreamingResponse


class Recorder(AppExtensionBase):
    @classmethod
    def pre_invocation_app_level(
        cls, logger: logging.Logger, context: Context, func_args: dict[str, Any]
    ) -> None:
        if context.function_name == "short_circuited":
            raise ShortCircuit(StreamingResponse(iter([b"from ", b"the hook"])))

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
