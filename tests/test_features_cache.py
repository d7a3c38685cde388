"""The feature cache: reuse across methods (counted), detection of damaged entries, key contents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unic_bench.api.hookspecs import hookimpl
from unic_bench.backbones.pixels import Pixels
from unic_bench.datasets.digits import Digits
from unic_bench.run.features import cache_key

FORWARDS: list[int] = []


class CountingPixels(Pixels):
    """Pixels whose module counts forward passes (batches)."""

    name = "counting-pixels"

    def build(self) -> Any:
        import torch

        class Counting(torch.nn.Flatten):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                FORWARDS.append(len(x))
                return super().forward(x)

        return Counting(start_dim=1).eval()


class CountingPlugin:
    @hookimpl
    def register_backbones(self, register: Any) -> None:
        register(CountingPixels)


@pytest.fixture
def counting(use_plugins: Any) -> list[int]:
    FORWARDS.clear()
    use_plugins(("counting", CountingPlugin()))
    return FORWARDS


def run(cli: Any, tmp_path: Path, method: str, task: str) -> Any:
    result = cli(
        "run",
        "--method",
        method,
        "--backbone",
        "counting-pixels",
        "--dataset",
        "digits",
        "--task",
        task,
        "--results",
        str(tmp_path / "results"),
        "--set",
        "n_init=2",
    )
    assert result.code == 0, result.err
    return result


def cache_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "features").glob("*.npy"))


def test_second_method_does_no_forward_pass(counting: list[int], cli: Any, tmp_path: Path) -> None:
    run(cli, tmp_path, "kmeans", "clustering")
    assert sum(counting) == 1797
    run(cli, tmp_path, "kmeans", "gcd")
    run(cli, tmp_path, "ss-kmeans", "gcd")
    assert sum(counting) == 1797  # digits' one split was extracted once and reused
    assert len(cache_files(tmp_path)) == 1


@pytest.mark.parametrize("damage", ["truncate", "edit-array", "drop-meta", "wrong-shape"])
def test_damaged_entry_is_rebuilt(damage: str, counting: list[int], cli: Any, tmp_path: Path) -> None:
    run(cli, tmp_path, "kmeans", "clustering")
    data = cache_files(tmp_path)[0]
    meta = data.with_suffix(".json")
    if damage == "truncate":
        data.write_bytes(data.read_bytes()[:1000])
    elif damage == "edit-array":
        array = np.load(data)
        array[0, 0] += 1
        np.save(data, array)
    elif damage == "drop-meta":
        meta.unlink()
    else:
        info = json.loads(meta.read_text())
        meta.write_text(json.dumps({**info, "shape": [1797, 65]}))
    result = run(cli, tmp_path, "kmeans", "gcd")
    assert "rebuilding" in result.err
    assert sum(counting) == 2 * 1797
    assert len(cache_files(tmp_path)) == 1


def test_key_covers_what_changes_features() -> None:
    split = Digits().load(None, None).splits["train"]
    base = cache_key(Pixels(), "digits", {}, split)
    assert base == cache_key(Pixels(), "digits", {}, split)
    assert base != cache_key(CountingPixels(), "digits", {}, split)
    assert base != cache_key(Pixels(), "digits", {"x": 1}, split)
    from dataclasses import replace

    assert base != cache_key(Pixels(), "digits", {}, replace(split, transform="resize(224)"))
    assert base != cache_key(Pixels(), "digits", {}, replace(split, manifest="other"))
    assert base != cache_key(Pixels(), "digits", {}, replace(split, name="test"))


def test_weights_checksum_is_part_of_identity(tmp_path: Path) -> None:
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"one")
    first = Pixels(weights=weights).identity()
    weights.write_bytes(b"two")
    assert first != Pixels(weights=weights).identity()
