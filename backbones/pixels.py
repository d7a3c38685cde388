"""``pixels``: the image itself as the feature vector; ``identity``: for datasets of features.

The reference point every learned backbone must beat, and the default of the embedded demo
(kMeans on raw 8x8 digits pixels is a classic ~0.79 ACC baseline).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from unic_bench.api.backbone import Backbone, Modality
from unic_bench.api.hookspecs import hookimpl

if TYPE_CHECKING:
    import torch


class Pixels(Backbone):
    name = "pixels"
    display_name = "Pixels"
    description = "Raw pixels, flattened (no pretraining)"
    architecture = "pixels"
    accepts: ClassVar[Modality] = "image"

    def build(self) -> torch.nn.Module:
        import torch

        return torch.nn.Flatten(start_dim=1).eval()


class Identity(Pixels):
    name = "identity"
    display_name = "Identity"
    description = "Pre-computed feature vectors passed through unchanged"
    architecture = "identity"
    accepts: ClassVar[Modality] = "features"


@hookimpl
def register_backbones(register: Callable[[type], None]) -> None:
    register(Pixels)
    register(Identity)
