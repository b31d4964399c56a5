"""Per-invocation overhead of extkit's engine, beside the reference system, pluggy and a loop.

Run from the repository root: ``python bench/bench_engine.py [--json PATH] [--check]``.

Absolute times drift between runs on shared machines, so every variant is compared with a bare
``fn(**args)`` call timed in the same round: each round times every variant and the bare call once,
in a shuffled order, and the table reports the median of the per-round ratios. The overhead is
derived from it: ``(ratio - 1) * bare``. The reference figures were measured the same way, so the
ratios can be compared across machines; the pluggy rows, measured here too, show how close this
machine is to the one the reference figures come from.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import pluggy
from _rounds import Clock, Variant, measure  # bench/ is on sys.path when a script here runs

import extkit
from extkit import AppExtensionBase, Engine, HttpRequest, LoadedFunction, Registry

#: Extension counts measured; each extension has a pre and a post hook.
COUNTS = (0, 1, 5, 20)

#: Reference figures: (overhead in µs over a bare call, ratio to it), measured with this method on
#: a 2-vCPU machine with CPython 3.11: the Azure Functions Python worker 4.34.0 ``ExtensionManager``
#: (extensions disabled; enabled with N no-op app extensions, pre and post hooks) and pluggy 1.7.0.
REFERENCE_DISABLED = (6.3, 35.0)
REFERENCE_ENABLED = {0: (9.8, 56.0), 1: (12.8, 74.0), 5: (21.8, 125.0), 20: (59.9, 308.0)}
REFERENCE_PLUGGY = {0: (1.37, 24.0), 1: (2.24, 35.0), 5: (4.05, 69.0), 20: (10.9, 188.0)}
REFERENCE_LOOP_NOTE = "40-45 ns per callback"

#: Targets, in ns of overhead over a bare call.
TARGET_GATE_OFF_NS = 100.0
TARGET_FRACTION_OF_REFERENCE = 0.1
TARGET_N5_NS = 2000.0  # one dispatch path for every mix of hooks: ≤ 2 µs at N=5


# --- what is measured ---------------------------------------------------------------------------


def handler(req: HttpRequest) -> None:
    """The function under the hooks: as cheap as possible, so the dispatch cost stands out."""


def no_op_extension(name: str) -> type[AppExtensionBase]:
    """An app extension with the reference's hook signatures, doing nothing."""

    def pre_invocation_app_level(
        cls: type, logger: Any, context: Any, func_args: Any, *args: Any, **kwargs: Any
    ) -> None:
        pass

    def post_invocation_app_level(
        cls: type,
        logger: Any,
        context: Any,
        func_args: Any,
        func_ret: Any,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        pass

    namespace = {
        "__module__": __name__,
        "pre_invocation_app_level": classmethod(pre_invocation_app_level),
        "post_invocation_app_level": classmethod(post_invocation_app_level),
    }
    return type(name, (AppExtensionBase,), namespace)


def no_op_extensions(count: int) -> tuple[Registry, list[Any]]:
    """``count`` distinct no-op extensions in a registry of their own."""
    registry = Registry()
    with extkit.isolated_registry(registry):
        extensions = [no_op_extension(f"NoOp{i}") for i in range(count)]
    return registry, extensions


def loaded_with(count: int, *, enabled: bool) -> LoadedFunction:
    registry, _ = no_op_extensions(count)
    return Engine(registry=registry, enabled=enabled).load(handler, name="HttpTrigger")


hookspec = pluggy.HookspecMarker("bench")
hookimpl = pluggy.HookimplMarker("bench")


class PluggySpec:
    @hookspec
    def pre_invocation(self, logger: Any, context: Any, func_args: Any) -> None:
        """The pluggy counterpart of a pre hook."""


class PluggyPlugin:
    @hookimpl
    def pre_invocation(self, logger: Any, context: Any, func_args: Any) -> None:
        pass


def pluggy_manager(count: int) -> pluggy.PluginManager:
    manager = pluggy.PluginManager("bench")
    manager.add_hookspecs(PluggySpec)
    for i in range(count):
        manager.register(PluggyPlugin(), name=f"plugin{i}")
    return manager


def pre_callback(logger: Any, context: Any, func_args: Any) -> None:
    pass


def post_callback(logger: Any, context: Any, func_args: Any, func_ret: Any) -> None:
    pass


#: Pre hooks, the function, post hooks: the shape of an invocation without an engine.
LOOP = (
    "for cb in pre: cb(logger, context, args)\n"
    "fn(**args)\n"
    "for cb in post: cb(logger, context, args, None)"
)


@dataclass
class EngineVariant(Variant):
    """A variant with the reference figure and target it is compared against."""

    reference: tuple[float, float] | None = None  # (overhead µs, ratio)
    reference_note: str = ""
    target_ns: float | None = None


def target_for(count: int) -> float:
    target = REFERENCE_ENABLED[count][0] * 1000 * TARGET_FRACTION_OF_REFERENCE
    return min(target, TARGET_N5_NS) if count == 5 else target


def build_variants() -> tuple[Variant, list[EngineVariant]]:
    request = HttpRequest("GET", "/api/HttpTrigger", params={"name": "Ada"})
    base: dict[str, Any] = {
        "fn": handler,
        "args": {"req": request},
        "logger": logging.getLogger("bench"),
        "context": None,
    }
    bare = EngineVariant("bare fn(**args)", "fn(**args)", base)
    variants: list[EngineVariant] = []

    def extkit_variant(name: str, loaded: LoadedFunction, method: str, **extra: Any) -> None:
        namespace = {**base, method: getattr(loaded, method), "context": loaded.new_context()}
        variants.append(EngineVariant(name, f"{method}(args, context)", namespace, **extra))

    extkit_variant(
        "extkit call(), gate off (5 registered)",
        loaded_with(5, enabled=False),
        "call",
        reference=REFERENCE_DISABLED,
        reference_note="worker, extensions disabled",
        target_ns=TARGET_GATE_OFF_NS,
    )
    for count in COUNTS:
        extkit_variant(
            f"extkit call(), gate on, N={count}",
            loaded_with(count, enabled=True),
            "call",
            reference=REFERENCE_ENABLED[count],
            reference_note=f"worker, N={count}",
            target_ns=target_for(count),
        )
    for count in (0, 5):
        extkit_variant(
            f"extkit invoke(), gate on, N={count}",
            loaded_with(count, enabled=True),
            "invoke",
            reference=REFERENCE_ENABLED[count],
            reference_note=f"worker, N={count}",
            target_ns=target_for(count),
        )
    for count in COUNTS:
        variants.append(
            EngineVariant(
                f"pluggy pm.hook.x(), {count} impls",
                "pm.hook.pre_invocation(logger=logger, context=context, func_args=args)\n"
                "fn(**args)",
                {**base, "pm": pluggy_manager(count)},
                reference=REFERENCE_PLUGGY[count],
                reference_note=f"pluggy, {count} impls",
            )
        )
    for count in COUNTS[1:]:
        _, extensions = no_op_extensions(count)
        hooks = {
            "pre": [extension.pre_invocation_app_level for extension in extensions],
            "post": [extension.post_invocation_app_level for extension in reversed(extensions)],
        }
        variants.append(
            EngineVariant(
                f"loop over the same N={count} hooks",
                LOOP,
                {**base, **hooks},
                reference_note="floor for these hooks",
            )
        )
    for count in COUNTS:
        callbacks = {"pre": [pre_callback] * count, "post": [post_callback] * count}
        variants.append(
            EngineVariant(
                f"loop, {2 * count} plain callbacks",
                LOOP,
                {**base, **callbacks},
                reference_note=REFERENCE_LOOP_NOTE if count else "",
            )
        )
    return bare, variants


def results(bare: EngineVariant, variants: list[EngineVariant], clock_name: str) -> dict[str, Any]:
    bare_ns = statistics.median(bare.per_call_ns)
    rows: list[dict[str, Any]] = []
    for variant in variants:
        ratio = statistics.median(variant.ratios)
        overhead = (ratio - 1) * bare_ns
        q1, _, q3 = statistics.quantiles(variant.ratios, n=4)
        rows.append(
            {
                "variant": variant.name,
                "overhead_ns": round(overhead, 1),
                "ratio": round(ratio, 2),
                "overhead_iqr_ns": [round((q1 - 1) * bare_ns, 1), round((q3 - 1) * bare_ns, 1)],
                "reference": variant.reference_note,
                "reference_overhead_us": variant.reference[0] if variant.reference else None,
                "reference_ratio": variant.reference[1] if variant.reference else None,
                "target_ns": variant.target_ns,
                "met": None if variant.target_ns is None else overhead <= variant.target_ns,
                "calls_per_sample": variant.number,
            }
        )
    # How this machine compares with the one the reference figures come from, judged by the
    # variants measured on both: pluggy's (same pluggy and Python versions).
    yardstick = [
        row["overhead_ns"] / (row["reference_overhead_us"] * 1000)
        for row in rows
        if row["variant"].startswith("pluggy")
    ]
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "extkit": extkit.__version__,
        "pluggy": version("pluggy"),
        "clock": clock_name,
        "rounds": len(bare.per_call_ns),
        "bare_ns": round(bare_ns, 1),
        "machine_vs_reference": round(statistics.median(yardstick), 2),
        "variants": rows,
    }


