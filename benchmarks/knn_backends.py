"""Exact kNN: the torch backend (chunked fp32 matmul + topk) vs faiss, same features, one run.

    python benchmarks/knn_backends.py                         # N=32,000, d=768, k=10, CPU
    python benchmarks/knn_backends.py --n 128000 --device cuda   # torch on the GPU vs faiss-cpu

On a CPU faiss is expected to win (its blocked BLAS search with a fused heap beats a matmul plus
``topk`` over (chunk, N) blocks); the torch backend exists for runs on a GPU with faiss-cpu only,
where ``benchmarks/gpu.py`` measures it. Prints both times, their ratio and the agreement of
the neighbour lists (ties aside, they are the same).
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from neighbors import make_features  # same folder: clustered features with a low-dimensional structure

from unic_bench.methods.common.neighbors import has_faiss, knn


def timed_knn(x: torch.Tensor, k: int, device: str, backend: str) -> tuple[float, torch.Tensor]:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    _, idx = knn(x, k, "euclidean", device, backend=backend)  # type: ignore[arg-type]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, idx.cpu()


def compare(n: int, dim: int, k: int, device: str, seed: int = 0) -> dict[str, float]:
    """Seconds of faiss (CPU, or GPU when faiss has it) and of torch on ``device``; agreement of the lists."""
    x = torch.from_numpy(make_features(n, dim, 100, seed)[0])
    out: dict[str, float] = {}
    torch_s, torch_idx = timed_knn(x.to(device), k, device, "torch")
    out["torch_s"] = torch_s
    if has_faiss():
        faiss_s, faiss_idx = timed_knn(x, k, "cpu", "faiss")
        out["faiss_cpu_s"] = faiss_s
        out["same_index_fraction"] = (torch_idx == faiss_idx).float().mean().item()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=32_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--k", type=int, default=10, help="neighbours incl. self (UNIC's tau1)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"threads {torch.get_num_threads()}, load average {os.getloadavg()}")
    result = compare(args.n, args.dim, args.k, args.device)
    print(f"kNN N={args.n} d={args.dim} k={args.k}: torch on {args.device} {result['torch_s']:.2f} s", end="")
    if "faiss_cpu_s" in result:
        ratio = result["torch_s"] / result["faiss_cpu_s"]
        print(
            f", faiss-cpu {result['faiss_cpu_s']:.2f} s: torch / faiss = {ratio:.2f}x;"
            f" same neighbour at {100 * result['same_index_fraction']:.3f}% of the entries"
        )
    else:
        print(" (faiss not installed: no reference)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
