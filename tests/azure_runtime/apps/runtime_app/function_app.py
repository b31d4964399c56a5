"""The app, written as Azure's Python developer guide shows, plus the one line for extkit."""

import asyncio
import json
import logging
import threading

import azure.functions as func
from app_extensions import Cache, Gate, Stamp  # noqa: F401 - importing them registers them
from greetings import bp

import extkit
import extkit.azure

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
extkit.azure.enable(app)  # before the decorators: it takes effect when the worker indexes

Gate(functions=["guarded"])
app.register_functions(bp)


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    name = req.params.get("name", "world")
    logging.info("saying hello to %s", name)
    return func.HttpResponse(f"Hello, {name}!")


@app.route(route="whoami", methods=[func.HttpMethod.GET])
def whoami(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(
            {
                "invocation_id": context.invocation_id,
                "function_name": context.function_name,
                "function_directory": context.function_directory,
                "trace_parent": context.trace_context.trace_parent,
                "thread_local_id": context.thread_local_storage.invocation_id,
            }
        ),
        mimetype="application/json",
    )


async def log_soon(message: str) -> None:
    await asyncio.sleep(0)
    logging.info(message)


@app.function_name("AsyncHello")
@app.route(route="async-hello")
async def async_hello(req: func.HttpRequest) -> func.HttpResponse:
    on = threading.current_thread().name
    await asyncio.create_task(log_soon("from a task"))
    await asyncio.to_thread(logging.info, "from asyncio.to_thread")
    return func.HttpResponse(f"async, on {on}")


@app.route(route="threads")
def threads(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    thread = extkit.Thread(target=logging.info, args=("from an extkit.Thread",))
    thread.start()
    thread.join()

    def workaround() -> None:  # the thread-local workaround of Azure's docs
        context.thread_local_storage.invocation_id = context.invocation_id
        logging.info("from a thread that set thread_local_storage")

    plain = threading.Thread(target=workaround)
    plain.start()
    plain.join()
    with extkit.ContextThreadPoolExecutor(1) as pool:
        pool.submit(logging.info, "from a ContextThreadPoolExecutor").result()
    return func.HttpResponse("threads done")


@app.route(route="out", binding_arg_name="resp")
def via_out(req: func.HttpRequest, resp: func.Out[func.HttpResponse]) -> None:
    resp.set(func.HttpResponse("set on the Out", status_code=201))


@app.route(route="fail")
def fail(req: func.HttpRequest) -> func.HttpResponse:
    raise ValueError("the function failed")


@app.route(route="async-fail")
async def async_fail(req: func.HttpRequest) -> func.HttpResponse:
    raise ValueError("the async function failed")


@app.route(route="guarded")
def guarded(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("the key was right")


@app.route(route="cached")
def cached(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("computed")


@app.route(route="cached-out", binding_arg_name="resp")
def cached_out(req: func.HttpRequest, resp: func.Out[func.HttpResponse]) -> None:
    resp.set(func.HttpResponse("computed"))


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
def tick(timer: func.TimerRequest) -> None:
    logging.info("tick (past due: %s)", timer.past_due)


@app.route(route="named-context", trigger_arg_name="context")
def binding_named_context(context: func.HttpRequest) -> func.HttpResponse:
    logging.info("the request is named context: %s", context.method)
    return func.HttpResponse("a binding named context")
