from typing import Any

from blueprint_funcs import bp
from shared_code import ORIGIN

from extkit import Context, FuncExtensionBase, HttpRequest, HttpResponse
from extkit.app import FunctionApp

app = FunctionApp(http_auth_level="anonymous")
app.register_functions(bp)


class Named(FuncExtensionBase):
    def pre_invocation(self, context: Context) -> None:
        context.func_ext_attributes["named"] = True


Named(functions=["Item"])


@app.function_name("Item")
@app.route(route="items/{id:int}", methods=["GET"])
def get_item(req: HttpRequest, context: Context) -> dict[str, Any]:
    return {
        "id": req.route_params["id"],
        "origin": ORIGIN,
        "named": context.func_ext_attributes.get("named", False),
    }


@app.route(methods="post", auth_level="function")
def plain(req: HttpRequest) -> HttpResponse:
    return HttpResponse("plain")


@app.schedule("0 0 * * * *", arg_name="timer")
@app.function_name("Hourly")
def hourly(timer: object) -> None:
    return None
