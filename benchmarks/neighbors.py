"""Neighbour-mining time and peak memory at ImageNet-100 scale, against a naive top-tau2 reference.

    python benchmarks/neighbors.py                       # N=128,000, d=768, 100 clusters (heavy)
    python benchmarks/neighbors.py --n 20000 --tau2 1000  # a quick look

Every step runs in its own subprocess of this script on the same saved features. After loading
them the subprocess resets its peak-RSS counter (Linux ``/proc/self/clear_refs``), so the peak
RSS of the step (``VmHWM``: covers faiss's and torch's native allocations, which tracemalloc
misses) minus the RSS before it is that step's own peak memory. Steps:

- ``faiss-knn``: ``faiss.knn`` exact search, tau1 neighbours: the reference time.
- ``prep``: the whole UNIC neighbour prep, ``unic_bench.methods.unic.mining.mine`` (kNN with self first,
  union sizes, negative thresholds) plus one eq.-3 negative drawn for every anchor.
- ``union``, ``negatives``: those parts of ``prep`` alone, for their own memory.
- ``naive-negatives``: the obvious way: chunked distance matrix, ``torch.topk`` of tau2 per
  anchor stored as an (N, tau2) int32 list (int32 halves topk's int64: kind to the reference),
  then one uniform draw per anchor outside its list by rejection.

Prints a Markdown table and the target checks (README "Neighbor mining benchmark").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

TARGETS = "prep <= 1.3x faiss kNN time and < 2 GiB peak; negatives >= 10x faster and >= 20x less memory than naive"
STEPS = ("faiss-knn", "prep", "union", "negatives", "naive-negatives")
NAIVE_ROWS = 1024  # anchors per distance block in the naive reference
WARM_ROWS = 8192  # warm-up run size (see run_step)


def make_features(n: int, dim: int, clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping Gaussian clusters on a 64-d subspace of R^dim, unequal sizes, plus small noise.

    Backbone features concentrate near a low-dimensional manifold; isotropic 768-d clusters would
    be trivially separable. The centre spread (0.8 latent std) leaves classes overlapping: the
    50-NN label purity is about 0.8 at N = 20,000 (0.70 with spread 0.7, 0.46 with 0.6).
    """
    rng = np.random.default_rng(seed)
    latent = 64
    sizes = rng.dirichlet(np.full(clusters, 20.0))
    labels = rng.choice(clusters, size=n, p=sizes)
    centres = rng.normal(scale=0.8, size=(clusters, latent)).astype(np.float32)
    basis = np.linalg.qr(rng.normal(size=(dim, latent)))[0].T.astype(np.float32)  # (latent, dim) orthonormal rows
    x = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 8192):
        z = centres[labels[s : s + 8192]] + rng.normal(size=(len(labels[s : s + 8192]), latent)).astype(np.float32)
        x[s : s + 8192] = z @ basis + 0.05 * rng.normal(size=(len(z), dim)).astype(np.float32)
    return x, labels


def naive_negatives(x: torch.Tensor, tau2: int, generator: torch.Generator) -> torch.Tensor:
    """Reference: materialise every anchor's top-tau2 list, then draw uniformly outside it."""
    n = x.shape[0]
    top = torch.empty((n, tau2), dtype=torch.int32)
    sq = x.pow(2).sum(1)
    for s in range(0, n, NAIVE_ROWS):
        d = torch.addmm(sq[s : s + NAIVE_ROWS, None] + sq, x[s : s + NAIVE_ROWS], x.T, alpha=-2.0)
        top[s : s + NAIVE_ROWS] = d.topk(tau2, dim=1, largest=False).indices.to(torch.int32)
    out = torch.empty(n, dtype=torch.int64)
    for s in range(0, n, NAIVE_ROWS):
        pending = torch.arange(s, min(s + NAIVE_ROWS, n))
        while pending.numel():
            candidates = torch.randint(n, pending.shape, generator=generator)
            inside = (top[pending] == candidates[:, None].to(torch.int32)).any(dim=1)
            out[pending[~inside]] = candidates[~inside]
            pending = pending[inside]
    return out


