"""``simgcd``: SimGCD (Wen, Zhao, Qi; ICCV 2023), the parametric GCD baseline of UNIC's Table 2.

Faithful to CVMI-Lab/SimGCD (``train.py``, ``model.py``) where the paper is silent:

- Head (``model.py`` DINOHead, ``nlayers=3``): a projector MLP d -> 2048 -> 2048 -> 256 with GELU
  (trunc-normal(0.02) weights, zero biases) whose output feeds only the representation losses,
  and a weight-normalised cosine classifier Linear(d -> K, no bias) on the **L2-normalised
  backbone feature**, its magnitude g fixed to 1 (``norm_last_layer=True``): the logits are
  cosine similarities to K prototypes, K = old + new classes.
- Loss per batch of two views (``train.py``), lambda = ``sup_weight`` = 0.35:
  ``(1-lambda)(L_cls^u + eps * L_me) + lambda L_cls^s + (1-lambda) L_rep^u + lambda L_rep^s``, where
  L_cls^s = CE(logits / 0.1) on the labelled images of both views; L_cls^u = ``DistillLoss``:
  the teacher is the same network's detached logits, softmax at tau_t(epoch) =
  linspace(0.07, 0.04, 30) then 0.04, the student log-softmax at 0.1, cross-view only (view a
  teaches view b != a), over **all** images; L_me = log K - H(mean softmax(logits / 0.1)) over
  both views (eps = ``memax_weight``: 1, CIFAR-100 4, CUB 2, the repository's scripts);
  L_rep^u = InfoNCE on the normalised projections of both views, temperature 1.0
  (``info_nce_logits``' default); L_rep^s = SupCon(0.07, base 0.07) on the labelled ones.
- SGD lr 0.1, momentum 0.9, weight decay 5e-5 (``scripts/``), none on biases and 1-d parameters
  (``get_params_groups``); CosineAnnealingLR(T_max = epochs, eta_min = lr * 1e-3) stepped per
  epoch; 200 epochs; batch 128 from a WeightedRandomSampler (labelled weight 1, unlabelled
  |L|/|U|, ``num_samples`` = |train|, with replacement, drop_last). The last epoch is scored
  (argmax of the logits on the unlabelled images; no model selection).
- ``finetune=last-block`` is ``grad_from_block=11``: only the last ViT block trains, the final
  norm stays frozen (``train_final_norm=False``); the views are then two independent draws of
  the dataset's train transform every step, as the repository's two crops.

Deviations (named params): ``finetune=none`` trains the head on ``views`` cached draws of the
train transform (``unic_bench.api.views``) instead of fresh crops every step -- each step pairs
two distinct cached draws per image; with no images behind the features every view is the
cached feature itself. A teacher-temperature warm-up longer than the run is cut at the last
epoch (the repository's schedule array would fail). Digits (not a paper dataset) gets
un-augmented views, a narrower projector and a shorter schedule through ``defaults_for``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from unic_bench.api.component import Task
from unic_bench.api.hookspecs import hookimpl
from unic_bench.api.method import Method
from unic_bench.api.taskdata import Prediction, RunContext, TaskData
from unic_bench.methods.common.training import (
    Encoder,
    Finetune,
    Trainer,
    TrainParams,
    cosine_schedule,
    resolve_finetune,
    seeded,
)
from unic_bench.methods.common.views import ViewParams, cached_views

MEMAX_WEIGHTS = {"cifar100": 4.0, "cub": 2.0}  # scripts/run_*.sh after commit 1e0fb9d; every other dataset 1


class SimGCDParams(TrainParams, ViewParams):
    finetune: Finetune = Field("auto", description="auto/last-block = grad_from_block 11 (last block, final norm frozen)")
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(128, ge=2)
    lr: float = Field(0.1, gt=0)
    weight_decay: float = Field(5e-5, ge=0, description="scripts/run_*.sh (argparse default 1e-4)")
    optimizer: Literal["adam", "adamw", "sgd"] = Field("sgd", description="SGD, as train.py")
    decay_1d: bool = Field(False, description="False = get_params_groups: no decay on biases and 1-d parameters")
    min_lr_ratio: float = Field(1e-3, ge=0, lt=1, description="CosineAnnealingLR eta_min = lr * this")
    sup_weight: float = Field(0.35, ge=0, le=1, description="lambda: weight of the supervised terms")
    student_temp: float = Field(0.1, gt=0)
    warmup_teacher_temp: float = Field(0.07, gt=0)
    teacher_temp: float = Field(0.04, gt=0)
    warmup_teacher_temp_epochs: int = Field(30, ge=1)
    memax_weight: float = Field(1.0, ge=0, description="eps of the mean-entropy regulariser (CIFAR-100 4, CUB 2)")
    supcon_temp: float = Field(0.07, gt=0, description="SupConLoss temperature (and base temperature)")
    infonce_temp: float = Field(1.0, gt=0, description="info_nce_logits temperature")
    hidden: int = Field(2048, ge=1, description="DINOHead hidden width")
    bottleneck: int = Field(256, ge=1, description="DINOHead output (projection) width")
    mlp_layers: int = Field(3, ge=1, description="DINOHead nlayers")
    balanced_sampler: bool = Field(True, description="WeightedRandomSampler: labelled 1, unlabelled |L|/|U|")
    train_final_norm: bool = Field(False, description="last-block: also train the final norm (SimGCD: frozen)")
    views: int = Field(2, ge=2, description="frozen mode: cached draws of the train transform per image")


# -- the loss terms (model.py / train.py) ------------------------------------------------------


def teacher_temperatures(epochs: int, warmup_epochs: int, start: float, end: float) -> np.ndarray:
    """DistillLoss.teacher_temp_schedule: linspace(start, end, warmup_epochs), then ``end``."""
    schedule = np.concatenate((np.linspace(start, end, warmup_epochs), np.full(max(epochs - warmup_epochs, 0), end)))
    return schedule[:epochs]


def distill_loss(logits: torch.Tensor, student_temp: float, teacher_temp: float) -> torch.Tensor:
    """L_cls^u on (V, B, K) logits: teacher softmax(detached / teacher_temp) of view a against the
    student log_softmax(logits / student_temp) of every view b != a, averaged over the pairs."""
    teacher = torch.softmax(logits.detach() / teacher_temp, dim=-1)
    student = F.log_softmax(logits / student_temp, dim=-1)
    views = logits.shape[0]
    pairs = [(a, b) for a in range(views) for b in range(views) if a != b]
    return torch.stack([-(teacher[a] * student[b]).sum(-1).mean() for a, b in pairs]).mean()


def mean_entropy_loss(logits: torch.Tensor, student_temp: float) -> torch.Tensor:
    """L_me = log K - H(mean over every image and view of softmax(logits / student_temp))."""
    mean = torch.softmax(logits.reshape(-1, logits.shape[-1]) / student_temp, dim=-1).mean(0)
    return math.log(mean.shape[0]) + (mean * torch.log(mean)).sum()


def info_nce(projections: torch.Tensor, temperature: float) -> torch.Tensor:
    """L_rep^u (``info_nce_logits`` + CE) on (2, B, d): each of the 2B normalised projections
    classifies its other view among the other 2B - 1 (cosine / temperature)."""
    views, b, _ = projections.shape
    z = F.normalize(projections.reshape(views * b, -1), dim=-1)
    sims = (z @ z.T) / temperature
    sims = sims.masked_fill(torch.eye(views * b, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.arange(views * b, device=z.device).add(b).remainder(views * b)
    return F.cross_entropy(sims, partner)


def supcon_loss(projections: torch.Tensor, labels: torch.Tensor, temperature: float, base_temperature: float) -> torch.Tensor:
    """L_rep^s, SupConLoss (contrast_mode 'all') on (V, B, d) normalised projections of labelled
    images: every other view of an image of the same class is a positive."""
    views, b, _ = projections.shape
    z = projections.reshape(views * b, -1)
    y = labels.repeat(views)
    logits = (z @ z.T) / temperature
    logits = logits - logits.max(1, keepdim=True).values.detach()
    not_self = ~torch.eye(views * b, dtype=torch.bool, device=z.device)
    positive = (y[:, None] == y[None, :]) & not_self
    log_prob = logits - torch.log((torch.exp(logits) * not_self).sum(1, keepdim=True))
    mean_log_prob_pos = (positive * log_prob).sum(1) / positive.sum(1)
    return -(temperature / base_temperature) * mean_log_prob_pos.mean()


def simgcd_loss(
    logits: torch.Tensor, projections: torch.Tensor, labels: torch.Tensor, teacher_temp: float, p: SimGCDParams
) -> dict[str, torch.Tensor]:
    """The total loss and its terms; ``logits`` (2, B, K) cosines, ``projections`` (2, B, d),
    ``labels`` (B,) with -1 for unlabelled images."""
    logits, projections = logits.float(), projections.float()
    labelled = labels >= 0
    cluster = distill_loss(logits, p.student_temp, teacher_temp)
    memax = mean_entropy_loss(logits, p.student_temp)
    contrastive = info_nce(projections, p.infonce_temp)
    if labelled.any():
        sup_logits = logits[:, labelled] / p.student_temp
        cls = F.cross_entropy(sup_logits.reshape(-1, sup_logits.shape[-1]), labels[labelled].repeat(logits.shape[0]))
        sup_con = supcon_loss(F.normalize(projections[:, labelled], dim=-1), labels[labelled], p.supcon_temp, p.supcon_temp)
    else:  # a batch without labelled images (tiny data): the supervised terms are absent
        cls = sup_con = logits.sum() * 0.0
    lam = p.sup_weight
    loss = (1 - lam) * (cluster + p.memax_weight * memax) + lam * cls + (1 - lam) * contrastive + lam * sup_con
    return {"loss": loss, "cls": cls, "cluster": cluster, "memax": memax, "contrastive": contrastive, "sup_con": sup_con}


# -- model and sampling ----------------------------------------------------------------------


class SimGCDHead(nn.Module):
    """DINOHead of SimGCD's model.py: ``(projector(x), cosine classifier(normalize(x)))``."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int, bottleneck: int, layers: int) -> None:
        super().__init__()
        if layers == 1:
            self.mlp: nn.Module = nn.Linear(in_dim, bottleneck)
        else:
            widths = [in_dim] + [hidden] * (layers - 1)
            blocks: list[nn.Module] = []
            for a, b in zip(widths, widths[1:]):
                blocks += [nn.Linear(a, b), nn.GELU()]
            self.mlp = nn.Sequential(*blocks, nn.Linear(hidden, bottleneck))
        for layer in self.mlp.modules():
            if isinstance(layer, nn.Linear):
                nn.init.trunc_normal_(layer.weight, std=0.02)
                nn.init.zeros_(layer.bias)
        self.prototypes = weight_norm(nn.Linear(in_dim, num_classes, bias=False))
        magnitude = self.prototypes.parametrizations.weight.original0
        with torch.no_grad():
            magnitude.fill_(1.0)  # weight_g.fill_(1)
        magnitude.requires_grad_(False)  # norm_last_layer=True

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.prototypes(F.normalize(x, dim=-1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mlp(x), self.classify(x)


class BalancedRows:
    """Each epoch, |train| rows drawn with replacement, labelled weight 1 and unlabelled |L|/|U|
    (train.py's WeightedRandomSampler), cut to whole batches (drop_last); two columns of the same
    row, the image's two views. Also tracks the epoch, for the teacher temperature."""

    def __init__(self, train_labels: np.ndarray | None, n: int, batch_size: int, balanced: bool) -> None:
        labelled = np.zeros(n, dtype=bool) if train_labels is None else train_labels >= 0
        n_lab, n_unl = int(labelled.sum()), int((~labelled).sum())
        weights = np.ones(n) if not balanced or n_lab == 0 or n_unl == 0 else np.where(labelled, 1.0, n_lab / n_unl)
        self.weights = torch.from_numpy(weights)
        self.n, self.batch_size, self.epoch = n, batch_size, 0

    def __call__(self, epoch: int, generator: torch.Generator) -> torch.Tensor:
        self.epoch = epoch
        keep = self.n - self.n % self.batch_size
        rows = torch.multinomial(self.weights.to(generator.device), self.n, replacement=True, generator=generator)[:keep]
        return torch.stack([rows, rows], dim=1)


class _CosineToFloor(Trainer):
    """CosineAnnealingLR(T_max=epochs, eta_min=lr * min_lr_ratio), stepped once per epoch."""

    def __post_init__(self) -> None:
        super().__post_init__()
        p = self.params
        assert isinstance(p, SimGCDParams)
        self.lr_schedule = cosine_schedule(p.lr, p.lr * p.min_lr_ratio, p.epochs)


class SimGCD(Method[SimGCDParams]):
    name = "simgcd"
    display_name = "SimGCD"
    description = "Parametric GCD: cosine prototypes, cross-view self-distillation, mean-entropy, SupCon + InfoNCE"
    paper = "Wen et al., ICCV 2023 (CVMI-Lab/SimGCD)"
    tasks: ClassVar[frozenset[Task]] = frozenset({"gcd"})
    Params = SimGCDParams
    model_selection = "last epoch (label-free; the repository scores the last epoch, no selection)"

    @classmethod
    def defaults_for(cls, dataset: str, task: Task) -> dict[str, Any]:
        """The repository's per-dataset eps (``memax_weight``). Digits (not a paper dataset, the CPU
        demo): un-augmented views (a 1-pixel shift of an 8x8 digit moves a pixel-space classifier
        off the test images: All 53.5 vs 77.3 on seed 0, docs/methods/simgcd.md), projector
        64 -> 32 (in frozen mode the projector feeds only the representation losses, not the
        classifier, and the 2048-wide one costs most of the time), 60 epochs with a 10-epoch
        teacher warm-up, to fit the demo's time budget."""
        if dataset == "digits":
            return {"augment": False, "hidden": 64, "bottleneck": 32, "epochs": 60, "warmup_teacher_temp_epochs": 10}
        return {"memax_weight": MEMAX_WEIGHTS[dataset]} if dataset in MEMAX_WEIGHTS else {}

    def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
        p = self.params
        n, k = len(data.train), data.num_classes
        mode = resolve_finetune(p.finetune, data)
        encoder = Encoder(data, mode, ctx.device, p.workers)
        if mode == "last-block" and not p.train_final_norm and encoder.tail is not None:
            for name in ("norm", "fc_norm"):  # grad_from_block=11 leaves the final norm frozen
                module = getattr(encoder.tail, name, None)
                if isinstance(module, nn.Module):
                    module.requires_grad_(False)
        with seeded(ctx.seed):
            head = SimGCDHead(data.train.features.shape[1], k, p.hidden, p.bottleneck, p.mlp_layers)
        batch = min(p.batch_size, n)
        train = p.model_copy(update={"batch_size": batch})
        sampler = BalancedRows(data.train_labels, n, batch, p.balanced_sampler)
        temperatures = teacher_temperatures(p.epochs, p.warmup_teacher_temp_epochs, p.warmup_teacher_temp, p.teacher_temp)
        known = np.full(n, -1, dtype=np.int64) if data.train_labels is None else data.train_labels.astype(np.int64)
        labels = torch.from_numpy(known).to(ctx.device)
        views, views_note = cached_views(data, "weak", p.views, p, ctx.device) if mode == "none" else (None, "")
        trainer = _CosineToFloor(encoder, {"head": head}, train, ctx)

        def objective(rows: torch.Tensor, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
            row = rows[:, 0]
            if views is not None:  # two distinct cached draws per image
                first = torch.randint(len(views), (len(row),), generator=trainer.generator, device=trainer.generator.device)
                shift = torch.randint(len(views) - 1, (len(row),), generator=trainer.generator, device=trainer.generator.device)
                second = (first + 1 + shift) % len(views)
                pair = torch.stack([views[first.to(row.device), row], views[second.to(row.device), row]])
            else:
                pair = embeddings.transpose(0, 1)  # (2, B, D): two augmented passes through the tail
            projections, logits = head(pair.reshape(-1, pair.shape[-1]))
            b = len(row)
            return simgcd_loss(logits.view(2, b, -1), projections.view(2, b, -1), labels[row], temperatures[sampler.epoch], p)

        trainer.fit(sampler, objective)
        with torch.no_grad():  # confidence: max softmax at the student temperature (the classifier's)
            confidence, eval_clusters = torch.softmax(head.classify(encoder.embed("eval")).float() / p.student_temp, 1).max(1)
            predicted = eval_clusters.cpu().numpy()
            train_assignments = head.classify(encoder.embed("train")).argmax(1).cpu().numpy()
        return Prediction(
            labels=predicted,
            train_assignments=train_assignments,
            confidence=confidence.cpu().numpy(),
            diagnostics={
                "finetune": mode,
                "views": views_note or "two train-transform passes per step",
                "memax_weight": p.memax_weight,
                "batch_size": batch,
                "clusters_used": int(len(np.unique(predicted))),
            },
        )


@hookimpl
def register_methods(register: Callable[[type], None]) -> None:
    register(SimGCD)
