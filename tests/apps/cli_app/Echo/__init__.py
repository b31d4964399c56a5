import logging

from cli_shared.guard import Guard  # noqa: F401 - importing it registers the extension

from extkit import HttpRequest


def main(req: HttpRequest) -> dict[str, object]:
    logging.getLogger("cli_app").info("echo called")
    return {
        "method": req.method,
        "url": req.url,
        "params": req.params,
        "route_params": req.route_params,
        "body": req.get_body().decode(),
        "content_type": req.headers.get("content-type"),
    }
