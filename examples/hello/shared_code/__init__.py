"""Code shared by the app's functions: ``from shared_code import greetings``."""
