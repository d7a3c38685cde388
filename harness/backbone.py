"""The backbone plugin API: a frozen feature extractor (and, later, a trainable tail)."""

from __future__ import annotations

import hashlib
import json
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from unic_bench.component import Component, ParamsModel

if TYPE_CHECKING:
    import torch

Modality = Literal["image", "features"]


@dataclass(frozen=True)
class InputConfig:
    """How images must be prepared for a backbone (timm's pretrained_cfg, in short)."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    crop_pct: float = 0.875


class Backbone(Component):
    """Subclass per backbone; register the class from a ``register_backbones`` hook.

    ``build()`` returns a module mapping a batch of prepared inputs to (B, D) features: the CLS
    token after the final norm for ViTs, the average pool for CNNs, the flattened input for
    ``pixels``/``identity``.
    """

    kind: ClassVar[str] = "backbone"
    accepts: ClassVar[Modality] = "image"
    pretraining: ClassVar[str] = ""  # e.g. "DINOv1"; empty for no pretraining (pixels)
    architecture: ClassVar[str] = ""

    def __init__(self, params: ParamsModel | None = None, weights: Path | None = None, **overrides: Any) -> None:
        self.params = params if params is not None else self.validate_params(overrides)
        self.weights = weights

    def input_config(self) -> InputConfig | None:
        """Resolution and normalisation the images need; ``None`` keeps the dataset's native tensors."""
        return None

    def identity(self) -> str:
        """A string that changes whenever the features would: name, params and weights content."""
        parts: dict[str, Any] = {"name": self.name, "params": self.params.model_dump(mode="json")}
        if self.weights is not None:
            parts["weights_sha256"] = file_sha256(self.weights)
        return json.dumps(parts, sort_keys=True)

    @abstractmethod
    def build(self) -> torch.nn.Module:
        """Return the feature extractor in eval mode, on the CPU."""


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
