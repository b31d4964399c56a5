from extkit import HttpRequest


def run(req: HttpRequest) -> dict[str, object]:
    return {"method": req.method, "params": dict(req.params)}
