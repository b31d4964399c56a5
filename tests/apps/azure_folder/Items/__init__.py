# What a function written against azure.functions can rely on: the library's own request type,
# a bytes body, read-only params, route values as text, get_json() raising ValueError, and a
# context; its HttpResponse (status, headers, mimetype, charset, body) becomes the answer.
import json

import azure.functions as func


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    try:
        req.params["injected"] = "x"
    except TypeError:
        params_read_only = True
    else:
        params_read_only = False
    try:
        payload = req.get_json()
    except ValueError:
        payload = "not JSON"
    seen = {
        "request_type": f"{type(req).__module__}.{type(req).__name__}",
        "is_azure_request": isinstance(req, func.HttpRequest),
        "body_type": type(req.get_body()).__name__,
        "id": req.route_params.get("id"),
        "params": dict(req.params),
        "params_read_only": params_read_only,
        "payload": payload,
        "method": req.method,
        "header": req.headers.get("x-custom"),
        "function_name": context.function_name,
        "invocation_id": context.invocation_id,
        "function_directory": context.function_directory,
    }
    return func.HttpResponse(
        json.dumps(seen),
        status_code=201,
        headers={"X-Item": str(req.route_params.get("id"))},
        mimetype="application/json",
        charset="utf-8",
    )
