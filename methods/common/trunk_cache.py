"""Trunk-output cache for last-block finetuning: the frozen trunk runs once, every epoch runs the tail.

With ``finetune=last-block`` every epoch pushes each anchor, positive and negative through the
whole frozen trunk (3 N images per epoch), although a frozen trunk in eval mode maps an image to
the same tokens every time. When the training images are fixed, the trunk outputs (the tokens or
feature maps entering the trainable tail) are computed once and each epoch runs only tail + head:

- ``train_augment=none`` (a named deviation from the paper, whose train transform augments):
  the tail trains on the feature-extraction transform, one trunk output per image;
- ``train_views=V``: V augmented draws per image, drawn once (seeded) and cached; each tuple
  member of each epoch takes one of its image's V draws at random.

Where the outputs live: on the GPU when they fit in ``trunk_cache_gpu_fraction`` of the device's
memory (bf16 under autocast), else in a memory-mapped ``.npy`` on local disk
(``$UNIC_BENCH_TRUNK_CACHE``, default ``<cache root>/trunk``), written atomically under the feature
cache's lock and keyed like it (sha256 of everything the outputs are computed from), so the other
seeds of a configuration reuse the file. The size is printed before anything is built.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from unic_bench.api.component import ParamsModel
from unic_bench.api.taskdata import Progress, no_progress
from unic_bench.atomic import write_json
from unic_bench.errors import BenchError
from unic_bench.run.features import FeatureCache, array_sha256, cache_root

TRUNK_CACHE_VERSION = 1
TRUNK_CACHE_ENV = "UNIC_BENCH_TRUNK_CACHE"
BUILD_BATCH = 256  # images per trunk forward pass while building

TrainAugment = Literal["paper", "none"]


class TrainInputParams(ParamsModel):
    """Which images the trainable tail sees in ``finetune=last-block`` mode, and the trunk cache."""

    train_augment: TrainAugment = Field(
        "paper", description="paper = the dataset's train transform (augmentation); none = deviation: no augmentation"
    )
    train_views: int | None = Field(
        None, ge=1, description="deviation: V augmented draws per image, drawn once and cached (None = fresh every epoch)"
    )
    trunk_cache: Literal["auto", "off"] = Field(
        "auto", description="auto = cache the frozen trunk's outputs when the train images are fixed; off = recompute"
    )
    trunk_cache_gpu_fraction: float = Field(
        0.5, gt=0, le=1, description="keep the trunk cache on the GPU when it fits in this fraction of its memory"
    )

    def cached_views(self) -> int | None:
        """Trunk outputs per image to cache (1 or V), or None when every epoch needs fresh images."""
        if self.train_views is not None and self.train_augment == "none":
            raise BenchError(f"train_views={self.train_views} needs train_augment=paper (augmented draws); got none")
        if self.trunk_cache == "off":
            return None
        return 1 if self.train_augment == "none" else self.train_views


def trunk_cache_dir() -> Path:
    """``$UNIC_BENCH_TRUNK_CACHE`` (e.g. node-local scratch on a cluster) or ``<cache root>/trunk``."""
    raw = os.environ.get(TRUNK_CACHE_ENV)
    return Path(raw).expanduser() if raw else cache_root() / "trunk"


def describe_images(images: Dataset) -> str:
    """The transform of a sample dataset, for the key of augmented views (its repr lists the
    parameters); a concatenation (STL-10's train + unlabeled parts) by its parts' transforms."""
    if isinstance(images, ConcatDataset):
        return " + ".join(describe_images(part) for part in images.datasets)
    transform = getattr(images, "transform", None) or getattr(images, "augment", None)
    return f"{type(images).__name__}:{transform!r}"


def trunk_cache_key(
    backbone_identity: str, train_features: torch.Tensor, views: int, augmented: str | None, seed: int, workers: int
) -> str:
    """sha256 of what the trunk outputs depend on, in the feature cache's manner.

    ``train_features`` (the frozen backbone's features of the same images, same order) stand for
    the dataset, split, sample list and extraction transform: they were computed from them. Views
    also depend on the augmentation, its seed and the loader's worker count (workers seed the
    random transforms per process).
    """
    payload = {
        "trunk_cache_version": TRUNK_CACHE_VERSION,
        "backbone": backbone_identity,
        "tail_units": 1,
        "features_sha256": array_sha256(train_features.numpy()),
        "views": views,
        "augmented": augmented,
        "seed": seed if augmented else None,
        "workers": workers if augmented else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


@dataclass
class TrunkCache:
    """``views`` trunk outputs of each of ``n`` images: row ``v * n + i`` is image i's view v."""

    store: torch.Tensor | np.ndarray  # a device tensor, or a read-only memmap of the stored bits
    n: int
    views: int
    dtype: torch.dtype
    device: str

    def gather(self, rows: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Trunk outputs of train ``rows`` (any shape, flattened) on the device; one random view each."""
        index = rows.reshape(-1)
        if self.views > 1:
            if generator is None:
                raise ValueError("drawing views needs the trainer's generator")
            draw = torch.randint(self.views, index.shape, generator=generator, device=generator.device)
            index = index + self.n * draw.to(index.device)
        if isinstance(self.store, torch.Tensor):
            return self.store[index.to(self.store.device)]
        host = torch.from_numpy(self.store[index.cpu().numpy()])  # a copy out of the page cache
        if self.dtype == torch.bfloat16:
            host = host.view(torch.bfloat16)
        cuda = self.device.startswith("cuda")
        return (host.pin_memory() if cuda else host).to(self.device, non_blocking=cuda)


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """numpy has no bfloat16: those outputs are stored as their uint16 bit patterns."""
    return np.dtype(np.uint16) if dtype == torch.bfloat16 else torch.empty((), dtype=dtype).numpy().dtype


def _device_budget(device: str, fraction: float) -> int:
    if not device.startswith("cuda"):
        return 0
    return int(fraction * torch.cuda.get_device_properties(torch.device(device)).total_memory)


def build_trunk_cache(
    run_trunk: Callable[[torch.Tensor], torch.Tensor],
    images: Dataset,
    views: int,
    key: str,
    device: str,
    gpu_fraction: float = 0.5,
    root: Path | None = None,
    workers: int = 0,
    seed: int = 0,
    progress: Progress = no_progress,
) -> TrunkCache:
    """Run the trunk (``run_trunk``: device, no_grad, autocast) over ``views`` passes of ``images``.

    Prints the size first; a disk entry of the same key is reused when its checks pass.
    """
    n = len(images)  # type: ignore[arg-type]
    if n == 0:
        raise BenchError("the trunk cache needs at least one training image")
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # an augmented probe must not shift the RNG
        probe = run_trunk(images[0].unsqueeze(0))
    shape, dtype = tuple(probe.shape[1:]), probe.dtype
    size = views * n * math.prod(shape) * probe.element_size()
    on_device = size <= _device_budget(device, gpu_fraction)
    where = f"on {device}" if on_device else f"memory-mapped in {root or trunk_cache_dir()}"
    print(
        f"unic-bench: trunk cache {views} x {n} x {shape} {str(dtype).removeprefix('torch.')} = {size / 2**20:.1f} MiB, {where}",
        file=sys.stderr,
    )
    if on_device:
        store = torch.empty((views * n, *shape), dtype=dtype, device=device)
        _fill(
            run_trunk,
            images,
            views,
            lambda start, out: store[start : start + len(out)].copy_(out),
            device,
            workers,
            seed,
            progress,
        )
        return TrunkCache(store, n, views, dtype, device)
    cache = FeatureCache(root or trunk_cache_dir())
    data_path, meta_path = cache.paths(key)
    full_shape = (views * n, *shape)
    with cache.lock(key):  # another job building the same key finishes first
        stored = _load(data_path, meta_path, full_shape, _numpy_dtype(dtype))
        if stored is None:
            tmp = data_path.with_name(f".{data_path.name}.{os.getpid()}.tmp")
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=_numpy_dtype(dtype), shape=full_shape)

            def write(start: int, out: torch.Tensor) -> None:
                bits = out.view(torch.uint16) if dtype == torch.bfloat16 else out
                array[start : start + len(out)] = bits.cpu().numpy()

            try:
                _fill(run_trunk, images, views, write, device, workers, seed, progress)
                array.flush()
                digest = array_sha256(array)
                del array
                os.replace(tmp, data_path)
            finally:
                tmp.unlink(missing_ok=True)
            write_json(meta_path, {"shape": list(full_shape), "dtype": str(dtype), "sha256": digest, "key": key})
            stored = np.load(data_path, mmap_mode="r")
    return TrunkCache(stored, n, views, dtype, device)


def _load(data_path: Path, meta_path: Path, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
    """The stored memmap when its shape, dtype and sha256 match its metadata, else None (rebuild)."""
    if not data_path.exists() or not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        array = np.load(data_path, mmap_mode="r")
        if (
            array.shape == shape
            and array.dtype == dtype
            and meta["shape"] == list(shape)
            and array_sha256(array) == meta["sha256"]
        ):
            return array
    except (OSError, ValueError, KeyError, EOFError):
        pass
    print(f"unic-bench: trunk cache entry {data_path.stem} is damaged or incomplete; rebuilding it", file=sys.stderr)
    return None


def _fill(
    run_trunk: Callable[[torch.Tensor], torch.Tensor],
    images: Dataset,
    views: int,
    write: Callable[[int, torch.Tensor], object],
    device: str,
    workers: int,
    seed: int,
    progress: Progress,
) -> None:
    """Trunk outputs of every image, view after view, in order; augmented draws seeded per view."""
    n = len(images)  # type: ignore[arg-type]
    cuda = device.startswith("cuda")
    for view in range(views):
        view_seed = seed * 10_007 + view  # random transforms: the main process's RNG, or workers seeded from it
        loader = DataLoader(
            images,
            batch_size=BUILD_BATCH,
            num_workers=workers,
            pin_memory=cuda,
            generator=torch.Generator().manual_seed(view_seed),
        )
        label = "trunk cache" if views == 1 else f"trunk cache view {view + 1}/{views}"
        start = view * n
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(view_seed)
            for batch in progress(loader, label, len(loader)):
                out = run_trunk(batch)
                write(start, out)
                start += len(out)
