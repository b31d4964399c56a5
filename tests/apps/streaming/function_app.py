"""Fixture app for the streaming tests: responses sent as they are produced, request bodies
read as they arrive. Generators wait on gates that a test opens with another request, so a
test decides when the next chunk may come."""

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator

from extkit_timer import TimerExtension
from recorder import Recorder  # noqa: F401 - importing it registers the extension

from extkit import FunctionApp, HttpRequest, HttpResponse, Out, StreamingResponse

TimerExtension.configure(append_to_http_response=os.environ.get("STREAM_TIMER_APPEND") == "1")
app = FunctionApp(http_auth_level="anonymous")
logger = logging.getLogger("streaming_app")

_gates: dict[str, threading.Event] = {}
_gates_lock = threading.Lock()
GATE_SECONDS = 10.0


def gate(key: str) -> threading.Event:
    with _gates_lock:
        return _gates.setdefault(key, threading.Event())


def gated_chunks(key: str) -> Iterator[bytes | str]:
    yield b"one\n"
    if not gate(key).wait(GATE_SECONDS):  # blocks its thread, as time.sleep would
        raise TimeoutError(f"gate {key} was never opened")
    yield "two\n"
    yield b"three\n"


async def gated_chunks_async(key: str) -> AsyncIterator[bytes | str]:
    yield b"one\n"
    deadline = time.monotonic() + GATE_SECONDS
    while not gate(key).is_set():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {key} was never opened")
        await asyncio.sleep(0.01)
    yield "two\n"
    yield b"three\n"


def _gated(req: HttpRequest) -> StreamingResponse:
    key = req.params["key"]
    if req.route_params["content"] == "async":
        return StreamingResponse(gated_chunks_async(key))
    return StreamingResponse(gated_chunks(key))


@app.route(route="gated/sync/{content}")
def gated_from_sync(req: HttpRequest) -> StreamingResponse:
    return _gated(req)


@app.route(route="gated/async/{content}")
async def gated_from_async(req: HttpRequest) -> StreamingResponse:
    return _gated(req)


@app.route(route="release/{key}")
async def release(req: HttpRequest) -> str:
    gate(req.route_params["key"]).set()
    return "released"


def generate_sensor_data() -> Iterator[str]:
    """Generate real-time sensor data (the Python guide's example, shortened)."""
    for i in range(3):
        # Simulate temperature and humidity readings
        temperature = 20 + i
        humidity = 50 + i
        yield f"data: {{'temperature': {temperature}, 'humidity': {humidity}}}\n\n"
        time.sleep(0.2)


@app.route(route="stream", methods=["GET"])
async def stream_sensor_data(req: HttpRequest) -> StreamingResponse:
    """Endpoint to stream real-time sensor data."""
    return StreamingResponse(generate_sensor_data(), media_type="text/event-stream")


@app.route(route="shaped")
def shaped(req: HttpRequest) -> StreamingResponse:
    return StreamingResponse(
        iter(["h\u00e9llo ", b"w\xc3\xb6rld"]),
        status_code=201,
        headers={"X-Stream": "yes"},
        media_type="text/event-stream",
    )


def endless_chunks(count: list[int]) -> Iterator[str]:
    try:
        while True:
            count[0] += 1
            yield f"tick {count[0]}\n"
            time.sleep(0.02)
    finally:
        logger.info("endless generator closed after %d chunks", count[0])


async def endless_chunks_async(count: list[int]) -> AsyncIterator[str]:
    try:
        while True:
            count[0] += 1
            yield f"tick {count[0]}\n"
            await asyncio.sleep(0.02)
    finally:
        logger.info("endless generator closed after %d chunks", count[0])


@app.route(route="endless/sync")
def endless(req: HttpRequest) -> StreamingResponse:
    return StreamingResponse(endless_chunks([0]))


@app.route(route="endless/async")
async def endless_async(req: HttpRequest) -> StreamingResponse:
    return StreamingResponse(endless_chunks_async([0]))


@app.route(route="upload", methods=["POST"], stream_request=True)
async def upload(req: HttpRequest) -> HttpResponse:
    received = chunks = 0
    async for chunk in req.stream():
        received += len(chunk)
        chunks += 1
    counted = json.dumps({"bytes": received, "chunks": chunks})
    return HttpResponse(counted, mimetype="application/json")


@app.route(route="upload/echo", methods=["POST"], stream_request=True)
async def upload_echo(req: HttpRequest) -> StreamingResponse:
    async def sizes() -> AsyncIterator[str]:
        async for chunk in req.stream():
            yield f"got {len(chunk)}\n"

    return StreamingResponse(sizes())


@app.route(route="upload/misuse", methods=["POST"], stream_request=True)
async def upload_misuse(req: HttpRequest) -> str:
    return str(len(req.get_body()))


@app.route(route="whole", methods=["POST"])
def whole(req: HttpRequest) -> str:
    return str(len(req.get_body()))


def failing_chunks() -> Iterator[str]:
    yield "before\n"
    raise RuntimeError("the sensor went away")


@app.route(route="failing")
async def failing(req: HttpRequest) -> StreamingResponse:
    return StreamingResponse(failing_chunks())


@app.route(route="out", binding_arg_name="out")
def via_out(req: HttpRequest, out: Out[HttpResponse]) -> None:
    out.set(StreamingResponse(iter([b"set ", b"on out"])))


@app.route(route="short")
def short_circuited(req: HttpRequest) -> str:
    return "the extension answers instead"
