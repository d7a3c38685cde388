"""Issue 14's contention target: two ``unic-bench demo`` started at once vs one alone, same run.

    python benchmarks/two_demos.py                 # the demo's defaults (--jobs per core)
    python benchmarks/two_demos.py --demo-args "--jobs 1"

Runs one demo alone, then two at once (separate results folders under a temp dir, so nothing
committed is touched), and prints each wall time, the ratio concurrent / alone (target <= 2.5;
2.0 is fair sharing of the cores by two equal jobs) and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def start(results: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], float]:
    exe = shutil.which("unic-bench") or "unic-bench"
    command = [exe, "demo", "--results", str(results), *extra]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), time.perf_counter()


def wait(runs: list[tuple[subprocess.Popen[bytes], float]]) -> list[float]:
    times = []
    for process, began in runs:
        if process.wait() != 0:
            raise SystemExit(f"a demo failed (exit {process.returncode})")
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-args", default="", help="extra flags for each demo, e.g. '--jobs 1'")
    args = parser.parse_args()
    extra = shlex.split(args.demo_args)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="two-demos-") as tmp:
        (alone,) = wait([start(Path(tmp) / "alone", extra)])
        pair = wait([start(Path(tmp) / f"pair{i}", extra) for i in (1, 2)])
    print(f"load average before {load_before:.2f}, after {os.getloadavg()[0]:.2f}; demo args: {args.demo_args or '(none)'}")
    print("| run | wall time (s) |\n|---|---:|")
    print(f"| one demo alone | {alone:.1f} |")
    for i, seconds in enumerate(pair, 1):
        print(f"| two at once: demo {i} | {seconds:.1f} |")
    print(f"\nslowest of the two / alone = **{max(pair) / alone:.2f}x** (target <= 2.5x)")


if __name__ == "__main__":
    main()
