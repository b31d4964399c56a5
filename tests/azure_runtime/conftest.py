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


@pytest.fixture
def azure_worker(
    monkeypatch: pytest.MonkeyPatch, extkit_registry: RecordingRegistry
) -> Iterator[Callable[[str], AzureWorker]]:
    """``azure_worker("runtime_app")``: Azure's worker with that app of ``apps/`` loaded.

    The app's extensions register in the test's registry. The bundled extensions installed in
    this environment stay out unless the test sets ``EXTKIT_DISABLED_EXTENSIONS`` itself.
    """
    from azure_worker import AzureWorker

    monkeypatch.setenv("EXTKIT_DISABLED_EXTENSIONS", "timer,tracing")
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
