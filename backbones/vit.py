"""Vision Transformers with official self-supervised / supervised weights (timm ``VisionTransformer``).

Feature: the CLS token after the final norm (``num_classes=0``, ``global_pool='token'``), as in
dino ``eval_knn.py`` and the GCD code. Finetuning unfreezes the last n blocks and the final
norm (SimGCD/GCD train ``blocks.11`` only; the norm sits between that block and the feature).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unic_bench.api.backbone import TailSplit
from unic_bench.api.hookspecs import hookimpl
from unic_bench.backbones.common import formats
from unic_bench.backbones.common.timm_base import HALF, PretrainedCfg, TimmBackbone
from unic_bench.backbones.common.weights import UrlWeights

if TYPE_CHECKING:
    import torch

DINO = "https://dl.fbaipublicfiles.com/dino"
DINOV2 = "https://dl.fbaipublicfiles.com/dinov2"


class ViTBackbone(TimmBackbone):
    tail_unit = "block"

    def model_kwargs(self) -> dict[str, Any]:
        return {"img_size": self.params.img_size}

    def adapt(self, state_dict: dict[str, Any], model: torch.nn.Module) -> dict[str, Any]:
        """timm's ViT filter: drops DINOv2's ``mask_token``, resamples ``pos_embed`` to the model grid."""
        from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn

        assert isinstance(model, VisionTransformer)
        return checkpoint_filter_fn(state_dict, model)

    def tail_units(self, model: torch.nn.Module) -> torch.nn.Sequential:
        return model.blocks  # type: ignore[return-value]  # nn.Module attributes type as Tensor | Module

    def split(self, model: torch.nn.Module, n: int) -> TailSplit:
        import torch

        from unic_bench.backbones.common.model_part import ModelPart

        blocks: Any = model.blocks
        trunk = ModelPart(
            model,
            lambda m, part, x: part.blocks(m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(x))))),
            patch_embed=model.patch_embed,
            cls_token=model.cls_token,
            reg_token=model.reg_token,
            pos_embed=model.pos_embed,
            norm_pre=model.norm_pre,
            blocks=torch.nn.Sequential(*blocks[:-n]),
        )
        tail = ModelPart(
            model,
            lambda m, part, x: m.forward_head(part.norm(part.blocks(x))),
            blocks=torch.nn.Sequential(*blocks[-n:]),
            norm=model.norm,
            fc_norm=model.fc_norm,
        )
        return TailSplit(trunk, tail)


DinoViTB16 = ViTBackbone.variant(
    PretrainedCfg(
        name="dinov1-vit-b-16",
        aliases=("dinov1", "dino", "dino-vitb16", "dinov1-vitb16", "dino-vit-b-16"),
        timm_name="vit_base_patch16_224",
        architecture="ViT-B/16",
        pretraining="DINOv1",
        weights=UrlWeights(
            f"{DINO}/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth", hf_repo="timm/vit_base_patch16_224.dino"
        ),
        remap=formats.dino,
        description="DINO ViT-B/16 (Caron et al. 2021), CLS after the final norm",
    )
)
DinoViTS16 = ViTBackbone.variant(
    PretrainedCfg(
        name="dinov1-vit-s-16",
        aliases=("dino-vits16", "dinov1-vits16", "dino-vit-s-16"),
        timm_name="vit_small_patch16_224",
        architecture="ViT-S/16",
        pretraining="DINOv1",
        weights=UrlWeights(
            f"{DINO}/dino_deitsmall16_pretrain/dino_deitsmall16_pretrain.pth", hf_repo="timm/vit_small_patch16_224.dino"
        ),
        remap=formats.dino,
        description="DINO ViT-S/16 (Caron et al. 2021), CLS after the final norm",
    )
)
DinoV2ViTB14 = ViTBackbone.variant(
    PretrainedCfg(
        name="dinov2-vit-b-14",
        aliases=("dinov2", "dinov2-vitb14"),
        timm_name="vit_base_patch14_dinov2",
        architecture="ViT-B/14",
        pretraining="DINOv2",
        weights=UrlWeights(f"{DINOV2}/dinov2_vitb14/dinov2_vitb14_pretrain.pth", hf_repo="timm/vit_base_patch14_dinov2.lvd142m"),
        remap=formats.dinov2,
        description="DINOv2 ViT-B/14 (Oquab et al. 2023) at 224 px (pos_embed resampled from 518), CLS after the final norm",
    )
)
DinoV2ViTS14 = ViTBackbone.variant(
    PretrainedCfg(
        name="dinov2-vit-s-14",
        aliases=("dinov2-vits14",),
        timm_name="vit_small_patch14_dinov2",
        architecture="ViT-S/14",
        pretraining="DINOv2",
        weights=UrlWeights(f"{DINOV2}/dinov2_vits14/dinov2_vits14_pretrain.pth", hf_repo="timm/vit_small_patch14_dinov2.lvd142m"),
        remap=formats.dinov2,
        description="DINOv2 ViT-S/14 (Oquab et al. 2023) at 224 px (pos_embed resampled from 518), CLS after the final norm",
    )
)
IbotViTB16 = ViTBackbone.variant(
    PretrainedCfg(
        name="ibot-vit-b-16",
        aliases=("ibot", "ibot-vitb16"),
        timm_name="vit_base_patch16_224",
        architecture="ViT-B/16",
        pretraining="iBOT",
        weights=UrlWeights(
            "https://lf3-nlp-opensource.bytetos.com/obj/nlp-opensource/archive/2022/ibot/vitb_16/checkpoint_teacher.pth",
            filename="ibot_vitb16_checkpoint_teacher.pth",
        ),
        remap=formats.ibot,
        description="iBOT ViT-B/16 teacher (Zhou et al. 2022), CLS after the final norm",
    )
)
SupervisedViTB16 = ViTBackbone.variant(
    PretrainedCfg(
        name="supervised-vit-b-16",
        aliases=("supervised", "supervised-vitb16", "vit-b16-in21k"),
        timm_name="vit_base_patch16_224",
        architecture="ViT-B/16",
        pretraining="Supervised",
        weights=UrlWeights(
            "https://huggingface.co/timm/vit_base_patch16_224.augreg2_in21k_ft_in1k/resolve/main/model.safetensors",
            filename="vit_base_patch16_224.augreg2_in21k_ft_in1k.safetensors",
            hf_repo="timm/vit_base_patch16_224.augreg2_in21k_ft_in1k",
        ),
        remap=formats.timm_classifier,
        description="Supervised ViT-B/16, IN-21k -> IN-1k (timm augreg2, TEMI's default timm weights), pre-logits CLS",
        mean=HALF,
        std=HALF,
        crop_pct=0.9,
    )
)

VITS = (DinoViTB16, DinoViTS16, DinoV2ViTB14, DinoV2ViTS14, IbotViTB16, SupervisedViTB16)


@hookimpl
def register_backbones(register: Callable[[type], None]) -> None:
    for cls in VITS:
        register(cls)
