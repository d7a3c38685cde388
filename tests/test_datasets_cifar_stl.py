"""CIFAR-10/100/100-20 and STL-10 from fake trees in torchvision's layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from dataset_trees import CIFAR10_NAMES, make_cifar10, make_cifar100, make_stl10, shared_ints

from unic_bench.api.backbone import InputConfig
from unic_bench.datasets.cifar import Cifar10, Cifar100, Cifar100Coarse
from unic_bench.datasets.common.transforms import IMAGENET_MEAN, IMAGENET_STD
from unic_bench.datasets.stl10 import Stl10
from unic_bench.errors import BenchError
from unic_bench.run.metrics import clustering_metrics
from unic_bench.run.protocol import TaskInputs, score, task_inputs
from unic_bench.run.records import read_record
from unic_bench.run.spec import RunSpec

VIT_INPUT = InputConfig(224, IMAGENET_MEAN, IMAGENET_STD)


def as_uint8(x: torch.Tensor) -> np.ndarray:
    """A native ToTensor() output back to the stored (H, W, 3) bytes."""
    return (x * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def test_cifar10_reads_batches_in_order_with_names_and_gcd_classes(tmp_path: Path) -> None:
    per_batch, test_labels = np.array([3, 1, 4, 1, 5, 9, 2, 6]), np.array([0, 9, 8])
    written = make_cifar10(tmp_path, per_batch, test_labels)
    data = Cifar10().load(tmp_path, None)
    train, test = data.splits["train"], data.splits["test"]
    assert data.class_names == tuple(CIFAR10_NAMES)
    assert np.array_equal(train.labels, np.tile(per_batch, 5)) and np.array_equal(test.labels, test_labels)
    assert np.array_equal(as_uint8(train.samples[8]), written["data_batch_2"][0])  # row 8 = data_batch_2 row 0
    assert np.array_equal(as_uint8(test.samples[2]), written["test_batch"][2])
    assert data.clustering == ("train", "test") and data.gcd_split == "train" and data.gcd_old_classes == (0, 1, 2, 3, 4)
    vit = Cifar10().load(tmp_path, VIT_INPUT).splits["test"]
    assert vit.samples[0].shape == (3, 224, 224) and vit.train_samples is not None and vit.train_samples[0].shape == (3, 224, 224)
    assert "resize(256,bicubic)|center-crop(224)" in vit.transform and vit.transform != test.transform


def gcd_inputs(data: Any, dataset: str) -> Any:
    features = {"train": np.zeros((len(data.splits["train"]), 1), dtype=np.float32)}
    return task_inputs(RunSpec(method="kmeans", backbone="pixels", dataset=dataset, task="gcd"), data, features)


def test_cifar10_labelled_subset_reproduces_the_literature(tmp_path: Path) -> None:
    """Full-size label arrays (50,000 train); the first positions GCD's subsample_instances draws for N_old = 25,000."""
    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(10), 1000))
    make_cifar10(tmp_path, labels, np.arange(10), images=False)
    data = Cifar10().load(tmp_path, None)
    inputs = gcd_inputs(data, "cifar10")
    old_positions = np.flatnonzero(data.splits["train"].labels < 5)
    assert len(old_positions) == 25_000 and len(inputs.labelled) == 12_500 and len(inputs.data.eval) == 37_500
    assert set(old_positions[[14149, 8946, 22378, 12162, 4879]]) <= set(inputs.labelled.tolist())
    assert (data.splits["train"].labels[inputs.labelled] < 5).all()


def test_cifar100_80_20_split_and_literature_positions(tmp_path: Path) -> None:
    fine = np.random.default_rng(1).permutation(np.repeat(np.arange(100), 500))
    make_cifar100(tmp_path, fine, np.arange(100), [i % 20 for i in range(100)])
    data = Cifar100().load(tmp_path, None)
    assert data.gcd_old_classes == tuple(range(80)) and data.num_classes == 100 and data.class_names[80] == "fine80"
    inputs = gcd_inputs(data, "cifar100")
    old_positions = np.flatnonzero(fine < 80)
    assert len(inputs.labelled) == 20_000 and len(inputs.data.eval) == 30_000
    assert set(old_positions[[12836, 10913, 4214, 8198, 31403]]) <= set(inputs.labelled.tolist())
    assert (inputs.eval_truth >= 80).sum() == 10_000  # every new-class image is unlabelled


