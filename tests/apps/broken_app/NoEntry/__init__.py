from extkit import HttpRequest  # imported callables are not listed as candidates


def handler(req: HttpRequest) -> str:
    return "handler"


def helper() -> None:
    return None
