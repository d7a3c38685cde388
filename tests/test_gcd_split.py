"""The GCD labelled subset reproduces the literature's rule and its published test values."""

from __future__ import annotations

import numpy as np

from unic_bench.run.gcd_split import labelled_indices


def cifar_like_labels(n_classes: int, per_class: int) -> np.ndarray:
    """Interleaved labels, so old-class positions differ from dataset positions."""
    return np.tile(np.arange(n_classes), per_class)


def test_cifar10_first_positions_match_literature() -> None:
    labels = cifar_like_labels(10, 5000)
    chosen = labelled_indices(labels, range(5))
    old_positions = np.flatnonzero(labels < 5)  # N_old = 25,000
    assert len(chosen) == 12_500
    # GCD data/data_utils.py subsample_instances (np.random.seed(0); np.random.choice(range(N_old),
    # replace=False, size=N_old // 2)) draws these positions first for N_old = 25,000
    for position in (14149, 8946, 22378, 12162, 4879):
        assert old_positions[position] in set(chosen.tolist())


def test_cifar100_first_positions_match_literature() -> None:
    labels = cifar_like_labels(100, 500)
    chosen = set(labelled_indices(labels, range(80)).tolist())
    old_positions = np.flatnonzero(labels < 80)  # N_old = 40,000
    assert len(chosen) == 20_000
    assert all(old_positions[p] in chosen for p in (12836, 10913, 4214, 8198, 31403))


def test_equals_global_legacy_rng_call_and_ignores_global_state() -> None:
    labels = np.random.default_rng(5).integers(0, 7, 999)
    old = [0, 2, 4]
    n_old = int(np.isin(labels, old).sum())
    np.random.seed(0)
    expected = np.flatnonzero(np.isin(labels, old))[np.random.choice(range(n_old), replace=False, size=(int(0.5 * n_old),))]
    np.random.seed(123)  # the run seed must not matter
    got = labelled_indices(labels, old)
    assert np.array_equal(got, np.sort(expected))
    assert np.isin(labels[got], old).all()
