"""PIL -> tensor transforms of the image datasets, and the strings that name them in the cache key.

- Test (feature extraction): the GCD transform, Vaze et al. ``data/augmentations/__init__.py``
  ``transform='imagenet'``: Resize(int(size / crop_pct), bicubic) of the shorter side ->
  CenterCrop(size) -> ToTensor -> Normalize; 224 / 0.875 = 256 (CIFAR's 32 px are upsampled).
  Size, crop_pct, interpolation, mean and std come from the backbone's :class:`InputConfig`.
- Train (finetuning the last block; UNIC does not state its augmentation, so GCD's train transform,
  Vaze et al. ``data/augmentations/__init__.py``): the same resize -> RandomCrop(size)
  -> RandomHorizontalFlip -> ToTensor -> Normalize. GCD's ``ColorJitter()`` has no arguments and
  does nothing in torchvision, so it is left out.
- ``pre_resize``: the ImageNet clustering subsets' loaders resize every image first, before any
  transform: TEMI (``loaders/imagenet.py``) to 256x256 without keeping the aspect ratio (a
  ``(256, 256)`` pair), SCAN (``data/imagenet.py``) the shorter side to 256 (an int).
- Without an InputConfig (the ``pixels`` backbone), fixed-size images (CIFAR, STL-10) stay at their
  native size as [0, 1] tensors; images of varying size get the 224-pixel ImageNet transform.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unic_bench.api.backbone import InputConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_INPUT = InputConfig(size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)

Transform = Callable[[Any], Any]


PreResize = int | tuple[int, int] | None


def _steps(cfg: InputConfig, train: bool, pre_resize: PreResize) -> list[tuple[str, Any]]:
    from torchvision import transforms as T

    mode = T.InterpolationMode(cfg.interpolation)
    resize = int(cfg.size / cfg.crop_pct)
    steps: list[tuple[str, Any]] = []
    if pre_resize is not None:
        size = "x".join(map(str, pre_resize)) if isinstance(pre_resize, tuple) else str(pre_resize)
        steps.append((f"resize({size},bilinear)", T.Resize(pre_resize)))
    steps.append((f"resize({resize},{cfg.interpolation})", T.Resize(resize, interpolation=mode)))
    if train:
        steps += [(f"random-crop({cfg.size})", T.RandomCrop(cfg.size)), ("hflip(0.5)", T.RandomHorizontalFlip())]
    else:
        steps.append((f"center-crop({cfg.size})", T.CenterCrop(cfg.size)))
    steps += [
        ("to-tensor", T.ToTensor()),
        (f"normalize(mean={list(cfg.mean)},std={list(cfg.std)})", T.Normalize(cfg.mean, cfg.std)),
    ]
    return steps


def image_transform(
    cfg: InputConfig | None, train: bool = False, pre_resize: PreResize = None, native_ok: bool = False
) -> tuple[Transform, str]:
    """(transform, description). ``native_ok``: the images all have one size, so no config = ToTensor only."""
    from torchvision import transforms as T

    if cfg is None and native_ok:
        flip = [("hflip(0.5)", T.RandomHorizontalFlip())] if train else []
        steps: list[tuple[str, Any]] = [*flip, ("to-tensor", T.ToTensor())]
    else:
        steps = _steps(cfg or DEFAULT_INPUT, train, pre_resize)
    return T.Compose([step for _, step in steps]), "|".join(name for name, _ in steps)
