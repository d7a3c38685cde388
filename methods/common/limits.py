"""A stated limit on the heads a trained method builds, checked before any memory is allocated.

Raw ``pixels`` of full-size images are 150,528-d (224 x 224 x 3): UNIC's MLP head on them has
308M parameters and its checkpoint (weights + Adam's two moments) is 3.7 GB, written every
epoch. Such a run is almost always a mistake, so it is refused with the fix, not started.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

from unic_bench.api.taskdata import TaskData
from unic_bench.errors import BenchError
from unic_bench.methods.common.training import seeded

M = TypeVar("M", bound=nn.Module)

# 200M trainable parameters (~2.4 GB checkpoints with Adam): above every paper setting here
# (TEMI's 16 DINO heads on ViT-B: ~105M; a ViT-L last block: 12.6M).
MAX_TRAINABLE_PARAMS = 200_000_000
BYTES_PER_PARAM = 12  # float32 weights + Adam's exp_avg and exp_avg_sq in the checkpoint


def seeded_head(factory: Callable[[], M], seed: int, data: TaskData) -> M:
    """``factory()`` initialised from ``seed`` (as :func:`seeded`), after its parameters were counted
    on the meta device (no memory, no random draw) and refused when over :data:`MAX_TRAINABLE_PARAMS`."""
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        count = sum(p.numel() for p in factory().parameters() if p.requires_grad)
    if count > MAX_TRAINABLE_PARAMS:
        raise BenchError(_too_big(count, data))
    with seeded(seed):
        return factory()


def _too_big(count: int, data: TaskData) -> str:
    """Name the size, the limit and the fix: smaller inputs where the backbone takes a size, else
    a pretrained backbone (``pixels`` of full-size images is the usual cause)."""
    backbone = data.images.backbone if data.images is not None else None
    if backbone is not None and "img_size" in backbone.Params.model_fields:
        fix = "smaller inputs with --set backbone.img_size=N"
    else:
        name = f"'{backbone.name}' " if backbone is not None else ""
        fix = f"a pretrained backbone instead of {name}(e.g. --backbone dinov1-vit-s-16: 384-d features), or smaller images"
    return (
        f"the trainable head on {data.train.features.shape[1]:,}-d inputs would have {count / 1e6:.0f}M parameters, over the "
        f"limit of {MAX_TRAINABLE_PARAMS // 1_000_000}M (checkpoint ~{count * BYTES_PER_PARAM / 1e9:.1f} GB per epoch): use {fix}"
    )
