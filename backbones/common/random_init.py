"""Backbones of seeded random weights, for timings and GPU checks only (never for results).

Not registered as plugins: ``benchmarks/gpu.py`` and the ``cuda`` tests build them directly,
so a GPU machine needs no weights download to measure the ViT-B/16 cost of a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from unic_bench.backbones.vit import ViTBackbone

if TYPE_CHECKING:
    import torch


class RandomViT(ViTBackbone):
    """A timm ViT (``timm_name``, default ViT-B/16) initialised from a fixed seed, with a trainable last block."""

    name = "random-vit-b-16"
    display_name = "ViT-B/16 (random weights)"
    timm_name: ClassVar[str] = "vit_base_patch16_224"
    accepts_weights = False

    def weights_file(self) -> None:  # type: ignore[override]
        return None

    def build(self) -> torch.nn.Module:
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return self.create().eval()


class RandomViTTiny(RandomViT):
    """ViT-Ti/16: the same code path at a size a CPU test or a smoke run can afford."""

    name = "random-vit-ti-16"
    display_name = "ViT-Ti/16 (random weights)"
    timm_name = "vit_tiny_patch16_224"
