"""A blueprint whose annotations are strings (``from __future__ import annotations``)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="greet/{name}")
def greet(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(f"Greetings, {req.route_params['name']} ({context.function_name})")


@bp.route(route="async-greet/{name}")
async def async_greet(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"Async greetings, {req.route_params['name']}")
