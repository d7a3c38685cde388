"""The dataset plugin API: splits with hidden labels, the clustering pair and the GCD split."""

from __future__ import annotations

import hashlib
import os
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from unic_bench.api.backbone import InputConfig, Modality
from unic_bench.api.component import Component, P, Task

if TYPE_CHECKING:
    import torch.utils.data


@dataclass(frozen=True, kw_only=True)
class Split:
    """One split of a dataset: inputs (no labels) plus the labels the protocol keeps aside.

    ``manifest`` identifies the sample list (file names, order) and ``transform`` the
    preprocessing; both are part of the feature-cache key. ``train_samples`` are the same items
    in the same order under the dataset's train-time transform (augmentation), for methods that
    finetune; ``None`` means the dataset has none and ``samples`` serve both. A label of -1 means
    unknown (the user's unlabelled images): such items are clustered but never scored. ``ids``
    name the items (the user's file names) where the assignments should be written out by name.
    ``fingerprint`` identifies the data read from disk (:func:`files_fingerprint`: the folder and
    each file's size and mtime); it joins the cache key, so replaced files are re-extracted.
    Empty for data that cannot change under the same manifest (embedded, or hashed in it).
    """

    name: str
    samples: torch.utils.data.Dataset
    labels: np.ndarray
    manifest: str
    transform: str
    train_samples: torch.utils.data.Dataset | None = None
    ids: tuple[str, ...] | None = None
    fingerprint: str = ""

    def __len__(self) -> int:
        return int(len(self.labels))


@dataclass(frozen=True)
class DatasetSplits:
    """A loaded dataset and how the protocol uses its splits."""

    class_names: tuple[str, ...]
    splits: Mapping[str, Split]
    clustering: tuple[str, str]  # (fit split, eval split); equal names = transductive
    gcd_split: str | None = None  # the train split GCD fits on and scores (unlabelled part)
    gcd_old_classes: tuple[int, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class Dataset(Component[P]):
    """Subclass per dataset; register the class from a ``register_datasets`` hook."""

    kind: ClassVar[str] = "dataset"
    tasks: ClassVar[frozenset[Task]] = frozenset()
    modality: ClassVar[Modality] = "image"
    needs_root: ClassVar[bool] = False  # True when load() reads files under --data-root
    in_data_root: ClassVar[bool] = True  # False: the data root *is* the data (``folder``); not checked by default
    expected_counts: ClassVar[Mapping[str, int]] = {}  # split -> items in the official release (datasets check)

    @abstractmethod
    def load(self, root: Path | None, input_config: InputConfig | None) -> DatasetSplits:
        """Read the standard on-disk layout under ``root`` and prepare inputs for the backbone."""

    def data_identity(self, root: Path | None) -> str | None:
        """For data from a user's own path (``folder``): a fingerprint of it that joins the run id
        (``RunSpec.data_fingerprint``), so records of different data never collide. ``None`` (the
        default) for datasets whose name and params identify the data."""
        return None


def files_fingerprint(base: Path, files: Iterable[str | Path]) -> str:
    """A short hash of where data lives and what is there now: ``base`` resolved, and each file's
    name, size and mtime (one ``stat`` per file, no reading: cheap next to decoding the images)."""
    root = str(Path(base).resolve())
    entries = []
    for name in files:
        stat = os.stat(os.path.join(root, name))
        entries.append(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join([root, *entries]).encode()).hexdigest()[:16]


def manifest_of(*arrays: np.ndarray | Sequence[str]) -> str:
    """A short content hash of a sample list (ids, labels) for the feature-cache key."""
    digest = hashlib.sha256()
    for arr in arrays:
        if not isinstance(arr, np.ndarray):  # names: hash their text, not a wide fixed-width unicode array
            digest.update("\n".join(arr).encode())
            continue
        arr = np.ascontiguousarray(arr)
        digest.update(f"{arr.dtype.str}{arr.shape}".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()[:16]
