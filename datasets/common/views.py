"""The datasets' samples under a view transform (``weak`` / ``strong``), for the views cache.

``weak`` is the dataset's own train transform (``Split.train_samples``: crop + flip); a dataset
without one (the embedded digits) gets FixMatch's weak translation -- a random shift by up to
12.5% of the side with reflect padding -- and no flip, which would turn digits into other
symbols. ``strong`` is the weak transform followed by torchvision's ``RandAugment()`` (2 ops,
magnitude 9), FixMatch's strong augmentation without its Cutout. PIL pipelines (CIFAR, STL-10,
ImageNet, folders) apply RandAugment to the PIL image before the train transform, as FixMatch
does on the raw 32-pixel image; in-memory tensor images (digits, Fashion-MNIST) apply it to the
uint8 image after the weak crop.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch.utils.data import ConcatDataset
from torch.utils.data import Dataset as TorchDataset

from unic_bench.api.dataset import Split
from unic_bench.api.views import ViewTransform
from unic_bench.datasets.common.tensors import TensorSamples
from unic_bench.errors import BenchError

TRANSLATE_FRACTION = 0.125  # FixMatch's weak augmentation: translate by up to 12.5%


def translate(size: int) -> Any:
    """FixMatch's weak shift by up to 12.5% of ``size`` (random crop of the padded image); padded with
    zeros, the background of the in-memory grey images, where reflecting would duplicate strokes."""
    from torchvision.transforms import v2

    return v2.RandomCrop(size, padding=max(1, round(TRANSLATE_FRACTION * size)), padding_mode="constant")


class RandAugmentFloat(torch.nn.Module):
    """torchvision's ``RandAugment()`` on a float (C, H, W) image in [0, 1] (posterize and
    equalize need uint8: the image goes through uint8 and back)."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision import transforms as T

        self.augment = T.RandAugment()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        as_bytes = (image.clamp(0, 1) * 255).round().to(torch.uint8)
        return self.augment(as_bytes).float() / 255

    def extra_repr(self) -> str:
        return repr(self.augment)


def view_samples(split: Split, transform: ViewTransform) -> tuple[TorchDataset, str]:
    """(samples of ``split`` under ``transform``, a description of the augmentation for the cache key)."""
    base = split.train_samples if split.train_samples is not None else split.samples
    return _augmented(base, transform, has_train=split.train_samples is not None)


def _augmented(samples: TorchDataset, transform: ViewTransform, has_train: bool) -> tuple[TorchDataset, str]:
    from torchvision import transforms as T
    from torchvision.transforms import v2

    if isinstance(samples, ConcatDataset):  # STL-10's train + unlabeled parts
        parts = [_augmented(part, transform, has_train) for part in samples.datasets]
        return ConcatDataset([part for part, _ in parts]), " + ".join(description for _, description in parts)
    if isinstance(samples, TensorSamples):
        weak = samples.augment if has_train and samples.augment is not None else translate(int(samples.tensor.shape[-1]))
        augment = weak if transform == "weak" else v2.Compose([weak, RandAugmentFloat()])
        return TensorSamples(samples.tensor, samples.input_config, augment), f"{transform}: {augment!r}"
    if has_train and hasattr(samples, "transform"):  # ArrayImages / FileImages with the train transform
        if transform == "weak":
            return samples, f"weak: {samples.transform!r}"
        strong = copy.copy(samples)
        strong.transform = T.Compose([T.RandAugment(), samples.transform])
        return strong, f"strong: {strong.transform!r}"
    raise BenchError(
        f"cannot build '{transform}' views of samples of type {type(samples).__name__} (valid: tensor or PIL images)"
    )
