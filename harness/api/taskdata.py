"""What a method sees (TaskData, RunContext) and what it returns (Prediction).

Ground-truth labels never reach a method except the labelled GCD subset: the protocol keeps
them and scores the returned eval-set assignments itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from unic_bench.api.component import Task

if TYPE_CHECKING:
    import torch
    import torch.utils.data

    from unic_bench.api.backbone import Backbone
    from unic_bench.api.views import ViewProvider

T = TypeVar("T")


@dataclass(frozen=True)
class FeatureSet:
    """Backbone features of some images: ``features[i]`` belongs to dataset item ``indices[i]``."""

    features: torch.Tensor  # (n, d) float32 on the CPU
    indices: np.ndarray  # (n,) int64 positions in the dataset split

    def __len__(self) -> int:
        return int(self.features.shape[0])


@dataclass(frozen=True)
class ImageAccess:
    """For methods that finetune the backbone: the backbone and the images behind the features.

    ``train_augmented[i]``, ``train[i]`` and ``train`` features row i are the same image (train
    transform vs. the feature-extraction transform); ``eval[i]`` is eval features row i.
    ``train_strong[i]`` is the same image under the views cache's ``strong`` transform (the weak
    view + RandAugment, ``unic_bench.api.views``), for methods that need a strong view while
    finetuning (FixMatch); None where the dataset's samples cannot be given one.
    """

    backbone: Backbone
    train_augmented: torch.utils.data.Dataset
    train: torch.utils.data.Dataset
    eval: torch.utils.data.Dataset
    train_strong: torch.utils.data.Dataset | None = None


@dataclass(frozen=True, kw_only=True)
class TaskData:
    """The inputs of one run.

    Clustering: fit on ``train``, predict ``eval`` (the dataset's test split, or ``train`` again
    for transductive datasets). GCD: fit on all of ``train`` (labelled + unlabelled), predict
    ``eval`` = the unlabelled train images; ``train_labels`` holds the class of labelled images
    and -1 elsewhere.
    """

    task: Task
    num_classes: int  # K to produce: the number of classes, unless the run sets num_clusters (protocol)
    train: FeatureSet
    eval: FeatureSet
    train_labels: np.ndarray | None = None
    old_classes: tuple[int, ...] = ()
    images: ImageAccess | None = None  # None when the dataset holds features, not images
    dataset: str = ""  # canonical dataset name, for methods whose paper sets per-dataset defaults
    views: ViewProvider | None = None  # cached augmented views of the train rows (image datasets only)

    @property
    def labelled_mask(self) -> np.ndarray:
        """Boolean mask over ``train``: True where the label is given (GCD), else all False."""
        if self.train_labels is None:
            return np.zeros(len(self.train), dtype=bool)
        return self.train_labels >= 0


@dataclass
class Prediction:
    """Cluster ids for the eval set (any integers; Hungarian matching maps them to classes)."""

    labels: np.ndarray
    train_assignments: np.ndarray | None = None  # optional: clusters of ``train`` (train-split metrics)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    # Optional: called by the protocol after fitting with the fit split's true labels, for
    # reporting only (e.g. neighbour purity); its values join ``diagnostics`` in the record.
    report: Callable[[np.ndarray], dict[str, float]] | None = None
    # Optional: (n_eval,) confidence of each eval label in [0, 1] (e.g. the max softmax
    # probability); stored in the run's .npz for the cluster-grid figure (paper Fig. 12).
    confidence: np.ndarray | None = None


Progress = Callable[[Iterable[Any], str, int | None], Iterator[Any]]


def no_progress(items: Iterable[T], description: str = "", total: int | None = None) -> Iterator[T]:
    yield from items


@dataclass
class RunContext:
    """Run-wide services for a method: device, seed, progress, per-epoch log, checkpoints."""

    device: str = "cpu"
    seed: int = 0
    checkpoint_dir: Path | None = None
    progress: Progress = no_progress
    log: list[dict[str, Any]] = field(default_factory=list)
    resumed_from_epoch: int | None = None  # set by a trainer that resumed from a checkpoint; stored in the record
    # Set by the protocol when the fit split is fully labelled: scores train-row cluster ids
    # against the true labels (e.g. {"probe_acc": ...}) for the epoch log only; the method sees
    # the numbers, never the labels (kMeans probe while finetuning, paper Fig. 6).
    probe_score: Callable[[np.ndarray], dict[str, float]] | None = None

    def log_epoch(self, epoch: int, **values: float) -> None:
        """Record one epoch's loss terms; they are stored in the run record."""
        self.log.append({"epoch": epoch, **{k: float(v) for k, v in values.items()}})
