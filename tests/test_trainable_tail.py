"""``trainable_tail(n)``: tail(trunk(x)) == model(x), and exactly the last n units are trainable."""

from __future__ import annotations

import copy
import functools

import pytest
import torch

from unic_bench.backbones import efficientnet, resnet, vit
from unic_bench.backbones.common.timm_base import TimmBackbone
from unic_bench.errors import BenchError


def small(cls: type[TimmBackbone], timm_name: str) -> type[TimmBackbone]:
    return type(cls.__name__, (cls,), {"timm_name": timm_name})  # type: ignore[return-value]


@functools.cache
def random_model(cls: type[TimmBackbone], size: int) -> torch.nn.Module:
    """Random weights (the split does not depend on them), created once per architecture: timm init is slow."""
    torch.manual_seed(0)
    return cls(img_size=size).create().eval()


CASES = [
    # backbone, input px, n, parameter-name prefixes that must be exactly the trainable ones
    (small(vit.DinoViTS16, "vit_tiny_patch16_224"), 32, 1, ("blocks.11.", "norm.")),
    (small(vit.DinoViTS16, "vit_tiny_patch16_224"), 32, 2, ("blocks.10.", "blocks.11.", "norm.")),
    (small(resnet.MocoV2ResNet50, "resnet18"), 64, 1, ("layer4.",)),
    (small(resnet.MocoV2ResNet50, "resnet18"), 64, 2, ("layer3.", "layer4.")),
    (efficientnet.EfficientNetLite0, 64, 1, ("blocks.6.", "conv_head.", "bn2.")),
    (efficientnet.EfficientNetLite0, 64, 2, ("blocks.5.", "blocks.6.", "conv_head.", "bn2.")),
]


@pytest.mark.parametrize("cls, size, n, prefixes", CASES, ids=lambda c: getattr(c, "timm_name", str(c)))
def test_tail_of_trunk_is_the_model_and_only_the_tail_trains(
    cls: type[TimmBackbone], size: int, n: int, prefixes: tuple[str, ...]
) -> None:
    backbone = cls(img_size=size)
    model = copy.deepcopy(random_model(cls, size))
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected = model(x)
    split = backbone.trainable_tail(model, n)
    with torch.no_grad():
        got = split.tail(split.trunk(x))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)

    want = sum(p.numel() for name, p in model.named_parameters() if name.startswith(prefixes))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert want > 0 and trainable == want == sum(p.numel() for p in split.tail.parameters())
    assert not any(p.requires_grad for p in split.trunk.parameters()) and not split.trunk.training
    trunk_ids, tail_ids = {id(p) for p in split.trunk.parameters()}, {id(p) for p in split.tail.parameters()}
    assert not trunk_ids & tail_ids and trunk_ids | tail_ids == {id(p) for p in model.parameters()}

    split.tail(split.trunk(x)).sum().backward()  # gradients reach the tail only
    assert all(p.grad is not None for p in split.tail.parameters())
    assert all(p.grad is None for p in split.trunk.parameters())


def test_too_many_units_is_one_line() -> None:
    backbone = CASES[2][0]()
    with pytest.raises(BenchError, match="has 4 stages; cannot finetune the last 5"):
        backbone.trainable_tail(copy.deepcopy(random_model(CASES[2][0], 64)), 5)
