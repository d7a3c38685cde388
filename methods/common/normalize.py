"""Feature normalisations used by the k-means family (fit on train, applied to both sets)."""

from __future__ import annotations

from typing import Literal

import numpy as np

Normalization = Literal["none", "l2", "standardize"]


def l2_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean norm (zero rows stay zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def normalize(train: np.ndarray, other: np.ndarray, mode: Normalization) -> tuple[np.ndarray, np.ndarray]:
    """``l2``: unit rows (cosine geometry, as GCD); ``standardize``: per-dimension z-score with
    the train mean/std (TEMI's ``--normalize``); ``none``: raw features (TEMI's kMeans baseline)."""
    if mode == "none":
        return train, other
    if mode == "l2":
        return l2_rows(train), l2_rows(other)
    if mode == "standardize":
        mean, std = train.mean(axis=0), train.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        return (train - mean) / std, (other - mean) / std
    raise ValueError(f"unknown normalisation {mode!r} (valid: none, l2, standardize)")
