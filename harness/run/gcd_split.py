"""The GCD literature's labelled subset (Vaze et al. 2022, ``data/data_utils.py:subsample_instances``).

D_L = 50% of the old-class train images, drawn at random over all old-class images together (not
per class) with the legacy NumPy RNG re-seeded to 0, so ``--seed`` never changes the split.
D_U = every other train image. The chosen positions are saved with each run.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def labelled_indices(labels: np.ndarray, old_classes: Iterable[int], fraction: float = 0.5, seed: int = 0) -> np.ndarray:
    """Positions (into ``labels``, sorted) of the labelled GCD images.

    ``np.random.seed(0); np.random.choice(range(N_old), replace=False, size=int(0.5 * N_old))``
    picks positions within the old-class subset in dataset order; a ``RandomState(0)`` draws the
    same stream without touching the global RNG.
    """
    old_positions = np.flatnonzero(np.isin(labels, np.asarray(list(old_classes))))
    n_old = len(old_positions)
    chosen = np.random.RandomState(seed).choice(n_old, replace=False, size=int(fraction * n_old))
    return np.sort(old_positions[chosen])
