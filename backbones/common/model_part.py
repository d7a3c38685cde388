"""A slice of a timm model as a module of its own, for the frozen-trunk / trainable-tail split."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class ModelPart(torch.nn.Module):
    """Registers exactly the modules and parameters it runs, and calls the model's own methods.

    ``run(model, part, x)`` does the forward pass. The model itself is held outside the module
    tree, so ``part.parameters()`` (what an optimiser or ``requires_grad_`` sees) is this part's
    share only; the members are the model's own objects, so ``.to(device)`` moves them in place
    and the model stays whole.
    """

    def __init__(self, model: torch.nn.Module, run: Callable[[Any, Any, torch.Tensor], torch.Tensor], **members: Any) -> None:
        super().__init__()
        self._run = run
        self._model = [model]  # a list: not registered as a submodule
        for name, member in members.items():
            setattr(self, name, member)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(self._model[0], self, x)
