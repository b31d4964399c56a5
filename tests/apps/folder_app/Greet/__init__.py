"""Uses every import style a folder function may use, and a function-level extension."""

from typing import Any

from __app__.shared_code import ORIGIN as LEGACY_ORIGIN
from shared_code import ORIGIN, helpers

from extkit import Context, FuncExtensionBase, HttpRequest

from ..shared_code.helpers import greeting
from .texts import PUNCTUATION

assert LEGACY_ORIGIN == ORIGIN == "folder_app"


class Marker(FuncExtensionBase):
    """Bound to this function by its file: it marks the invocations it sees."""

    def pre_invocation(self, context: Context, func_args: dict[str, Any]) -> None:
        context.func_ext_attributes["marked_by"] = context.function_name


Marker(__file__)


def main(req: HttpRequest, context: Context) -> str:
    assert helpers.greeting() == greeting()
    marked = context.func_ext_attributes.get("marked_by", "nobody")
    return f"{greeting()}, {req.route_params['name']}{PUNCTUATION} (marked by {marked})"
