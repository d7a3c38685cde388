"""ResNet-50s with official self-supervised weights (timm ``resnet50`` = torchvision key names).

Feature: the global average pool of ``layer4`` (2048-d), as SCAN/TEMI/naver-cog use (the MoCo
MLP and SwAV projection head are not part of the backbone). Finetuning unfreezes the last n
stages (``layer4`` for n=1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unic_bench.api.backbone import TailSplit
from unic_bench.api.hookspecs import hookimpl
from unic_bench.backbones.common import formats
from unic_bench.backbones.common.timm_base import TimmBackbone
from unic_bench.backbones.common.weights import UrlWeights

if TYPE_CHECKING:
    import torch

STAGES = ("layer1", "layer2", "layer3", "layer4")


class ResNetBackbone(TimmBackbone):
    timm_name = "resnet50"
    architecture = "ResNet-50"
    display_name = "ResNet-50"
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


def _resnet(
    name: str,
    pretraining: str,
    source: UrlWeights,
    remap: Callable[[Any], dict[str, Any]],
    aliases: tuple[str, ...],
    description: str,
) -> type:
    attrs = dict(
        name=name,
        aliases=aliases,
        pretraining=pretraining,
        weight_source=source,
        remap=staticmethod(remap),
        description=description,
    )
    return type(name.replace("-", "_"), (ResNetBackbone,), attrs)


DinoResNet50 = _resnet(
    "dinov1-resnet-50",
    "DINOv1",
    UrlWeights("https://dl.fbaipublicfiles.com/dino/dino_resnet50_pretrain/dino_resnet50_pretrain.pth"),
    formats.dino,
    ("dino-resnet50", "dino-rn50", "dinov1-resnet50"),
    "DINO ResNet-50 (Caron et al. 2021), average pool",
)
MocoV2ResNet50 = _resnet(
    "mocov2-resnet-50",
    "MoCoV2",
    UrlWeights("https://dl.fbaipublicfiles.com/moco/moco_checkpoints/moco_v2_800ep/moco_v2_800ep_pretrain.pth.tar"),
    formats.moco,
    ("mocov2", "moco-v2", "moco", "mocov2-resnet50"),
    "MoCo v2, 800 epochs (Chen et al. 2020): encoder_q, average pool",
)
SwavResNet50 = _resnet(
    "swav-resnet-50",
    "SwAV",
    UrlWeights("https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar"),
    formats.swav,
    ("swav", "swav-resnet50"),
    "SwAV, 800 epochs (Caron et al. 2020), average pool",
)
MochiResNet50 = _resnet(
    "mochi-resnet-50",
    "MOCHI",
    UrlWeights("https://download.europe.naverlabs.com/ComputerVision/MOCHI_models/mochi_512_1024_512_e1000.pth.tar"),
    formats.moco,
    ("mochi", "mochi-resnet50"),
    "MoCHi (512, 1024, 512), 1000 epochs (Kalantidis et al. 2020): encoder_q, average pool",
)

RESNETS = (DinoResNet50, MocoV2ResNet50, SwavResNet50, MochiResNet50)


@hookimpl
def register_backbones(register: Callable[[type], None]) -> None:
    for cls in RESNETS:
        register(cls)
