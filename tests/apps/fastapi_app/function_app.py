"""A FastAPI app served as the whole function app (``AsgiFunctionApp``), under routePrefix ""."""

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from witness import Witness  # noqa: F401 - importing it registers the extension

import extkit

logger = logging.getLogger("fastapi_app")


def mark(event: str) -> None:
    """Append ``event`` and this process's id to the file named by LIFESPAN_MARKER."""
    path = os.environ.get("LIFESPAN_MARKER")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{event} {os.getpid()}\n")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    if os.environ.get("LIFESPAN_FAILS"):
        raise ConnectionError("the database is down")
    mark("startup")
    yield {"greeting": "Hello"}
    mark("shutdown")


class Item(BaseModel):
    name: str
    price: float


fastapi_app = FastAPI(lifespan=lifespan)


@fastapi_app.get("/items/{item_id}")
async def read_item(item_id: int, request: Request, q: str | None = None) -> dict[str, Any]:
    logger.info("fastapi handler read_item %s", item_id)
    return {"item_id": item_id, "q": q, "greeting": request.state.greeting}


@fastapi_app.post("/items")
async def create_item(item: Item) -> JSONResponse:
    return JSONResponse({"created": item.model_dump()}, status_code=201)


@fastapi_app.get("/files/{name}")
async def file_name(name: str, request: Request) -> dict[str, str]:
    return {"name": name, "path": request.url.path}


@fastapi_app.get("/headers")
def headers(request: Request, response: Response) -> dict[str, str]:
    logger.info("fastapi sync handler headers")
    response.headers["x-echo"] = request.headers.get("x-custom", "")
    return {"host": request.headers.get("host", "")}


@fastapi_app.get("/cookies")
def cookies(response: Response) -> dict[str, bool]:
    response.set_cookie("first", "1")
    response.set_cookie("second", "2", httponly=True)
    return {"ok": True}


@fastapi_app.get("/teapot")
def teapot() -> Response:
    return Response("short and stout", status_code=418, media_type="text/plain")


app = extkit.AsgiFunctionApp(app=fastapi_app, http_auth_level=extkit.AuthLevel.ANONYMOUS)
