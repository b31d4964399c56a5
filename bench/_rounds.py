"""The measuring method every extkit benchmark shares: interleaved, shuffled rounds.

Each variant and a baseline are timed once per round, in a shuffled order, so drift on a shared
machine hits them alike; a variant's figure is the median of its per-round ratios to the
baseline measured in that same round.
"""

from __future__ import annotations

import gc
import random
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Clock = Callable[[], float]


@dataclass
class Variant:
    """One statement to time, with the namespace it runs in and its per-round results."""

    name: str
    stmt: str
    namespace: dict[str, Any]
    number: int = 0  # calls per sample, set by calibration
    per_call_ns: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # to the baseline, one per round

    def timer(self, clock: Clock) -> timeit.Timer:
        return timeit.Timer(self.stmt, timer=clock, globals=self.namespace)


def calibrate(variant: Variant, sample_s: float, clock: Clock) -> None:
    """Pick the number of calls that makes one sample last about ``sample_s``."""
    timer = variant.timer(clock)
    number = 100
    while (elapsed := timer.timeit(number)) < 0.01:
        number *= 4
    variant.number = max(1, round(number * sample_s / elapsed))


def measure(
    baseline: Variant, variants: list[Variant], rounds: int, sample_s: float, clock: Clock
) -> None:
    """Time ``baseline`` and every variant once per round, shuffled; record ratios per round."""
    everything = [baseline, *variants]
    for variant in everything:
        calibrate(variant, sample_s, clock)
    timers = [variant.timer(clock) for variant in everything]
    rng = random.Random(20261123)
    for _ in range(rounds):
        order = list(range(len(everything)))
        rng.shuffle(order)
        seconds = [0.0] * len(everything)
        for i in order:
            seconds[i] = timers[i].timeit(everything[i].number) / everything[i].number
        gc.collect()  # timeit runs with the collector off; clear up between rounds
        for variant, per_call in zip(everything, seconds, strict=True):
            variant.per_call_ns.append(per_call * 1e9)
            variant.ratios.append(per_call / seconds[0])
