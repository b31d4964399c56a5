"""The public surface imports and one invocation runs through an extension."""

from __future__ import annotations

import extkit
from extkit import AppExtensionBase, Engine, Registry


def test_public_names_are_exported() -> None:
    missing = [name for name in extkit.__all__ if not hasattr(extkit, name)]
    assert missing == []


def test_one_invocation_runs_pre_function_post(extkit_registry: Registry) -> None:
    calls: list[str] = []

    class Recorder(AppExtensionBase):
        @classmethod
        def pre_invocation_app_level(cls, context: extkit.Context) -> None:
            calls.append(f"pre {context.function_name}")

        @classmethod
        def post_invocation_app_level(cls, func_ret: object) -> None:
            calls.append(f"post {func_ret}")

    def hello(name: str) -> str:
        calls.append("function")
        return f"Hello, {name}"

    loaded = Engine(registry=extkit_registry, enabled=True).load(hello)
    assert loaded.invoke({"name": "Ada"}) == "Hello, Ada"
    assert calls == ["pre hello", "function", "post Hello, Ada"]
