"""Every CUDA path, on a real device: skipped without one (``pytest -m cuda`` on a GPU machine).

Extraction (fp16 autocast, channels-last), last-block training (bf16 autocast), the trunk cache
on the device (and its memory-mapped fallback there), torch kNN and UNIC's mining on the device.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from unic_bench.api.dataset import Split
from unic_bench.api.taskdata import FeatureSet, ImageAccess, RunContext, TaskData
from unic_bench.backbones.common.random_init import RandomViTTiny
from unic_bench.datasets.common.tensors import TensorSamples
from unic_bench.methods.common.neighbors import knn
from unic_bench.methods.common.training import Encoder, Trainer, TrainParams
from unic_bench.methods.unic import UNIC
from unic_bench.methods.unic.mining import mine
from unic_bench.run.features import extract

pytestmark = pytest.mark.cuda


def blob_images(n: int = 96, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    classes = torch.arange(n) % 4
    base = torch.rand(4, 3, size, size, generator=g)
    return (base[classes] + 0.1 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)


def vit_data(n: int = 96) -> TaskData:
    backbone = RandomViTTiny(img_size=32)
    samples = TensorSamples(blob_images(n))
    with torch.no_grad():
        feats = backbone.build()(samples.tensor)
    rows = np.arange(n)
    return TaskData(
        "clustering", 4, FeatureSet(feats, rows), FeatureSet(feats, rows), images=ImageAccess(backbone, samples, samples, samples)
    )


class ConvNet(nn.Module):
    """Records the memory format and the autocast dtype its conv sees."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.seen: list[tuple[bool, torch.dtype]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        self.seen.append((x.is_contiguous(memory_format=torch.channels_last), out.dtype))
        return out.mean((2, 3))


def test_extraction_uses_autocast_and_channels_last(monkeypatch: pytest.MonkeyPatch) -> None:
    backbone = RandomViTTiny(img_size=32)
    net = ConvNet()
    monkeypatch.setattr(backbone, "build", lambda: net)
    images = TensorSamples(blob_images(20))
    split = Split("train", images, np.zeros(20, dtype=np.int64), "m", "native")
    on_gpu = extract(backbone, split, "cuda", batch_size=8)
    assert net.seen and all(cl and dtype == torch.float16 for cl, dtype in net.seen)
    on_cpu = extract(backbone, split, "cpu", batch_size=8)
    np.testing.assert_allclose(on_gpu, on_cpu, atol=5e-3)


def test_last_block_training_under_bf16_autocast() -> None:
    data = vit_data()
    encoder = Encoder(data, "last-block", "cuda", workers=0)
    seen: list[torch.dtype] = []
    assert encoder.tail is not None
    encoder.tail.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    head = nn.Linear(192, 4)
    trainer = Trainer(encoder, head, TrainParams(epochs=2, batch_size=32, workers=0), RunContext(device="cuda"))
    before = [p.detach().clone() for p in encoder.trainable()]
    trainer.fit(
        lambda epoch, gen: torch.arange(96, device="cuda").repeat(3, 1).T, lambda rows, emb: {"loss": emb.float().pow(2).mean()}
    )
    assert seen and all(dtype == torch.bfloat16 for dtype in seen)
    assert all(p.device.type == "cuda" and p.dtype == torch.float32 for p in encoder.trainable())  # fp32 master weights
    assert not all(torch.equal(a, b) for a, b in zip(before, encoder.trainable()))
    assert all(np.isfinite(entry["loss"]) for entry in trainer.ctx.log)


@pytest.mark.parametrize("fraction", [0.5, 1e-12])  # on the device / memory-mapped on disk
def test_trunk_cache_on_the_device_matches_the_uncached_path(fraction: float, capsys: pytest.CaptureFixture[str]) -> None:
    data = vit_data()
    logs = []
    for cache in ("off", "auto"):
        ctx = RunContext(device="cuda", seed=1)
        method = UNIC(
            epochs=2,
            batch_size=32,
            hidden=64,
            workers=0,
            train_augment="none",
            trunk_cache=cache,
            trunk_cache_gpu_fraction=fraction,
        )
        method.fit_predict(data, ctx)
        logs.append(ctx.log)
    err = capsys.readouterr().err
    assert ("on cuda" in err) == (fraction == 0.5) and ("memory-mapped" in err) == (fraction < 1e-6)
    assert "bfloat16" in err  # trunk outputs kept in the autocast dtype
    for off, on in zip(*logs, strict=True):
        assert off["loss"] == pytest.approx(on["loss"], rel=2e-2, abs=2e-3)  # bf16: batch composition changes rounding


def test_torch_knn_and_mining_on_the_device() -> None:
    x = torch.randn(3000, 64, generator=torch.Generator().manual_seed(0))
    d_gpu, i_gpu = knn(x.cuda(), 10, "euclidean", "cuda", backend="torch")
    d_cpu, i_cpu = knn(x, 10, "euclidean", "cpu", backend="torch")
    assert i_gpu.device.type == "cuda"
    assert (i_gpu.cpu() == i_cpu).float().mean() > 0.999  # ties and rounding aside
    torch.testing.assert_close(d_gpu.cpu(), d_cpu, atol=1e-3, rtol=1e-4)
    mined = mine(x, tau1=10, tau2=500, eta=40, device="cuda")
    assert mined.neighbors.device.type == mined.union_sizes.device.type == mined.negatives.thresholds.device.type == "cuda"
    negatives = mined.negatives.sample(torch.arange(3000, device="cuda"))
    assert negatives.device.type == "cuda"
