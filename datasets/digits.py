"""``digits``: scikit-learn's real 8x8 handwritten digits, shipped with scikit-learn (no download).

1,797 images, 10 classes, a single split. Clustering is transductive (fit and score on all
images, the usual protocol for datasets without a test split). GCD follows the literature's
rule: classes 0-4 old, 5-9 new, 50% of old-class images labelled (numpy legacy RNG, seed 0).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from unic_bench.api.backbone import InputConfig, Modality
from unic_bench.api.component import Task
from unic_bench.api.dataset import Dataset, DatasetSplits, Split, manifest_of
from unic_bench.api.hookspecs import hookimpl


class Digits(Dataset):
    name = "digits"
    display_name = "Digits"
    description = "scikit-learn 8x8 digits: 1,797 images, 10 classes, embedded; clustering is transductive"
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering", "gcd"})
    modality: ClassVar[Modality] = "image"

    def load(self, root: Path | None, input_config: InputConfig | None) -> DatasetSplits:
        import torch
        from sklearn.datasets import load_digits

        from unic_bench.datasets.common.tensors import TensorSamples

        bunch = load_digits()
        images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)  # (N, 1, 8, 8) in [0, 1]
        samples = TensorSamples(images, input_config)
        labels = bunch.target.astype(np.int64)
        split = Split(
            name="train", samples=samples, labels=labels, manifest=manifest_of(bunch.images, labels), transform=samples.describe()
        )
        return DatasetSplits(
            class_names=tuple(str(c) for c in bunch.target_names),
            splits={"train": split},
            clustering=("train", "train"),
            gcd_split="train",
            gcd_old_classes=(0, 1, 2, 3, 4),
        )


@hookimpl
def register_datasets(register: Callable[[type], None]) -> None:
    register(Digits)
