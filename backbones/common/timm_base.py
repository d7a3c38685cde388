"""The shared base of the pretrained backbones: a timm model + an official weights file.

``build()`` creates the timm architecture with ``num_classes=0`` (so ``model(x)`` is the
clustering feature: CLS after the final norm for ViTs, average pool for CNNs), reads the
weights with ``weights_only=True``, remaps the official layout to timm's names and loads it
strictly. Family modules (vit.py, resnet.py, efficientnet.py) add how to cut the model into a
frozen trunk and a trainable tail, and list their checkpoints as :class:`PretrainedCfg` entries:
data with one keyword per fact, in the spirit of timm's ``default_cfgs``, one registered class
per entry (the registry maps a backbone name to a class).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import Field

from unic_bench.api.backbone import Backbone, InputConfig, TailSplit
from unic_bench.api.component import ParamsModel
from unic_bench.backbones.common.weights import WeightSource, load_strict, read_checkpoint
from unic_bench.errors import BenchError

if TYPE_CHECKING:
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


class TimmParams(ParamsModel):
    img_size: int = Field(224, ge=16, description="Input resolution (224 = the paper's; ViT position embeddings are resampled)")


@dataclass(frozen=True, kw_only=True)
class PretrainedCfg:
    """One official checkpoint of a timm architecture (timm's ``default_cfgs`` entry, by keyword).

    ``name``/``aliases``: how ``--backbone`` finds it; ``timm_name``: the architecture
    ``timm.create_model`` builds; ``weights``: where the official file lives (URL, HF mirror,
    package); ``remap``: the official key layout -> timm's names; ``mean``/``std``/
    ``interpolation``/``crop_pct``: how images are prepared (timm's ``pretrained_cfg`` fields).
    """

    name: str
    timm_name: str
    architecture: str
    pretraining: str
    weights: WeightSource
    remap: Callable[[Any], dict[str, Any]]
    description: str
    aliases: tuple[str, ...] = ()
    display_name: str = ""  # default: the architecture
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bicubic"
    crop_pct: float = 0.875


T = TypeVar("T", bound="TimmBackbone")


class TimmBackbone(Backbone[TimmParams]):
    """A timm architecture with official weights. A family subclass (``ViTBackbone``) says how to
    cut the model; each checkpoint is a subclass with a ``cfg`` (:meth:`variant` makes one).

    The class attributes below are what the code reads; a ``cfg`` fills them in (a subclass may
    still set them directly, as the tests do for tiny architectures).
    """

    Params: ClassVar[type[ParamsModel]] = TimmParams
    cfg: ClassVar[PretrainedCfg | None] = None
    accepts_weights = True
    timm_name: ClassVar[str]
    weight_source: ClassVar[WeightSource]
    remap: ClassVar[staticmethod[[Any], dict[str, Any]]]  # official checkpoint -> timm state dict
    mean: ClassVar[tuple[float, float, float]] = IMAGENET_MEAN
    std: ClassVar[tuple[float, float, float]] = IMAGENET_STD
    interpolation: ClassVar[str] = "bicubic"
    crop_pct: ClassVar[float] = 0.875

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cfg = cls.__dict__.get("cfg")
        if cfg is not None:
            cls.name, cls.aliases, cls.description = cfg.name, cfg.aliases, cfg.description
            cls.display_name = cfg.display_name or cfg.architecture
            cls.architecture, cls.pretraining, cls.timm_name = cfg.architecture, cfg.pretraining, cfg.timm_name
            cls.weight_source, cls.remap = cfg.weights, staticmethod(cfg.remap)
            cls.mean, cls.std, cls.interpolation, cls.crop_pct = cfg.mean, cfg.std, cfg.interpolation, cfg.crop_pct

    @classmethod
    def variant(cls: type[T], cfg: PretrainedCfg) -> type[T]:
        """The registered class of one checkpoint of this family."""
        return type(cfg.name.replace("-", "_"), (cls,), {"cfg": cfg, "__module__": cls.__module__})

    def __init__(self, params: TimmParams | None = None, weights: Path | None = None, **overrides: Any) -> None:
        super().__init__(params, weights, **overrides)
        self._resolved: Path | None = None

    def weights_file(self) -> Path:
        """``--weights`` if given, else the official file (HF/torch cache, then download)."""
        if self._resolved is None:
            self._resolved = Path(self.weights) if self.weights is not None else self.weight_source.resolve(self.name)
            if not self._resolved.is_file():
                raise BenchError(f"weights file '{self._resolved}' for backbone '{self.name}' does not exist")
        return self._resolved

    def input_config(self) -> InputConfig:
        return InputConfig(self.params.img_size, self.mean, self.std, self.interpolation, self.crop_pct)

    def create(self) -> torch.nn.Module:
        """The randomly initialised architecture (no download: timm's ``pretrained`` stays off)."""
        import timm

        return timm.create_model(self.timm_name, pretrained=False, num_classes=0, **self.model_kwargs())

    def model_kwargs(self) -> dict[str, Any]:
        return {}

    def adapt(self, state_dict: dict[str, Any], model: torch.nn.Module) -> dict[str, Any]:
        """Architecture-specific fixes after the remap (ViT: timm's checkpoint filter)."""
        return state_dict

    def build(self) -> torch.nn.Module:
        """Architecture on the meta device (no wasted random init), then the file's tensors, strictly."""
        import torch

        path = self.weights_file()
        with torch.device("meta"):
            model = self.create()
        state_dict = self.adapt(type(self).remap(read_checkpoint(path)), model)
        state_dict = {
            k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in state_dict.items()
        }  # fp16 -> fp32
        load_strict(model, state_dict, str(path), assign=True)
        return model.eval()

    def trainable_tail(self, model: torch.nn.Module, n: int = 1) -> TailSplit:
        units = self.tail_units(model)
        if not 1 <= n <= len(units):
            raise BenchError(f"backbone '{self.name}' has {len(units)} {self.tail_unit}s; cannot finetune the last {n}")
        split = self.split(model, n)
        split.trunk.requires_grad_(False).eval()
        split.tail.requires_grad_(True)
        return split

    def tail_units(self, model: torch.nn.Module) -> torch.nn.Sequential:
        """The sequence whose last n entries ``trainable_tail(n)`` unfreezes."""
        raise NotImplementedError

    def split(self, model: torch.nn.Module, n: int) -> TailSplit:
        raise NotImplementedError
