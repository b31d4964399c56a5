"""The README's first extension works as shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from extkit import Engine, Registry
from extkit.testing import CapturedLogs

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_the_readme_extension_times_every_invocation(
    extkit_registry: Registry, extkit_logs: CapturedLogs
) -> None:
    (block,) = _python_blocks()
    namespace: dict[str, object] = {}
    exec(compile(block, str(README), "exec"), namespace)

    def hello() -> str:
        return "hi"

    def broken() -> str:
        raise ValueError("no")

    engine = Engine(registry=extkit_registry, enabled=True)
    assert engine.load(hello).invoke() == "hi"
    with pytest.raises(ValueError, match="no"):
        engine.load(broken).invoke()
    lines = extkit_logs.messages("extkit.extensions.Stopwatch")
    assert len(lines) == 2
    assert re.fullmatch(r"hello took \d+\.\d{3} s \(failed: False\)", lines[0])
    assert re.fullmatch(r"broken took \d+\.\d{3} s \(failed: True\)", lines[1])
