"""``fashion-mnist``: Zalando's Fashion-MNIST (Xiao et al. 2017), 28x28 grey, 10 clothing classes.

Reads the four standard IDX files (gzipped or not) from, in order: ``<root>/FashionMNIST/raw/``
(torchvision's layout), ``<root>/fashion-mnist/``, ``<root>/``, and the Debian/Ubuntu package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``), found without ``--data-root``.

Clustering: fit on the train split, score on the 10k test split. GCD: classes 0-4 old, 5-9 new
on the train split, 50% of old-class images labelled (the literature's rule, gcd_split.py).
``n_train``/``n_test`` take a seeded random subset (sorted, so the order is the file's), because
60k images through a CNN at 112 px take ~10 minutes on two CPU cores.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Optional

import numpy as np
from pydantic import Field

from unic_bench.api.backbone import InputConfig, Modality
from unic_bench.api.component import ParamsModel, Task
from unic_bench.api.dataset import Dataset, DatasetSplits, Split, manifest_of
from unic_bench.api.hookspecs import hookimpl
from unic_bench.errors import BenchError

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_DTYPES = {0x08: np.uint8}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (LeCun's MNIST format: zero bytes, dtype code, ndim, big-endian sizes, data)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise BenchError(f"'{path}' is not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    body = np.frombuffer(data, dtype=IDX_DTYPES[data[2]], offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise BenchError(f"'{path}' is truncated: header says {shape}, found {body.size} values")
    return body.reshape(shape)


def candidate_dirs(root: Path | None) -> list[Path]:
    dirs = [root / "FashionMNIST" / "raw", root / "fashion-mnist", root] if root is not None else []
    return [*dirs, SYSTEM_DIR]


def find_file(dirs: list[Path], stem: str) -> Path | None:
    for folder in dirs:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def subset(n_total: int, n: int | None, seed: int) -> np.ndarray:
    """Sorted positions of a seeded random subset of size ``n`` (all when None)."""
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.RandomState(seed).choice(n_total, size=n, replace=False))


class FashionMnistParams(ParamsModel):
    n_train: Optional[int] = Field(None, ge=10, description="Random train subset size (None = all 60,000)")
    n_test: Optional[int] = Field(None, ge=10, description="Random test subset size (None = all 10,000)")
    subset_seed: int = Field(0, description="Seed of the subsets (fixed, independent of --seed)")


class FashionMnist(Dataset[FashionMnistParams]):
    name = "fashion-mnist"
    aliases = ("fashion_mnist", "fashionmnist", "fmnist")
    display_name = "Fashion-MNIST"
    description = "Fashion-MNIST: 60k train / 10k test 28x28 grey clothing images, 10 classes (IDX files)"
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering", "gcd"})
    modality: ClassVar[Modality] = "image"
    Params = FashionMnistParams

    def load(self, root: Path | None, input_config: InputConfig | None) -> DatasetSplits:
        import torch

        from unic_bench.datasets.common.tensors import TensorSamples, crop_flip

        dirs = candidate_dirs(root)
        params = self.params
        splits = {}
        for split, (image_stem, label_stem) in FILES.items():
            image_file, label_file = (find_file(dirs, stem) for stem in (image_stem, label_stem))
            if image_file is None or label_file is None:
                missing = image_stem if image_file is None else label_stem
                where = ", ".join(str(d) for d in dirs)
                raise BenchError(
                    f"Fashion-MNIST file '{missing}[.gz]' not found in {where}: put the four IDX files in "
                    "<data-root>/FashionMNIST/raw/ (torchvision's layout) or apt-get install dataset-fashion-mnist"
                )
            images, labels = read_idx(image_file), read_idx(label_file)
            if images.ndim != 3 or labels.shape != (images.shape[0],):
                raise BenchError(f"Fashion-MNIST {split} files disagree: images {images.shape}, labels {labels.shape}")
            rows = subset(len(labels), params.n_train if split == "train" else params.n_test, params.subset_seed)
            images, labels = images[rows], labels[rows].astype(np.int64)
            tensor = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28) in [0, 1]
            samples = TensorSamples(tensor, input_config)
            augmented = TensorSamples(tensor, input_config, crop_flip(images.shape[-1])) if input_config is not None else None
            splits[split] = Split(
                name=split,
                samples=samples,
                labels=labels,
                manifest=manifest_of(images, labels),
                transform=samples.describe(),
                train_samples=augmented,
            )
        return DatasetSplits(
            class_names=CLASSES,
            splits=splits,
            clustering=("train", "test"),
            gcd_split="train",
            gcd_old_classes=(0, 1, 2, 3, 4),
        )


@hookimpl
def register_datasets(register: Callable[[type], None]) -> None:
    register(FashionMnist)
