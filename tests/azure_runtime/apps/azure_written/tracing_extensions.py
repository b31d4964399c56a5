"""Extensions written against ``azure.functions``: one keeps state on the context between its
hooks (as opencensus keeps ``context.tracer``), one is bound to a file; and one extkit extension."""

from azure.functions import AppExtensionBase, FuncExtensionBase, HttpResponse

from extkit import AppExtensionBase as ExtkitAppExtension


class Outermost(ExtkitAppExtension):
    """Written against extkit: it registers when imported, before ``enable`` adopts the
    Azure-written ones at indexing, so its layer is outside theirs."""

    @classmethod
    def pre_invocation_app_level(cls, logger, context, func_args):
        logger.info("extkit pre %s", context.function_name)

    @classmethod
    def post_invocation_app_level(cls, logger, context, func_args, func_ret, func_exc):
        logger.info("extkit post %s", context.function_name)


class Propagation(AppExtensionBase):
    @classmethod
    def pre_invocation_app_level(cls, logger, context, func_args, *args, **kwargs):
        context.tracer = f"tracer for {context.trace_context.Traceparent}"

    @classmethod
    def post_invocation_app_level(cls, logger, context, func_args, func_ret, *args, **kwargs):
        logger.info("%s ended (%s)", context.tracer, type(func_ret).__name__)


class Tagging(FuncExtensionBase):
    def __init__(self, file_path):
        super().__init__(file_path)

    def pre_invocation(self, logger, context, func_args, *args, **kwargs):
        logger.info("tagging %s", context.function_name)

    def post_invocation(self, logger, context, func_args, func_ret, *args, **kwargs):
        if isinstance(func_ret, HttpResponse):
            func_ret.headers["x-tagged"] = context.invocation_id
