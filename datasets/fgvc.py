"""``cub``, ``aircraft``, ``scars``: the fine-grained GCD datasets with the SSB class splits.

Old classes = SSB ``known_classes``, new = ``unknown_classes`` Hard + Medium + Easy (Vaze et al.
``get_class_splits`` with ``use_ssb_splits``; lists downloaded and checksummed). Label = position
in old + new, so labels 0..n_old-1 are old. Train rows keep each dataset's official order, which
decides the labelled subset. Clustering fits on train and scores on test.

- CUB-200-2011 ``<root>/CUB_200_2011/``: ``images.txt`` joined on image id with
  ``image_class_labels.txt`` and ``train_test_split.txt``; class id = label - 1. Train 5,994 / test 5,794.
- FGVC-Aircraft 2013b ``<root>/fgvc-aircraft-2013b/data/``: variant level, train = ``trainval``
  (6,667), test 3,333, rows in file order; class id = index in the sorted unique variant names.
- Stanford Cars as torchvision reads it, ``<root>/stanford_cars/``: ``devkit/cars_train_annos.mat``,
  ``cars_test_annos_withlabels.mat`` (or in ``devkit/``), ``devkit/cars_meta.mat``; rows in
  annotation order, class id = ``class`` - 1. Train 8,144 / test 8,041.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from unic_bench.api.backbone import InputConfig
from unic_bench.api.component import Task
from unic_bench.api.dataset import DatasetSplits
from unic_bench.api.hookspecs import hookimpl
from unic_bench.datasets.common.on_disk import DiskDataset, relabel
from unic_bench.datasets.common.split_lists import split_list
from unic_bench.errors import BenchError

Rows = tuple[list[str], np.ndarray]  # (image paths relative to the dataset folder, class ids)


class _SsbDataset(DiskDataset):
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering", "gcd"})
    ssb_name: ClassVar[str]
    required: ClassVar[tuple[str, ...]]

    @abstractmethod
    def read(self, base: Path) -> tuple[list[str], dict[str, Rows]]:
        """(class names by official id, {"train": rows, "test": rows})."""

    def load(self, root: Path | None, input_config: InputConfig | None) -> DatasetSplits:
        from unic_bench.datasets.common.images import image_split

        base = self.require(root, *self.required)
        names, rows = self.read(base)
        old = [int(c) for c in split_list(f"{self.ssb_name}_ssb_old.txt")]
        order = old + [int(c) for c in split_list(f"{self.ssb_name}_ssb_new.txt")]
        splits = {}
        for split, (paths, ids) in rows.items():
            labels = relabel(ids, order, len(names), f"the SSB split of '{self.name}'")
            splits[split] = image_split(split, base, labels, paths, input_config)
        class_names = tuple(names[c] for c in order)
        return DatasetSplits(class_names, splits, ("train", "test"), "train", tuple(range(len(old))))


def read_table(path: Path) -> dict[str, str]:
    """``<id> <value>`` lines (CUB's metadata files) -> {id: value}."""
    return dict(line.split(" ", 1) for line in path.read_text().splitlines() if line.strip())


class Cub(_SsbDataset):
    name = "cub"
    display_name = "CUB"
    description = "CUB-200-2011: train 5,994 -> test 5,794; GCD SSB split 100 old / 100 new"
    folder = "CUB_200_2011"
    source = "https://data.caltech.edu/records/65de6-vp158 (CUB_200_2011.tgz, extract into the data root)"
    expected_counts = {"train": 5_994, "test": 5_794}
    ssb_name = "cub"
    required = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt", "images")

    def read(self, base: Path) -> tuple[list[str], dict[str, Rows]]:
        images = read_table(base / "images.txt")
        labels = read_table(base / "image_class_labels.txt")
        is_train = read_table(base / "train_test_split.txt")
        names = [name for _, name in sorted(read_table(base / "classes.txt").items(), key=lambda kv: int(kv[0]))]
        order = sorted(images, key=int)  # img_id order, as the official metadata lists it
        rows: dict[str, Rows] = {}
        for split, flag in (("train", "1"), ("test", "0")):
            ids = [i for i in order if is_train[i].strip() == flag]
            rows[split] = ([f"images/{images[i].strip()}" for i in ids], np.array([int(labels[i]) - 1 for i in ids]))
        return names, rows


class Aircraft(_SsbDataset):
    name = "aircraft"
    display_name = "Aircraft"
    description = "FGVC-Aircraft 2013b (variants): trainval 6,667 -> test 3,333; GCD SSB split 50 old / 50 new"
    folder = "fgvc-aircraft-2013b"
    source = (
        "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz (extract into the data root)"
    )
    expected_counts = {"train": 6_667, "test": 3_333}
    ssb_name = "aircraft"
    required = ("data/images_variant_trainval.txt", "data/images_variant_test.txt", "data/images")

    def read(self, base: Path) -> tuple[list[str], dict[str, Rows]]:
        raw = {
            split: self._lines(base / f"data/images_variant_{file}.txt")
            for split, file in (("train", "trainval"), ("test", "test"))
        }
        # GCD data/fgvc_aircraft.py: class index = position in np.unique of the variant names
        names = sorted({variant for lines in raw.values() for _, variant in lines})
        index = {name: i for i, name in enumerate(names)}
        rows = {
            split: ([f"data/images/{img}.jpg" for img, _ in lines], np.array([index[v] for _, v in lines]))
            for split, lines in raw.items()
        }
        return names, rows

    @staticmethod
    def _lines(path: Path) -> list[tuple[str, str]]:
        pairs = (line.split(" ", 1) for line in path.read_text().splitlines() if line.strip())
        return [(key, value) for key, value in pairs]


class StanfordCars(_SsbDataset):
    name = "scars"
    aliases = ("stanford-cars",)
    display_name = "SCars"
    description = "Stanford Cars: train 8,144 -> test 8,041; GCD SSB split 98 old / 98 new"
    folder = "stanford_cars"
    source = (
        "the Stanford Cars archives cars_train.tgz, cars_test.tgz, car_devkit.tgz and cars_test_annos_withlabels.mat "
        "(mirrors only; the original URL is gone), extracted as torchvision's StanfordCars expects"
    )
    expected_counts = {"train": 8_144, "test": 8_041}
    ssb_name = "scars"
    required = ("devkit/cars_meta.mat", "devkit/cars_train_annos.mat", "cars_train", "cars_test")

    def read(self, base: Path) -> tuple[list[str], dict[str, Rows]]:
        from scipy.io import loadmat

        test_annos = next(
            (p for p in (base / "cars_test_annos_withlabels.mat", base / "devkit/cars_test_annos_withlabels.mat") if p.exists()),
            None,
        )
        if test_annos is None:
            self.require(base, "cars_test_annos_withlabels.mat", base=base)
        names = [str(n) for n in loadmat(base / "devkit/cars_meta.mat", squeeze_me=True)["class_names"]]
        rows: dict[str, Rows] = {}
        for split, annos, folder in (
            ("train", base / "devkit/cars_train_annos.mat", "cars_train"),
            ("test", test_annos, "cars_test"),
        ):
            table = np.atleast_1d(loadmat(annos, squeeze_me=True)["annotations"])
            if "class" not in (table.dtype.names or ()):
                raise BenchError(
                    f"dataset 'scars': '{annos}' has no class labels (the test labels come in cars_test_annos_withlabels.mat)"
                )
            rows[split] = ([f"{folder}/{a['fname']}" for a in table], np.array([int(a["class"]) - 1 for a in table]))
        return names, rows


@hookimpl
def register_datasets(register: Callable[[type], None]) -> None:
    register(Cub)
    register(Aircraft)
    register(StanfordCars)
