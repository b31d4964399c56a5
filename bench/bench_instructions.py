"""Work per HTTP request, counted by valgrind: the servers of ``bench_http.py``, side by side, in
figures a busy machine cannot move.

Run from the repository root: ``python bench/bench_instructions.py [--requests 1000]``.
Needs valgrind (``apt-get install valgrind``); without it the benchmark says so and exits.

Each server runs under callgrind, which simulates the CPU's first-level caches and its branch
predictor, twice: once answering a warm-up of 100 requests and once answering as many plus
``--requests`` more, one after another on one kept-alive connection. The difference, divided by
``--requests``, is the server's own work per request (uvicorn's and the kernel's calls made on
its behalf aside): the instructions it executes, the cache lines its code and data miss, and the
branches it mispredicts. The same count comes out on a quiet machine and on one that is busy
with other work, so these figures compare runs and commits where ``wrk``'s do not. They are not
req/s: a request that misses more caches and branches costs more time than its instructions
say, which is why the table shows all three.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_http import HAND, STACKS, Server, servers  # bench/ is on sys.path when run from it

WARM_UP = 100
#: The servers counted, and the one each is compared with (the same work done without extkit).
COMPARED = {
    "starlette": "starlette",
    HAND: HAND,
    "extkit async, gate off": "starlette",
    "extkit async": HAND,
    "extkit sync": HAND,
}


def answered(
    port: int, requests: int, process: subprocess.Popen[bytes], timeout: float = 600
) -> None:
    """Wait for the server to answer (start-up under callgrind is slow), then send ``requests``
    more on the same connection. Unlike ``bench_http.wait_ready``, no request is given up on
    while it is answered, so every run counts the same number."""
    deadline = time.monotonic() + timeout
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request("GET", "/api/hello")
            connection.getresponse().read()
            break
        except OSError:
            connection.close()
            if process.poll() is not None:
                raise SystemExit(f"the server on port {port} exited under callgrind") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"no answer on port {port} within {timeout:g} s") from None
            time.sleep(0.5)
    for _ in range(requests):
        connection.request("GET", "/api/hello")
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"port {port} answered {response.status}")
    connection.close()


def counted(server: Server, requests: int, workdir: Path) -> dict[str, int]:
    """callgrind's totals for ``server`` answering ``requests`` (plus the first one)."""
    out = workdir / f"callgrind.{server.port}"
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        "--cache-sim=yes",
        "--branch-sim=yes",
        f"--callgrind-out-file={out}",
    ]
    env = {**server.env, "PYTHONHASHSEED": "0"}  # the same dict layouts in every run
    process = subprocess.Popen(
        [*valgrind, *server.command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        answered(server.port, requests, process)
    finally:
        process.terminate()
        process.wait(120)
    events: list[str] = []
    for line in out.read_text(encoding="utf-8").splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:"):
            return dict(zip(events, map(int, line.split()[1:]), strict=True))
    raise SystemExit(f"callgrind wrote no totals for {server.name}")


def per_request(server: Server, requests: int, workdir: Path) -> dict[str, float]:
    """Instructions, first-level cache misses and mispredicted branches per request (start-up,
    the warm-up and shutdown left out)."""
    warm = counted(server, WARM_UP, workdir)
    more = counted(server, WARM_UP + requests, workdir)
    delta = {event: (more[event] - warm[event]) / requests for event in more}
    return {
        "instructions": delta["Ir"],
        "cache misses": delta["I1mr"] + delta["D1mr"] + delta["D1mw"],
        "mispredictions": delta["Bcm"] + delta["Bim"],
    }


def report(stack: str, found: dict[str, dict[str, float]], requests: int) -> str:
    lines = [
        f"uvicorn {stack}, {requests} requests after {WARM_UP}, counted by callgrind; "
        "ratio: what the compared server executes per request over what this one does "
        "(above 1: this one does less).",
        "",
        "| server | instructions | L1 cache misses | mispredicted branches | compared with "
        "| ratio |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for name, figures in found.items():
        other = COMPARED[name]
        ratio = found[other]["instructions"] / figures["instructions"]
        lines.append(
            f"| {name} | {figures['instructions'] / 1000:.1f} k"
            f" | {figures['cache misses'] / 1000:.2f} k"
            f" | {figures['mispredictions'] / 1000:.2f} k"
            f" | {other} | {ratio:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests counted (1000)")
    parser.add_argument("--stack", choices=("both", *STACKS), default="both")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind): nothing measured")
        return 0
    stacks = list(STACKS) if args.stack == "both" else [args.stack]
    print(f"Python {sys.version.split()[0]}; {os.cpu_count()} CPUs.")
    with tempfile.TemporaryDirectory(prefix="extkit-bench-instructions-") as tmp:
        workdir = Path(tmp)
        for stack in stacks:
            counted_here = [s for s in servers(workdir, stacks=(stack,)) if s.name in COMPARED]
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                figures = pool.map(
                    lambda server: per_request(server, args.requests, workdir), counted_here
                )
                found = {s.name: f for s, f in zip(counted_here, figures, strict=True)}
            print()
            print(report(stack, found, args.requests))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
