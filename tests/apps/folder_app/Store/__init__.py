from extkit import HttpRequest, HttpResponse, Out


def main(request: HttpRequest, response: Out[HttpResponse]) -> None:
    response.set(HttpResponse(b"stored:" + request.get_body(), status_code=201))
