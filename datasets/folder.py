"""``folder``: your own images under ``--data-root DIR``, to cluster them with any backbone and method.

- ``DIR/<class>/...`` (ImageFolder: one sub-folder per class, sorted; files found recursively in
  sorted order): the class folders give the labels and the number of clusters, and the run is
  scored as usual.
- ``DIR/*.jpg`` (a flat folder): the labels are unknown. ``--set num_clusters=K`` sets the number
  of clusters; the run writes the assignments (``<run_id>.csv``: file, cluster) and no metrics.

Clustering is transductive: fit and predict all images. Images get the backbone's test transform.
An unreadable image (corrupt, truncated) stops the run naming the file; ``--set
dataset.skip_bad=true`` skips such images with a warning instead (every image is decoded once
more at load to find them). The folder's files (sizes, mtimes) join the run id and the cache key.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Optional

import numpy as np
from pydantic import Field

from unic_bench.api.backbone import InputConfig
from unic_bench.api.component import ParamsModel, Task
from unic_bench.api.dataset import DatasetSplits, files_fingerprint
from unic_bench.api.hookspecs import hookimpl
from unic_bench.datasets.common.on_disk import IMG_EXTENSIONS, DiskDataset, list_images
from unic_bench.errors import BenchError


class FolderParams(ParamsModel):
    num_clusters: Optional[int] = Field(None, ge=2, description="clusters for a flat folder (default: the class folders)")
    skip_bad: bool = Field(False, description="skip unreadable (corrupt, truncated) images with a warning instead of refusing")


def images_under(folder: Path) -> list[str]:
    """Image files below ``folder`` (relative, POSIX), in the order ImageFolder walks them."""
    found = []
    for current, _, files in sorted(os.walk(folder, followlinks=True)):
        rel = Path(current).relative_to(folder)
        found += [(rel / f).as_posix() for f in sorted(files) if f.lower().endswith(IMG_EXTENSIONS)]
    return found


class Folder(DiskDataset):
    name = "folder"
    display_name = "Folder"
    description = "Your images in --data-root: class sub-folders (scored) or a flat folder (--set num_clusters=K, not scored)"
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering"})
    Params = FolderParams
    folder = ""
    in_data_root = False
    source = "your own images (one sub-folder per class, or a flat folder of images)"

    def load(self, root: Path | None, input_config: InputConfig | None) -> DatasetSplits:
        from unic_bench.datasets.common.images import image_split

        base = self.require(root)
        files, labels, names = self._listing(base)
        if self.params.skip_bad:
            files, labels = _readable(base, files, labels)
        k = len(names)
        if len(files) < k:
            raise BenchError(
                f"dataset 'folder': num_clusters={k} but '{base}' holds only {len(files)} readable images (give fewer clusters)"
            )
        hint = "replace or delete it, or skip unreadable images with --set dataset.skip_bad=true"
        split = image_split("all", base, np.asarray(labels), files, input_config, keep_ids=True, unreadable_hint=hint)
        return DatasetSplits(names, {"all": split}, ("all", "all"))

    def data_identity(self, root: Path | None) -> str | None:
        """The folder and its images' sizes and mtimes: a run on other images is another run."""
        base = self.require(root)
        return files_fingerprint(base, self._listing(base)[0])

    def _listing(self, base: Path) -> tuple[list[str], list[int], tuple[str, ...]]:
        """(image files relative to ``base``, their labels (-1 = unknown), class or cluster names)."""
        k = self.params.num_clusters
        classes = sorted(e.name for e in os.scandir(base) if e.is_dir() and not e.name.startswith("."))
        loose = list_images(base)
        if classes and loose:
            raise BenchError(
                f"dataset 'folder': '{base}' holds both images ({loose[0]}, ...) and sub-folders ({classes[0]}, ...); "
                "use one sub-folder per class, or a flat folder of images"
            )
        if not classes and not loose:
            raise BenchError(f"dataset 'folder': no images ({', '.join(IMG_EXTENSIONS)}) in '{base}'")
        if not classes:
            if k is None:
                raise BenchError(
                    f"dataset 'folder': '{base}' is a flat folder (labels unknown): give the number of clusters, --set num_clusters=K (or dataset.num_clusters=K)"
                )
            return loose, [-1] * len(loose), tuple(f"cluster {i}" for i in range(k))
        if len(classes) == 1:
            raise BenchError(
                f"dataset 'folder': '{base}' has one class folder ({classes[0]}): a clustering of one class measures nothing "
                "(give two or more class folders, or put the images in a flat folder with --set num_clusters=K)"
            )
        files, labels = [], []
        for label, cls in enumerate(classes):
            found = images_under(base / cls)
            files += [f"{cls}/{f}" for f in found]
            labels += [label] * len(found)
        empty = [c for c, n in zip(classes, np.bincount(labels, minlength=len(classes))) if n == 0]
        if empty:
            raise BenchError(
                f"dataset 'folder': class folder(s) {', '.join(empty)} in '{base}' hold no images ({', '.join(IMG_EXTENSIONS)})"
            )
        if k is not None and k != len(classes):
            raise BenchError(
                f"dataset 'folder': num_clusters={k} but '{base}' has {len(classes)} class folders (leave num_clusters unset)"
            )
        return files, labels, tuple(classes)


def _readable(base: Path, files: list[str], labels: list[int]) -> tuple[list[str], list[int]]:
    """``skip_bad``: decode every image once and drop the unreadable ones, naming them in a warning."""
    from unic_bench.datasets.common.images import UnreadableImage, read_rgb

    keep, bad = [], []
    for i, name in enumerate(files):
        try:
            read_rgb(base / name)
            keep.append(i)
        except UnreadableImage:
            bad.append(name)
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        print(
            f"unic-bench: warning: dataset 'folder': skipping {len(bad)} unreadable image(s) in '{base}': {shown}",
            file=sys.stderr,
        )
    return [files[i] for i in keep], [labels[i] for i in keep]


@hookimpl
def register_datasets(register: Callable[[type], None]) -> None:
    register(Folder)
