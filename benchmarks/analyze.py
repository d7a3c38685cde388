"""``analyze neighbors`` time against the faiss kNN search it needs, in one run.

    python benchmarks/analyze.py                    # N=128,000, d=768, 100 clusters (heavy: ~2 x the kNN time)
    python benchmarks/analyze.py --n 20000          # a quick look

Same synthetic features as ``benchmarks/neighbors.py`` (``make_features``). Steps, timed in this
process one after the other on the same array:

- ``faiss-knn``: the exact search the analysis needs (``knn``, largest tau1 = 50 neighbours,
  self first): the reference time.
- ``analyze``: :func:`unic_bench.analysis.neighbors.analyze_neighbors` with tau1 = 10, 50 and
  sampled anchors for Fig. 8 (1,000 beyond 20,000 images): its own kNN, union sizes, the cleaning
  tables and the rank-accuracy curve.
- ``figures``: writing the four figures (PNG + SVG + CSV), reported apart.

Target: analyze <= 1.5x faiss-knn. Each step is timed twice: wall clock and this process's CPU
time (``time.process_time``). Run single-threaded (``OMP_NUM_THREADS=1``, as the commands in the
README) the CPU time is the work done, unaffected by other jobs on a shared machine, where wall
times swing by 2x between two steps; the ratio is taken on CPU time and both are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from neighbors import make_features  # noqa: E402  (the neighbour benchmark's generator, reused)

TARGET = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--anchors", type=int, default=None, help="Fig. 8 anchors (default: the analysis default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    import torch

    from unic_bench.analysis.neighbor_figures import write_neighbor_figures
    from unic_bench.analysis.neighbors import analyze_neighbors
    from unic_bench.methods.common.neighbors import knn

    x, labels = make_features(args.n, args.dim, args.clusters, args.seed)
    features = torch.from_numpy(x)
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(step: str, work: Any) -> Any:
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        result = work()
        wall[step], cpu[step] = time.perf_counter() - start_wall, time.process_time() - start_cpu
        return result

    timed("faiss-knn", lambda: knn(features, 50, "euclidean"))
    analysis = timed("analyze", lambda: analyze_neighbors(features, labels, (10, 50), "euclidean", args.anchors, args.seed))
    with tempfile.TemporaryDirectory() as out:
        timed("figures", lambda: write_neighbor_figures(analysis, Path(out), tau2=2 * args.n // args.clusters))
    ratio = cpu["analyze"] / cpu["faiss-knn"]
    sample = "exact" if analysis.ranks.exact else f"{analysis.ranks.anchors} sampled anchors"
    print(f"N={args.n:,} d={args.dim} clusters={args.clusters}, Fig. 8 over {sample}, torch threads {torch.get_num_threads()}")
    print("| step | CPU s | wall s |\n|---|---:|---:|")
    for step in cpu:
        print(f"| {step} | {cpu[step]:.1f} | {wall[step]:.1f} |")
    verdict = "OK" if ratio <= TARGET else "MISSED"
    print(
        f"analyze / faiss-knn (CPU time) = {ratio:.2f} (target <= {TARGET}): {verdict}; wall: {wall['analyze'] / wall['faiss-knn']:.2f}"
    )
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "dim": args.dim, "cpu_s": cpu, "wall_s": wall, "ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
