"""Imports fine; must still not be loaded (nor its load hooks run) while the app is broken."""


def main(req: object) -> str:
    return "fine"
