"""A blueprint: functions declared in their own module, added by ``app.register_functions``."""

import json
import logging

from audit import RequestAudit

from extkit import Context, HttpRequest, HttpResponse
from extkit.app import Blueprint

bp = Blueprint()

# Bound by file: applies to every function defined in this module (CreateOrder), none other.
RequestAudit(__file__)


@bp.function_name("CreateOrder")
@bp.route(route="orders", methods=["POST"])
def create_order(req: HttpRequest, context: Context) -> HttpResponse:
    try:
        order = req.get_json()
    except ValueError as exc:
        return HttpResponse(str(exc), status_code=400)
    if not isinstance(order, dict) or not isinstance(order.get("item"), str):
        return HttpResponse('expected a JSON object such as {"item": "tea"}', status_code=400)
    logging.info("order for %s", order["item"])
    audited = context.func_ext_attributes.get("audited", False)
    return HttpResponse(
        json.dumps({"item": order["item"], "audited": audited}),
        status_code=201,
        mimetype="application/json",
    )
