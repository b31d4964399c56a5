"""Fixtures for the tests of extkit inside Azure's own Python worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from extkit.testing import RecordingRegistry

if TYPE_CHECKING:
    from azure_worker import AzureWorker

APPS = Path(__file__).parent / "apps"


@pytest.fixture(autouse=True)
def _only_the_apps_own_extensions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled extensions installed here stay out, unless a test sets
    ``EXTKIT_DISABLED_EXTENSIONS`` itself (``enable`` imports installed extensions)."""
    monkeypatch.setenv("EXTKIT_DISABLED_EXTENSIONS", "timer,tracing")


@pytest.fixture
def azure_worker(extkit_registry: RecordingRegistry) -> Iterator[Callable[[str], AzureWorker]]:
    """``azure_worker("runtime_app")``: Azure's worker with that app of ``apps/`` loaded.

    The app's extensions register in the test's registry.
    """
    from azure_worker import AzureWorker

    workers: list[AzureWorker] = []
    with asyncio.Runner() as runner:

        def start(app: str) -> AzureWorker:
            worker = AzureWorker(runner)
            workers.append(worker)
            return worker.start(APPS / app)

        try:
            yield start
        finally:
            for worker in workers:
                worker.stop()
