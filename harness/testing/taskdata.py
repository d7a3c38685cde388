"""Small TaskData from the embedded digits, built the way the protocol builds it (run/protocol.py)."""

from __future__ import annotations

import numpy as np

from unic_bench.api.component import Task
from unic_bench.api.taskdata import FeatureSet, TaskData
from unic_bench.run.gcd_split import labelled_indices

DIGITS_OLD_CLASSES = (0, 1, 2, 3, 4)  # the literature's GCD rule on digits (datasets/digits.py)


def digits_pixels(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` digits (a fixed random subset) as 64-d pixel features in [0, 1], and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rows = np.sort(np.random.RandomState(seed).choice(len(bunch.target), size=min(n, len(bunch.target)), replace=False))
    return (bunch.data[rows] / 16.0).astype(np.float32), bunch.target[rows].astype(np.int64)


def tiny_task_data(task: Task, n: int = 300, seed: int = 0) -> tuple[TaskData, np.ndarray]:
    """A run's inputs on ``n`` digits with raw-pixel features, and the eval truth the protocol keeps.

    Clustering fits on the first two thirds and predicts the last third (an inductive split, so a
    method that ignores ``eval`` is caught). GCD fits on all ``n`` with D_L = 50% of the old-class
    images (``labelled_indices``) and predicts the unlabelled rest.
    """
    import torch

    x, y = digits_pixels(n, seed)
    if task == "clustering":
        cut = (2 * len(y)) // 3
        data = TaskData(
            task="clustering",
            num_classes=10,
            train=FeatureSet(torch.from_numpy(x[:cut]), np.arange(cut)),
            eval=FeatureSet(torch.from_numpy(x[cut:]), np.arange(len(y) - cut)),
            dataset="digits",
        )
        return data, y[cut:]
    labelled = labelled_indices(y, DIGITS_OLD_CLASSES)
    train_labels = np.full(len(y), -1, dtype=np.int64)
    train_labels[labelled] = y[labelled]
    unlabelled = np.flatnonzero(train_labels < 0)
    data = TaskData(
        task="gcd",
        num_classes=10,
        train=FeatureSet(torch.from_numpy(x), np.arange(len(y))),
        eval=FeatureSet(torch.from_numpy(x[unlabelled]), unlabelled),
        train_labels=train_labels,
        old_classes=DIGITS_OLD_CLASSES,
        dataset="digits",
    )
    return data, y[unlabelled]
