"""TaskData built from the synthetic dataset, for method tests (kmeans, UNIC, SCAN, TEMI).

Imported by name (``from factories import ...``): ``pythonpath = ["tests"]`` in pyproject.toml.
"""

from __future__ import annotations

import numpy as np
import torch

from unic_bench.api.taskdata import FeatureSet, TaskData
from unic_bench.datasets.synthetic import Synthetic
from unic_bench.run.gcd_split import labelled_indices


def synthetic(separation: float, imbalance: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train features, train labels, test features, test labels) of 10 Gaussian classes, 1500 + 500 points."""
    splits = Synthetic(separation=separation, imbalance=imbalance, n_train=1500, n_test=500).load(None, None).splits
    feats = {k: torch.stack([s.samples[i] for i in range(len(s))]).numpy() for k, s in splits.items()}
    return feats["train"], splits["train"].labels, feats["test"], splits["test"].labels


def clustering_data(xtr: np.ndarray, xte: np.ndarray, k: int) -> TaskData:
    return TaskData(
        task="clustering",
        num_classes=k,
        train=FeatureSet(torch.from_numpy(xtr), np.arange(len(xtr))),
        eval=FeatureSet(torch.from_numpy(xte), np.arange(len(xte))),
    )


def gcd_data(x: np.ndarray, y: np.ndarray, k: int) -> tuple[TaskData, np.ndarray]:
    """GCD inputs with the first k // 2 classes old (D_L = half their images), and the unlabelled rows."""
    old = tuple(range(k // 2))
    train_labels = np.full(len(y), -1)
    lab = labelled_indices(y, old)
    train_labels[lab] = y[lab]
    unl = np.flatnonzero(train_labels < 0)
    data = TaskData(
        task="gcd",
        num_classes=k,
        train=FeatureSet(torch.from_numpy(x), np.arange(len(x))),
        eval=FeatureSet(torch.from_numpy(x[unl]), unl),
        train_labels=train_labels,
        old_classes=old,
    )
    return data, unl
