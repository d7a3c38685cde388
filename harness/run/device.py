"""``--device auto|cpu|cuda[:N]`` resolution."""

from __future__ import annotations

from unic_bench.errors import BenchError


def resolve_device(requested: str) -> str:
    """``auto`` picks CUDA when torch sees a GPU; an unavailable CUDA request is a clear error."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        return "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BenchError(f"--device {requested}: torch sees no CUDA device here (valid: auto, cpu)")
        return requested
    raise BenchError(f"invalid --device '{requested}' (valid: auto, cpu, cuda, cuda:N)")
