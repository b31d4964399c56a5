def main(req: object) -> str:
    raise ValueError(f"kaboom at {getattr(req, 'url', '')}")
