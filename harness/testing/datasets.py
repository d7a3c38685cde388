"""``check_dataset``: a dataset plugin against what the protocol reads from ``load()``.

- metadata and params (one-line ``BenchError`` for bad params); ``tasks`` a non-empty subset of
  clustering/gcd;
- every split: labels a 1-d integer array in [-1, num_classes) with one label per sample,
  ``train_samples`` and ``ids`` (when given) of the same length, a non-empty ``manifest`` and
  ``transform``; a sample is a tensor (C, H, W) for images, (D,) for features;
- the clustering pair and (for GCD) the GCD split name loaded splits; the old classes are a
  non-empty proper subset of the classes;
- ``manifest`` and ``transform`` are the same on a second load (they key the feature cache);
- image datasets honour an ``InputConfig``: samples come out at its size, under another
  ``transform`` string.

Datasets that read files need ``root``: a (tiny) tree in the official layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from unic_bench.api.backbone import InputConfig
from unic_bench.api.dataset import Dataset, DatasetSplits
from unic_bench.testing.methods import check_tasks
from unic_bench.testing.report import CheckReport, fail, start_checks, validated

CHECK_INPUT = InputConfig(size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def check_dataset(cls: type[Dataset[Any]], params: Mapping[str, Any] | None = None, *, root: Path | None = None) -> CheckReport:
    """Load ``cls`` (from ``root`` when it reads files) and run every check; raise on the first failure."""
    report = start_checks(cls)
    name = cls.name
    check_tasks(cls)
    if cls.needs_root and root is None:
        raise fail(name, "load", "the dataset reads files (needs_root): pass root= a tree in its on-disk layout")
    dataset = cls(validated(cls, params))
    loaded = dataset.load(root, None)
    _check_splits(cls, loaded, name)
    report.ok("splits and labels")
    _check_task_splits(cls, loaded, name)
    report.ok("task splits")
    reloaded = dataset.load(root, None)
    stable = {k: (s.manifest, s.transform) for k, s in loaded.splits.items()}
    if stable != {k: (s.manifest, s.transform) for k, s in reloaded.splits.items()}:
        raise fail(name, "manifest stable", "a second load() gave other manifests or transforms")
    report.ok("manifest stable")
    if cls.modality == "image":
        prepared = dataset.load(root, CHECK_INPUT)
        _check_splits(cls, prepared, name)
        for key, split in prepared.splits.items():
            if split.transform == loaded.splits[key].transform:
                raise fail(name, "input config", f"split '{key}': the transform string ignores the InputConfig")
            side = tuple(split.samples[0].shape[-2:])
            if side != (CHECK_INPUT.size, CHECK_INPUT.size):
                raise fail(name, "input config", f"split '{key}': samples are {side}, not the InputConfig's size")
        report.ok("input config")
    return report


def _check_splits(cls: type[Dataset[Any]], loaded: DatasetSplits, name: str) -> None:
    import torch

    if not isinstance(loaded, DatasetSplits) or not loaded.splits or not loaded.class_names:
        raise fail(name, "splits and labels", "load() must return DatasetSplits with classes and at least one split")
    for key, split in loaded.splits.items():
        labels = split.labels
        where = f"split '{key}'"
        if not isinstance(labels, np.ndarray) or labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise fail(name, "splits and labels", f"{where}: labels must be a 1-d integer numpy array")
        if len(labels) == 0 or labels.min() < -1 or labels.max() >= loaded.num_classes:
            raise fail(name, "splits and labels", f"{where}: labels must lie in [-1, {loaded.num_classes})")
        if length(split.samples) != len(labels):
            raise fail(name, "splits and labels", f"{where}: {length(split.samples)} samples for {len(labels)} labels")
        for other, what in ((split.train_samples, "train_samples"), (split.ids, "ids")):
            if other is not None and length(other) != len(labels):
                raise fail(name, "splits and labels", f"{where}: {what} has another length than labels")
        if not split.manifest or not split.transform:
            raise fail(name, "splits and labels", f"{where}: manifest and transform must be non-empty strings")
        sample = split.samples[0]
        rank = 1 if cls.modality == "features" else 3
        if not isinstance(sample, torch.Tensor) or sample.ndim != rank:
            shape = getattr(sample, "shape", type(sample).__name__)
            raise fail(name, "splits and labels", f"{where}: a {cls.modality} sample must be a {rank}-d tensor, got {shape}")


def length(items: Any) -> int:
    """``len()`` of a split's samples: torch's ``Dataset`` declares no ``__len__``, a split's must have one."""
    return len(items)


def _check_task_splits(cls: type[Dataset[Any]], loaded: DatasetSplits, name: str) -> None:
    missing = [s for s in loaded.clustering if s not in loaded.splits]
    if "clustering" in cls.tasks and missing:
        raise fail(name, "task splits", f"the clustering pair names missing splits {missing}")
    if "gcd" in cls.tasks:
        if loaded.gcd_split not in loaded.splits:
            raise fail(name, "task splits", f"gcd_split {loaded.gcd_split!r} is not a loaded split")
        old = set(loaded.gcd_old_classes)
        if not old or not old < set(range(loaded.num_classes)):
            raise fail(name, "task splits", "gcd_old_classes must be a non-empty proper subset of the classes")
