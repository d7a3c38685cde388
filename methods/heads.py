"""Clustering heads on backbone embeddings: the UNIC paper's 2-layer MLP (default) and a single FC.

UNIC App. A.10 (Fig. 5): an MLP with hidden width 2048 works best; a single linear layer is the
ablation. The paper does not name the activation; ReLU is used here (``activation`` switches to
GELU). SCAN's linear heads are the ``fc`` kind.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

HeadKind = Literal["mlp", "fc"]
Activation = Literal["relu", "gelu"]


def build_head(kind: HeadKind, in_dim: int, num_clusters: int, hidden: int = 2048, activation: Activation = "relu") -> nn.Module:
    """Logits over ``num_clusters`` from a (B, in_dim) embedding."""
    if kind == "fc":
        return nn.Linear(in_dim, num_clusters)
    act = nn.ReLU() if activation == "relu" else nn.GELU()
    return nn.Sequential(nn.Linear(in_dim, hidden), act, nn.Linear(hidden, num_clusters))
