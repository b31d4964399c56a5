"""How an ``extkit`` command ends: one exit status per kind of outcome, the same for every command.

Scripts rely on these numbers (``docs/cli.md`` lists them in one table), so each keeps its
meaning across commands. A command reports a problem by raising :class:`CommandError`;
:func:`extkit.cli.main` prints it as one line and returns its code.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["CommandError", "ExitCode"]


class ExitCode(IntEnum):
    """The exit status of every ``extkit`` command."""

    #: Done; for ``extkit start``, stopped by SIGTERM/SIGINT after a graceful shutdown.
    OK = 0
    #: What the command ran failed: an invocation, an extension import, the server's startup.
    FAILED = 1
    #: A bad command line or setting (flag, environment variable): nothing was run.
    USAGE = 2
    #: The app cannot be loaded; every problem was printed.
    APP_NOT_LOADED = 3
    #: ``extkit start``: the address and port are taken by another process.
    ADDRESS_IN_USE = 4
    #: ``extkit start``: a second signal stopped it without waiting (128 + the signal's number).
    FORCED_BY_SIGINT = 130
    FORCED_BY_SIGTERM = 143


class CommandError(Exception):
    """A problem that ends a command: printed as ``extkit COMMAND: message``, exit ``code``."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code
