"""ResNet-50s with official self-supervised weights (timm ``resnet50`` = torchvision key names).

Feature: the global average pool of ``layer4`` (2048-d), as SCAN/TEMI/naver-cog use (the MoCo
MLP and SwAV projection head are not part of the backbone). Finetuning unfreezes the last n
stages (``layer4`` for n=1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from unic_bench.api.backbone import TailSplit
from unic_bench.api.hookspecs import hookimpl
from unic_bench.backbones.common import formats
from unic_bench.backbones.common.timm_base import PretrainedCfg, TimmBackbone
from unic_bench.backbones.common.weights import UrlWeights

if TYPE_CHECKING:
    import torch

STAGES = ("layer1", "layer2", "layer3", "layer4")


class ResNetBackbone(TimmBackbone):
    tail_unit = "stage"

    def tail_units(self, model: torch.nn.Module) -> torch.nn.Sequential:
        import torch

        return torch.nn.Sequential(*(getattr(model, s) for s in STAGES))

    def split(self, model: torch.nn.Module, n: int) -> TailSplit:
        import torch

        from unic_bench.backbones.common.model_part import ModelPart

        stages = self.tail_units(model)
        trunk = ModelPart(
            model,
            lambda m, part, x: part.stages(m.maxpool(m.act1(m.bn1(m.conv1(x))))),
            conv1=model.conv1,
            bn1=model.bn1,
            stages=torch.nn.Sequential(*stages[:-n]),
        )
        tail = ModelPart(model, lambda m, part, x: m.forward_head(part.stages(x)), stages=torch.nn.Sequential(*stages[-n:]))
        return TailSplit(trunk, tail)


DinoResNet50 = ResNetBackbone.variant(
    PretrainedCfg(
        name="dinov1-resnet-50",
        aliases=("dino-resnet50", "dino-rn50", "dinov1-resnet50"),
        timm_name="resnet50",
        architecture="ResNet-50",
        pretraining="DINOv1",
        weights=UrlWeights("https://dl.fbaipublicfiles.com/dino/dino_resnet50_pretrain/dino_resnet50_pretrain.pth"),
        remap=formats.dino,
        description="DINO ResNet-50 (Caron et al. 2021), average pool",
    )
)
MocoV2ResNet50 = ResNetBackbone.variant(
    PretrainedCfg(
        name="mocov2-resnet-50",
        aliases=("mocov2", "moco-v2", "moco", "mocov2-resnet50"),
        timm_name="resnet50",
        architecture="ResNet-50",
        pretraining="MoCoV2",
        weights=UrlWeights("https://dl.fbaipublicfiles.com/moco/moco_checkpoints/moco_v2_800ep/moco_v2_800ep_pretrain.pth.tar"),
        remap=formats.moco,
        description="MoCo v2, 800 epochs (Chen et al. 2020): encoder_q, average pool",
    )
)
SwavResNet50 = ResNetBackbone.variant(
    PretrainedCfg(
        name="swav-resnet-50",
        aliases=("swav", "swav-resnet50"),
        timm_name="resnet50",
        architecture="ResNet-50",
        pretraining="SwAV",
        weights=UrlWeights("https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar"),
        remap=formats.swav,
        description="SwAV, 800 epochs (Caron et al. 2020), average pool",
    )
)
MochiResNet50 = ResNetBackbone.variant(
    PretrainedCfg(
        name="mochi-resnet-50",
        aliases=("mochi", "mochi-resnet50"),
        timm_name="resnet50",
        architecture="ResNet-50",
        pretraining="MOCHI",
        weights=UrlWeights("https://download.europe.naverlabs.com/ComputerVision/MOCHI_models/mochi_512_1024_512_e1000.pth.tar"),
        remap=formats.moco,
        description="MoCHi (512, 1024, 512), 1000 epochs (Kalantidis et al. 2020): encoder_q, average pool",
    )
)

RESNETS = (DinoResNet50, MocoV2ResNet50, SwavResNet50, MochiResNet50)


@hookimpl
def register_backbones(register: Callable[[type], None]) -> None:
    for cls in RESNETS:
        register(cls)
