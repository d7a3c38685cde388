"""SCAN: loss values and the entropy sign, batched heads, head selection (scan_evaluate), self-labelling, regimes, resume."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from factories import clustering_data, synthetic
from test_unic import Interrupt, digits_with_images, stop_after

from unic_bench.api.taskdata import RunContext
from unic_bench.methods.common.neighbors import knn
from unic_bench.methods.scan import (
    SCAN,
    SCAN_CONFIGS,
    Heads,
    NeighborPairs,
    SCANParams,
    WeightEMA,
    scan_loss,
    selection_losses,
    self_label_loss,
)
from unic_bench.run.metrics import cluster_acc


def logits_of(*probs: list[float]) -> torch.Tensor:
    return torch.log(torch.tensor(probs, dtype=torch.float64))


def test_loss_matches_hand_computed_values_and_subtracts_the_entropy() -> None:
    anchor = logits_of([0.5, 0.5], [0.9, 0.1])
    neighbor = logits_of([0.75, 0.25], [0.9, 0.1])
    terms = scan_loss(anchor, neighbor, 5.0)
    consistency = -(math.log(0.5 * 0.75 + 0.5 * 0.25) + math.log(0.81 + 0.01)) / 2
    ent = -(0.7 * math.log(0.7) + 0.3 * math.log(0.3))  # mean of the anchors only
    assert terms["consistency"].item() == pytest.approx(consistency, rel=1e-6)
    assert terms["entropy"].item() == pytest.approx(ent, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(consistency - 5 * ent, rel=1e-6)
    spread = logits_of([0.98, 0.02], [0.02, 0.98])
    collapsed = logits_of([0.98, 0.02], [0.98, 0.02])
    # Same consistency (each anchor is its own neighbour); spreading over clusters lowers the loss.
    assert scan_loss(spread, spread, 5.0)["loss"] < scan_loss(collapsed, collapsed, 5.0)["loss"]


def test_batched_heads_equal_separate_linear_heads() -> None:
    torch.manual_seed(0)
    heads = Heads(6, 4, 3)
    x = torch.randn(5, 6)
    out = heads(x)
    for h in range(3):
        assert torch.allclose(out[h], heads.head(h)(x), atol=1e-6)
    per_head = scan_loss(out[:, :3], out[:, 2:], 5.0)
    for h in range(3):
        assert per_head["loss"][h].item() == pytest.approx(scan_loss(out[h, :3], out[h, 2:], 5.0)["loss"].item(), rel=1e-6)


def test_selection_matches_the_official_criterion_brute_force() -> None:
    """scan_evaluate: probs @ probs.T at (anchor, neighbour) pairs, BCE with 1, minus entropy (weight 1)."""
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(4, 30, 5, generator=gen) * 3, dim=-1)
    neighbors = torch.cat([torch.arange(30)[:, None], torch.randint(30, (30, 6), generator=gen)], dim=1)
    expected = []
    for p in probs:
        sims = (p @ p.T)[torch.arange(30).repeat_interleave(7), neighbors.reshape(-1)]
        consistency = F.binary_cross_entropy(sims, torch.ones_like(sims))
        mean = p.mean(0)
        expected.append(consistency.item() + (mean * mean.log()).sum().item())
    got = selection_losses(probs, neighbors, budget=64)  # several chunks
    assert got.tolist() == pytest.approx(expected, rel=1e-5)
    assert int(got.argmin()) == int(np.argmin(expected))


def test_self_label_loss_keeps_confident_samples_and_balances_classes() -> None:
    weak = logits_of([0.995, 0.005, 0.0 + 1e-9], [0.995, 0.004, 0.001], [0.002, 0.997, 0.001], [0.6, 0.3, 0.1])
    strong = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [3.0, 0.0, 0.0]], dtype=torch.float64)
    terms = self_label_loss(weak, strong, 0.99, class_balance=True)
    ce = [-torch.log_softmax(strong[i], 0)[t].item() for i, t in ((0, 0), (1, 0), (2, 1))]
    w = {0: 3 / 2, 1: 3 / 1}  # n / n_c over the 3 confident targets
    expected = (w[0] * ce[0] + w[0] * ce[1] + w[1] * ce[2]) / (w[0] + w[0] + w[1])
    assert terms["loss"].item() == pytest.approx(expected, rel=1e-6)
    assert terms["confident"].item() == pytest.approx(0.75)
    assert self_label_loss(weak, strong, 0.99, class_balance=False)["loss"].item() == pytest.approx(sum(ce) / 3, rel=1e-6)
    assert self_label_loss(weak[3:], strong[3:], 0.99, True)["loss"].item() == 0.0  # nobody confident


def test_pairs_are_listed_neighbours_including_self() -> None:
    x, _, _, _ = synthetic(separation=3.0)
    neighbors = knn(x, 21, "cosine")[1]
    pairs = NeighborPairs(neighbors)(0, torch.Generator().manual_seed(0))
    assert np.array_equal(pairs[:, 0].numpy(), np.arange(len(x)))
    listed = (neighbors == pairs[:, 1:]).any(1)
    assert bool(listed.all())
    assert 0 < float((pairs[:, 0] == pairs[:, 1]).float().mean()) < 0.15  # self drawn about 1/21 of the time


def test_regimes_follow_the_official_configs() -> None:
    p = SCANParams()
    frozen = p.regime("none", "imagenet50")
    assert (frozen.optimizer, frozen.lr, frozen.weight_decay, frozen.batch_size, p.heads_for("none")) == (
        "sgd",
        5.0,
        0.0,
        512,
        10,
    )
    assert p.regime("none", "imagenet100").batch_size == 1024  # scan_imagenet_100.yml
    tuned = p.regime("last-block", "imagenet50")
    assert (tuned.optimizer, tuned.lr, tuned.weight_decay, tuned.batch_size, p.heads_for("last-block")) == (
        "adam",
        1e-4,
        1e-4,
        128,
        1,
    )
    assert p.regime("none", "cifar10").optimizer == "adam"
    assert p.regime("none", "cifar100-20").batch_size == 512  # scan_cifar20.yml
    assert SCANParams(lr=0.5, num_heads=3).regime("none", "imagenet50").lr == 0.5
    assert p.regime("none", "imagenet-r").optimizer == "adam"  # exact names only: no ImageNet settings by prefix


# The official files, read from wvangansbeke/Unsupervised-Classification (commit 57dff92; the
# cifar20 files at 2af8f51): configs/scan/scan_<d>.yml -> (num_neighbors, epochs, batch_size,
# optimizer, lr, weight_decay, update_cluster_head_only); configs/selflabel/selflabel_<d>.yml ->
# (epochs, batch_size, optimizer, lr, weight_decay, apply_class_balancing, ema_alpha or 0).
OFFICIAL_SCAN = {
    "cifar10": (20, 50, 128, "adam", 0.0001, 0.0001, False),
    "cifar100-20": (20, 100, 512, "adam", 0.0001, 0.0001, False),
    "stl10": (20, 100, 128, "adam", 0.0001, 0.0001, False),
    "imagenet50": (50, 100, 512, "sgd", 5.0, 0.0, True),
    "imagenet100": (50, 100, 1024, "sgd", 5.0, 0.0, True),
    "imagenet200": (50, 100, 1024, "sgd", 5.0, 0.0, True),
}
OFFICIAL_SELFLABEL = {
    "cifar10": (200, 1000, "adam", 0.0001, 0.0001, True, 0.0),
    "cifar100-20": (200, 1000, "adam", 0.0001, 0.0001, True, 0.0),
    "stl10": (100, 1000, "adam", 0.0001, 0.0001, True, 0.0),
    "imagenet50": (25, 512, "sgd", 0.03, 0.0, False, 0.999),
    "imagenet100": (25, 512, "sgd", 0.03, 0.0, False, 0.999),
    "imagenet200": (25, 512, "sgd", 0.03, 0.0, False, 0.999),
}


@pytest.mark.parametrize("dataset", sorted(OFFICIAL_SCAN))
def test_per_dataset_tables_equal_the_official_config_files(dataset: str) -> None:
    k, epochs, batch, optimizer, lr, wd, head_only = OFFICIAL_SCAN[dataset]
    sl_epochs, sl_batch, sl_optimizer, sl_lr, sl_wd, balance, ema = OFFICIAL_SELFLABEL[dataset]
    p = SCAN.validate_params(SCAN.defaults_for(dataset, "clustering"))
    assert isinstance(p, SCANParams)
    assert (p.k, p.epochs) == (k, epochs)
    used = p.regime("none", dataset)
    assert (used.batch_size, used.optimizer, used.lr, used.weight_decay) == (batch, optimizer, lr, wd)
    assert SCAN_CONFIGS[dataset].head_only is head_only
    assert (p.self_label_epochs, p.self_label_batch_size, p.self_label_optimizer, p.self_label_lr) == (
        sl_epochs,
        sl_batch,
        sl_optimizer,
        sl_lr,
    )
    assert (p.self_label_weight_decay, p.class_balance, p.self_label_ema) == (sl_wd, balance, ema)


def test_underflowing_similarity_has_the_official_finite_gradient() -> None:
    """nn.BCELoss: loss -max(log s, -100), gradient -1 / max(s (1 - s), 1e-12) (torch's
    binary_cross_entropy backward); here for s = 0 exactly and for s ~ 1e-30."""
    anchor = torch.tensor([[60.0, -60.0], [0.0, -35.0]], requires_grad=True)
    neighbor = torch.tensor([[-60.0, 60.0], [-35.0, 0.0]], requires_grad=True)
    p_a, p_n = torch.softmax(anchor, -1), torch.softmax(neighbor, -1)
    consistency = scan_loss(anchor, neighbor, entropy_weight=0.0)["consistency"]
    consistency.backward()
    assert torch.isfinite(anchor.grad).all() and torch.isfinite(neighbor.grad).all()

    # the official form on the same inputs: nn.BCELoss on the similarity
    a2, n2 = anchor.detach().clone().requires_grad_(), neighbor.detach().clone().requires_grad_()
    sim = (torch.softmax(a2, -1) * torch.softmax(n2, -1)).sum(-1)
    official = torch.nn.BCELoss()(sim, torch.ones_like(sim))
    official.backward()
    torch.testing.assert_close(consistency, official)
    torch.testing.assert_close(anchor.grad, a2.grad)
    torch.testing.assert_close(neighbor.grad, n2.grad)
    assert float((p_a * p_n).sum(-1)[0].detach()) == 0.0
    assert float(consistency.detach()) == pytest.approx(50.0 + (-math.log(float(sim[1].detach()))) / 2)

    # the old form (log, then clamp) is NaN there: what the fix is about
    a3 = anchor.detach().clone().requires_grad_()
    (-(torch.softmax(a3, -1) * p_n.detach()).sum(-1).log().clamp_min(-100.0)).mean().backward()
    assert torch.isnan(a3.grad).any()


def test_scan_clusters_separable_synthetic() -> None:
    xtr, ytr, xte, yte = synthetic(separation=8.0)
    pred = SCAN(epochs=15, num_heads=3, lr=1e-3).fit_predict(clustering_data(xtr, xte, 10), RunContext(seed=0))
    assert cluster_acc(yte, pred.labels) > 0.98
    assert cluster_acc(ytr, pred.train_assignments) > 0.98
    diag = pred.diagnostics
    assert diag["best_head"] == int(np.argmin(diag["selection_losses"])) and diag["num_heads"] == 3


def test_self_labelling_runs_after_scan_and_logs_its_terms() -> None:
    xtr, ytr, xte, yte = synthetic(separation=8.0)
    ctx = RunContext(seed=0)
    pred = SCAN(epochs=10, num_heads=2, lr=1e-3, self_label=True, self_label_epochs=3).fit_predict(
        clustering_data(xtr, xte, 10), ctx
    )
    assert cluster_acc(yte, pred.labels) > 0.98
    assert [set(e) >= {"consistency", "entropy"} for e in ctx.log[:10]] == [True] * 10
    assert [set(e) >= {"confident"} for e in ctx.log[10:]] == [True] * 3


def test_scan_resumes_from_checkpoint_exactly(tmp_path: Path) -> None:
    xtr, _, xte, _ = synthetic(separation=3.0)
    data = clustering_data(xtr, xte, 10)
    full = SCAN(epochs=3, num_heads=2).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "full"))
    with pytest.raises(Interrupt):
        SCAN(epochs=3, num_heads=2).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "cut", progress=stop_after(2)))
    ctx = RunContext(seed=3, checkpoint_dir=tmp_path / "cut")
    resumed = SCAN(epochs=3, num_heads=2).fit_predict(data, ctx)
    assert np.array_equal(full.labels, resumed.labels)
    assert full.diagnostics["selection_losses"] == resumed.diagnostics["selection_losses"]
    assert [e["epoch"] for e in ctx.log] == [0, 1, 2]


def test_last_block_variant_trains_one_head_and_the_tail() -> None:
    """Table 6 '+ Tune': one head, the backbone's last block trained (Adam regime), then self-labelling."""
    data, _ = digits_with_images()
    ctx = RunContext(seed=0)
    pred = SCAN(finetune="last-block", epochs=1, workers=0, self_label=True, self_label_epochs=1).fit_predict(data, ctx)
    diag = pred.diagnostics
    assert (diag["finetune"], diag["num_heads"], diag["optimizer"], diag["lr"]) == ("last-block", 1, "adam", 1e-4)
    assert pred.labels.shape == (1797,) and len(ctx.log) == 2


def test_self_label_ema_blends_each_step_as_utils_ema() -> None:
    """selflabel_train with use_ema: update_params then apply_shadow after every optimiser step,
    i.e. weights <- alpha * before + (1 - alpha) * stepped."""
    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    ema = WeightEMA([weight], alpha=0.999)
    ema.remember()
    with torch.no_grad():
        weight.sub_(torch.tensor([10.0, 20.0]))  # the optimiser's step
    ema(1)
    torch.testing.assert_close(weight.detach(), 0.999 * torch.tensor([1.0, 2.0]) + 0.001 * torch.tensor([-9.0, -18.0]))


def test_records_written_before_auto_still_validate() -> None:
    """Old specs spell the derived values None; they read as auto and keep their run id."""
    old = {key: None for key in ("num_heads", "optimizer", "lr", "weight_decay", "batch_size")}
    p = SCANParams(**old)
    assert (p.num_heads, p.optimizer, p.lr, p.weight_decay, p.batch_size) == ("auto",) * 5
