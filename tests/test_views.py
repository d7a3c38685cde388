"""The views cache: extracted once for two methods and three seeds (counted), keyed by transform,
seed and draw, deterministic whatever the batching, recorded in the run record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import unic_bench.run.views as views_module
from unic_bench.plugins.host import get_host
from unic_bench.run.protocol import Runner, RunOptions, run_specs
from unic_bench.run.spec import RunRequest, resolve

FAST = {
    "simgcd": {"augment": True, "epochs": 1},
    "asd": {"augment": True, "epochs": 1, "instance_epochs": 1},
}


def specs(method: str, task: str, seeds: list[int], **extra: Any) -> list[Any]:
    request = RunRequest(
        method=method, backbone="pixels", dataset="digits", task=task, seeds=seeds, set={**FAST[method], **extra}
    )
    return resolve(request, get_host())


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the backbone passes over a whole split made for views (probes excluded)."""
    seen: list[str] = []
    real = views_module.extract

    def counting(backbone: Any, split: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        if not split.name.endswith(":probe"):
            seen.append(split.name)
        return real(backbone, split, *args, **kwargs)

    monkeypatch.setattr(views_module, "extract", counting)
    return seen


def test_views_are_extracted_once_for_two_methods_and_three_seeds(tmp_path: Path, passes: list[str]) -> None:
    options = RunOptions(device="cpu", results_dir=tmp_path / "results", cache_dir=tmp_path / "cache")
    outcomes = run_specs(specs("simgcd", "gcd", [0, 1, 2]) + specs("asd", "clustering", [0, 1, 2]), options)
    # simgcd: weak draws 0, 1; asd: weak draw 0 (shared) and strong draw 0
    assert sorted(passes) == ["train:strong0", "train:weak0", "train:weak1"]
    record = outcomes[3].record
    served = {v["transform"]: v for v in record.diagnostics["views"]}
    assert served["strong"]["bytes"] == 1797 * 64 * 4 and "estimated_s" in served["strong"]
    assert any(key.startswith("views/weak/seed0/draw0") for key in record.feature_cache_keys)
    # a fresh runner (another process) reads them from disk
    passes.clear()
    run_specs(
        specs("asd", "clustering", [3]), RunOptions(device="cpu", results_dir=tmp_path / "r2", cache_dir=tmp_path / "cache")
    )
    assert passes == []


def test_a_different_seed_transform_or_draw_is_a_different_key(tmp_path: Path, passes: list[str]) -> None:
    runner = Runner(RunOptions(device="cpu", cache_dir=tmp_path))
    provider = runner.view_provider(specs("asd", "clustering", [0])[0])
    keys = {
        provider.key(transform, description, seed, draw)
        for transform, description in (("weak", "w"), ("strong", "s"))
        for seed in (0, 1)
        for draw in (0, 1)
    }
    assert len(keys) == 8
    assert provider.key("weak", "w", 0, 0) != provider.key("weak", "other augmentation", 0, 0)
    weak, other_seed = provider("weak", 2, 0), provider("weak", 1, 5)
    assert not torch.equal(weak[0], weak[1]) and not torch.equal(weak[0], other_seed[0])
    assert len(passes) == 3


def test_views_do_not_depend_on_batching_and_align_with_the_rows(tmp_path: Path) -> None:
    spec = specs("asd", "clustering", [0])[0]
    small = Runner(RunOptions(device="cpu", cache_dir=tmp_path / "a", batch_size=7)).view_provider(spec)("strong", 1, 0)
    large = Runner(RunOptions(device="cpu", cache_dir=tmp_path / "b", batch_size=500)).view_provider(spec)("strong", 1, 0)
    assert torch.equal(small, large)
    from sklearn.datasets import load_digits

    pixels = torch.from_numpy(load_digits().images.reshape(-1, 64).astype(np.float32) / 16)
    own = (small[0] - pixels).norm(dim=1).mean()
    shifted = (small[0] - pixels.roll(1, 0)).norm(dim=1).mean()
    assert own < shifted  # row i is an augmentation of image i


def test_unknown_view_transform_is_one_clear_error(tmp_path: Path) -> None:
    from unic_bench.errors import BenchError

    provider = Runner(RunOptions(device="cpu", cache_dir=tmp_path)).view_provider(specs("asd", "clustering", [0])[0])
    with pytest.raises(BenchError, match="valid"):
        provider("medium", 1, 0)  # type: ignore[arg-type]
