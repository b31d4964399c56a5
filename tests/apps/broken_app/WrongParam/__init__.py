def main(request: object, extra: int) -> str:
    return "the binding is named req"