def rss_mib(field: str) -> float:
    """``VmRSS`` (current) or ``VmHWM`` (peak since the last reset) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def run_step(step: str, args: argparse.Namespace) -> dict[str, float]:
    """Run one step in this process; returns seconds, peak RSS delta and absolute peak (MiB).

    The step first runs once on the first ``WARM_ROWS`` rows, so that libraries' lazily loaded
    code and thread buffers (BLAS, OpenMP) are in the baseline, not in the step's peak.
    """
    import faiss

    from unic_bench.methods.common.neighbors import union_sizes
    from unic_bench.methods.unic.mining import diagnostics, mine
    from unic_bench.methods.unic.negatives import NegativeSampler

    work = Path(args.workdir)
    x = torch.from_numpy(np.load(work / "features.npy"))
    neighbors = np.load(work / "neighbors.npy") if step == "union" else None

    def run(x: torch.Tensor, neighbors: np.ndarray | None, tau2: int) -> object:
        generator = torch.Generator().manual_seed(args.seed)
        if step == "faiss-knn":
            return faiss.knn(x.numpy(), x.numpy(), args.tau1)
        if step == "prep":
            mined = mine(x, args.tau1, tau2, args.eta, seed=args.seed, threshold_mode="sampled")
            mined.negatives.sample(torch.arange(len(x)))
            return mined
        if step == "union":
            return union_sizes(neighbors)
        if step == "negatives":
            return NegativeSampler(x, tau2, mode="sampled", seed=args.seed).sample(torch.arange(len(x)))
        return naive_negatives(x, tau2, generator)

    warm = min(WARM_ROWS, len(x))
    run(x[:warm], None if neighbors is None else neighbors[:warm] % warm, min(args.tau2, warm // 5))
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    base = rss_mib("VmRSS")
    start = time.perf_counter()
    result = run(x, neighbors, args.tau2)
    seconds = time.perf_counter() - start
    peak = rss_mib("VmHWM")
    out = {"seconds": seconds, "peak_delta_mib": peak - base, "peak_mib": peak}
    if step == "prep":  # after the measurement; labels only describe how overlapping the data is
        np.save(work / "neighbors.npy", result.neighbors.numpy())
        out["purity"] = diagnostics(result, np.load(work / "labels.npy"))["positive_purity_before"]
        out["kept_fraction"] = result.keep.float().mean().item()
        out["sample_size"] = result.negatives.sample_size
    return out


def child(step: str, args: argparse.Namespace) -> dict[str, float]:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("step", "steps")]
    done = subprocess.run([sys.executable, __file__, "--step", step, *flags], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"step {step} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(r: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    rows = [
        ("faiss exact kNN alone (`faiss.knn`, tau1)", "faiss-knn"),
        ("whole prep: `mine()` + 1 negative per anchor", "prep"),
        ("  union sizes alone (eq. 4)", "union"),
        ("  negatives alone: thresholds + 1 draw per anchor", "negatives"),
        ("naive negatives: topk tau2 + (N, tau2) list + rejection", "naive-negatives"),
    ]
    lines = ["| step | time (s) | peak RSS delta (MiB) |", "|---|---:|---:|"]
    lines += [f"| {name} | {r[key]['seconds']:.1f} | {r[key]['peak_delta_mib']:.0f} |" for name, key in rows]
    prep_ratio = r["prep"]["seconds"] / r["faiss-knn"]["seconds"]
    speed = r["naive-negatives"]["seconds"] / r["negatives"]["seconds"]
    memory = r["naive-negatives"]["peak_delta_mib"] / max(r["negatives"]["peak_delta_mib"], 1.0)
    prep_peak = r["prep"]["peak_delta_mib"] / 1024

    def ok(passed: bool) -> str:
        return "met" if passed else "MISSED"

    lines += [
        "",
        f"N={args.n}, d={args.dim}, {args.clusters} clusters, tau1={args.tau1}, tau2={args.tau2}, eta={args.eta}; "
        f"sampled thresholds with m={int(r['prep']['sample_size'])} candidates; tau1-NN label purity {r['prep']['purity']:.3f}, kept fraction {r['prep']['kept_fraction']:.3f}.",
        "",
        "| ratio | value | target |",
        "|---|---:|---|",
        f"| whole prep time / faiss kNN time | {prep_ratio:.2f}x | <= 1.3x ({ok(prep_ratio <= 1.3)}) |",
        f"| whole prep peak RSS delta | {prep_peak:.2f} GiB (absolute {r['prep']['peak_mib'] / 1024:.2f} GiB) "
        f"| < 2 GiB ({ok(prep_peak < 2)}) |",
        f"| naive / ours negatives time | {speed:.1f}x | >= 10x ({ok(speed >= 10)}) |",
        f"| naive / ours negatives peak memory | {memory:.1f}x | >= 20x ({ok(memory >= 20)}) |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--tau1", type=int, default=50)
    parser.add_argument("--tau2", type=int, default=6300)
    parser.add_argument("--eta", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default="", help="where the features are saved (default: a temporary folder)")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated subset of {', '.join(STEPS)}")
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # internal: run one step, print JSON
    args = parser.parse_args()
    if args.step:
        print(json.dumps(run_step(args.step, args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        args.workdir = args.workdir or tmp
        features, labels = make_features(args.n, args.dim, args.clusters, args.seed)
        np.save(Path(args.workdir) / "features.npy", features)
        np.save(Path(args.workdir) / "labels.npy", labels)
        del features
        results = {}
        for step in args.steps.split(","):
            results[step] = child(step, args)
            print(f"{step}: {results[step]}", file=sys.stderr, flush=True)
        if set(results) == set(STEPS):
            print(report(results, args))


if __name__ == "__main__":
    main()
