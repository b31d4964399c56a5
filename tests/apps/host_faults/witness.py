"""Two app-level extensions: Boom raises an app's own BaseException from its post hook when the
request asks for it (``?boom=1``); Witness logs that its post hook ran, whatever happened. Each
takes only the hook arguments it uses (they are matched by name)."""

import logging
from typing import Any

from extkit import AppExtensionBase


class HookFault(BaseException):
    """An extension's own BaseException."""


class Witness(AppExtensionBase):
    @classmethod
    def post_invocation_app_level(
        cls, logger: logging.Logger, func_exc: BaseException | None
    ) -> None:
        outcome = type(func_exc).__name__ if func_exc is not None else "ok"
        logger.info("witness post hook: %s", outcome, extra={"witnessed": outcome})


class Boom(AppExtensionBase):
    @classmethod
    def post_invocation_app_level(cls, func_args: dict[str, Any]) -> None:
        request = func_args.get("req")
        if request is not None and request.params.get("boom"):
            raise HookFault("the extension's own BaseException")
