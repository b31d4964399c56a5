"""A blueprint in a module of its own: the function extension of function_app.py skips it."""

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="welcome")
def welcome(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("Welcome!")
