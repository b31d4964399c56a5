from extkit import Context, FuncExtensionBase, HttpRequest
from extkit.app import Blueprint

bp = Blueprint()


class ByFile(FuncExtensionBase):
    """Bound to the functions defined in this module."""

    def pre_invocation(self, context: Context) -> None:
        context.func_ext_attributes["by_file"] = True


ByFile(__file__)


@bp.route(route="bp/echo", trigger_arg_name="request")
def echo(request: HttpRequest, context: Context) -> str:
    by_file = context.func_ext_attributes.get("by_file", False)
    return f"echo {request.params.get('say', '')} by_file={by_file}"
