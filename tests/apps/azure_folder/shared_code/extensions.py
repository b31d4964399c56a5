# Extensions written against azure.functions, the way the reference's docs and the
# opencensus/Datadog extensions write them: classmethod hooks with *args/**kwargs, state set on
# the context in pre and read back in post, func_ret changed in place. (typing.Dict and implicit
# Optional defaults, as they are written there.)
# ruff: noqa: UP006, UP045, RUF013
import json
import typing
from logging import Logger

import azure.functions as func
from azure.functions import AppExtensionBase, Context, FuncExtensionBase


class ContextProbe(AppExtensionBase):
    """Reports what its hooks were given in an X-Probe header (and its load calls in the log)."""

    @classmethod
    def init(cls):
        cls.loaded: typing.List[str] = []

    @classmethod
    def post_function_load_app_level(cls, function_name, function_directory, *args, **kwargs):
        cls.loaded.append(function_name)
        print(f"ContextProbe loaded {function_name} from {function_directory}")

    @classmethod
    def pre_invocation_app_level(
        cls, logger: Logger, context: Context,
        func_args: typing.Dict[str, object] = None,
        *args, **kwargs
    ):
        context.probe_started = context.invocation_id  # as opencensus sets context.tracer

    @classmethod
    def post_invocation_app_level(
        cls, logger: Logger, context: Context,
        func_args: typing.Dict[str, object] = None,
        func_ret: typing.Optional[object] = None,
        *args, **kwargs
    ):
        trace = context.trace_context
        seen = {
            "function_name": context.function_name,
            "function_directory": context.function_directory,
            "kept_attribute": getattr(context, "probe_started", None) == context.invocation_id,
            "thread_local": hasattr(context.thread_local_storage, "invocation_id"),
            "Traceparent": trace.Traceparent,
            "trace_parent": trace.trace_parent,
            "Tracestate": trace.Tracestate,
            "trace_state": trace.trace_state,
            "attributes": dict(trace.attributes),
            "retry_count": context.retry_context.retry_count,
            "max_retry_count": context.retry_context.max_retry_count,
            "args": sorted(
                f"{name}:{type(value).__name__}" for name, value in (func_args or {}).items()
            ),
            "azure_request": any(
                isinstance(value, func.HttpRequest) for value in (func_args or {}).values()
            ),
            "func_ret": type(func_ret).__name__,
        }
        logger.info("ContextProbe post for %s: %s", context.function_name, seen["func_ret"])
        if isinstance(func_ret, func.HttpResponse):
            func_ret.headers["X-Probe"] = json.dumps(seen)


class StampExtension(FuncExtensionBase):
    """Function level: stamps the responses of the function it was created for."""

    def __init__(self, file_path: str):
        super().__init__(file_path)
        self.invocations = 0

    def post_function_load(self, function_name: str, function_directory: str, *args, **kwargs):
        print(f"StampExtension bound to {function_name}")

    def post_invocation(
        self, logger: Logger, context: Context,
        func_args: typing.Dict[str, object] = None,
        func_ret: typing.Optional[object] = None,
        *args, **kwargs
    ):
        self.invocations += 1
        if isinstance(func_ret, func.HttpResponse):
            func_ret.headers["X-Stamp"] = f"{context.function_name} #{self.invocations}"


class BrokenExtension(FuncExtensionBase):
    """Function level: its pre hook always raises."""

    def __init__(self, file_path: str):
        super().__init__(file_path)

    def pre_invocation(
        self, logger: Logger, context: Context,
        func_args: typing.Dict[str, object] = None,
        *args, **kwargs
    ):
        raise ValueError("BrokenExtension failed on purpose")
