# A blueprint in a module of its own, registered by function_app.py.
import azure.functions as func
from blueprints.stamps import StampExtension

bp = func.Blueprint()

stamp = StampExtension(__file__)  # serves this blueprint's functions only


@bp.route(route="greet/{name}")
def greet(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"Greetings, {req.route_params['name']}")
