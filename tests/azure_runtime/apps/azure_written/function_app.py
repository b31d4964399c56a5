"""An app whose extensions are written against ``azure.functions``, as Azure's docs show them,
beside one written against extkit; ``extkit.azure.enable(app)`` is the only extkit line."""

import azure.functions as func
from python_worker_extension_timer import TimerExtension
from tracing_extensions import Outermost, Propagation, Tagging
from welcome import bp

import extkit.azure

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

TimerExtension.configure(append_to_http_response=True)
tagging = Tagging(__file__)  # a function extension: this file's functions only
app.register_functions(bp)


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"Hello, {req.params.get('name', 'world')}!")


@app.route(route="async-hello")
async def async_hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("Hello from async!")


@app.route(route="fail")
def fail(req: func.HttpRequest) -> func.HttpResponse:
    raise ValueError("the function failed")


@app.route(route="out", binding_arg_name="resp")
def via_out(req: func.HttpRequest, resp: func.Out[func.HttpResponse]) -> None:
    resp.set(func.HttpResponse("set on the Out"))


extkit.azure.enable(app)  # after the decorators: it takes effect when the worker indexes

__all__ = ["Outermost", "Propagation"]
