"""TEMI: beta-PMI (beta on the numerator only), prior update before the loss, instance weight,
DINO head, EMA teacher, pairs with drop_last, best head by loss, convergence, resume."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import clustering_data, synthetic
from test_unic import Interrupt, digits_with_images, stop_after
from torch import nn

from unic_bench.api.taskdata import RunContext
from unic_bench.methods.common.heads import DINOHead
from unic_bench.methods.common.neighbors import knn
from unic_bench.methods.common.training import Encoder, Trainer, cosine_schedule
from unic_bench.methods.temi import (
    TEMI,
    PartnerPairs,
    Standardize,
    Teacher,
    TEMIParams,
    batch_for,
    beta_pmi,
    temi_loss,
)
from unic_bench.run.metrics import cluster_acc

TEMP = 0.1


def logits_of(probs: list) -> torch.Tensor:
    """Logits whose softmax at temperature 0.1 gives ``probs``."""
    return torch.log(torch.tensor(probs, dtype=torch.float64)) * TEMP


def test_beta_applies_to_the_numerator_only() -> None:
    qs, qt, prior = torch.tensor([0.5, 0.5]), torch.tensor([0.8, 0.2]), torch.tensor([0.4, 0.6])
    expected = math.log((0.5 * 0.8) ** 0.6 / 0.4 + (0.5 * 0.2) ** 0.6 / 0.6)
    assert beta_pmi(qs, qt, prior, 0.6).item() == pytest.approx(expected, rel=1e-6)
    assert beta_pmi(qs, qt, prior, 1.0).item() == pytest.approx(math.log(0.4 / 0.4 + 0.1 / 0.6), rel=1e-6)


def test_loss_uses_the_prior_updated_in_the_same_step() -> None:
    # One head, batch of 2, K = 2; views 0 (x) and 1 (x').
    s = [[[0.7, 0.3], [0.2, 0.8]], [[0.6, 0.4], [0.1, 0.9]]]  # (view, batch, K)
    t = [[[0.9, 0.1], [0.3, 0.7]], [[0.8, 0.2], [0.4, 0.6]]]
    prior = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    terms = temi_loss(logits_of([s]), logits_of([t]), prior, TEMIParams())
    mean_t = [(0.9 + 0.3 + 0.8 + 0.4) / 4, (0.1 + 0.7 + 0.2 + 0.6) / 4]
    new_prior = [0.9 * 0.5 + 0.1 * mean_t[0], 0.9 * 0.5 + 0.1 * mean_t[1]]
    assert prior[0].tolist() == pytest.approx(new_prior, rel=1e-6)

    def pmi(qs: list, qt: list, pk: list) -> float:
        return math.log(sum((a * b) ** 0.6 / c for a, b, c in zip(qs, qt, pk)))

    def loss(pk: list) -> float:
        weight = [sum(a * b for a, b in zip(t[0][i], t[1][i])) for i in range(2)]
        forward = sum(weight[i] * pmi(s[0][i], t[1][i], pk) for i in range(2)) / 2  # student x, teacher x'
        backward = sum(weight[i] * pmi(s[1][i], t[0][i], pk) for i in range(2)) / 2  # student x', teacher x
        return -(forward + backward) / 2

    assert terms["loss"].item() == pytest.approx(loss(new_prior), rel=1e-6)
    assert terms["loss"].item() != pytest.approx(loss([0.5, 0.5]), rel=1e-3)  # the stale prior gives another value
    assert terms["head0"].item() == pytest.approx(terms["loss"].item())


def test_instance_weight_is_averaged_over_heads_and_shared() -> None:
    t = torch.softmax(torch.randn(3, 2, 4, 5, generator=torch.Generator().manual_seed(0)), -1)
    s = torch.softmax(torch.randn(3, 2, 4, 5, generator=torch.Generator().manual_seed(1)), -1)
    terms = temi_loss(torch.log(s) * TEMP, torch.log(t) * TEMP, torch.full((3, 5), 0.2, dtype=torch.float32), TEMIParams())
    weight = (t[:, 0] * t[:, 1]).sum(-1).mean(0)
    assert terms["weight"].item() == pytest.approx(weight.mean().item(), rel=1e-5)
    assert terms["loss"].item() == pytest.approx(np.mean([terms[f"head{h}"].item() for h in range(3)]), rel=1e-6)


def test_dino_head_shape_norm_and_init() -> None:
    torch.manual_seed(0)
    head = DINOHead(32, 7)
    assert [type(m) for m in head.mlp] == [nn.Linear, nn.GELU, nn.Linear] and head.mlp[2].out_features == 256
    assert head.last_layer.bias is None
    assert torch.allclose(head.last_layer.weight.norm(dim=1), torch.ones(7))  # g = 1: unit-norm prototypes
    x = torch.randn(4, 32)
    out = head(x)
    z = nn.functional.normalize(head.mlp(x), dim=-1)
    assert torch.allclose(out, z @ head.last_layer.weight.T, atol=1e-6) and out.abs().max() <= 1 + 1e-5
    assert head.mlp[0].weight.std().item() == pytest.approx(0.02, rel=0.1) and head.mlp[0].bias.abs().max() == 0


def test_teacher_follows_student_by_ema() -> None:
    student = nn.ModuleList([nn.Linear(3, 2)])
    teacher = Teacher(student, 2)
    before = [p.clone() for p in teacher.heads.parameters()]
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    teacher.follow(student, 0.9)
    for old, new, s in zip(before, teacher.heads.parameters(), student.parameters()):
        assert torch.allclose(new, 0.9 * old + 0.1 * s)
        assert not new.requires_grad
    assert teacher.prior.tolist() == [[0.5, 0.5]]
    momentum = cosine_schedule(0.996, 1.0, 100, 1)  # train_main.py momentum_schedule
    assert momentum[0] == pytest.approx(0.996) and momentum[-1] == pytest.approx(1.0, abs=1e-6)


def test_pairs_drop_the_last_batch_exclude_self_and_freeze_prototypes_first() -> None:
    x, _, _, _ = synthetic(separation=3.0)
    neighbors = knn(x, 11, "cosine")[1][:, 1:]
    proto = [nn.Parameter(torch.zeros(2))]
    pairs = PartnerPairs(neighbors, 256, proto, frozen_epochs=1)
    first = pairs(0, torch.Generator().manual_seed(0))
    assert len(first) == 1500 - 1500 % 256 and len(set(first[:, 0].tolist())) == len(first)
    assert not proto[0].requires_grad
    assert bool((neighbors[first[:, 0]] == first[:, 1:]).any(1).all()) and bool((first[:, 0] != first[:, 1]).all())
    pairs(1, torch.Generator().manual_seed(0))
    assert proto[0].requires_grad


def test_temi_clusters_separable_synthetic_and_picks_the_lowest_loss_head() -> None:
    xtr, ytr, xte, yte = synthetic(separation=8.0)
    ctx = RunContext(seed=0)
    # Enough steps for the EMA teacher to follow (README settings give 1 step per epoch on 1,500 images).
    params = dict(
        epochs=30, batch_size=64, warmup_epochs=1, num_heads=3, hidden=64, momentum_teacher=0.99, max_momentum_teacher=0.99
    )
    pred = TEMI(**params).fit_predict(clustering_data(xtr, xte, 10), ctx)
    assert cluster_acc(yte, pred.labels) > 0.98
    assert cluster_acc(ytr, pred.train_assignments) > 0.98
    losses = pred.diagnostics["head_losses"]
    assert pred.diagnostics["best_head"] == int(np.argmin(losses))
    assert losses == pytest.approx([ctx.log[-1][f"head{h}"] for h in range(3)], abs=1e-6)


def test_temi_resumes_from_checkpoint_exactly(tmp_path: Path) -> None:
    xtr, _, xte, _ = synthetic(separation=3.0)
    data = clustering_data(xtr, xte, 10)
    kw = dict(epochs=3, batch_size=512, warmup_epochs=1, num_heads=2, hidden=32)
    full = TEMI(**kw).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "full"))
    with pytest.raises(Interrupt):
        TEMI(**kw).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "cut", progress=stop_after(2)))
    ctx = RunContext(seed=3, checkpoint_dir=tmp_path / "cut")
    resumed = TEMI(**kw).fit_predict(data, ctx)
    assert np.array_equal(full.labels, resumed.labels)
    assert full.diagnostics["head_losses"] == resumed.diagnostics["head_losses"]  # teacher and prior restored too
    assert [e["epoch"] for e in ctx.log] == [0, 1, 2]
    saved = torch.load(tmp_path / "full" / "training.pt", weights_only=True)
    assert set(saved["modules"]) == {"student", "teacher"} and saved["step"] == 3 * (1500 // 512)


def test_tune_variant_trains_through_the_last_block() -> None:
    data, _ = digits_with_images()
    pred = TEMI(finetune="last-block", epochs=2, batch_size=512, warmup_epochs=1, num_heads=2, hidden=32, workers=0).fit_predict(
        data, RunContext(seed=0)
    )
    assert pred.diagnostics["finetune"] == "last-block" and pred.labels.shape == (1797,)
    assert pred.diagnostics["lr"] == pytest.approx(1e-4 * 512 / 256)


def test_optimizer_groups_and_schedule_follow_train_main() -> None:
    """AdamW, no weight decay on biases and 1-d parameters, 20-epoch warm-up then constant."""
    xtr, _, xte, _ = synthetic(separation=3.0)
    head = DINOHead(xtr.shape[1], 10)
    encoder = Encoder(clustering_data(xtr, xte, 10), "none", "cpu")
    trainer = Trainer(encoder, {"student": head}, TEMIParams(), RunContext(), steps_per_epoch=3)
    decayed, plain = trainer.optimizer.param_groups
    assert isinstance(trainer.optimizer, torch.optim.AdamW) and decayed["weight_decay"] == 1e-4 and plain["weight_decay"] == 0.0
    assert {id(p) for p in plain["params"]} == {id(head.mlp[0].bias), id(head.mlp[2].bias)}
    assert len(decayed["params"]) == 4  # two MLP weights, the prototypes' g (K, 1) and direction
    # per iteration: 20 epochs x 3 steps of linear warm-up from 0, then constant (README min_lr = lr)
    assert len(trainer.lr_schedule) == 300 and trainer.lr_schedule[0] == 0.0
    assert trainer.lr_schedule[[1, 59, 60, 299]] == pytest.approx([1e-4 / 59, 1e-4, 1e-4, 1e-4])
    assert set(trainer.wd_schedule) == {1e-4}


def test_lr_changes_every_iteration_as_train_main(monkeypatch: pytest.MonkeyPatch) -> None:
    """The optimiser sees lr_schedule[it] at every step: 2 epochs x 3 steps, 1 warm-up epoch."""
    seen: list[float] = []
    step = torch.optim.AdamW.step

    def recording_step(self: torch.optim.Optimizer, *args: object, **kwargs: object) -> object:
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    xtr, _, xte, _ = synthetic(separation=3.0)  # 1,500 train rows: 3 batches of 500
    ctx = RunContext(seed=0)
    TEMI(epochs=2, batch_size=500, warmup_epochs=1, num_heads=2, hidden=16).fit_predict(clustering_data(xtr, xte, 10), ctx)
    lr = 1e-4 * 500 / 256
    assert seen == pytest.approx([0.0, lr / 2, lr, lr, lr, lr])
    assert [e["lr"] for e in ctx.log] == pytest.approx([lr, lr])  # the rate of each epoch's last step


# HHU-MMBS/TEMI-official-BMVC2023 README.md: the CIFAR-10 command (--batch_size=1024 --knn=50
# --num_heads=16, no --embed_norm) and the IN-1K overclustering command (--batch_size=128,
# knn=$25, head=$16, --embed_norm).
README_CIFAR10 = {"batch_size": 1024, "knn": 50, "num_heads": 16, "embed_norm": False}
README_IN1K = {"batch_size": 128, "knn": 25, "num_heads": 16, "embed_norm": True}


@pytest.mark.parametrize(
    "dataset,command",
    [(d, README_CIFAR10) for d in ("cifar10", "cifar100", "cifar100-20", "stl10", "imagenet50", "imagenet100", "imagenet200")]
    + [("imagenet1k", README_IN1K)],
)
def test_paper_datasets_take_the_readme_commands(dataset: str, command: dict) -> None:
    p = TEMI.validate_params(TEMI.defaults_for(dataset, "clustering"))
    assert {key: getattr(p, key) for key in command} == command


def test_small_data_rule_keeps_the_readme_steps() -> None:
    assert batch_for(50_000) == 1024 and batch_for(1797) == 37 and 1797 // 37 == 48 == 50_000 // 1024
    assert TEMI.validate_params(TEMI.defaults_for("imagenet-r", "clustering")).batch_size == "auto"  # exact names only
    assert TEMI.defaults_for("digits", "clustering") == {"num_heads": 4}


def test_embed_norm_standardises_the_head_input_only() -> None:
    x = torch.randn(50, 4) * 3 + 7
    on, off = Standardize(x, True), Standardize(x, False)
    torch.testing.assert_close(on(x).mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(on(x).std(0, unbiased=False), torch.ones(4), atol=1e-5, rtol=0)
    assert torch.equal(off(x), x)
