"""Launch overhead of ``sweep --launcher slurm`` against ``--launcher local`` on the same 24 digits runs.

    scripts/slurm-cluster.sh start            # as root: the one-node cluster on this machine
    python benchmarks/sweep.py                # --runs-per-job 12 (two array tasks)
    python benchmarks/sweep.py --runs-per-job 12 --also-unpacked   # and one run per array task, for contrast

The grid: kMeans and UNIC (5 epochs, frozen pixels) on digits, both tasks, seeds 0-5 = 24 runs.
Each side is the whole CLI command in a subprocess (Python start-up included) with its own fresh
results folder and feature cache, so each extracts the features once; the SLURM side waits
(``--wait``) until every job has ended. Both sides run in this one invocation, one after the other,
and the 1-minute load average is printed with them: the machine may be shared.

Target (issue 11): SLURM wall time <= 1.5x local. Packing (``--runs-per-job``) is what bounds the
overhead: every array task pays a Python + torch start-up and a scheduling round.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRID = """
name: bench-24
methods:
  kmeans: {}
  unic: {epochs: [5]}
backbones: [pixels]
datasets: [digits]
tasks: [clustering, gcd]
seeds: [0, 1, 2, 3, 4, 5]
"""
TARGET = 1.5


def timed(args: list[str], workdir: Path) -> float:
    env = {**os.environ, "UNIC_BENCH_CACHE": str(workdir / "cache")}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "unic_bench", *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-per-job", type=int, default=12)
    parser.add_argument("--also-unpacked", action="store_true", help="also time --runs-per-job 1 (24 array tasks)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="unic-bench-sweep-bench-"))
    grid = root / "grid.yaml"
    grid.write_text(GRID)

    def side(name: str, extra: list[str]) -> tuple[str, float, float]:
        workdir = root / name
        load = os.getloadavg()[0]
        elapsed = timed(["sweep", str(grid), "--results", str(workdir / "results"), *extra], workdir)
        records = list((workdir / "results" / "runs").rglob("*.json"))
        if len(records) != 24:
            raise SystemExit(f"{name}: {len(records)} records, expected 24")
        return name, elapsed, load

    rows = [side("local", ["--launcher", "local"])]
    rows.append(
        side(f"slurm, {args.runs_per_job} runs/job", ["--launcher", "slurm", "--runs-per-job", str(args.runs_per_job), "--wait"])
    )
    if args.also_unpacked:
        rows.append(side("slurm, 1 run/job", ["--launcher", "slurm", "--runs-per-job", "1", "--wait"]))
    local = rows[0][1]
    print("| launcher | wall s | vs local | load avg (1 min) at start |")
    print("|---|---|---|---|")
    for name, elapsed, load in rows:
        print(f"| {name} | {elapsed:.1f} | {elapsed / local:.2f}x | {load:.1f} |")
    ratio = rows[1][1] / local
    verdict = "meets" if ratio <= TARGET else "misses"
    print(
        f"\nslurm ({args.runs_per_job} runs/job) / local = {ratio:.2f}x: {verdict} the <= {TARGET}x target ({os.cpu_count()} CPUs)"
    )


if __name__ == "__main__":
    main()
