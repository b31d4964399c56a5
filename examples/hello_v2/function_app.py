"""The decorator model: one ``FunctionApp`` in ``function_app.py``, more functions in blueprints.

Run it:  extkit start examples/hello_v2
    curl http://127.0.0.1:7071/api/hello/Ada
    curl http://127.0.0.1:7071/api/items/42
    curl -X POST -d '{"item": "tea"}' http://127.0.0.1:7071/api/orders
"""

import logging

from audit import RequestAudit
from orders import bp

from extkit import HttpRequest
from extkit.app import AuthLevel, FunctionApp

app = FunctionApp(http_auth_level=AuthLevel.ANONYMOUS)
app.register_functions(bp)

# Bound by name: applies to Hello only (get_item, in the same file, is not audited).
RequestAudit(functions=["Hello"])


@app.function_name("Hello")
@app.route(route="hello/{name}", methods=["GET"])
def hello(req: HttpRequest) -> str:
    return f"Hello, {req.route_params['name']}. This HTTP triggered function executed successfully."


@app.route(route="items/{id:int}", methods=["GET"])
def get_item(req: HttpRequest) -> dict[str, object]:
    item_id = req.route_params["id"]  # an int: the route constraint converts it
    return {"id": item_id, "name": f"item {item_id}", "doubled": item_id * 2}


@app.schedule(schedule="0 0 * * * *", arg_name="timer", run_on_startup=False)
def hourly(timer: object) -> None:
    logging.info("hourly housekeeping")
