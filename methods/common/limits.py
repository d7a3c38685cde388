"""A stated limit on what a trained method may build, checked before the first epoch.

Raw ``pixels`` of full-size images are 150,528-d (224 x 224 x 3): UNIC's MLP head on them has
308M parameters and its checkpoint (weights + Adam's two moments) is 3.7 GB, written every
epoch. Such a run is almost always a mistake, so it is refused with the fix, not started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from unic_bench.errors import BenchError

if TYPE_CHECKING:
    from unic_bench.api.backbone import Backbone

# 200M trainable parameters (~2.4 GB checkpoints with Adam): above every paper setting here
# (TEMI's 16 DINO heads on ViT-B: ~105M; a ViT-L last block: 12.6M).
MAX_TRAINABLE_PARAMS = 200_000_000
BYTES_PER_PARAM = 12  # float32 weights + Adam's exp_avg and exp_avg_sq in the checkpoint


def check_trainable_size(modules: nn.Module, tail: nn.Module | None, input_dim: int, backbone: Backbone | None) -> None:
    """Refuse a head (plus finetuned tail) over :data:`MAX_TRAINABLE_PARAMS`, naming the fix."""
    parts = [modules] if tail is None else [modules, tail]
    count = sum(p.numel() for part in parts for p in part.parameters() if p.requires_grad)
    if count <= MAX_TRAINABLE_PARAMS:
        return
    if backbone is not None and "img_size" in backbone.Params.model_fields:
        fix = "smaller inputs with --set backbone.img_size=N"
    else:
        name = f"'{backbone.name}' " if backbone is not None else ""
        fix = f"a pretrained backbone instead of {name}(e.g. --backbone dinov1-vit-s-16: 384-d features), or smaller images"
    raise BenchError(
        f"the trainable head on {input_dim:,}-d inputs has {count / 1e6:.0f}M parameters, over the limit of "
        f"{MAX_TRAINABLE_PARAMS // 1_000_000}M (checkpoint ~{count * BYTES_PER_PARAM / 1e9:.1f} GB per epoch): use {fix}"
    )
