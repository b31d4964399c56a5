"""An app written for Azure Functions: a Flask app as ``func.WsgiFunctionApp``."""

import logging

import azure.functions as func
from flask import Flask, jsonify, make_response

logger = logging.getLogger("azure_flask")
flask_app = Flask(__name__)


@flask_app.get("/orders/<int:order_id>")
def order(order_id: int):
    logger.info("azure flask handler %s", order_id)
    response = make_response(jsonify(order_id=order_id))
    response.set_cookie("first", "1")
    response.set_cookie("second", "2")
    return response


app = func.WsgiFunctionApp(app=flask_app.wsgi_app, http_auth_level=func.AuthLevel.ANONYMOUS)
