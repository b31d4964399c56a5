# A function written against azure.functions that uses extkit's bundled timer instead of the
# tutorial's: extkit extensions apply to it as to an extkit-typed function.
import azure.functions as func
from extkit_timer import TimerExtension

TimerExtension.configure(append_to_http_response=True, server_timing_header=True)


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"Hello, {req.params.get('name')}.")
