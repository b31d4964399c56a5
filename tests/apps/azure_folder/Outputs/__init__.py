# A named http output: the response is set on a func.Out parameter, the return value is None.
import azure.functions as func


def main(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> None:
    res.set(
        func.HttpResponse(
            b"stored " + req.get_body(),
            status_code=202,
            headers={"X-Out": "yes"},
            mimetype="application/octet-stream",
        )
    )
