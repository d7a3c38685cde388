"""The GPU costs of a UNIC run, in one command of a few minutes (docs/performance.md, "GPU checks").

    python benchmarks/gpu.py            # on a CUDA machine: ViT-B/16 of random weights at 224 px
    python benchmarks/gpu.py --smoke    # anywhere: the same code paths at toy sizes on the CPU

Prints, for a ViT-B/16 (seeded random weights: no download) at 224 px:
- feature extraction, images/s (fp16 autocast, channels-last, pinned memory);
- one UNIC last-block epoch on 10k images without and with the trunk-output cache
  (``train_augment=none``: the cached run's first epoch builds the cache, its second runs the tail only);
- exact kNN of 128k x 768 features: torch on the GPU vs faiss-cpu (when faiss is installed);
- peak GPU memory of each step.

It first says which packages are missing. The GPU machine has torch, timm, pluggy, rich, typer,
pandas and tabulate but not pydantic (needed: unic_bench's parameter models) nor faiss (optional:
only the faiss-cpu reference is skipped); docs/performance.md shows how to carry them as wheels.
Without CUDA (and without ``--smoke``) it exits with one line saying so.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

NEEDED = ("torch", "timm", "numpy", "pydantic", "pluggy", "filelock", "threadpoolctl", "scipy", "sklearn")
OPTIONAL = {"faiss": "the faiss-cpu kNN reference is skipped"}


def missing_packages() -> tuple[list[str], list[str]]:
    needed = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    optional = [name for name in OPTIONAL if importlib.util.find_spec(name) is None]
    return needed, optional


@dataclass(frozen=True)
class Sizes:
    arch: str  # RandomViT class name
    img_size: int
    extract_n: int
    train_n: int
    knn_n: int
    knn_dim: int
    batch: int
    workers: int


FULL = Sizes("RandomViT", 224, 8192, 10_000, 128_000, 768, 256, 8)
SMOKE = Sizes("RandomViTTiny", 32, 256, 256, 2_000, 64, 64, 0)


class RandomImages:
    """``n`` images cycling through a fixed bank of random ones (no decoding: the GPU's cost alone)."""

    def __init__(self, n: int, size: int, bank: int = 512) -> None:
        import torch

        self.n = n
        self.bank = torch.rand(min(bank, n), 3, size, size, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Any:
        return self.bank[index % len(self.bank)]


def bench_split(name: str, images: RandomImages) -> Any:
    """A split of random images with no labels that matter (the benchmark times, it does not score)."""
    import numpy as np

    from unic_bench.api.dataset import Split

    return Split(name=name, samples=images, labels=np.zeros(len(images), dtype=np.int64), manifest=name, transform="random")  # type: ignore[arg-type]


def peak_reset(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_gib(device: str) -> str:
    import torch

    if not device.startswith("cuda"):
        return "-"
    torch.cuda.synchronize()
    return f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="toy sizes on the CPU: checks the script, measures nothing")
    args = parser.parse_args()
    needed, optional = missing_packages()
    for name in optional:
        print(f"gpu.py: optional package '{name}' is missing: {OPTIONAL[name]}")
    if needed:
        raise SystemExit(
            f"gpu.py: missing packages {', '.join(needed)}; install them or carry them as wheels (docs/performance.md, GPU checks)"
        )
    import numpy as np
    import torch

    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("gpu.py: torch sees no CUDA device here; run it on a GPU machine, or pass --smoke for a CPU check")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from knn_backends import compare
    from trunk_cache import train

    from unic_bench.api.taskdata import FeatureSet, ImageAccess, TaskData
    from unic_bench.backbones.common import random_init
    from unic_bench.run.features import extract

    os.environ["UNIC_BENCH_TRUNK_CACHE"] = tempfile.mkdtemp(prefix="unic-bench-gpu-")  # a fresh build, not a stored entry
    sizes = SMOKE if args.smoke else FULL
    device = "cpu" if args.smoke else "cuda"
    where = "CPU (smoke)" if args.smoke else torch.cuda.get_device_name()
    print(f"device: {where}; torch {torch.__version__}; {sizes.arch} at {sizes.img_size} px")
    backbone = getattr(random_init, sizes.arch)(img_size=sizes.img_size)
    rows: list[tuple[str, str, str]] = []

    # 1. Feature extraction (a warm-up batch first: cuDNN/cuBLAS heuristics, allocator).
    images = RandomImages(sizes.extract_n, sizes.img_size)
    split = bench_split("bench", images)
    warm = bench_split("warm", RandomImages(sizes.batch, sizes.img_size))
    extract(backbone, warm, device, sizes.batch, sizes.workers)
    peak_reset(device)
    start = time.perf_counter()
    extract(backbone, split, device, sizes.batch, sizes.workers)
    seconds = time.perf_counter() - start
    rows.append(("extraction", f"{sizes.extract_n / seconds:.0f} images/s", peak_gib(device)))

    # 2. UNIC last-block epochs on train_n images, without and with the trunk cache.
    train_images = RandomImages(sizes.train_n, sizes.img_size)
    train_split = bench_split("train", train_images)
    feats = torch.from_numpy(extract(backbone, train_split, device, sizes.batch, sizes.workers))
    idx = np.arange(sizes.train_n)
    access = ImageAccess(backbone, train_images, train_images, train_images)  # type: ignore[arg-type]
    data = TaskData(
        task="clustering",
        num_classes=100,
        train=FeatureSet(feats, idx),
        eval=FeatureSet(feats, idx),
        images=access,
        dataset="random",
    )
    peak_reset(device)
    plain = train(data, 1, "off", 0, device, sizes.workers).epoch_seconds()
    rows.append((f"UNIC last-block epoch, {sizes.train_n} images, no cache", f"{plain[0]:.1f} s", peak_gib(device)))
    peak_reset(device)
    cached = train(data, 2, "auto", 0, device, sizes.workers).epoch_seconds()
    rows.append(("  with the trunk cache: first epoch (builds it)", f"{cached[0]:.1f} s", peak_gib(device)))
    rows.append(("  with the trunk cache: next epoch", f"{cached[1]:.1f} s ({plain[0] / cached[1]:.1f}x faster)", "-"))

    # 3. Exact kNN, torch on the device vs faiss-cpu.
    peak_reset(device)
    knn = compare(sizes.knn_n, sizes.knn_dim, 10, device)
    label = f"kNN {sizes.knn_n} x {sizes.knn_dim}, k=10"
    rows.append((f"{label}: torch on {device}", f"{knn['torch_s']:.2f} s", peak_gib(device)))
    if "faiss_cpu_s" in knn:
        rows.append(
            (
                f"{label}: faiss-cpu ({torch.get_num_threads()} threads)",
                f"{knn['faiss_cpu_s']:.2f} s (faiss-cpu / torch time = {knn['faiss_cpu_s'] / knn['torch_s']:.1f}x;"
                f" {100 * knn['same_index_fraction']:.3f}% same entries)",
                "-",
            )
        )
    print("\n| step | result | peak GPU memory |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
