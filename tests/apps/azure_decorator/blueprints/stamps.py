# A function-level extension written against azure.functions.
from logging import Logger

import azure.functions as func
from azure.functions import Context, FuncExtensionBase


class StampExtension(FuncExtensionBase):
    """Stamps each response of the functions defined in the file that created it."""

    def __init__(self, file_path: str):
        super().__init__(file_path)
        self.file_name = file_path.rsplit("/", 1)[-1]

    def post_invocation(
        self, logger: Logger, context: Context,
        func_args: dict[str, object] | None = None,
        func_ret: object | None = None,
        *args, **kwargs
    ):
        if isinstance(func_ret, func.HttpResponse):
            func_ret.headers["X-Stamp"] = self.file_name
