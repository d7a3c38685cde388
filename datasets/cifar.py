"""``cifar10``, ``cifar100``, ``cifar100-20``: torchvision's python-pickle layout.

``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` and
``<root>/cifar-100-python/{train, test, meta}``, as the official tarballs extract. Train 50,000 ->
test 10,000 for clustering. GCD (Vaze et al. ``get_class_splits``): CIFAR-10 classes 0-4 old,
5-9 new; CIFAR-100 fine classes 0-79 old, 80-99 new; the train set in stored order.
CIFAR-100-20 (SCAN/TEMI) uses the pickle's own ``coarse_labels``; the fine -> coarse table they
imply must equal SCAN's ``_cifar100_to_cifar20`` (``data/cifar.py``), checked by its sha256.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from unic_bench.api.backbone import InputConfig
from unic_bench.api.component import Task
from unic_bench.api.dataset import DatasetSplits
from unic_bench.api.hookspecs import hookimpl
from unic_bench.datasets.common.on_disk import DiskDataset
from unic_bench.errors import BenchError

# sha256 of SCAN's table written one superclass id per line (line i = coarse id of fine label i)
SCAN_FINE_TO_COARSE_SHA256 = "e42507f05cda2ceaa8a57e0b264701415f4d1cde098e512f426a5e027c257211"


def read_pickle(path: Path) -> dict:
    with open(path, "rb") as fh:
        return pickle.load(fh, encoding="latin1")


def read_batches(
    base: Path, files: tuple[str, ...], keys: tuple[str, ...]
) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]]:
    """(N, 32, 32, 3) uint8 images, the label arrays under ``keys``, and ``file:row`` ids, in stored order."""
    images: list[np.ndarray] = []
    labels: dict[str, list[int]] = {k: [] for k in keys}
    ids: list[str] = []
    for name in files:
        entry = read_pickle(base / name)
        data = np.asarray(entry["data"], dtype=np.uint8)
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        for key in keys:
            labels[key].extend(entry[key])
        ids.extend(f"{name}:{row}" for row in range(len(data)))
    return np.concatenate(images), {k: np.asarray(v, dtype=np.int64) for k, v in labels.items()}, ids


class _Cifar(DiskDataset):
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering", "gcd"})
    train_files: ClassVar[tuple[str, ...]]
    test_files: ClassVar[tuple[str, ...]]
    meta_file: ClassVar[str]
    names_key: ClassVar[str]
    label_key: ClassVar[str]
    old_classes: ClassVar[tuple[int, ...]] = ()
    expected_counts = {"train": 50_000, "test": 10_000}

    def load(self, root: Path | None, input_config: InputConfig | None) -> DatasetSplits:
        from unic_bench.datasets.common.images import image_split

        base = self.require(root, *self.train_files, *self.test_files, self.meta_file)
        names = tuple(read_pickle(base / self.meta_file)[self.names_key])
        splits = {}
        for split, files in (("train", self.train_files), ("test", self.test_files)):
            images, labels, ids = read_batches(base, files, self.label_keys())
            sources = [base / f for f in files]
            splits[split] = image_split(split, images, self.labels(labels), ids, input_config, source_files=sources)
        return DatasetSplits(names, splits, ("train", "test"), "train" if self.old_classes else None, self.old_classes)

    def label_keys(self) -> tuple[str, ...]:
        return (self.label_key,)

    def labels(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        return arrays[self.label_key]


CIFAR10_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (extract into the data root)"
CIFAR100_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (extract into the data root)"


class Cifar10(_Cifar):
    name = "cifar10"
    display_name = "CIFAR-10"
    description = "CIFAR-10: train 50k -> test 10k; GCD 5 old / 5 new"
    folder = "cifar-10-batches-py"
    source = CIFAR10_SOURCE
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_files = ("test_batch",)
    meta_file = "batches.meta"
    names_key = "label_names"
    label_key = "labels"
    old_classes = tuple(range(5))


class Cifar100(_Cifar):
    name = "cifar100"
    display_name = "CIFAR-100"
    description = "CIFAR-100 (100 fine classes): train 50k -> test 10k; GCD 80 old / 20 new"
    folder = "cifar-100-python"
    source = CIFAR100_SOURCE
    train_files = ("train",)
    test_files = ("test",)
    meta_file = "meta"
    names_key = "fine_label_names"
    label_key = "fine_labels"
    old_classes = tuple(range(80))


class Cifar100Coarse(Cifar100):
    name = "cifar100-20"
    display_name = "CIFAR-100-20"
    description = "CIFAR-100's 20 superclasses (SCAN/TEMI): train 50k -> test 10k"
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering"})
    names_key = "coarse_label_names"
    label_key = "coarse_labels"
    old_classes = ()

    def label_keys(self) -> tuple[str, ...]:
        return ("fine_labels", "coarse_labels")

    def labels(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        check_superclass_table(arrays["fine_labels"], arrays["coarse_labels"])
        return arrays["coarse_labels"]


def check_superclass_table(fine: np.ndarray, coarse: np.ndarray) -> None:
    """The pickle's coarse labels must be SCAN's fine -> coarse table (one superclass per fine class)."""
    table = np.full(100, -1, dtype=np.int64)
    table[fine] = coarse
    consistent = np.array_equal(table[fine], coarse) and (table >= 0).all()
    text = "".join(f"{c}\n" for c in table)
    if not consistent or hashlib.sha256(text.encode()).hexdigest() != SCAN_FINE_TO_COARSE_SHA256:
        raise BenchError(
            "dataset 'cifar100-20': the coarse_labels in cifar-100-python differ from SCAN's CIFAR-100 -> 20 "
            "superclass table; the files are not the official CIFAR-100 release"
        )


@hookimpl
def register_datasets(register: Callable[[type], None]) -> None:
    register(Cifar10)
    register(Cifar100)
    register(Cifar100Coarse)
