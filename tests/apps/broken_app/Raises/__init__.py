def _configure() -> None:
    raise RuntimeError("boom at import time")


_configure()


def main(req: object) -> str:
    return "unreachable"
