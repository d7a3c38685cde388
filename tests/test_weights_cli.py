"""``--weights``, ``extract`` and ``fetch-weights`` through the CLI, on a tiny ViT plugin (fast on CPU).

A different weights file is a different run (its sha256 joins the spec) with different cached
features, and the record names the file and its checksum.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from unic_bench.api.hookspecs import hookimpl
from unic_bench.backbones.common import formats
from unic_bench.backbones.common.weights import UrlWeights
from unic_bench.backbones.vit import ViTBackbone


class TinyViT(ViTBackbone):
    name = "tiny-vit"
    description = "test: ViT-Ti/16 in the DINO format"
    timm_name = "vit_tiny_patch16_224"
    weight_source = UrlWeights("https://example.invalid/tiny_vit_pretrain.pth")
    remap = staticmethod(formats.dino)


class TinyPlugin:
    @hookimpl
    def register_backbones(self, register: Any) -> None:
        register(TinyViT)


def weights_file(path: Path, seed: int) -> Path:
    import timm

    torch.manual_seed(seed)
    with torch.device("meta"):
        shapes = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=16).state_dict()
    torch.save({k: torch.randn(v.shape) * 0.05 for k, v in shapes.items()}, path)
    return path


RUN = ("run", "--method", "kmeans", "--backbone", "tiny-vit", "--dataset", "digits", "--set", "backbone.img_size=16")


def test_weights_file_joins_run_identity_cache_key_and_record(use_plugins: Any, cli: Any, tmp_path: Path) -> None:
    use_plugins(("tiny", TinyPlugin()))
    files = [weights_file(tmp_path / f"w{i}.pth", i) for i in (1, 2)]
    records = []
    for path in files:
        result = cli(*RUN, "--weights", str(path), "--results", str(tmp_path / "res"))
        assert result.code == 0, result.err
        out = Path(result.out.split("-> ")[-1].strip())
        records.append(json.loads(out.read_text()))
    first, second = records
    assert first["run_id"] != second["run_id"]
    assert first["feature_cache_keys"] != second["feature_cache_keys"]
    for record, path in zip(records, files):
        assert record["weights"] == {"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        assert record["spec"]["weights_sha256"] == record["weights"]["sha256"]


def test_extract_fills_the_cache_that_run_reuses(use_plugins: Any, cli: Any, tmp_path: Path) -> None:
    use_plugins(("tiny", TinyPlugin()))
    path = weights_file(tmp_path / "w.pth", 0)
    cache = tmp_path / "cache"
    result = cli(
        "extract",
        "--backbone",
        "tiny-vit",
        "--dataset",
        "digits",
        "--set",
        "backbone.img_size=16",
        "--weights",
        str(path),
        "--cache-dir",
        str(cache),
        "--batch-size",
        "64",
    )
    assert result.code == 0, result.err
    assert "tiny-vit | digits | train: features 1797 x 192" in result.out
    entries = sorted(cache.glob("*.npy"))
    assert len(entries) == 1
    run = cli(*RUN, "--weights", str(path), "--cache-dir", str(cache), "--results", str(tmp_path / "res"))
    assert run.code == 0, run.err
    record = json.loads(next((tmp_path / "res").rglob("*.json")).read_text())
    assert sorted(cache.glob("*.npy")) == entries and record["feature_cache_keys"]["train"] == entries[0].stem


def test_no_weights_and_no_network_is_one_line(
    use_plugins: Any, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_plugins(("tiny", TinyPlugin()))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for args in (RUN + ("--results", str(tmp_path)), ("fetch-weights", "tiny-vit")):
        result = cli(*args)
        assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
        assert "https://example.invalid/tiny_vit_pretrain.pth" in result.err
        assert str(tmp_path / "torch" / "hub" / "checkpoints" / "tiny_vit_pretrain.pth") in result.err


def test_bad_weights_inputs_are_one_line(use_plugins: Any, cli: Any, tmp_path: Path) -> None:
    use_plugins(("tiny", TinyPlugin()))
    cases = {
        (
            "run",
            "--method",
            "kmeans",
            "--backbone",
            "pixels",
            "--dataset",
            "digits",
            "--weights",
            str(tmp_path / "x.pth"),
        ): "backbone 'pixels' has no pretrained weights to replace",
        (*RUN, "--weights", str(tmp_path / "missing.pth")): "weights file",
        ("fetch-weights", "pixels"): "backbone 'pixels' has no official weights to fetch",
        ("fetch-weights",): "name the backbones to fetch, or pass --all",
        ("extract", "--backbone", "tiny-vit", "--dataset", "digits", "--set", "n_init=3"): "use backbone.KEY or dataset.KEY",
    }
    for args, message in cases.items():
        result = cli(*args)
        assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1, (args, result.err)
