"""Augmented views of the train images, as cached backbone features (what a method asks for).

With a frozen backbone a method that needs two augmented views of an image (SimGCD's two
crops, FixMatch's weak/strong pair) would otherwise see only the one cached feature. The
protocol hands it a :class:`ViewProvider`: ``views("weak", 2, seed)`` returns the features of
two seeded draws of the dataset's train transform for every train row, extracted once and
cached on disk (``unic_bench.run.views``), so every method and run seed reuses them.

- ``weak``: the dataset's train transform (crop + flip); datasets without one get FixMatch's
  translation by up to 12.5% (reflect padding), without the flip.
- ``strong``: the weak transform followed by torchvision's ``RandAugment()`` (2 ops, magnitude 9),
  FixMatch's strong augmentation (minus its Cutout).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    import torch

ViewTransform = Literal["weak", "strong"]
VIEW_TRANSFORMS: tuple[ViewTransform, ...] = ("weak", "strong")


class ViewProvider(Protocol):
    """``provider(transform, count, seed)`` -> ``(count, n_train, d)`` float32 CPU features.

    Draw ``v`` of ``(transform, seed)`` is the same whatever ``count`` asks for it, so
    ``count=4`` extends what ``count=2`` extracted.
    """

    def __call__(self, transform: ViewTransform, count: int, seed: int) -> torch.Tensor: ...
