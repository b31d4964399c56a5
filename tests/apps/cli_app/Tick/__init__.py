import logging


def main(timer: object) -> None:
    logging.getLogger("cli_app").info("tick past_due=%s", getattr(timer, "past_due", None))
