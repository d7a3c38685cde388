"""``synthetic``: a seeded Gaussian mixture of feature vectors, for tests and benchmarks.

Class means lie at distance ``separation`` from the origin in random directions and the noise is
unit isotropic, so two means are about ``separation * sqrt(2)`` apart: 8 is cleanly separable,
2-3 overlaps like real features. ``imbalance`` = largest / smallest class size (geometric in
between). The data depend only on ``data_seed``, not on the run seed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field

from unic_bench.api.backbone import InputConfig, Modality
from unic_bench.api.component import ParamsModel, Task
from unic_bench.api.dataset import Dataset, DatasetSplits, Split, manifest_of
from unic_bench.api.hookspecs import hookimpl


class SyntheticParams(ParamsModel):
    n_train: int = Field(2000, ge=2)
    n_test: int = Field(500, ge=1)
    num_classes: int = Field(10, ge=2)
    dim: int = Field(32, ge=1)
    separation: float = Field(8.0, ge=0)
    imbalance: float = Field(1.0, ge=1)
    data_seed: int = 0


def class_sizes(n: int, num_classes: int, imbalance: float) -> np.ndarray:
    """Sizes summing to ``n`` with ratio ``imbalance`` between the largest and the smallest."""
    weights = imbalance ** (-np.arange(num_classes) / max(num_classes - 1, 1))
    sizes = np.floor(weights / weights.sum() * n).astype(np.int64)
    sizes[: n - sizes.sum()] += 1
    return sizes


class Synthetic(Dataset[SyntheticParams]):
    name = "synthetic"
    display_name = "Synthetic"
    description = "Seeded Gaussian mixture of feature vectors (n, classes, dim, separation, imbalance as params)"
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering", "gcd"})
    modality: ClassVar[Modality] = "features"
    Params = SyntheticParams

    def load(self, root: Path | None, input_config: InputConfig | None) -> DatasetSplits:
        import torch

        from unic_bench.datasets.common.tensors import TensorSamples

        p = self.params
        rng = np.random.default_rng(p.data_seed)
        directions = rng.standard_normal((p.num_classes, p.dim))
        means = p.separation * directions / np.linalg.norm(directions, axis=1, keepdims=True)

        def draw(name: str, n: int) -> Split:
            labels = np.repeat(np.arange(p.num_classes), class_sizes(n, p.num_classes, p.imbalance))
            labels = labels[rng.permutation(n)]
            feats = (means[labels] + rng.standard_normal((n, p.dim))).astype(np.float32)
            samples = TensorSamples(torch.from_numpy(feats))
            return Split(
                name=name, samples=samples, labels=labels, manifest=manifest_of(feats, labels), transform=samples.describe()
            )

        splits = {"train": draw("train", p.n_train), "test": draw("test", p.n_test)}
        return DatasetSplits(
            class_names=tuple(f"class{c}" for c in range(p.num_classes)),
            splits=splits,
            clustering=("train", "test"),
            gcd_split="train",
            gcd_old_classes=tuple(range(p.num_classes // 2)),
        )


@hookimpl
def register_datasets(register: Callable[[type], None]) -> None:
    register(Synthetic)
