"""The general SSL learner ASD triggers: FixMatch (Sohn et al. 2020), as the first author's code
runs it (NJUyued/PRG4SSL-MNAR ``train_prg.py``: threshold 0.95, T = 1 hard labels, lambda_u 1,
unlabelled ratio 7, EMA 0.999), on a head over cached weak/strong views, or over the backbone's
trainable last block (``finetune=last-block``; the EMA then covers block and head).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def fixmatch_loss(
    labelled: torch.Tensor, targets: torch.Tensor, weak: torch.Tensor, strong: torch.Tensor, confidence: float, lambda_u: float
) -> dict[str, torch.Tensor]:
    """CE(labelled, targets) + lambda_u * mean over unlabelled of 1[max q >= confidence] CE(strong, argmax q),
    q = softmax(weak) without gradient. ``mask`` is the fraction of confident unlabelled images."""
    supervised = F.cross_entropy(labelled.float(), targets)
    probs = torch.softmax(weak.detach().float(), dim=-1)
    top, pseudo = probs.max(-1)
    mask = (top >= confidence).float()
    unsupervised = (F.cross_entropy(strong.float(), pseudo, reduction="none") * mask).mean()
    return {"loss": supervised + lambda_u * unsupervised, "sup": supervised, "unsup": unsupervised, "mask": mask.mean()}


class EMAModel(nn.Module):
    """The exponential moving average of a module's parameters (buffers copied), FixMatch's
    evaluation model; a module, so the Trainer checkpoints it (a ``followers`` entry)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def follow(self, model: nn.Module) -> None:
        for ema, live in zip(self.model.parameters(), model.parameters()):
            ema.lerp_(live, 1.0 - self.decay)
        for kept, current in zip(self.model.buffers(), model.buffers()):
            kept.copy_(current)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
