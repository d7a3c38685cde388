"""Trunk-output cache: the same training as the uncached path, built once, keyed, reused, rebuilt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import factories
import numpy as np
import pytest
import torch
from torch import nn

from unic_bench.api.taskdata import RunContext, TaskData
from unic_bench.datasets.common.tensors import TensorSamples, crop_flip
from unic_bench.errors import BenchError
from unic_bench.methods.common.training import Encoder, Trainer, TrainParams
from unic_bench.methods.common.trunk_cache import TrainInputParams, build_trunk_cache, trunk_cache_dir
from unic_bench.methods.unic import UNIC


def lite0_digits(n: int = 120, size: int = 32) -> TaskData:
    return factories.lite0_digits(n, size, strong=False)


def unic_run(data: TaskData, **params: Any) -> tuple[list[dict[str, float]], np.ndarray]:
    ctx = RunContext(seed=3)
    pred = UNIC(epochs=3, batch_size=40, hidden=32, workers=0, lr=1e-3, **params).fit_predict(data, ctx)
    return ctx.log, pred.labels


def test_cached_training_matches_the_uncached_path(capsys: pytest.CaptureFixture[str]) -> None:
    """augmentation off: same seed -> the same loss trajectory and clusters with and without the cache."""
    data = lite0_digits()
    log_off, labels_off = unic_run(data, train_augment="none", trunk_cache="off")
    assert "trunk cache" not in capsys.readouterr().err
    log_on, labels_on = unic_run(data, train_augment="none")
    err = capsys.readouterr().err
    assert "trunk cache 1 x 120 x (192, 1, 1) float32" in err and "MiB, memory-mapped in" in err  # size before building
    for a, b in zip(log_off, log_on, strict=True):
        for term in ("loss", "pos", "neg", "ent"):
            assert a[term] == pytest.approx(b[term], rel=1e-4, abs=1e-5), (a, b)
    assert log_off[0]["loss"] != pytest.approx(log_off[-1]["loss"], abs=1e-4)  # it trained
    assert (labels_off == labels_on).mean() > 0.95  # argmax ties aside
    paper_log, _ = unic_run(data)  # augmented every epoch: a different trajectory
    assert paper_log[0]["loss"] != pytest.approx(log_off[0]["loss"], rel=1e-4)


class CountingTrunk(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.linear = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.linear(x.flatten(1))


def test_epochs_run_only_the_tail() -> None:
    data = lite0_digits(n=40, size=32)
    encoder = Encoder(data, "last-block", "cpu", workers=0)
    calls = {"trunk": 0}
    assert encoder.trunk is not None
    encoder.trunk.register_forward_hook(lambda *_: calls.__setitem__("trunk", calls["trunk"] + 1))
    trainer = Trainer(
        encoder,
        {"head": nn.Linear(1280, 10)},
        TrainParams(epochs=3, batch_size=20, workers=0, train_augment="none"),
        RunContext(),
    )
    trainer.fit(lambda epoch, gen: torch.arange(40).repeat(3, 1).T, lambda rows, emb: {"loss": emb.pow(2).mean()})
    built = calls["trunk"]
    assert built == 2  # the size probe + one batch of 40 images, once for all three epochs
    encoder.embed("train")
    assert calls["trunk"] == built  # train embeddings reuse the cached outputs


def test_disk_entry_is_reused_and_a_damaged_one_rebuilt(capsys: pytest.CaptureFixture[str]) -> None:
    trunk = CountingTrunk()
    images = TensorSamples(torch.randn(10, 1, 2, 2))
    first = build_trunk_cache(trunk, images, 1, "k1", "cpu")
    assert trunk.calls == 2 and isinstance(first.store, np.memmap)
    again = build_trunk_cache(trunk, images, 1, "k1", "cpu")
    assert trunk.calls == 3  # only the size probe: the stored entry passed its checks
    np.testing.assert_array_equal(np.asarray(first.store), np.asarray(again.store))
    with torch.no_grad():
        expected = trunk(images.tensor)
    torch.testing.assert_close(again.gather(torch.tensor([[3, 1], [0, 9]])), expected[[3, 1, 0, 9]])
    path = trunk_cache_dir() / "k1.npy"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    capsys.readouterr()
    rebuilt = build_trunk_cache(trunk, images, 1, "k1", "cpu")
    assert "damaged or incomplete; rebuilding it" in capsys.readouterr().err
    torch.testing.assert_close(torch.from_numpy(np.array(rebuilt.store)), expected)
    assert not list(Path(trunk_cache_dir()).glob(".*.tmp"))  # no temp file left behind


def test_views_are_seeded_draws_of_the_augmentation() -> None:
    base = torch.rand(6, 1, 8, 8)
    images = TensorSamples(base, augment=crop_flip(8))

    def flat(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    cache = build_trunk_cache(flat, images, 3, "views", "cpu", seed=1)
    store = torch.from_numpy(np.array(cache.store))
    assert store.shape == (18, 64)
    assert not torch.equal(store[:6], store[6:12])  # distinct draws per view
    same = build_trunk_cache(flat, images, 3, "views-again", "cpu", seed=1)
    torch.testing.assert_close(torch.from_numpy(np.array(same.store)), store)  # seeded: reproducible
    picked = cache.gather(torch.zeros(200, dtype=torch.int64), torch.Generator().manual_seed(0))
    assert len({tuple(row.tolist()) for row in picked}) == 3  # every view of image 0 gets used
    with pytest.raises(ValueError, match="generator"):
        cache.gather(torch.zeros(2, dtype=torch.int64))


def test_views_need_augmentation_and_off_disables_the_cache() -> None:
    with pytest.raises(BenchError, match="train_views=4 needs train_augment=paper"):
        TrainInputParams(train_views=4, train_augment="none").cached_views()
    assert TrainInputParams().cached_views() is None  # the paper setting: fresh augmentation each epoch
    assert TrainInputParams(train_views=4).cached_views() == 4
    assert TrainInputParams(train_augment="none", trunk_cache="off").cached_views() is None
