"""Ordinary extkit functions that hand their requests to a framework app: AsgiMiddleware from an
async and a sync function, WsgiMiddleware from a sync one (routePrefix stays "api")."""

import logging
from typing import Any

from fastapi import FastAPI, Response
from flask import Flask, jsonify, make_response

import extkit
from extkit import Context, HttpRequest, HttpResponse

logger = logging.getLogger("framework_middleware")
app = extkit.FunctionApp(http_auth_level=extkit.AuthLevel.ANONYMOUS)

fastapi_app = FastAPI()
flask_app = Flask(__name__)


@fastapi_app.get("/api/{mode}/items/{item_id}")
async def fastapi_item(mode: str, item_id: int, response: Response) -> dict[str, Any]:
    logger.info("fastapi handler %s %s", mode, item_id)
    response.set_cookie("first", "1")
    response.set_cookie("second", "2")
    return {"mode": mode, "item_id": item_id}


@flask_app.get("/api/wsgi/items/<int:item_id>")
def flask_item(item_id: int):
    logger.info("flask handler %s", item_id)
    response = make_response(jsonify(mode="wsgi", item_id=item_id))
    response.set_cookie("first", "1")
    response.set_cookie("second", "2")
    return response


asgi = extkit.AsgiMiddleware(fastapi_app)
wsgi = extkit.WsgiMiddleware(flask_app.wsgi_app)


@app.route(route="asgi/{*rest}")
async def asgi_async(req: HttpRequest, context: Context) -> HttpResponse:
    response = await asgi.handle_async(req, context)
    response.headers["x-wrapped-by"] = context.function_name
    return response


@app.route(route="asgi-sync/{*rest}")
def asgi_sync(req: HttpRequest, context: Context) -> HttpResponse:
    response = asgi.handle(req, context)
    response.headers["x-wrapped-by"] = context.function_name
    return response


@app.route(route="wsgi/{*rest}")
def wsgi_sync(req: HttpRequest, context: Context) -> HttpResponse:
    response = wsgi.handle(req, context)
    response.headers["x-wrapped-by"] = context.function_name
    return response
