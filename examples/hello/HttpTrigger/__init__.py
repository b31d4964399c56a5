"""The reference tutorial's function, unchanged but for the imports.

With the extensions gate on (local.settings.json), the timer extension appends
`` (TimeElapsed: <seconds> sec)`` to the greeting, as in the tutorial.
"""

import logging

from extkit_timer import TimerExtension

from extkit import HttpRequest, HttpResponse

TimerExtension.configure(append_to_http_response=True)


def main(req: HttpRequest) -> HttpResponse:
    logging.info("Python HTTP trigger function processed a request.")

    name = req.params.get("name")
    if not name:
        try:
            req_body = req.get_json()
        except ValueError:
            pass
        else:
            name = req_body.get("name") if isinstance(req_body, dict) else None

    if name:
        return HttpResponse(f"Hello, {name}. This HTTP triggered function executed successfully.")
    return HttpResponse(
        "This HTTP triggered function executed successfully. Pass a name in the query string "
        "or in the request body for a personalized response.",
        status_code=200,
    )
