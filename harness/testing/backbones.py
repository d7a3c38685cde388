"""``check_backbone``: a backbone plugin against what feature extraction and finetuning rely on.

- metadata and params (one-line ``BenchError`` for bad params);
- ``build()`` returns a module in eval mode mapping a batch to finite (B, D) float features, the
  same twice in a row (eval-mode determinism: no dropout, no batch statistics);
- ``input_config()`` is consistent: the same for equal params, positive size, three channel means
  and positive stds, ``crop_pct`` in (0, 1]; ``identity()`` is equal for equal params;
- finetunable backbones (``tail_unit`` set): ``trainable_tail(model, 1)`` splits the model so that
  ``tail(trunk(x))`` equals ``model(x)``, only the tail has trainable parameters; others raise a
  one-line ``BenchError``.

Pretrained backbones read their weights in ``build()``: pass ``weights=`` (a file in the official
format, e.g. saved from a randomly initialised model) to check one offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unic_bench.api.backbone import Backbone
from unic_bench.errors import BenchError
from unic_bench.testing.report import CheckReport, fail, start_checks, validated

FEATURE_DIM = 16  # width of the vectors fed to a backbone that accepts features
NATIVE_SHAPE = (1, 8, 8)  # an image with no input_config: the embedded digits' native tensor


def check_backbone(
    cls: type[Backbone[Any]], params: Mapping[str, Any] | None = None, *, weights: Path | None = None, batch: int = 2
) -> CheckReport:
    """Build ``cls`` and run every check on a random batch; raise on the first failure."""
    import torch

    report = start_checks(cls)
    name = cls.name
    backbone = cls(validated(cls, params), weights=weights)
    twin = cls(validated(cls, params), weights=weights)
    config = backbone.input_config()
    if config != twin.input_config() or backbone.identity() != twin.identity():
        raise fail(name, "input config", "input_config() or identity() differ between two instances with equal params")
    if config is not None:
        good = (
            config.size > 0
            and len(config.mean) == 3
            and len(config.std) == 3
            and all(s > 0 for s in config.std)
            and 0 < config.crop_pct <= 1
        )
        if not good:
            raise fail(name, "input config", f"implausible {config}")
    report.ok("input config")

    model = backbone.build()
    if not isinstance(model, torch.nn.Module) or model.training:
        raise fail(name, "build", "build() must return a torch.nn.Module in eval mode")
    generator = torch.Generator().manual_seed(0)
    if cls.accepts == "features":
        x = torch.randn(batch, FEATURE_DIM, generator=generator)
    elif config is None:
        x = torch.rand(batch, *NATIVE_SHAPE, generator=generator)
    else:
        x = torch.randn(batch, 3, config.size, config.size, generator=generator)
    with torch.no_grad():
        out, again = model(x), model(x)
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != batch or not out.is_floating_point():
        raise fail(name, "build", f"features must be a float (B, D) tensor, got {getattr(out, 'shape', type(out).__name__)}")
    if not torch.isfinite(out).all():
        raise fail(name, "build", "features contain NaN or inf")
    if not torch.equal(out, again):
        raise fail(name, "eval determinism", "two forward passes of the built model in eval mode differ")
    report.ok("build: (B, D) features")
    report.ok("eval determinism")
    _check_tail(backbone, model, x, out, name, report)
    return report


def _check_tail(backbone: Backbone[Any], model: Any, x: Any, out: Any, name: str, report: CheckReport) -> None:
    import torch

    if not backbone.finetunable:
        try:
            backbone.trainable_tail(model, 1)
        except BenchError as exc:
            if "\n" in str(exc):
                raise fail(name, "trainable tail", f"the error must be one line: {exc!r}") from None
            report.ok("trainable tail: refused with one line")
            return
        raise fail(name, "trainable tail", "tail_unit is empty but trainable_tail() did not raise BenchError")
    split = backbone.trainable_tail(model, 1)
    try:
        with torch.no_grad():
            joined = split.tail(split.trunk(x))
    except Exception as exc:  # noqa: BLE001 - any failure here is the split's
        raise fail(name, "trainable tail", f"tail(trunk(x)) raised {type(exc).__name__}: {exc}") from exc
    if joined.shape != out.shape or not torch.allclose(joined, out, atol=1e-5, rtol=1e-4):
        raise fail(name, "trainable tail", "tail(trunk(x)) differs from model(x)")
    if any(p.requires_grad for p in split.trunk.parameters()):
        raise fail(name, "trainable tail", "the trunk has trainable parameters (it must be frozen)")
    if not any(p.requires_grad for p in split.tail.parameters()):
        raise fail(name, "trainable tail", "the tail has no trainable parameter")
    report.ok("trainable tail: tail(trunk(x)) == model(x)")
