"""Image datasets as torch Datasets that yield the prepared tensor only (labels stay with the protocol).

Images are read lazily, one per ``__getitem__``: files are opened on demand and arrays may be
numpy memory maps (STL-10's binary), so ImageNet is never held in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset as TorchDataset

from unic_bench.api.backbone import InputConfig
from unic_bench.api.dataset import Split, manifest_of
from unic_bench.datasets.common.transforms import PreResize, Transform, image_transform


class ArrayImages(TorchDataset):
    """``images[i]`` is an (H, W, 3) uint8 array (CIFAR pickles, STL-10 binary)."""

    def __init__(self, images: np.ndarray, transform: Transform) -> None:
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> Any:
        from PIL import Image

        return self.transform(Image.fromarray(np.asarray(self.images[index])))


class FileImages(TorchDataset):
    """``base / files[i]`` is an image file, opened as RGB when asked for (as torchvision's ``pil_loader``).

    Relative names keep a 1.28M-image ImageNet listing small (one short string per image).
    """

    def __init__(self, base: Path, files: Sequence[str], transform: Transform) -> None:
        self.base = base
        self.files = files
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def path(self, index: int) -> Path:
        return self.base / self.files[index]

    def __getitem__(self, index: int) -> Any:
        from PIL import Image

        with open(self.path(index), "rb") as fh:
            image = Image.open(fh).convert("RGB")
        return self.transform(image)


def image_split(
    name: str,
    source: np.ndarray | Path,
    labels: np.ndarray,
    ids: Sequence[str],
    input_config: InputConfig | None,
    pre_resize: PreResize = None,
    keep_ids: bool = False,
) -> Split:
    """A :class:`Split` with the test transform and (``train_samples``) the train one.

    ``source`` is either the (N, H, W, 3) uint8 images, ``ids`` then naming rows ("file:row"), or
    the folder that the relative image paths ``ids`` are in. ``ids`` go into the cache manifest;
    ``keep_ids`` also stores them in the split, so assignments are written out by name.
    """
    arrays = isinstance(source, np.ndarray)
    test, description = image_transform(input_config, train=False, pre_resize=pre_resize, native_ok=arrays)
    train, _ = image_transform(input_config, train=True, pre_resize=pre_resize, native_ok=arrays)

    def samples(transform: Transform) -> TorchDataset:
        return ArrayImages(source, transform) if isinstance(source, np.ndarray) else FileImages(source, ids, transform)

    labels = np.asarray(labels, dtype=np.int64)
    manifest = manifest_of(ids, labels)
    return Split(
        name=name,
        samples=samples(test),
        labels=labels,
        manifest=manifest,
        transform=description,
        train_samples=samples(train),
        ids=tuple(ids) if keep_ids else None,
    )
