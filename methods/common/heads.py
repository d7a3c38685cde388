"""Clustering heads on backbone embeddings: the UNIC paper's 2-layer MLP (default) and a single FC.

UNIC App. A.10 (Fig. 5): an MLP with hidden width 2048 works best; a single linear layer is the
ablation. The paper does not name the activation; ReLU is used here (``activation`` switches to
GELU). SCAN's linear heads are the ``fc`` kind. :class:`DINOHead` is TEMI's head.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

HeadKind = Literal["mlp", "fc"]
Activation = Literal["relu", "gelu"]


def build_head(kind: HeadKind, in_dim: int, num_clusters: int, hidden: int = 2048, activation: Activation = "relu") -> nn.Module:
    """Logits over ``num_clusters`` from a (B, in_dim) embedding."""
    if kind == "fc":
        return nn.Linear(in_dim, num_clusters)
    act = nn.ReLU() if activation == "relu" else nn.GELU()
    return nn.Sequential(nn.Linear(in_dim, hidden), act, nn.Linear(hidden, num_clusters))


class DINOHead(nn.Module):
    """TEMI's head (HHU-MMBS/TEMI-official-BMVC2023 model_builders/multi_head.py, README settings
    ``nlayers=2``, ``hidden_dim=512``, ``bottleneck_dim=256``, ``norm_last_layer=False``):
    Linear -> GELU -> Linear -> L2-normalise -> weight-normalised Linear(no bias) to K prototypes.

    The two MLP layers get trunc-normal(0.02) weights and zero biases; the prototype layer keeps
    PyTorch's default init for its direction and a magnitude g = 1 that stays trainable.
    """

    def __init__(self, in_dim: int, num_clusters: int, hidden: int = 512, bottleneck: int = 256) -> None:
        super().__init__()
        first, second = nn.Linear(in_dim, hidden), nn.Linear(hidden, bottleneck)
        self.mlp = nn.Sequential(first, nn.GELU(), second)
        for layer in (first, second):
            nn.init.trunc_normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)
        self.last_layer = weight_norm(nn.Linear(bottleneck, num_clusters, bias=False))
        with torch.no_grad():
            self.last_layer.parametrizations.weight.original0.fill_(1.0)  # g, as weight_g.fill_(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_layer(nn.functional.normalize(self.mlp(x), dim=-1))
