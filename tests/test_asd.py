"""ASD: coverage n_l, transition counting with its window, similarity, grouping on a constructed
case with a known answer, aligned instance ids, the FixMatch loss, separable clusters, resume."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import clustering_data, synthetic
from sklearn.metrics import adjusted_rand_score
from test_unic import Interrupt, stop_after

from unic_bench.api.taskdata import RunContext
from unic_bench.methods.asd import ASD, SSLTuples, _aligned_ids, ssl_columns
from unic_bench.methods.asd.fixmatch import fixmatch_loss
from unic_bench.methods.asd.sampling import coverage_n_l, coverage_probability, round_samples
from unic_bench.methods.asd.transitions import TransitionTracker, group_classes, k_medoids, symmetric_similarity
from unic_bench.run.metrics import cluster_acc


def test_coverage_formula() -> None:
    # research/asd-simgcd.md, large-n table: k = 10 -> 44 (0.9), 66 (0.99); k = 100 -> 683, 916
    assert [coverage_n_l(10, 10**7, c) for c in (0.9, 0.99)] == [44, 66]
    assert [coverage_n_l(100, 10**7, c) for c in (0.9, 0.99)] == [683, 916]
    assert coverage_probability(9, 10, 1000) == pytest.approx(0.0, abs=1e-9)  # fewer draws than classes
    # brute force: n = 6 images in k = 2 classes of 3; n_l = 2 covers both unless both come from one class
    assert coverage_probability(2, 2, 6) == pytest.approx(1 - 2 * math.comb(3, 2) / math.comb(6, 2))
    n_l = coverage_n_l(10, 1797)
    assert coverage_probability(n_l, 10, 1797) >= 0.99 > coverage_probability(n_l - 1, 10, 1797)


def test_rounds_are_disjoint_draws() -> None:
    draws = round_samples(100, 30, 4, seed=0)
    assert len(draws) == 3  # a fourth draw of 30 would repeat images
    assert len(np.unique(np.concatenate(draws))) == 90


def test_transition_counting_and_window() -> None:
    tracker = TransitionTracker(n=3, num_classes=3, window=2)
    rows = torch.tensor([0, 1, 2])
    tracker.update(rows, torch.tensor([0, 1, 2]))  # first predictions: no transition
    assert tracker.transitions().sum() == 0
    tracker.update(rows, torch.tensor([1, 1, 0]))  # 0->1 (image 0), 2->0 (image 2)
    expected = np.zeros((3, 3))
    expected[0, 1] = expected[2, 0] = 1
    assert np.array_equal(tracker.transitions(), expected)
    tracker.update(torch.tensor([0]), torch.tensor([0]))  # 1->0
    expected[1, 0] += 1
    assert np.array_equal(tracker.transitions(), expected)
    tracker.update(torch.tensor([1]), torch.tensor([1]))  # no change; the step-2 slot is reused
    expected[0, 1] = expected[2, 0] = 0
    assert np.array_equal(tracker.transitions(), expected)
    assert tracker.bank.tolist() == [0, 1, 0]


def block_transitions(groups: list[int], seed: int = 0) -> np.ndarray:
    """Transition counts: many within a group, a few across (asymmetric)."""
    rng = np.random.default_rng(seed)
    g = np.asarray(groups)
    same = g[:, None] == g[None, :]
    counts = np.where(same, rng.integers(5, 15, same.shape), rng.integers(0, 2, same.shape)).astype(float)
    np.fill_diagonal(counts, 0)
    return counts


def test_similarity_is_the_symmetrised_counts() -> None:
    a = np.array([[0.0, 3.0], [1.0, 0.0]])
    assert np.array_equal(symmetric_similarity(a), np.array([[0.0, 2.0], [2.0, 0.0]]))


@pytest.mark.parametrize("method", ["k-medoids", "spectral"])
def test_grouping_recovers_the_known_groups(method: str) -> None:
    truth = [0] * 5 + [1] * 4 + [2] * 6
    found = group_classes(block_transitions(truth), 3, method, seed=0)  # type: ignore[arg-type]
    assert adjusted_rand_score(truth, found) == 1.0


def test_k_medoids_keeps_each_medoid_in_its_own_group() -> None:
    groups = k_medoids(block_transitions([0, 0, 1, 1, 2, 2]), 3, seed=1)
    assert sorted(set(groups.tolist())) == [0, 1, 2]


def test_new_draw_is_aligned_to_the_instance_classes() -> None:
    head = torch.nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.eye(4) * 10)
    features = torch.eye(4)[[2, 0, 3, 1]]  # image i looks like instance class [2, 0, 3, 1][i]
    assert _aligned_ids(head, features, "argmax").tolist() == [2, 0, 3, 1]
    assert _aligned_ids(head, features, "hungarian").tolist() == [2, 0, 3, 1]
    crowded = torch.eye(4)[[2, 2, 3, 1]] + 0.1 * torch.eye(4)[[0, 1, 0, 0]]  # two images look like class 2
    assert _aligned_ids(head, crowded, "argmax").tolist() == [2, 2, 3, 1]
    assert sorted(_aligned_ids(head, crowded, "hungarian").tolist()) == [0, 1, 2, 3]


def test_fixmatch_loss_by_hand() -> None:
    labelled, targets = torch.tensor([[2.0, 0.0]]), torch.tensor([0])
    weak = torch.tensor([[5.0, 0.0], [0.1, 0.0]])  # confident (p = 0.9933), not confident
    strong = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    out = fixmatch_loss(labelled, targets, weak, strong, 0.95, 1.0)
    sup = math.log(1 + math.exp(-2.0))
    unsup = (math.log(math.exp(1) + math.exp(2)) - 1.0) / 2  # CE(strong[0], 0), masked mean over 2
    assert out["loss"].item() == pytest.approx(sup + unsup, rel=1e-6)
    assert out["mask"].item() == pytest.approx(0.5)


def test_ssl_tuples_hold_one_labelled_row_and_ratio_unlabelled_twice() -> None:
    tuples = SSLTuples(np.array([3, 7]), n=50, ratio=7)(0, torch.Generator().manual_seed(0))
    assert tuples.shape == (7, 15) and set(tuples[:, 0].tolist()) <= {3, 7}
    assert len(set(tuples[:, 1:8].flatten().tolist())) == 49
    assert torch.equal(tuples[:, 1:8], tuples[:, 8:])  # the same images again, for their strong view
    assert ssl_columns(7) == ("train",) * 8 + ("strong",) * 7


# Spectral grouping, one round: SoC's k-medoids reaches 0.90 here (one group of instance classes
# split); three rounds 0.91 (the later draws' one-to-one alignment mislabels some images).
SEPARABLE = {"epochs": 150, "instance_epochs": 40, "hidden": 64, "grouping": "spectral", "rounds": 1}


def test_recovers_separable_clusters() -> None:
    xtr, ytr, xte, yte = synthetic(separation=8.0)
    data = clustering_data(xtr, xte, 10)
    first = ASD(**SEPARABLE).fit_predict(data, RunContext(seed=0))
    assert cluster_acc(yte, first.labels) > 0.95
    assert first.labels.shape == (len(yte),) and first.labels.dtype.kind == "i"
    assert first.diagnostics["n_l"] == coverage_n_l(10, len(xtr))


def test_training_resumes_from_checkpoint_exactly(tmp_path: Path) -> None:
    xtr, _, xte, _ = synthetic(separation=3.0)
    data = clustering_data(xtr, xte, 10)
    kw = {"epochs": 3, "instance_epochs": 3, "rounds": 2, "hidden": 32}
    full = ASD(**kw).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "full"))
    with pytest.raises(Interrupt):
        ASD(**kw).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "cut", progress=stop_after(2)))
    resumed = ASD(**kw).fit_predict(data, RunContext(seed=3, checkpoint_dir=tmp_path / "cut"))
    assert np.array_equal(full.labels, resumed.labels)
    again = ASD(**kw).fit_predict(data, RunContext(seed=3))  # deterministic per seed, without checkpoints
    assert np.array_equal(full.labels, again.labels)
