"""``folder``: your own images under ``--data-root DIR``, to cluster them with any backbone and method.

- ``DIR/<class>/...`` (ImageFolder: one sub-folder per class, sorted; files found recursively in
  sorted order): the class folders give the labels and the number of clusters, and the run is
  scored as usual.
- ``DIR/*.jpg`` (a flat folder): the labels are unknown. ``--set num_clusters=K`` sets the number
  of clusters; the run writes the assignments (``<run_id>.csv``: file, cluster) and no metrics.

Clustering is transductive: fit and predict all images. Images get the backbone's test transform.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Optional

import numpy as np
from pydantic import Field

from unic_bench.api.backbone import InputConfig
from unic_bench.api.component import ParamsModel, Task
from unic_bench.api.dataset import DatasetSplits
from unic_bench.api.hookspecs import hookimpl
from unic_bench.datasets.common.on_disk import IMG_EXTENSIONS, DiskDataset, list_images
from unic_bench.errors import BenchError


class FolderParams(ParamsModel):
    num_clusters: Optional[int] = Field(None, ge=2, description="clusters for a flat folder (default: the class folders)")


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
        k = self.params.num_clusters
        classes = sorted(e.name for e in os.scandir(base) if e.is_dir() and not e.name.startswith("."))
        loose = list_images(base)
        if classes and loose:
            raise BenchError(
                f"dataset 'folder': '{base}' holds both images ({loose[0]}, ...) and sub-folders ({classes[0]}, ...); "
                "use one sub-folder per class, or a flat folder of images"
            )
        if classes:
            files, labels = [], []
            for label, cls in enumerate(classes):
                found = images_under(base / cls)
                files += [f"{cls}/{f}" for f in found]
                labels += [label] * len(found)
            names = tuple(classes)
            empty = [c for c, n in zip(classes, np.bincount(labels, minlength=len(classes))) if n == 0]
            if empty:
                raise BenchError(
                    f"dataset 'folder': class folder(s) {', '.join(empty)} in '{base}' hold no images ({', '.join(IMG_EXTENSIONS)})"
                )
            if k is not None and k != len(classes):
                raise BenchError(
                    f"dataset 'folder': num_clusters={k} but '{base}' has {len(classes)} class folders (leave num_clusters unset)"
                )
        else:
            if k is None:
                raise BenchError(
                    f"dataset 'folder': '{base}' is a flat folder (labels unknown): give the number of clusters, --set num_clusters=K (or dataset.num_clusters=K)"
                )
            files, labels, names = loose, [-1] * len(loose), tuple(f"cluster {i}" for i in range(k))
        if not files:
            raise BenchError(f"dataset 'folder': no images ({', '.join(IMG_EXTENSIONS)}) in '{base}'")
        split = image_split("all", base, np.asarray(labels), files, input_config, keep_ids=True)
        return DatasetSplits(names, {"all": split}, ("all", "all"))


@hookimpl
def register_datasets(register: Callable[[type], None]) -> None:
    register(Folder)
