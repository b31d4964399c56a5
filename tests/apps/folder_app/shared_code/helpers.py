import os


def greeting() -> str:
    return os.environ["FOLDER_APP_GREETING"]
