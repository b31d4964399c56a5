from shared_code import ORIGIN

from extkit import HttpRequest


def main(req: HttpRequest) -> str:
    return ORIGIN
