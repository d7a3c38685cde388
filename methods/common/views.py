"""Methods' side of the views cache: the params that ask for views, and fetching them.

A method with a frozen backbone trains on cached augmented views (``TaskData.views``, see
``unic_bench.api.views``); ``views``/``strong_views``/``view_seed`` are its params, so they are
in the run spec and the record. Data without images (a features dataset, or TaskData built by
hand without a provider) has no views: every view is then the cached feature itself, which the
method reports in its diagnostics.
"""

from __future__ import annotations

import torch
from pydantic import Field

from unic_bench.api.component import ParamsModel
from unic_bench.api.taskdata import TaskData
from unic_bench.api.views import ViewTransform

NO_VIEWS = "none: no images behind the features, the cached feature serves as every view"


class ViewParams(ParamsModel):
    """What a method asks of the views cache in frozen mode (``finetune=none``)."""

    view_seed: int = Field(0, ge=0, description="seed of the cached view draws (shared by every run seed)")
    augment: bool = Field(True, description="False: every view is the un-augmented cached feature (no views extracted)")


def cached_views(data: TaskData, transform: ViewTransform, count: int, p: ViewParams, device: str) -> tuple[torch.Tensor, str]:
    """``(count, n_train, d)`` view features on ``device`` and where they came from."""
    if data.views is None or not p.augment:
        note = NO_VIEWS if p.augment else "none: augment=False, the cached feature serves as every view"
        return data.train.features.to(device).unsqueeze(0).expand(count, -1, -1), note
    views = data.views(transform, count, p.view_seed).to(device, non_blocking=True)
    return views, f"cached {transform} x{count} (view seed {p.view_seed})"
