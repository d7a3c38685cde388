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
from unic_bench.api.dataset import Split, files_fingerprint, manifest_of
from unic_bench.datasets.common.transforms import PreResize, Transform, image_transform
from unic_bench.errors import BenchError

# What PIL raises for a file that is not a readable image: UnidentifiedImageError (an OSError),
# "image file is truncated" (OSError), broken chunks (SyntaxError, ValueError, struct errors).
UNREADABLE = (OSError, SyntaxError, ValueError, EOFError)


class UnreadableImage(BenchError):
    """An image file that PIL cannot decode, named in one line.

    Raised in a DataLoader worker, it reaches the main process re-built from torch's multi-line
    "Caught ... in DataLoader worker" text; the constructor keeps only our own line of it.
    """

    def __init__(self, message: str) -> None:
        marker = f"{type(self).__name__}: "
        ours = [line.split(marker, 1)[1] for line in message.splitlines() if marker in line]
        super().__init__(ours[-1] if ours else message)


def read_rgb(path: Path, hint: str = "replace or delete it") -> Any:
    """Open ``path`` as an RGB PIL image, refusing corrupt and truncated files by name.

    ``verify()`` first: it walks the file's structure (PNG chunks and CRCs), which decoding alone
    does not, so a PNG cut short after its last pixel row is caught too; then the full decode,
    which raises for truncated JPEG data.
    """
    from PIL import Image

    try:
        with open(path, "rb") as fh:
            Image.open(fh).verify()
            fh.seek(0)
            return Image.open(fh).convert("RGB")
    except UNREADABLE as exc:
        raise UnreadableImage(f"cannot read image '{path}' ({_reason(exc)}): {hint}") from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return "not an image file PIL can identify" if type(exc).__name__ == "UnidentifiedImageError" else text


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

    def __init__(
        self, base: Path, files: Sequence[str], transform: Transform, unreadable_hint: str = "replace or delete it"
    ) -> None:
        self.base = base
        self.files = files
        self.transform = transform
        self.unreadable_hint = unreadable_hint  # what the error for a corrupt file suggests

    def __len__(self) -> int:
        return len(self.files)

    def path(self, index: int) -> Path:
        return self.base / self.files[index]

    def __getitem__(self, index: int) -> Any:
        return self.transform(read_rgb(self.path(index), self.unreadable_hint))


def image_split(
    name: str,
    source: np.ndarray | Path,
    labels: np.ndarray,
    ids: Sequence[str],
    input_config: InputConfig | None,
    pre_resize: PreResize = None,
    keep_ids: bool = False,
    source_files: Sequence[Path] = (),
    unreadable_hint: str = "replace or delete it",
) -> Split:
    """A :class:`Split` with the test transform and (``train_samples``) the train one.

    ``source`` is either the (N, H, W, 3) uint8 images, ``ids`` then naming rows ("file:row"), or
    the folder that the relative image paths ``ids`` are in. ``ids`` go into the cache manifest;
    ``keep_ids`` also stores them in the split, so assignments are written out by name.
    The split's fingerprint (feature-cache key) covers the image files, or for arrays the
    ``source_files`` they were read from. ``unreadable_hint`` ends the error for a corrupt file.
    """
    arrays = isinstance(source, np.ndarray)
    test, description = image_transform(input_config, train=False, pre_resize=pre_resize, native_ok=arrays)
    train, _ = image_transform(input_config, train=True, pre_resize=pre_resize, native_ok=arrays)

    def samples(transform: Transform) -> TorchDataset:
        return (
            ArrayImages(source, transform)
            if isinstance(source, np.ndarray)
            else FileImages(source, ids, transform, unreadable_hint)
        )

    labels = np.asarray(labels, dtype=np.int64)
    manifest = manifest_of(ids, labels)
    fingerprint = files_fingerprint(source, ids) if isinstance(source, Path) else files_fingerprint(Path("/"), source_files)
    return Split(
        name=name,
        samples=samples(test),
        labels=labels,
        manifest=manifest,
        transform=description,
        train_samples=samples(train),
        ids=tuple(ids) if keep_ids else None,
        fingerprint=fingerprint,
    )
