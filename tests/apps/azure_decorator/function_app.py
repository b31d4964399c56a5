# A decorator-model app written against azure.functions, as the reference's Python developer
# guide shows it: a FunctionApp, routes, a timer, a blueprint, a named http output.
import logging

import azure.functions as func
from blueprints.greetings import bp
from blueprints.stamps import StampExtension
from python_worker_extension_timer import TimerExtension

TimerExtension.configure(append_to_http_response=True)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

stamp = StampExtension(__file__)  # serves the functions of this file, not the blueprint's


@app.function_name(name="HttpExample")
@app.route(route="hello", methods=[func.HttpMethod.GET, func.HttpMethod.POST])
def http_example(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("Python HTTP trigger function processed a request.")
    name = req.params.get("name")
    if not name:
        try:
            req_body = req.get_json()
        except ValueError:
            pass
        else:
            name = req_body.get("name")
    if name:
        return func.HttpResponse(
            f"Hello, {name}. This HTTP triggered function executed successfully."
        )
    return func.HttpResponse(
        "Pass a name in the query string or in the request body.", status_code=400
    )


@app.route(route="secret", auth_level=func.AuthLevel.FUNCTION)
def secret(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("the secret", mimetype="text/plain")


@app.route(route="stored", methods=["POST"], binding_arg_name="outresp")
def stored(req: func.HttpRequest, outresp: func.Out[func.HttpResponse]) -> None:
    outresp.set(func.HttpResponse(b"stored " + req.get_body(), status_code=202))


@app.timer_trigger(
    schedule="0 0 0 1 1 *", arg_name="mytimer", run_on_startup=True, use_monitor=False
)
def startup_timer(mytimer: func.TimerRequest) -> None:
    logging.info(
        "startup_timer ran: %s past_due=%s",
        type(mytimer).__name__ if isinstance(mytimer, func.TimerRequest) else "not a TimerRequest",
        mytimer.past_due,
    )


app.register_functions(bp)
