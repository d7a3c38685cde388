"""Augmented views of a split as cached backbone features (the :class:`ViewProvider` methods get).

Draw ``v`` of view transform ``t`` with view seed ``s`` is one pass of the frozen backbone over
the split, every image augmented with its own RNG state, seeded from ``(s, t, v, image index)``:
the draw is the same whatever the batch size, worker count or ``count`` asked for. Each draw is
one entry of the feature cache (``run/features.py``: same keying, atomic writes, locking), its
key the plain features' key plus the view transform, the augmentation's description, the seed
and the draw index -- so a different seed or transform is a different entry, and every method
and run seed asking for the same views reuses them. Before extracting, the memory of the views
and an estimate of the time (from a timed probe batch) are printed; both, with the measured
time, go into the run record (``diagnostics["views"]``).
"""

from __future__ import annotations

import dataclasses
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from unic_bench.api.backbone import Backbone
from unic_bench.api.dataset import Split
from unic_bench.api.taskdata import Progress, no_progress
from unic_bench.api.views import VIEW_TRANSFORMS, ViewTransform
from unic_bench.datasets.common.views import view_samples
from unic_bench.errors import unknown_choice
from unic_bench.run.features import FeatureCache, cache_key, default_cache_dir, extract

PROBE_IMAGES = 32  # images timed before an extraction, for its time estimate


class SeededDraw(TorchDataset):
    """``samples[i]`` with torch's and Python's RNG seeded from ``(seed, transform, draw, i)``."""

    def __init__(self, samples: TorchDataset, seed: int, transform: ViewTransform, draw: int) -> None:
        self.samples = samples
        self.entropy = (seed, VIEW_TRANSFORMS.index(transform), draw)

    def __len__(self) -> int:
        return len(self.samples)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        torch_seed, py_seed = np.random.SeedSequence((*self.entropy, index)).generate_state(2)
        torch.manual_seed(int(torch_seed))
        random.seed(int(py_seed))
        return self.samples[index]


class ViewCache:
    """The :class:`~unic_bench.api.views.ViewProvider` of one (backbone, dataset, split).

    Draws are kept in memory once loaded, so the seeds of a configuration share them; ``drain()``
    returns (and forgets) what was served since the last call, for the run record.
    """

    def __init__(
        self,
        backbone: Backbone,
        dataset: str,
        dataset_params: dict[str, Any],
        split: Split,
        device: str,
        cache_dir: Path | None = None,
        progress: Progress = no_progress,
        batch_size: int = 256,
        num_workers: int = 0,
    ) -> None:
        self.backbone, self.dataset, self.dataset_params, self.split = backbone, dataset, dataset_params, split
        self.device, self.progress, self.batch_size, self.num_workers = device, progress, batch_size, num_workers
        self.cache = FeatureCache(cache_dir or default_cache_dir())
        self._memo: dict[tuple[ViewTransform, int, int], np.ndarray] = {}
        self._served: list[dict[str, Any]] = []
        self.extractions = 0  # backbone passes over the split made by this provider (tests count them)

    def __call__(self, transform: ViewTransform, count: int, seed: int) -> torch.Tensor:
        if transform not in VIEW_TRANSFORMS:
            raise unknown_choice("view transform", transform, VIEW_TRANSFORMS)
        samples, description = view_samples(self.split, transform)
        keys = [self.key(transform, description, seed, draw) for draw in range(count)]
        missing = [draw for draw, key in enumerate(keys) if (transform, seed, draw) not in self._memo and not self._on_disk(key)]
        estimate = self._announce(transform, count, seed, samples, missing) if missing else 0.0
        start = time.perf_counter()
        for draw, key in enumerate(keys):
            if (transform, seed, draw) not in self._memo:
                self._memo[(transform, seed, draw)] = self._load_or_extract(key, samples, seed, transform, draw)
        views = np.stack([self._memo[(transform, seed, draw)] for draw in range(count)])
        self._served.append(
            {
                "transform": transform,
                "count": count,
                "seed": seed,
                "augmentation": description,
                "keys": keys,
                "bytes": int(views.nbytes),
                "draws_extracted": len(missing),
                "estimated_s": round(estimate, 1),
                "extract_s": round(time.perf_counter() - start, 1) if missing else 0.0,
            }
        )
        return torch.from_numpy(views)

    def key(self, transform: ViewTransform, description: str, seed: int, draw: int) -> str:
        extra = {"view": transform, "augmentation": description, "view_seed": seed, "draw": draw}
        return cache_key(self.backbone, self.dataset, self.dataset_params, self.split, extra)

    def drain(self) -> list[dict[str, Any]]:
        served, self._served = self._served, []
        return served

    def _on_disk(self, key: str) -> bool:
        return all(path.exists() for path in self.cache.paths(key))

    def _load_or_extract(self, key: str, samples: TorchDataset, seed: int, transform: ViewTransform, draw: int) -> np.ndarray:
        with self.cache.lock(key):  # a concurrent job extracting the same draw finishes first
            array = self.cache.load(key)
            if array is None:
                array = self._extract(SeededDraw(samples, seed, transform, draw), f"{transform}{draw}")
                info = {"backbone": self.backbone.name, "dataset": self.dataset, "split": self.split.name}
                self.cache.save(key, array, {**info, "view": transform, "view_seed": seed, "draw": draw})
        return array

    def _extract(self, samples: TorchDataset, tag: str) -> np.ndarray:
        self.extractions += 1
        split = dataclasses.replace(self.split, name=f"{self.split.name}:{tag}", samples=samples)
        with torch.random.fork_rng(devices=[]):  # the per-image seeding must not leak into the run's RNG
            state = random.getstate()
            try:
                return extract(self.backbone, split, self.device, self.batch_size, self.num_workers, self.progress)
            finally:
                random.setstate(state)

    def _announce(self, transform: ViewTransform, count: int, seed: int, samples: TorchDataset, missing: list[int]) -> float:
        """Print the memory of the views and the estimated extraction time; returns the estimate (s)."""
        n = len(self.split)
        probe = min(PROBE_IMAGES, n)
        draw = SeededDraw(samples, seed, transform, 0)
        timings = []
        # an untimed warm-up first (weights read from disk, first-call kernel set-up), then two
        # timed probes that both pay the model build and loader start: their difference is per image
        for size in (1, 1, probe):
            start = time.perf_counter()
            probed = self._extract(torch.utils.data.Subset(draw, range(size)), "probe")
            timings.append(time.perf_counter() - start)
            self.extractions -= 1  # the probes are not passes over the split
        per_image = max(timings[2] - timings[1], 0.0) / max(probe - 1, 1)
        estimate = (per_image * n + timings[1]) * len(missing)
        dim = int(probed.shape[1])
        print(
            f"unic-bench: views {transform} x{count} (seed {seed}) of {self.dataset}/{self.split.name}: "
            f"extracting {len(missing)} draw(s) of {n:,} images, ~{estimate / 60:.1f} min estimated; "
            f"{count * n * dim * 4 / 2**20:.1f} MiB of features in memory",
            file=sys.stderr,
        )
        return estimate
