"""The ``extkit`` command line's parser: every command explains its arguments."""

from __future__ import annotations

import pytest

from extkit.cli import main


def _help_entries(text: str) -> dict[str, str]:
    """``--help``'s arguments (``positional arguments:``/``options:``) and their texts."""
    entries: dict[str, str] = {}
    name = None
    for line in text.split("\n\n", 1)[1].splitlines():
        if not line.startswith("  "):
            name = None
            continue
        if not line.startswith("   "):  # "  --flag X   text" or "  APP_DIR" (text below)
            name, _, help_text = line.strip().partition("  ")
            entries[name] = help_text.strip()
        elif name is not None:
            entries[name] = f"{entries[name]} {line.strip()}".strip()
    return entries


@pytest.mark.parametrize("command", ["invoke", "extensions", "new-app", "new-extension"])
def test_help_states_every_arguments_meaning_and_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    usage = text.split("\n\n", 1)[0]
    entries = _help_entries(text)
    del entries["-h, --help"]
    assert entries
    for name, help_text in entries.items():
        assert help_text, f"extkit {command} --help: {name} has no help text"
        word = name.split(",")[-1].split()[0]
        required = not word.startswith("-") and f"[{word}]" not in usage
        if not required:
            assert "default" in help_text, f"extkit {command} --help: {name}: no default given"
