"""The shared Trainer: dino-form schedule arrays, the non-finite stop, named checkpoint state."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from factories import clustering_data, synthetic
from torch import nn

from unic_bench.api.taskdata import RunContext
from unic_bench.errors import BenchError
from unic_bench.methods.common.training import Encoder, Trainer, TrainParams, cosine_schedule


def dino_formula(base: float, final: float, epochs: int, per_epoch: int, warmup_epochs: int, start: float) -> list[float]:
    """facebookresearch/dino utils.cosine_scheduler written out element by element."""
    warmup = warmup_epochs * per_epoch
    rest = epochs * per_epoch - warmup
    ramp = [start + (base - start) * i / (warmup - 1) if warmup > 1 else base for i in range(warmup)]
    return ramp + [final + 0.5 * (base - final) * (1 + math.cos(math.pi * i / rest)) for i in range(rest)]


@pytest.mark.parametrize(
    "args", [(1e-3, 0.0, 10, 1, 0, 0.0), (5e-4, 1e-6, 7, 5, 2, 0.0), (0.996, 1.0, 4, 3, 0, 0.0), (1e-4, 1e-4, 3, 4, 1, 1e-5)]
)
def test_schedule_equals_dinos_cosine_scheduler(args: tuple[float, float, int, int, int, float]) -> None:
    base, final, epochs, per_epoch, warmup, start = args
    schedule = cosine_schedule(base, final, epochs, per_epoch, warmup, start)
    assert schedule.tolist() == pytest.approx(dino_formula(*args), rel=1e-12, abs=1e-15)


def _trainer(tmp_path: Path, epochs: int = 3) -> Trainer:
    xtr, _, xte, _ = synthetic(separation=3.0)
    encoder = Encoder(clustering_data(xtr, xte, 10), "none", "cpu")
    params = TrainParams(epochs=epochs, batch_size=500, workers=0)
    return Trainer(encoder, {"head": nn.Linear(xtr.shape[1], 10)}, params, RunContext(seed=0, checkpoint_dir=tmp_path))


def test_per_epoch_schedule_sets_each_epochs_rate(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, epochs=4)
    head = trainer.trained["head"]
    trainer.fit(lambda epoch, gen: torch.arange(1500)[:, None], lambda rows, emb: {"loss": head(emb[:, 0]).pow(2).mean()})
    expected = [0.5 * 1e-4 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]  # cosine to 0 over 100 % of the run
    assert [e["lr"] for e in trainer.ctx.log] == pytest.approx(expected)


def test_non_finite_loss_stops_with_epoch_and_term(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path)
    head = trainer.trained["head"]

    def objective(rows: torch.Tensor, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = head(embeddings[:, 0]).pow(2).mean()
        neg = torch.tensor(float("inf") if trainer.ctx.log else 0.0)  # from the second epoch on
        return {"loss": loss, "neg": neg}

    with pytest.raises(BenchError, match=r"^training stopped: loss term 'neg' = inf is not finite in epoch 2/3 "):
        trainer.fit(lambda epoch, gen: torch.arange(1500)[:, None], objective)
    saved = torch.load(tmp_path / "training.pt", weights_only=True)
    assert saved["epochs_done"] == 1 and set(saved["modules"]) == {"head"}  # the last finite epoch's state is kept
