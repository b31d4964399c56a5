"""A function-level extension: it runs only for the functions it is bound to.

In the decorator model all functions may live in one file, so binding by folder (the reference's
only way) cannot work. ``RequestAudit(__file__)`` binds to the functions defined in the calling
module; ``RequestAudit(functions=["Hello"])`` names them.
"""

import logging
from typing import Any

from extkit import Context, FuncExtensionBase, HttpRequest


class RequestAudit(FuncExtensionBase):
    def pre_invocation(
        self, logger: logging.Logger, context: Context, func_args: dict[str, Any]
    ) -> None:
        request = next((v for v in func_args.values() if isinstance(v, HttpRequest)), None)
        if request is not None:
            # func_ext_attributes is the channel from function-level extensions to the function.
            context.func_ext_attributes["audited"] = True
            logger.info("audit: %s %s", request.method, request.url)

    def post_invocation(
        self, logger: logging.Logger, context: Context, func_exc: BaseException | None
    ) -> None:
        logger.info("audit: %s %s", context.function_name, "failed" if func_exc else "done")
