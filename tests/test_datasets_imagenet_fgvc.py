"""ImageNet subsets and the fine-grained GCD datasets from fake trees; splits checked against ../shared/splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dataset_trees import AIRCRAFT_VARIANTS, make_aircraft, make_cub, make_imagenet, make_scars, shared_ints, shared_splits

from unic_bench.api.backbone import InputConfig
from unic_bench.api.dataset import DatasetSplits
from unic_bench.datasets.common.split_lists import splits_dir
from unic_bench.datasets.common.transforms import IMAGENET_MEAN, IMAGENET_STD
from unic_bench.datasets.fgvc import Aircraft, Cub, StanfordCars
from unic_bench.datasets.imagenet import ImageNet50, ImageNet100Gcd, gcd_imagenet100_wnids
from unic_bench.errors import BenchError
from unic_bench.plugins.host import get_host
from unic_bench.run.gcd_split import labelled_indices

pytestmark = pytest.mark.needs_shared  # every test compares with the official class lists

VIT_INPUT = InputConfig(224, IMAGENET_MEAN, IMAGENET_STD)


def shared_lines(name: str) -> list[str]:
    return (shared_splits() / name).read_text().splitlines()


def test_imagenet50_scan_classes_line_order_and_pre_resize(tmp_path: Path) -> None:
    rows = [line.split("\t") for line in shared_lines("imagenet50_scan_names.tsv")]
    wnids = [w for w, _ in rows]
    make_imagenet(tmp_path, wnids[::-1], train_per_class=2, val_per_class=1)  # creation order must not matter
    with splits_dir(shared_splits()):
        data = ImageNet50().load(tmp_path, VIT_INPUT)
    train, val = data.splits["train"], data.splits["val"]
    assert data.class_names[0] == rows[0][1] and data.num_classes == 50 and data.clustering == ("train", "val")
    assert np.array_equal(train.labels, np.repeat(np.arange(50), 2)) and len(val) == 50
    assert train.samples.path(2).parent.name == wnids[1]  # label = line index of the SCAN list
    assert train.transform.startswith("resize(256x256,bilinear)|resize(256,bicubic)|center-crop(224)")
    assert val.samples[0].shape == (3, 224, 224)
    assert data.gcd_split is None
    with splits_dir(shared_splits()):
        scan = ImageNet50(pre_resize="shorter").load(tmp_path, VIT_INPUT)
    assert scan.splits["val"].transform.startswith("resize(256,bilinear)|resize(256,bicubic)|center-crop(224)")


@pytest.mark.parametrize("name", ["imagenet100", "imagenet200", "imagenet1k"])
def test_other_imagenet_sets_take_their_classes_in_list_order(tmp_path: Path, name: str) -> None:
    wnids = (
        [w.split("\t")[0] for w in shared_lines(f"{name}_scan_names.tsv")]
        if name != "imagenet1k"
        else shared_lines("imagenet1k_wnids_sorted.txt")
    )
    make_imagenet(tmp_path, wnids, train_per_class=1, val_per_class=2, empty=True)
    (tmp_path / "imagenet" / "train" / wnids[0] / "README.txt").touch()  # not an image: ignored
    with splits_dir(shared_splits()):
        data = get_host().datasets.get(name)().load(tmp_path, None)
    assert data.num_classes == len(wnids) and len(data.splits["train"]) == len(wnids)
    assert np.array_equal(data.splits["val"].labels, np.repeat(np.arange(len(wnids)), 2))
    assert [data.splits["train"].samples.path(i).parent.name for i in (0, len(wnids) - 1)] == [wnids[0], wnids[-1]]


def test_imagenet100_gcd_seeded_choice_matches_the_reference_list() -> None:
    assert gcd_imagenet100_wnids() == shared_lines("imagenet100_gcd.txt")
    assert gcd_imagenet100_wnids()[:50] == shared_lines("imagenet100_gcd_old.txt")


def test_imagenet100_gcd_from_a_100_folder_copy_and_missing_val_folder(tmp_path: Path) -> None:
    wnids = shared_lines("imagenet100_gcd.txt")
    make_imagenet(tmp_path, wnids, train_per_class=2, val_per_class=1)
    data = ImageNet100Gcd().load(tmp_path, None)
    assert data.gcd_old_classes == tuple(range(50)) and data.class_names == tuple(wnids)
    labels = data.splits["train"].labels
    assert np.array_equal(labels, np.repeat(np.arange(100), 2))
    assert np.array_equal(labelled_indices(labels, data.gcd_old_classes), np.sort(np.random.RandomState(0).permutation(100)[:50]))
    (tmp_path / "imagenet" / "val" / wnids[7] / f"ILSVRC2012_val_{7:08d}.JPEG").unlink()
    (tmp_path / "imagenet" / "val" / wnids[7]).rmdir()
    with pytest.raises(BenchError, match=rf"imagenet/val' lacks {wnids[7]} .*one folder per wnid"):
        ImageNet100Gcd().load(tmp_path, None)


def ssb_order(name: str) -> list[int]:
    return shared_ints(f"{name}_ssb_old.txt") + shared_ints(f"{name}_ssb_new.txt")


def check_ssb(data: DatasetSplits, name: str, official_train: np.ndarray, n_old: int) -> None:
    order = ssb_order(name)
    position = {c: i for i, c in enumerate(order)}
    assert np.array_equal(data.splits["train"].labels, [position[c] for c in official_train])
    assert data.gcd_old_classes == tuple(range(n_old)) and data.gcd_split == "train"
    old_official = set(order[:n_old])
    is_old = np.array([c in old_official for c in official_train])
    assert np.array_equal(data.splits["train"].labels < n_old, is_old)
    labelled = labelled_indices(data.splits["train"].labels, data.gcd_old_classes)  # what the protocol labels
    assert len(labelled) == int(0.5 * is_old.sum()) and is_old[labelled].all()


def test_cub_rows_in_image_id_order_with_ssb_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [(int(c), bool(t)) for c, t in zip(rng.permutation(np.tile(np.arange(200), 2)), rng.integers(0, 2, 400))]
    make_cub(tmp_path, rows)
    with splits_dir(shared_splits()):
        data = Cub().load(tmp_path, VIT_INPUT)
    official_train = np.array([c for c, t in rows if t])
    check_ssb(data, "cub", official_train, 100)
    first_train = next(i for i, (_, t) in enumerate(rows, start=1) if t)
    assert data.splits["train"].samples.path(0).name.endswith(f"_{first_train:04d}.jpg")
    old0 = shared_ints("cub_ssb_old.txt")[0]
    assert data.class_names[0] == f"{old0 + 1:03d}.Bird_{old0 + 1}"
    assert data.splits["test"].samples[0].shape == (3, 224, 224)


def test_aircraft_sorted_variant_index_and_ssb_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    trainval = [(f"{1000000 + i}", int(v)) for i, v in enumerate(rng.permutation(np.tile(np.arange(100), 2)))]
    test = [(f"{2000000 + v}", v) for v in range(100)]
    make_aircraft(tmp_path, trainval, test)
    with splits_dir(shared_splits()):
        data = Aircraft().load(tmp_path, None)
    check_ssb(data, "aircraft", np.array([v for _, v in trainval]), 50)
    assert data.class_names[0] == AIRCRAFT_VARIANTS[shared_ints("aircraft_ssb_old.txt")[0]]
    assert len(data.splits["test"]) == 100


@pytest.mark.parametrize("in_devkit", [False, True])
def test_stanford_cars_mat_annotations_and_ssb_labels(tmp_path: Path, in_devkit: bool) -> None:
    rng = np.random.default_rng(2)
    train = rng.permutation(196).tolist()
    make_scars(tmp_path, train, list(range(196)), test_annos_in_devkit=in_devkit)
    with splits_dir(shared_splits()):
        data = StanfordCars().load(tmp_path, None)
    check_ssb(data, "scars", np.array(train), 98)
    assert data.class_names[0] == f"Car Model {shared_ints('scars_ssb_old.txt')[0] + 1} 2012"
    assert data.splits["train"].samples.path(0).name == "00001.jpg"


def test_stanford_cars_without_test_labels_names_the_file(tmp_path: Path) -> None:
    make_scars(tmp_path, list(range(196)), list(range(196)))
    (tmp_path / "stanford_cars" / "cars_test_annos_withlabels.mat").unlink()
    with splits_dir(shared_splits()), pytest.raises(BenchError, match="lacks cars_test_annos_withlabels.mat"):
        StanfordCars().load(tmp_path, None)
