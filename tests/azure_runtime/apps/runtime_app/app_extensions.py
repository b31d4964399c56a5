"""Extensions of the app, written against extkit."""

import logging

from extkit import AppExtensionBase, FuncExtensionBase, HttpResponse, RejectInvocation, ShortCircuit


class Stamp(AppExtensionBase):
    """Logs before and after every invocation and stamps the invocation id on HTTP answers."""

    @classmethod
    def post_function_load_app_level(cls, function_name, function_directory):
        logging.getLogger("app_extensions").info("loaded %s", function_name)

    @classmethod
    def pre_invocation_app_level(cls, logger: logging.Logger, context, func_args):
        logger.info("before %s", context.function_name)

    @classmethod
    def post_invocation_app_level(cls, logger, context, func_args, func_ret, func_exc):
        failed = type(func_exc).__name__ if func_exc is not None else None
        logger.info("after %s (failed: %s)", context.function_name, failed)
        headers = getattr(func_ret, "headers", None)
        if headers is not None:
            headers["x-stamp"] = context.invocation_id


class Cache(AppExtensionBase):
    """Answers the cached functions itself: they never run."""

    @classmethod
    def pre_invocation_app_level(cls, logger, context, func_args):
        if context.function_name in ("cached", "cached_out"):
            raise ShortCircuit(HttpResponse("from the cache", headers={"x-cache": "hit"}))


class Gate(FuncExtensionBase):
    """Lets a request through only with the right key."""

    def pre_invocation(self, logger, context, func_args):
        if func_args["req"].headers.get("x-key") != "secret":
            raise RejectInvocation("a key is needed", status_code=401)
