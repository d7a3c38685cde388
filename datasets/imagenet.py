"""ImageNet (ILSVRC-2012) subsets in the ImageFolder layout ``<root>/imagenet/{train,val}/<wnid>/*.JPEG``.

- ``imagenet50/100/200``: SCAN's clustering subsets (also TEMI's); classes from SCAN's lists
  (downloaded, checksummed; label = line index, lists sorted by wnid). Fit on the train images of
  those classes, score on their val images (50 per class). Every image is first resized as the
  loaders do: ``pre_resize=square`` (default) 256x256 without keeping the aspect ratio, as TEMI's
  ``loaders/imagenet.py``; ``shorter`` the shorter side to 256, as SCAN's ``data/imagenet.py``.
- ``imagenet100-gcd``: Vaze et al.'s ImageNet-100 (``data/imagenet.py``, ``get_imagenet_100_datasets``):
  ``np.random.seed(0); np.sort(np.random.choice(range(1000), size=(100,), replace=False))`` picks
  indices into the 1000 sorted wnids; labels 0-49 old, 50-99 new. Classes are selected by wnid,
  so a copy holding only those 100 folders works too.
- ``imagenet1k``: all 1,000 classes, train -> val.

Files per class are the sorted image names (ImageFolder's order). The val images must be in
per-wnid folders (docs/datasets.md says how to get there from the official tar).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from unic_bench.api.backbone import InputConfig
from unic_bench.api.component import ParamsModel, Task
from unic_bench.api.dataset import DatasetSplits, Split
from unic_bench.api.hookspecs import hookimpl
from unic_bench.datasets.common.on_disk import DiskDataset, list_images
from unic_bench.datasets.common.split_lists import split_list
from unic_bench.datasets.common.transforms import PreResize

SOURCE = (
    "https://image-net.org/download (ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz; "
    "see docs/datasets.md for sorting val into class folders)"
)


def imagenet1k_wnids() -> list[str]:
    """The 1,000 ILSVRC-2012 wnids sorted (= ImageFolder class order), as timm ships them."""
    from timm.data import ImageNetInfo

    wnids = list(ImageNetInfo("imagenet-1k").label_names())
    assert len(wnids) == 1000 and wnids == sorted(wnids)
    return wnids


def gcd_imagenet100_wnids() -> list[str]:
    """GCD's seeded choice; ``RandomState(0)`` draws the stream of ``np.random.seed(0)`` without touching it."""
    indices = np.sort(np.random.RandomState(0).choice(range(1000), size=(100,), replace=False))
    wnids = imagenet1k_wnids()
    return [wnids[i] for i in indices]


class _ImageNet(DiskDataset):
    folder = "imagenet"
    source = SOURCE
    old_count: ClassVar[int] = 0  # GCD: the first ``old_count`` labels are old

    @abstractmethod
    def classes(self) -> tuple[list[str], list[str]]:
        """(wnids in label order, display names)."""

    def load(self, root: Path | None, input_config: InputConfig | None) -> DatasetSplits:
        from unic_bench.datasets.common.images import image_split

        base = self.require(root, "train", "val")
        wnids, names = self.classes()
        splits: dict[str, Split] = {}
        for split in ("train", "val"):
            self.require(root, *wnids, base=base / split, expected=f"one folder per wnid of the {len(wnids)} classes")
            files, labels = [], []
            for label, wnid in enumerate(wnids):
                found = list_images(base / split / wnid)
                files += [f"{wnid}/{f}" for f in found]
                labels += [label] * len(found)
            splits[split] = image_split(split, base / split, np.asarray(labels), files, input_config, self.pre_resize())
        old = tuple(range(self.old_count))
        return DatasetSplits(tuple(names), splits, ("train", "val"), "train" if old else None, old)

    def pre_resize(self) -> PreResize:
        """Resize applied before the transform (none: GCD and full ImageNet use the plain test transform)."""
        return None


class ScanSubsetParams(ParamsModel):
    pre_resize: Literal["square", "shorter"] = "square"


class _ScanSubset(_ImageNet):
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering"})
    Params = ScanSubsetParams
    size: ClassVar[int]

    def pre_resize(self) -> PreResize:
        return (256, 256) if self.params.pre_resize == "square" else 256

    def classes(self) -> tuple[list[str], list[str]]:
        rows = [line.split("\t", 1) for line in split_list(f"imagenet{self.size}_scan_names.tsv")]
        return [wnid for wnid, _ in rows], [name for _, name in rows]


class ImageNet50(_ScanSubset):
    name = "imagenet50"
    display_name = "ImageNet-50"
    description = "SCAN's ImageNet-50: its train images -> its 2,500 val images"
    size = 50
    expected_counts = {"val": 2_500}


class ImageNet100(_ScanSubset):
    name = "imagenet100"
    display_name = "ImageNet-100"
    description = "SCAN's ImageNet-100: its train images -> its 5,000 val images"
    size = 100
    expected_counts = {"val": 5_000}


class ImageNet200(_ScanSubset):
    name = "imagenet200"
    display_name = "ImageNet-200"
    description = "SCAN's ImageNet-200: its train images -> its 10,000 val images"
    size = 200
    expected_counts = {"val": 10_000}


class ImageNet100Gcd(_ImageNet):
    name = "imagenet100-gcd"
    display_name = "ImageNet-100 (GCD)"
    description = "GCD's seeded ImageNet-100: 50 old / 50 new classes, train images (val 5,000 for clustering)"
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering", "gcd"})
    old_count = 50
    expected_counts = {"val": 5_000}

    def classes(self) -> tuple[list[str], list[str]]:
        wnids = gcd_imagenet100_wnids()
        return wnids, wnids


class ImageNet1k(_ImageNet):
    name = "imagenet1k"
    display_name = "ImageNet-1K"
    description = "ILSVRC-2012, 1,000 classes: train 1,281,167 -> val 50,000"
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering"})
    expected_counts = {"train": 1_281_167, "val": 50_000}

    def classes(self) -> tuple[list[str], list[str]]:
        wnids = imagenet1k_wnids()
        return wnids, wnids


@hookimpl
def register_datasets(register: Callable[[type], None]) -> None:
    for cls in (ImageNet50, ImageNet100, ImageNet200, ImageNet100Gcd, ImageNet1k):
        register(cls)
