"""ASD with ``finetune=last-block``: weak and strong images through EfficientNet-Lite0's last stage,
both stages train it, FixMatch restarts from the pretrained block, the trunk cache per image set."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import factories
import numpy as np
import pytest
import torch
from test_unic import Interrupt

from unic_bench.api.dataset import Split
from unic_bench.api.taskdata import Progress, RunContext, TaskData
from unic_bench.errors import BenchError
from unic_bench.methods import asd as asd_module
from unic_bench.methods.asd import ASD
from unic_bench.methods.common import trunk_cache
from unic_bench.methods.common.training import Encoder
from unic_bench.run.protocol import strong_samples

# 80 images, n_l = 20 (one draw), ratio 7: 11 tuples of 1 + 2 * 7 images an epoch, one step each
TINY = {"n_l": 20, "rounds": 1, "epochs": 2, "instance_epochs": 2, "batch_size": 11, "hidden": 32, "workers": 0}


def lite0_digits(n: int = 80, size: int = 32) -> TaskData:
    return factories.lite0_digits(n, size, strong=True)


def test_strong_images_are_the_train_transform_plus_randaugment() -> None:
    data = lite0_digits(n=12)
    assert data.images is not None and data.images.train_strong is not None
    torch.manual_seed(0)
    weak = torch.stack([data.images.train_augmented[i] for i in range(12)])
    torch.manual_seed(0)
    strong = torch.stack([data.images.train_strong[i] for i in range(12)])
    assert weak.shape == strong.shape and not torch.allclose(weak, strong)
    assert "RandAugment" in repr(data.images.train_strong.augment)  # type: ignore[attr-defined]


def tail_at_each_fit(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, torch.Tensor]]:
    """The encoder's tail weights at the start of every stage's training (instance rounds, then FixMatch)."""
    starts: list[dict[str, torch.Tensor]] = []
    fit = asd_module._FixMatchCosine.fit

    def recording(self: Any, *args: Any) -> None:
        assert self.encoder.tail is not None
        starts.append({k: v.detach().clone() for k, v in self.encoder.tail.state_dict().items()})
        fit(self, *args)

    monkeypatch.setattr(asd_module._FixMatchCosine, "fit", recording)
    return starts


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_both_stages_train_the_block_and_fixmatch_restarts_from_the_pretrained_one(monkeypatch: pytest.MonkeyPatch) -> None:
    data = lite0_digits()
    starts = tail_at_each_fit(monkeypatch)
    ctx = RunContext(seed=0)
    pred = ASD(finetune="last-block", **{**TINY, "rounds": 2}).fit_predict(data, ctx)
    assert pred.labels.shape == (80,) and pred.train_assignments is not None
    assert pred.diagnostics["finetune"] == "last-block" and "fresh every step" in pred.diagnostics["views"]
    assert [e["stage"] for e in ctx.log] == [1.0] * 4 + [2.0] * 2
    assert len(starts) == 3  # instance rounds 0 and 1, FixMatch
    assert data.images is not None
    pretrained = Encoder(data, "last-block", "cpu", workers=0).tail
    assert pretrained is not None
    initial = pretrained.state_dict()
    assert same_weights(starts[0], initial)
    assert not same_weights(starts[1], initial)  # round 1 carries on round 0's block
    assert same_weights(starts[2], initial)  # FixMatch: the pretrained block again


def test_prediction_uses_the_ema_block(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[torch.nn.Module | None] = []
    assign = Encoder.assign

    def recording(self: Encoder, head: torch.nn.Module, temperature: float = 1.0, tail: torch.nn.Module | None = None) -> Any:
        seen.append(tail)
        return assign(self, head, temperature, tail)

    monkeypatch.setattr(Encoder, "assign", recording)
    ASD(finetune="last-block", **TINY).fit_predict(lite0_digits(), RunContext(seed=0))
    assert len(seen) == 1 and seen[0] is not None and not any(p.requires_grad for p in seen[0].parameters())


def test_trunk_cache_is_built_once_per_image_set_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    fill = trunk_cache._fill

    def counting(run_trunk: Any, images: Any, *args: Any) -> None:
        built.append(type(images).__name__ + repr(getattr(images, "augment", None)))
        fill(run_trunk, images, *args)

    monkeypatch.setattr(trunk_cache, "_fill", counting)
    data = lite0_digits()
    first = ASD(finetune="last-block", train_views=2, **TINY).fit_predict(data, RunContext(seed=0))
    assert len(built) == 2 and "RandAugment" in built[1] and "RandAugment" not in built[0]  # weak, strong: once each
    assert "2 cached trunk outputs" in first.diagnostics["views"]
    assert len(list(trunk_cache.trunk_cache_dir().glob("*.npy"))) == 2  # two keys
    again = ASD(finetune="last-block", train_views=2, **TINY).fit_predict(data, RunContext(seed=0))
    assert len(built) == 2  # the second run read both entries from disk
    assert np.array_equal(first.labels, again.labels)


def stop_at_epoch(k: int) -> Progress:
    """Interrupts before the k-th training epoch of the run (0-based, counted over every stage)."""
    done = [0]

    def progress(items: Iterable[Any], description: str = "", total: int | None = None) -> Iterator[Any]:
        for item in items:
            if description == "epochs":
                if done[0] == k:
                    raise Interrupt
                done[0] += 1
            yield item

    return progress


def test_resume_in_the_fixmatch_stage_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """Rounds 0 and 1 (2 epochs each) finish, FixMatch stops after its first epoch; the rerun
    restores every stage's block, head and EMA from its checkpoint. With cached draws
    (``train_views``): fresh draws come from the loader's RNG, which no checkpoint holds."""
    data = lite0_digits()
    kw = {"finetune": "last-block", "train_views": 1, **TINY, "rounds": 2}
    full = ASD(**kw).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "full"))
    with pytest.raises(Interrupt):
        ASD(**kw).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "cut", progress=stop_at_epoch(5)))
    ctx = RunContext(seed=3, checkpoint_dir=tmp_path / "cut")
    resumed = ASD(**kw).fit_predict(data, ctx)
    assert ctx.resumed_from_epoch == 1  # the FixMatch stage's own checkpoint
    assert np.array_equal(full.labels, resumed.labels)


