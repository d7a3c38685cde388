"""The backbone plugin API: a frozen feature extractor, and a trainable tail for finetuning."""

from __future__ import annotations

import functools
import hashlib
import json
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from unic_bench.api.component import Component, P
from unic_bench.errors import BenchError

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


class PretrainedWeights(Protocol):
    """Where a backbone's official weights come from (``unic-bench fetch-weights`` resolves them).

    ``unic_bench.backbones.common.weights`` has the built-in kinds (a URL, a pip package); the
    contract only needs these two methods, so ``api/`` does not import the backbones.
    """

    def resolve(self, backbone: str) -> Path:
        """The local file, downloading it first when it is not there yet."""
        ...

    def describe(self) -> str:
        """Where the weights come from, in a few words (for listings)."""
        ...


@dataclass
class TailSplit:
    """A built backbone cut in two for finetuning, so that ``tail(trunk(x))`` equals ``model(x)``.

    The trunk is frozen (``requires_grad`` off, eval mode) and meant to run under ``no_grad``,
    so finetuning the last block costs one block's activations, not the whole network's. Only
    the tail's parameters are trainable.
    """

    trunk: torch.nn.Module
    tail: torch.nn.Module


class Backbone(Component[P]):
    """Subclass per backbone; register the class from a ``register_backbones`` hook.

    ``build()`` returns a module mapping a batch of prepared inputs to (B, D) features: the CLS
    token after the final norm for ViTs, the average pool for CNNs, the flattened input for
    ``pixels``/``identity``.
    """

    kind: ClassVar[str] = "backbone"
    accepts: ClassVar[Modality] = "image"
    pretraining: ClassVar[str] = ""  # e.g. "DINOv1"; empty for no pretraining (pixels)
    architecture: ClassVar[str] = ""
    tail_unit: ClassVar[str] = ""  # what trainable_tail(n) unfreezes ("block", "stage"); empty = nothing
    accepts_weights: ClassVar[bool] = False  # True when --weights FILE can replace the pretrained weights
    weight_source: ClassVar[PretrainedWeights | None] = None  # official weights; None = built without any

    def __init__(self, params: P | None = None, weights: Path | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.weights = weights

    def input_config(self) -> InputConfig | None:
        """Resolution and normalisation the images need; ``None`` keeps the dataset's native tensors."""
        return None

    def weights_file(self) -> Path | None:
        """The weights file ``build()`` reads (``--weights`` here; pretrained backbones resolve theirs)."""
        return self.weights

    def weights_sha256(self) -> str | None:
        path = self.weights_file()
        return None if path is None else file_sha256(path)

    def identity(self) -> str:
        """A string that changes whenever the features would: name, params and weights content."""
        parts: dict[str, Any] = {"name": self.name, "params": self.params.model_dump(mode="json")}
        if (digest := self.weights_sha256()) is not None:
            parts["weights_sha256"] = digest
        return json.dumps(parts, sort_keys=True)

    @abstractmethod
    def build(self) -> torch.nn.Module:
        """Return the feature extractor in eval mode, on the CPU."""

    @property
    def finetunable(self) -> bool:
        return bool(self.tail_unit)

    def trainable_tail(self, model: torch.nn.Module, n: int = 1) -> TailSplit:
        """Split ``model`` (from ``build()``) into a frozen trunk and its last ``n`` trainable units.

        ViTs: the last n blocks + final norm; ResNets: the last stage; EfficientNet: the last
        stage + head conv. Backbones without blocks (pixels) cannot be finetuned.
        """
        raise BenchError(f"backbone '{self.name}' has no blocks to finetune; use --set finetune=none")


@functools.lru_cache(maxsize=64)
def _sha256_of(path: Path, size: int, mtime_ns: int, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file, memoised per (path, size, mtime): weights files are hundreds of MB."""
    stat = Path(path).stat()
    return _sha256_of(Path(path).resolve(), stat.st_size, stat.st_mtime_ns)
