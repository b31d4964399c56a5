"""An app-level extension whose hooks log the invocation they run for, so a test can see that
they ran around a request and with which invocation id."""

import logging
from typing import Any

from extkit import AppExtensionBase, Context


class Witness(AppExtensionBase):
    @classmethod
    def pre_invocation_app_level(cls, logger: logging.Logger, context: Context) -> None:
        logger.info("witness pre %s %s", context.function_name, context.invocation_id)

    @classmethod
    def post_invocation_app_level(
        cls, logger: logging.Logger, context: Context, func_ret: Any
    ) -> None:
        status = getattr(func_ret, "status_code", None)
        logger.info("witness post %s %s %s", context.function_name, context.invocation_id, status)
