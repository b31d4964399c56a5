"""``extkit new-app [PATH]`` and ``extkit new-extension NAME``: write a scaffold, say what is next.

The files come from :mod:`extkit.scaffold`; these commands only report what was written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Final

from ..scaffold import ScaffoldError, extension_names, write_app, write_extension
from .exit_codes import CommandError, ExitCode

__all__ = ["command_new_app", "command_new_extension"]


#: Printed with the next steps: the pip commands need it until extkit is on a package index.
_FIND_LINKS_NOTE: Final = (
    "(Until extkit is on a package index, set PIP_FIND_LINKS to a folder with its wheel before "
    "running pip: see extkit's docs/packaging.md.)"
)


def _cd_step(root: Path) -> list[str]:
    """``cd ROOT``, unless the scaffold was written into the current folder."""
    return [] if root.resolve() == Path.cwd().resolve() else [f"  cd {root}"]


def _where(root: Path) -> str:
    return "the current folder" if root.resolve() == Path.cwd().resolve() else str(root)


def command_new_extension(args: argparse.Namespace) -> int:
    """``extkit new-extension NAME [--scope app|function] [--dir PATH]``."""
    try:
        root = write_extension(args.name, scope=args.scope, directory=args.dir)
    except ScaffoldError as exc:
        raise CommandError(str(exc)) from None
    names = extension_names(args.name)
    print(f"Created {root} ({args.scope}-level extension {names.class_name}).")
    print("Next steps:")
    for line in [
        *_cd_step(root),
        f'  python -m pip install -e ".[test]" build   # entry point "{names.entry_point}"',
        "  python -m pytest",
        "  python -m build                              # wheel and sdist in dist/",
        _FIND_LINKS_NOTE,
    ]:
        print(line)
    return ExitCode.OK


def command_new_app(args: argparse.Namespace) -> int:
    """``extkit new-app [PATH]``."""
    try:
        root = write_app(args.path)
    except ScaffoldError as exc:
        raise CommandError(str(exc)) from None
    print(f"Created a function app in {_where(root)}.")
    print("Next steps:")
    for line in [
        *_cd_step(root),
        "  python -m pip install -r requirements.txt",
        "  extkit start      # serves the app until Ctrl+C",
        "Then open http://127.0.0.1:7071/api/HttpTrigger?name=Ada",
        _FIND_LINKS_NOTE,
    ]:
        print(line)
    return ExitCode.OK
