"""An app written for Azure Functions: a FastAPI app as ``func.AsgiFunctionApp``, and one more
function that hands its requests to the same app through ``func.AsgiMiddleware``."""

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import azure.functions as func
from fastapi import FastAPI, Response

logger = logging.getLogger("azure_fastapi")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    with open(os.environ["LIFESPAN_MARKER"], "a", encoding="utf-8") as handle:
        handle.write("startup\n")
    yield
    with open(os.environ["LIFESPAN_MARKER"], "a", encoding="utf-8") as handle:
        handle.write("shutdown\n")


fastapi_app = FastAPI(lifespan=lifespan)


@fastapi_app.get("/orders/{order_id}")
@fastapi_app.get("/direct/orders/{order_id}")
async def order(order_id: int, response: Response, q: str = "") -> dict[str, object]:
    logger.info("azure fastapi handler %s", order_id)
    response.set_cookie("first", "1")
    response.set_cookie("second", "2")
    return {"order_id": order_id, "q": q}


app = func.AsgiFunctionApp(app=fastapi_app, http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="direct/{*rest}", auth_level=func.AuthLevel.ANONYMOUS)
async def direct(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    response = await func.AsgiMiddleware(fastapi_app).handle_async(req, context)
    response.headers["x-direct"] = "yes"
    return response
