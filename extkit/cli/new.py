"""``extkit new-app [PATH]`` and ``extkit new-extension NAME``: write a scaffold, say what is next.

The files come from :mod:`extkit.scaffold`; these commands only report what was written.
"""

from __future__ import annotations

import argparse

from ..scaffold import ScaffoldError, extension_names, write_app, write_extension
from .exit_codes import CommandError, ExitCode

__all__ = ["command_new_app", "command_new_extension"]


def command_new_extension(args: argparse.Namespace) -> int:
    """``extkit new-extension NAME [--scope app|function] [--dir PATH]``."""
    try:
        root = write_extension(args.name, scope=args.scope, directory=args.dir)
    except ScaffoldError as exc:
        raise CommandError(str(exc)) from None
    names = extension_names(args.name)
    print(f"Created {root} ({args.scope}-level extension {names.class_name}).")
    print("Next steps:")
    print(f"  cd {root}")
    print('  python -m pip install -e . pytest   # entry point "' + names.entry_point + '"')
    print("  python -m pytest")
    print("  python -m build                       # wheel and sdist in dist/")
    return ExitCode.OK


def command_new_app(args: argparse.Namespace) -> int:
    """``extkit new-app [PATH]``."""
    try:
        root = write_app(args.path)
    except ScaffoldError as exc:
        raise CommandError(str(exc)) from None
    print(f"Created a function app in {root}.")
    print("Next steps:")
    print(f"  cd {root}")
    print("  python -m pip install -r requirements.txt")
    print("  extkit start      # then open http://127.0.0.1:7071/api/HttpTrigger?name=Ada")
    return ExitCode.OK
