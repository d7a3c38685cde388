"""Backbone features over a dataset split, cached on disk by content.

The cache key covers everything that changes the features: the backbone's identity (name,
params, weights checksum), the dataset (name, params), the split and its sample manifest, the
data on disk (``Split.fingerprint``: the folder and each file's size and mtime, so another
folder with the same file names or an image replaced in place gets its own entry), the
transform, and ``EXTRACTOR_VERSION``. Batch size and device are kept out of it. Each entry is a
``.npy`` plus a ``.json`` with shape, dtype and sha256; an entry that fails any check (truncated,
edited, half-written) is rebuilt. Writes are atomic and locked, since SLURM array tasks share
the cache. A second method on the same (backbone, dataset) thus does no forward pass.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from unic_bench.api.backbone import Backbone
from unic_bench.api.dataset import Split
from unic_bench.api.taskdata import Progress, no_progress
from unic_bench.atomic import write_json, write_npy

EXTRACTOR_VERSION = 1
CACHE_ENV = "UNIC_BENCH_CACHE"


def cache_root() -> Path:
    """``$UNIC_BENCH_CACHE`` or ``~/.cache/unic-bench``: features and downloaded split lists live here."""
    root = os.environ.get(CACHE_ENV) or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "unic-bench")
    return Path(root).expanduser()


def default_cache_dir() -> Path:
    return cache_root() / "features"


def cache_key(
    backbone: Backbone, dataset: str, dataset_params: dict[str, Any], split: Split, extra: dict[str, Any] | None = None
) -> str:
    """``extra`` adds what else the features were computed from (an augmented view's transform,
    seed and draw: ``run/views.py``); without it the key is the plain features'."""
    payload: dict[str, Any] = {
        "extractor_version": EXTRACTOR_VERSION,
        "backbone": backbone.identity(),
        "dataset": dataset,
        "dataset_params": dataset_params,
        "split": split.name,
        "n": len(split),
        "manifest": split.manifest,
        "transform": split.transform,
    }
    if split.fingerprint:  # absent for embedded data, whose keys (and shared cache entries) stay as they were
        payload["data"] = split.fingerprint
    if extra is not None:
        payload["extra"] = extra
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def array_sha256(array: np.ndarray) -> str:
    """Hash the buffer in place (no copy of what may be hundreds of MB of features)."""
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


class FeatureCache:
    """``<root>/<key>.npy`` + ``<key>.json``; ``load`` returns None unless every check passes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.npy", self.root / f"{key}.json"

    def load(self, key: str) -> np.ndarray | None:
        data_path, meta_path = self.paths(key)
        if not data_path.exists() and not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            array = np.load(data_path, allow_pickle=False)
            ok = (
                list(array.shape) == meta["shape"] and str(array.dtype) == meta["dtype"] and array_sha256(array) == meta["sha256"]
            )
        except (OSError, ValueError, KeyError, EOFError):
            ok = False
        if not ok:
            print(f"unic-bench: feature cache entry {key} is damaged or incomplete; rebuilding it", file=sys.stderr)
            return None
        return array

    def save(self, key: str, array: np.ndarray, info: dict[str, Any]) -> None:
        data_path, meta_path = self.paths(key)
        write_npy(data_path, array)
        write_json(meta_path, {"shape": list(array.shape), "dtype": str(array.dtype), "sha256": array_sha256(array), **info})

    def lock(self, key: str) -> FileLock:
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / f"{key}.lock"))


def extract(
    backbone: Backbone, split: Split, device: str, batch_size: int = 256, num_workers: int = 0, progress: Progress = no_progress
) -> np.ndarray:
    """Run the frozen backbone over ``split`` in order; float32 (n, d) features on the host.

    On CUDA: pinned host memory, non-blocking copies, channels-last images and fp16 autocast.
    """
    import torch
    from torch.utils.data import DataLoader

    cuda = device.startswith("cuda")
    model = backbone.build().to(device).eval()
    loader = DataLoader(
        split.samples,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=cuda,
        persistent_workers=num_workers > 0,
    )
    chunks = []
    with torch.inference_mode(), torch.autocast(device_type="cuda", dtype=torch.float16, enabled=cuda):
        for batch in progress(loader, f"features {backbone.name}/{split.name}", len(loader)):
            batch = batch.to(device, non_blocking=True)
            if cuda and batch.ndim == 4:
                batch = batch.contiguous(memory_format=torch.channels_last)
            chunks.append(model(batch).float().cpu())
    return torch.cat(chunks).numpy()


def cached_features(
    backbone: Backbone,
    dataset: str,
    dataset_params: dict[str, Any],
    split: Split,
    device: str,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
    batch_size: int = 256,
    num_workers: int = 0,
) -> tuple[np.ndarray, str]:
    """Features of ``split`` from the cache, extracting (once, under a lock) when absent."""
    cache = FeatureCache(cache_dir or default_cache_dir())
    key = cache_key(backbone, dataset, dataset_params, split)
    with cache.lock(key):  # a concurrent job extracting the same key finishes first
        array = cache.load(key)
        if array is None:
            array = extract(backbone, split, device, batch_size, num_workers, progress)
            cache.save(key, array, {"backbone": backbone.name, "dataset": dataset, "split": split.name})
    return array, key