def render(report: dict[str, Any]) -> str:
    lines = [
        f"{report['implementation']} {report['python']}, {report['cpus']} CPUs, "
        f"extkit {report['extkit']}, pluggy {report['pluggy']}; {report['rounds']} rounds, "
        f"{report['clock']} clock; bare fn(**args) = {report['bare_ns']:.0f} ns",
        f"pluggy took {report['machine_vs_reference']:.2f}x its reference time here "
        + (
            "(above 1: this machine, at this moment, is slower than the reference one)"
            if report["python"].startswith("3.11.")
            else "(the reference ran CPython 3.11, so this compares interpreters too)"
        ),
        "",
        "| variant | overhead | ratio | reference | ref. overhead | ref. ratio | target | met |",
        "|---|---:|---:|---|---:|---:|---:|:-:|",
    ]
    for row in report["variants"]:
        reference, ratio, target = (
            row["reference_overhead_us"],
            row["reference_ratio"],
            row["target_ns"],
        )
        cells = [
            row["variant"],
            f"{row['overhead_ns'] / 1000:.3f} µs",
            f"{row['ratio']:.2f}x",
            row["reference"],
            "" if reference is None else f"{reference:g} µs",
            "" if ratio is None else f"{ratio:g}x",
            "" if target is None else f"≤ {target / 1000:g} µs",
            {None: "", True: "yes", False: "**no**"}[row["met"]],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cpu_clock() -> tuple[Clock, str]:
    """The thread's CPU time, so time the scheduler gives other processes on a shared machine is
    not counted; wall-clock time where the CPU clock is too coarse for 40 ms samples."""
    if time.get_clock_info("thread_time").resolution <= 1e-6:
        return time.thread_time, "thread CPU"
    return time.perf_counter, "wall"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="rounds (default 21)")
    parser.add_argument("--sample-ms", type=float, default=40.0, help="ms per sample (default 40)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--wall-clock", action="store_true", help="time with perf_counter instead of CPU time"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    options = parser.parse_args(argv)
    if options.rounds < 3:
        parser.error("--rounds must be at least 3")
    clock, clock_name = (time.perf_counter, "wall") if options.wall_clock else cpu_clock()

    bare, variants = build_variants()
    measure(bare, variants, options.rounds, options.sample_ms / 1000, clock)
    report = results(bare, variants, clock_name)
    print(render(report))
    missed = [row["variant"] for row in report["variants"] if row["met"] is False]
    print("\nTargets: " + ("all met" if not missed else "missed by " + "; ".join(missed)))
    if options.json:
        with open(options.json, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
            out.write("\n")
    return 1 if options.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