@pytest.mark.needs_shared
def test_cifar100_20_uses_coarse_labels_and_checks_them_against_scan(tmp_path: Path) -> None:
    table = shared_ints("cifar100_fine_to_coarse.txt")
    fine = np.arange(200) % 100
    make_cifar100(tmp_path / "ok", fine, fine[:100], table)
    data = Cifar100Coarse().load(tmp_path / "ok", None)
    assert data.num_classes == 20 and data.class_names[0] == "super00"
    assert np.array_equal(data.splits["train"].labels, np.asarray(table)[fine])
    assert data.gcd_split is None and "gcd" not in Cifar100Coarse.tasks
    wrong = list(table)
    wrong[0], wrong[1] = wrong[1], wrong[0]
    make_cifar100(tmp_path / "bad", fine, fine[:100], wrong)
    with pytest.raises(BenchError, match="differ from SCAN"):
        Cifar100Coarse().load(tmp_path / "bad", None)


def test_missing_cifar_file_is_one_line_naming_path_files_and_source(tmp_path: Path, cli: Any) -> None:
    make_cifar10(tmp_path, np.arange(4), np.arange(2))
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    out = cli(
        "run",
        "--method",
        "kmeans",
        "--backbone",
        "pixels",
        "--dataset",
        "cifar10",
        "--data-root",
        str(tmp_path),
        "--results",
        str(tmp_path / "r"),
    )
    assert out.code == 2 and len(out.err.strip().splitlines()) == 1
    assert "'cifar10'" in out.err and "cifar-10-batches-py' lacks data_batch_3" in out.err and "cifar-10-python.tar.gz" in out.err
    assert not (tmp_path / "r").exists()


def test_stl10_binary_layout_and_unlabeled_option(tmp_path: Path) -> None:
    written = make_stl10(tmp_path, 20, 10, n_unlabeled=7)
    data = Stl10().load(tmp_path, None)
    train = data.splits["train"]
    assert data.clustering == ("train", "test") and data.class_names[2] == "car"
    assert np.array_equal(train.labels, written["train"][1])  # stored 1..10, read 0..9
    assert np.array_equal(as_uint8(train.samples[3]), written["train"][0][3])
    wide = Stl10(fit_split="train+unlabeled").load(tmp_path, None)
    fit = wide.splits[wide.clustering[0]]
    assert wide.clustering == ("train+unlabeled", "test") and len(fit) == 27 and (fit.labels[20:] == -1).all()
    assert np.array_equal(as_uint8(fit.samples[22]), written["unlabeled"][0][2])
    (tmp_path / "stl10_binary" / "unlabeled_X.bin").unlink()
    with pytest.raises(BenchError, match="lacks unlabeled_X.bin"):
        Stl10(fit_split="train+unlabeled").load(tmp_path, None)
    assert len(Stl10().load(tmp_path, None).splits["train"]) == 20  # not needed by default


def test_stl10_with_unlabeled_runs_and_scores_train_metrics_on_labelled_images_only(cli: Any, tmp_path: Path) -> None:
    make_stl10(tmp_path, 20, 10, n_unlabeled=7)
    out = cli(
        "run",
        "--method",
        "kmeans",
        "--backbone",
        "pixels",
        "--dataset",
        "stl10",
        "--set",
        "dataset.fit_split=train+unlabeled",
        "--set",
        "n_init=1",
        "--data-root",
        str(tmp_path),
        "--results",
        str(tmp_path / "r"),
    )
    assert out.code == 0, out.err
    record = read_record(next((tmp_path / "r" / "runs").rglob("*.json")))
    assert record is not None and record.n_train == 27 and record.n_eval == 10
    assert set(record.train_metrics) == {"acc", "nmi", "ari"} and set(record.metrics) == {"acc", "nmi", "ari"}


def test_unknown_labels_are_left_out_of_train_metrics() -> None:
    fit_truth = np.array([0, 0, 1, 1, -1, -1])
    train_pred = np.array([1, 1, 0, 0, 0, 1])
    inputs = TaskInputs(data=None, fit_truth=fit_truth, eval_truth=np.array([0, 1]), fit_split="a", eval_split="b")  # type: ignore[arg-type]
    spec = RunSpec(method="kmeans", backbone="pixels", dataset="stl10", task="clustering")
    metrics, variant, train = score(spec, inputs, np.array([0, 1]), train_pred)
    assert variant == "hungarian" and train == clustering_metrics(fit_truth[:4], train_pred[:4]) and train["acc"] == 1.0
    assert metrics["acc"] == 1.0
    unscored = TaskInputs(data=None, fit_truth=fit_truth, eval_truth=np.array([-1, -1]), fit_split="a", eval_split="a")  # type: ignore[arg-type]
    assert score(spec, unscored, np.array([0, 1]), None) == ({}, "hungarian", {})
