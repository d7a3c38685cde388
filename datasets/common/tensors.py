"""In-memory samples (digits, synthetic features) as a torch Dataset, with optional image prep."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch.utils.data import Dataset as TorchDataset

if TYPE_CHECKING:
    from unic_bench.api.backbone import InputConfig


class TensorSamples(TorchDataset):
    """``samples[i]`` = ``tensor[i]``, prepared for the backbone when an InputConfig is given.

    ``augment`` (a train-time transform of the raw image, e.g. :func:`crop_flip`) runs before
    the preparation; datasets use it for ``Split.train_samples``.
    """

    def __init__(
        self,
        tensor: torch.Tensor,
        input_config: InputConfig | None = None,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.tensor = tensor
        self.input_config = input_config
        self.augment = augment

    def __len__(self) -> int:
        return int(self.tensor.shape[0])

    def __getitem__(self, index: int) -> torch.Tensor:
        item = self.tensor[index]
        if self.augment is not None:
            item = self.augment(item)
        return item if self.input_config is None else prepare_image(item, self.input_config)

    def describe(self) -> str:
        """The transform, for the feature-cache key."""
        cfg = self.input_config
        if cfg is None:
            return "native"
        return f"resize({cfg.size},{cfg.interpolation})|gray->rgb|normalize(mean={cfg.mean},std={cfg.std})"


def prepare_image(image: torch.Tensor, cfg: InputConfig) -> torch.Tensor:
    """(C, H, W) in [0, 1] -> resized to ``cfg.size``, three channels, normalised.

    Small grey images (8x8 digits, 28x28 Fashion-MNIST) are upsampled as a whole: cropping them
    would cut off the object, so ``crop_pct`` does not apply here.
    """
    x = (
        torch.nn.functional.interpolate(
            image.unsqueeze(0), size=(cfg.size, cfg.size), mode=cfg.interpolation, align_corners=False, antialias=True
        )
        .squeeze(0)
        .clamp(0, 1)
    )
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    mean = torch.tensor(cfg.mean, dtype=x.dtype).view(3, 1, 1)
    std = torch.tensor(cfg.std, dtype=x.dtype).view(3, 1, 1)
    return (x - mean) / std


def crop_flip(size: int, scale: tuple[float, float] = (0.5, 1.0)) -> Callable[[torch.Tensor], torch.Tensor]:
    """Random-resized crop (back to ``size``) + horizontal flip of a (C, H, W) tensor image.

    The usual finetuning augmentation (SCAN/UNIC use RandomResizedCrop + flip), with a milder
    default scale than ImageNet's (0.08, 1): on 28x28 objects an 8% crop is mostly background.
    """
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomResizedCrop(size, scale=scale, antialias=True), v2.RandomHorizontalFlip()])
