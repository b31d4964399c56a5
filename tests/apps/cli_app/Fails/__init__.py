def main(req: object) -> str:
    raise ValueError("kaboom")
