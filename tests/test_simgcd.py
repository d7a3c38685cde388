"""SimGCD: loss terms against hand-computed values, the teacher-temperature schedule, the head,
the sampler, recovery of separable clusters, determinism and resume."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import gcd_data, synthetic
from test_unic import Interrupt, stop_after

from unic_bench.api.taskdata import RunContext
from unic_bench.methods.simgcd import (
    BalancedRows,
    SimGCD,
    SimGCDHead,
    SimGCDParams,
    distill_loss,
    info_nce,
    mean_entropy_loss,
    simgcd_loss,
    supcon_loss,
    teacher_temperatures,
)


def softmax(xs: list[float], t: float) -> list[float]:
    e = [math.exp(x / t) for x in xs]
    return [v / sum(e) for v in e]


def test_teacher_temperature_schedule() -> None:
    s = teacher_temperatures(200, 30, 0.07, 0.04)
    assert len(s) == 200 and s[0] == pytest.approx(0.07) and s[29] == pytest.approx(0.04)
    assert s[1] == pytest.approx(0.07 - 0.03 / 29) and np.all(s[30:] == 0.04)
    assert np.all(np.diff(s[:30]) < 0)
    short = teacher_temperatures(10, 30, 0.07, 0.04)  # cut at the last epoch
    assert len(short) == 10 and short[9] == pytest.approx(0.07 - 9 * 0.03 / 29)


def test_distill_loss_is_cross_view_only() -> None:
    a, b = [0.5, -0.2], [0.1, 0.3]  # one image, K = 2: view a and view b logits (cosines)
    logits = torch.tensor([[a], [b]], dtype=torch.float64)
    q_a, q_b = softmax(a, 0.05), softmax(b, 0.05)
    log_s_a = [math.log(v) for v in softmax(a, 0.1)]
    log_s_b = [math.log(v) for v in softmax(b, 0.1)]
    expected = (-sum(q * s for q, s in zip(q_a, log_s_b)) - sum(q * s for q, s in zip(q_b, log_s_a))) / 2
    assert distill_loss(logits, 0.1, 0.05).item() == pytest.approx(expected, rel=1e-9)


def test_mean_entropy_loss() -> None:
    rows = [[0.2, 0.0, -0.1], [0.0, 0.3, 0.1]]  # (1 view, 2 images, K = 3)
    p = [softmax(r, 0.1) for r in rows]
    mean = [(x + y) / 2 for x, y in zip(*p)]
    expected = math.log(3) + sum(m * math.log(m) for m in mean)
    assert mean_entropy_loss(torch.tensor([rows], dtype=torch.float64), 0.1).item() == pytest.approx(expected, rel=1e-9)
    assert mean_entropy_loss(torch.zeros(2, 4, 5), 0.1).item() == pytest.approx(0.0, abs=1e-6)  # uniform: log K - log K


def test_info_nce_matches_the_hand_computed_value() -> None:
    z = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [0.8, -0.6]]], dtype=torch.float64)  # (2 views, 2, 2)
    flat = z.reshape(4, 2).tolist()
    partner = [2, 3, 0, 1]
    total = 0.0
    for i in range(4):
        sims = {j: sum(a * b for a, b in zip(flat[i], flat[j])) / 0.5 for j in range(4) if j != i}
        total += -sims[partner[i]] + math.log(sum(math.exp(v) for v in sims.values()))
    assert info_nce(z, 0.5).item() == pytest.approx(total / 4, rel=1e-9)


def test_supcon_matches_the_hand_computed_value() -> None:
    z = torch.nn.functional.normalize(
        torch.tensor([[[1.0, 0.2], [0.1, 1.0], [0.9, 0.5]], [[0.8, 0.4], [0.0, 1.0], [1.0, 0.0]]]), dim=-1
    )
    labels = torch.tensor([0, 1, 0])
    flat, y = z.reshape(6, 2).tolist(), [0, 1, 0, 0, 1, 0]
    total = 0.0
    for i in range(6):
        logits = {j: sum(a * b for a, b in zip(flat[i], flat[j])) / 0.07 for j in range(6) if j != i}
        log_z = math.log(sum(math.exp(v) for v in logits.values()))
        positives = [j for j in logits if y[j] == y[i]]
        total += -sum(logits[j] - log_z for j in positives) / len(positives)
    assert supcon_loss(z.double(), labels, 0.07, 0.07).item() == pytest.approx(total / 6, rel=1e-6)


def test_total_loss_weights_the_terms_as_train_py() -> None:
    torch.manual_seed(0)
    logits, proj = torch.randn(2, 6, 4) * 0.3, torch.randn(2, 6, 8)
    labels = torch.tensor([0, -1, 1, -1, 0, -1])
    p = SimGCDParams(memax_weight=2.0)
    t = simgcd_loss(logits, proj, labels, 0.05, p)
    lam = 0.35
    expected = (1 - lam) * (t["cluster"] + 2.0 * t["memax"]) + lam * t["cls"] + (1 - lam) * t["contrastive"] + lam * t["sup_con"]
    assert t["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    sup = torch.nn.functional.cross_entropy(logits[:, [0, 2, 4]].reshape(-1, 4) / 0.1, labels[[0, 2, 4]].repeat(2))
    assert t["cls"].item() == pytest.approx(sup.item(), rel=1e-6)


def test_head_is_a_cosine_classifier_with_fixed_magnitude() -> None:
    head = SimGCDHead(16, 5, 32, 8, 3)
    g = head.prototypes.parametrizations.weight.original0
    assert not g.requires_grad and torch.all(g == 1)
    proj, logits = head(torch.randn(7, 16) * 10)
    assert proj.shape == (7, 8) and logits.shape == (7, 5) and logits.abs().max() <= 1 + 1e-5
    linears = [m for m in head.mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [32, 32, 8]


def test_sampler_balances_labelled_and_unlabelled() -> None:
    labels = np.array([0] * 100 + [-1] * 900)
    sampler = BalancedRows(labels, 1000, 128, True)
    rows = sampler(0, torch.Generator().manual_seed(0))
    assert rows.shape == (896, 2) and torch.equal(rows[:, 0], rows[:, 1])  # drop_last, two views of a row
    assert 0.4 < (rows[:, 0] < 100).float().mean().item() < 0.6


def test_recovers_separable_clusters() -> None:
    x, y, _, _ = synthetic(separation=8.0)
    data, unl = gcd_data(x, y, 10)
    method = SimGCD(epochs=15, hidden=64, bottleneck=32, warmup_teacher_temp_epochs=5)
    first = method.fit_predict(data, RunContext(seed=1))
    from unic_bench.run.metrics import gcd_metrics

    assert gcd_metrics(y[unl], first.labels, data.old_classes)["all"] > 0.95
    assert first.labels.shape == (len(unl),) and first.labels.dtype.kind == "i"
    assert first.diagnostics["views"].startswith("none")


def test_training_resumes_from_checkpoint_exactly(tmp_path: Path) -> None:
    x, y, _, _ = synthetic(separation=3.0)
    data, _ = gcd_data(x, y, 10)
    kw = {"epochs": 4, "hidden": 32, "bottleneck": 16, "warmup_teacher_temp_epochs": 2}
    full = SimGCD(**kw).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "full"))
    with pytest.raises(Interrupt):
        SimGCD(**kw).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "cut", progress=stop_after(2)))
    resumed = SimGCD(**kw).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "cut"))
    assert np.array_equal(full.labels, resumed.labels)
    again = SimGCD(**kw).fit_predict(data, RunContext(seed=3))  # deterministic per seed, without checkpoints
    assert np.array_equal(full.labels, again.labels)
