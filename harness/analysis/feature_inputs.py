"""The fit split's backbone features and labels for a (backbone, dataset): the images UNIC mines on.

Features come from the shared feature cache (computed and cached on a miss, exactly as a run
would: same key), labels from the dataset; the labels only ever reach the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from unic_bench.errors import BenchError
from unic_bench.run.protocol import RunOptions


@dataclass(frozen=True)
class FitFeatures:
    features: np.ndarray  # (N, d) float32
    labels: np.ndarray  # (N,) int64
    dataset: str  # canonical name
    dataset_label: str
    backbone: str
    backbone_label: str
    num_classes: int
    split: str


def fit_features(backbone: str, dataset: str, overrides: dict[str, Any], options: RunOptions) -> FitFeatures:
    """Load (or extract and cache) the clustering fit split's features; ``overrides`` are ``--set`` values."""
    from unic_bench.plugins.host import get_host
    from unic_bench.run.device import resolve_device
    from unic_bench.run.features import cached_features
    from unic_bench.run.protocol import data_root_for
    from unic_bench.run.spec import split_params

    host = get_host()
    backbone_cls, dataset_cls = host.backbones.get(backbone), host.datasets.get(dataset)
    routed = split_params(overrides)
    if routed["method"]:
        key = next(iter(routed["method"]))
        raise BenchError(f"invalid --set '{key}' for analyze: use backbone.KEY or dataset.KEY")
    built = backbone_cls(backbone_cls.validate_params(routed["backbone"]), weights=options.weights)
    data = dataset_cls(dataset_cls.validate_params(routed["dataset"]))
    splits = data.load(data_root_for(dataset_cls, options), built.input_config())
    name = splits.clustering[0]
    split = splits.splits[name]
    array, _ = cached_features(
        built,
        dataset_cls.name,
        data.params.model_dump(mode="json"),
        split,
        resolve_device(options.device),
        options.cache_dir,
        options.progress,
        options.batch_size,
        options.num_workers,
    )
    known = split.labels >= 0
    if not known.all():
        raise BenchError(
            f"dataset '{dataset_cls.name}' split '{name}' has {int((~known).sum())} unlabelled images: nothing to analyse"
        )
    return FitFeatures(
        array, split.labels.astype(np.int64), dataset_cls.name, dataset_cls.label(), backbone_cls.name, backbone_cls.label(),
        splits.num_classes, name,
    )  # fmt: skip
