import logging

logger = logging.getLogger(__name__)


def compose(name: str) -> str:
    """Build a greeting; called on a worker thread, its log line still names the invocation."""
    logger.info("composing a greeting for %s", name)
    return f"Hello, {name}. This HTTP triggered function executed successfully."
