"""A Flask app served as the whole function app (``WsgiFunctionApp``), under routePrefix ""."""

import logging

from flask import Flask, jsonify, make_response, request

import extkit

logger = logging.getLogger("flask_app")
flask_app = Flask(__name__)


@flask_app.get("/hello/<name>")
def hello(name: str):
    logger.info("flask handler hello %s", name)
    greeting = request.args.get("greeting", "Hello")
    return jsonify(message=f"{greeting}, {name}", path=request.path)


@flask_app.post("/items")
def create_item():
    return jsonify(created=request.get_json()), 201


@flask_app.get("/headers")
def headers():
    response = make_response(jsonify(host=request.host))
    response.headers["X-Echo"] = request.headers.get("X-Custom", "")
    return response


@flask_app.get("/cookies")
def cookies():
    response = make_response("two cookies")
    response.set_cookie("first", "1")
    response.set_cookie("second", "2", httponly=True)
    return response


app = extkit.WsgiFunctionApp(app=flask_app.wsgi_app, http_auth_level=extkit.AuthLevel.ANONYMOUS)
