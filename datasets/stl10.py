"""``stl10``: torchvision's binary layout ``<root>/stl10_binary/``, read lazily (memory-mapped).

Clustering as SCAN and TEMI evaluate it: fit on ``train`` (5,000), score on ``test`` (8,000).
``--set dataset.fit_split=train+unlabeled`` adds the 100,000 unlabelled images to the fit split
(SCAN's pretext set); they carry no label, so train-split metrics count the labelled ones only.
Images are stored as (3, 96, 96) column-major; labels 1..10 (torchvision subtracts 1).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from unic_bench.api.backbone import InputConfig
from unic_bench.api.component import ParamsModel, Task
from unic_bench.api.dataset import DatasetSplits, Split, manifest_of
from unic_bench.api.hookspecs import hookimpl
from unic_bench.datasets.common.on_disk import DiskDataset
from unic_bench.errors import BenchError

SIDE = 96


class Stl10Params(ParamsModel):
    fit_split: Literal["train", "train+unlabeled"] = "train"


def read_images(path: Path) -> np.ndarray:
    """(N, 96, 96, 3) uint8 view of an ``*_X.bin`` file, without reading it into memory."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    if raw.size % (3 * SIDE * SIDE):
        raise BenchError(f"dataset 'stl10': '{path}' is truncated ({raw.size} bytes is not a whole number of images)")
    return raw.reshape(-1, 3, SIDE, SIDE).transpose(0, 3, 2, 1)


class Stl10(DiskDataset):
    name = "stl10"
    display_name = "STL-10"
    description = "STL-10: train 5k -> test 8k (option: + 100k unlabeled for fitting)"
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering"})
    Params = Stl10Params
    folder = "stl10_binary"
    source = "https://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz (extract into the data root)"
    expected_counts = {"train": 5_000, "test": 8_000}

    def load(self, root: Path | None, input_config: InputConfig | None) -> DatasetSplits:
        from unic_bench.datasets.common.images import image_split

        extra = ("unlabeled_X.bin",) if self.params.fit_split == "train+unlabeled" else ()
        files = ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin", "class_names.txt", *extra)
        base = self.require(root, *files)
        names = tuple(line.strip() for line in (base / "class_names.txt").read_text().splitlines() if line.strip())
        splits: dict[str, Split] = {}
        for split in ("train", "test"):
            images = read_images(base / f"{split}_X.bin")
            labels = np.fromfile(base / f"{split}_y.bin", dtype=np.uint8).astype(np.int64) - 1
            if len(labels) != len(images):
                raise BenchError(f"dataset 'stl10': {split}_y.bin has {len(labels)} labels for {len(images)} images in '{base}'")
            ids = [f"{split}:{i}" for i in range(len(labels))]
            sources = [base / f"{split}_X.bin", base / f"{split}_y.bin"]
            splits[split] = image_split(split, images, labels, ids, input_config, source_files=sources)
        fit = "train"
        if extra:
            unlabeled = read_images(base / "unlabeled_X.bin")
            none = np.full(len(unlabeled), -1, dtype=np.int64)
            ids = [f"unlabeled:{i}" for i in range(len(none))]
            rest = image_split("unlabeled", unlabeled, none, ids, input_config, source_files=[base / "unlabeled_X.bin"])
            fit = "train+unlabeled"
            splits[fit] = concat_splits(fit, splits["train"], rest)
        return DatasetSplits(names, splits, (fit, "test"))


def concat_splits(name: str, *parts: Split) -> Split:
    """One split made of ``parts`` in order (same transform)."""
    from torch.utils.data import ConcatDataset

    labels = np.concatenate([p.labels for p in parts])
    train: ConcatDataset = ConcatDataset([p.train_samples or p.samples for p in parts])
    return Split(
        name=name,
        samples=ConcatDataset([p.samples for p in parts]),
        labels=labels,
        manifest=manifest_of([p.manifest for p in parts]),
        transform=parts[0].transform,
        train_samples=train,
        fingerprint=manifest_of([p.fingerprint for p in parts]),
    )


@hookimpl
def register_datasets(register: Callable[[type], None]) -> None:
    register(Stl10)