def test_last_block_needs_augmentation() -> None:
    with pytest.raises(BenchError, match="finetune=last-block needs train_augment=paper"):
        ASD(finetune="last-block", train_augment="none", **TINY).fit_predict(lite0_digits(n=20), RunContext())


def test_strong_set_of_a_concatenation_is_keyed_apart_from_the_weak_one() -> None:
    """STL-10's train + unlabeled parts: the trunk-cache key describes each part's transform."""
    from torch.utils.data import ConcatDataset
    from torchvision import transforms as T

    from unic_bench.datasets.common.images import ArrayImages

    parts = [ArrayImages(np.zeros((2, 8, 8, 3), np.uint8), T.Compose([T.RandomCrop(8, 1), T.ToTensor()])) for _ in range(2)]
    weak = ConcatDataset(parts)
    split = Split(name="train", samples=weak, labels=np.zeros(4, np.int64), manifest="", transform="", train_samples=weak)
    strong = strong_samples(split)
    assert strong is not None and strong[0].shape == (3, 8, 8)
    assert "RandAugment" in trunk_cache.describe_images(strong) and "RandAugment" not in trunk_cache.describe_images(weak)


def test_samples_without_a_strong_transform_are_one_clear_error() -> None:
    data = lite0_digits(n=20)
    assert data.images is not None
    plain = data.images.train
    split = Split(name="train", samples=torch.utils.data.Subset(plain, range(20)), labels=np.zeros(20), manifest="", transform="")
    assert strong_samples(split) is None
    without = dataclasses.replace(data, images=dataclasses.replace(data.images, train_strong=None))
    with pytest.raises(BenchError, match="cannot be given the strong transform"):
        ASD(finetune="last-block", **TINY).fit_predict(without, RunContext())


@pytest.mark.cuda
@pytest.mark.parametrize("train_views", [None, 2])
def test_last_block_on_cuda(train_views: int | None) -> None:
    """bf16 autocast through the block; with ``train_views`` both trunk caches on the device."""
    pred = ASD(finetune="last-block", train_views=train_views, **TINY).fit_predict(lite0_digits(), RunContext(device="cuda"))
    assert pred.labels.shape == (80,) and pred.confidence is not None and np.isfinite(pred.confidence).all()
