"""``temi``: TEMI (Adaloglou et al., BMVC 2023), teacher-ensemble weighted pointwise mutual information.

Facts from HHU-MMBS/TEMI-official-BMVC2023 (the README's command is the default where it
differs from ``main_args.py``'s argparse defaults; each such case is named below):

- Pairs (gen_embeds.py, loaders/embedNN.py): cosine kNN of the training embeddings with self
  excluded; each epoch every image x is paired with x' drawn uniformly from its top ``knn``
  (README: 50; 25 in its IN-1K command, which also standardises the heads' input,
  ``--embed_norm``). Embeddings are precomputed, no augmentation (``--precomputed``,
  ``embed_aug none``). Per-dataset values: ``DATASET_DEFAULTS`` (exact dataset names).
- Heads (model_builders/multi_head.py): H = 16 DINO heads (README ``--num_heads=16``; see
  :class:`~unic_bench.methods.common.heads.DINOHead`); a teacher copy of the heads follows the student by
  EMA, m on a cosine schedule from 0.996 to ``max_momentum_teacher`` (README 0.996, so constant;
  argparse default 1.0).
- Loss (losses/multihead_losses.py, losses/loss_utils.py): student/teacher softmax at
  temperature 0.1 (the teacher's "warm-up" goes 0.1 -> 0.1); per head a cluster prior
  q~ <- 0.9 q~ + 0.1 mean(teacher probs of both views), updated *before* the loss of the same
  step; pmi_beta(x, x') = log sum_c (q_s(c|x) q_t(c|x'))^beta / q~(c) -- beta on the numerator
  only, beta = 0.6 (README), no clipping; instance weight w = mean over heads of
  sum_c q_t(c|x) q_t(c|x') (no gradient, shared by all heads); L^h = -mean_b w pmi averaged over
  the two (student view, teacher view) pairings; total = mean over heads.
- Optimisation (train_main.py): AdamW, no weight decay on biases and 1-d parameters, wd 1e-4;
  lr = 1e-4 x batch/256 (linear scaling) after a 20-epoch linear warm-up, constant afterwards
  (README lr = min_lr = 1e-4, warm-up 20; argparse defaults are 5e-4, 1e-6, 10); weight decay
  constant (argparse weight_decay = weight_decay_end = 1e-4); batch 1024
  with ``drop_last`` (IN-1K: 128); 100 epochs; the prototype layer is frozen during epoch 0
  (``freeze_last_layer`` 1).
- Small-data rule (not in the paper; ``batch_for``): on a dataset that is not one of TEMI's,
  ``batch_size=auto`` is 1024, or ``N // 48`` when that is smaller, so that 100 epochs are the
  4,800 steps of the README's CIFAR-10 command (digits: batch 37 instead of one step an epoch).
- Best head (MultiHead.set_losses): the head with the lowest mean training loss over the last
  epoch; prediction = argmax of that *teacher* head.

Schedules (train_main.py "init schedulers"): lr, weight decay and teacher momentum are
precomputed per iteration with dino's ``utils.cosine_scheduler`` and indexed by the global
iteration, so the warm-up rises linearly from 0 over 20 epochs' iterations.

Deviations (docs/methods/temi.md): eval_experiment.py reports the best checkpoint by test ACC, here the last
epoch is reported; with ``finetune=last-block`` ("TEMI (Tune)") the teacher heads read the
student's trainable block (the official ``--train_backbone`` keeps an EMA copy of the backbone).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from unic_bench.api.component import Task
from unic_bench.api.hookspecs import hookimpl
from unic_bench.api.method import Method
from unic_bench.api.taskdata import Prediction, RunContext, TaskData
from unic_bench.methods.common.heads import DINOHead
from unic_bench.methods.common.limits import seeded_head
from unic_bench.methods.common.neighbors import knn
from unic_bench.methods.common.training import Encoder, Finetune, Trainer, TrainParams, cosine_schedule, resolve_finetune

AUTO: Literal["auto"] = "auto"
README_BATCH = 1024  # the README's CIFAR-10 command
# Steps per epoch of that command on CIFAR-10 (50,000 // 1024): with 100 epochs, the 4,800 steps
# the paper's EMA teacher (m = 0.996), warm-up and prior were tuned for.
README_STEPS_PER_EPOCH = 50_000 // README_BATCH

# Per-dataset defaults, keyed by exact dataset names (HHU-MMBS/TEMI-official-BMVC2023 README):
# the datasets of the TEMI paper take the README's CIFAR-10 command (batch 1024, 50 neighbours);
# ImageNet-1k its overclustering command (batch 128, 25 neighbours, --embed_norm). Any other
# dataset keeps ``batch_size=auto`` (the small-data rule, ``batch_for``).
PAPER_COMMAND: dict[str, Any] = {"batch_size": README_BATCH, "knn": 50, "embed_norm": False}
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    **{
        name: PAPER_COMMAND
        for name in ("cifar10", "cifar100", "cifar100-20", "stl10", "imagenet50", "imagenet100", "imagenet200")
    },
    "imagenet1k": {"batch_size": 128, "knn": 25, "embed_norm": True},
    # the CPU demo: 4 heads instead of 16 (the cost is linear in heads); --set num_heads=16 restores it
    "digits": {"num_heads": 4},
}


def batch_for(n: int) -> int:
    """The small-data rule for ``batch_size=auto``: the README's 1024, or less on a dataset too
    small to give the README's 48 steps an epoch (``N // 48``), so that 100 epochs are the
    paper's 4,800 steps. Digits (1,797 images): 37 (48 steps an epoch) instead of one step."""
    return max(1, min(README_BATCH, n // README_STEPS_PER_EPOCH))


class TEMIParams(TrainParams):
    finetune: Finetune = Field("none", description="none = precomputed embeddings (official default); last-block = 'TEMI (Tune)'")
    epochs: int = Field(100, ge=1)
    batch_size: int | Literal["auto"] = Field(  # type: ignore[assignment]  # TrainParams' int, widened by "auto"
        AUTO, description="README 1024 on TEMI's datasets; auto = 1024 or N // 48 when smaller (see batch_for); drop_last"
    )
    embed_norm: bool = Field(False, description="--embed_norm: standardise the heads' input with the train mean and std")
    lr: float = Field(1e-4, gt=0, description="per 256 images: the rate used is lr * batch / 256")
    weight_decay: float = Field(1e-4, ge=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adamw"
    schedule: Literal["cosine", "constant"] = Field("constant", description="README: min_lr = lr, so constant after warm-up")
    warmup_epochs: int = Field(20, ge=0)
    decay_1d: bool = Field(False, description="False: biases and 1-d parameters get no weight decay (DINO param groups)")
    knn: int = Field(50, ge=1, description="partners drawn from the top-knn neighbours, self excluded")
    num_heads: int = Field(16, ge=1)
    beta: float = Field(0.6, gt=0, description="exponent on the PMI numerator")
    student_temp: float = Field(0.1, gt=0)
    teacher_temp: float = Field(0.1, gt=0)
    prior_momentum: float = Field(0.9, ge=0, lt=1, description="cluster prior EMA")
    momentum_teacher: float = Field(0.996, ge=0, le=1, description="teacher EMA at the start")
    max_momentum_teacher: float = Field(
        0.996, ge=0, le=1, description="teacher EMA at the end (cosine); README 0.996, argparse 1.0"
    )
    freeze_last_layer: int = Field(1, ge=0, description="epochs with the prototype layer fixed")
    hidden: int = Field(512, ge=1)
    bottleneck: int = Field(256, ge=1)


def update_prior(prior: torch.Tensor, teacher_probs: torch.Tensor, momentum: float) -> None:
    """q~ <- m q~ + (1 - m) mean over the batch and both views; ``prior`` (H, K), probs (H, 2, B, K)."""
    prior.mul_(momentum).add_(teacher_probs.mean(dim=(1, 2)), alpha=1 - momentum)


def beta_pmi(student: torch.Tensor, teacher: torch.Tensor, prior: torch.Tensor, beta: float) -> torch.Tensor:
    """log sum_c (q_s(c) q_t(c))^beta / q~(c): probabilities (..., K), prior broadcastable."""
    return ((student * teacher).pow(beta) / prior).sum(-1).log()


def temi_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, prior: torch.Tensor, p: TEMIParams
) -> dict[str, torch.Tensor]:
    """TEMI on logits (H, 2, B, K) of both views; updates ``prior`` (H, K) in place first.

    Returns the loss (mean over heads), the mean instance weight and ``head{h}`` per-head losses.
    """
    q_s = torch.softmax(student_logits.float() / p.student_temp, dim=-1)
    with torch.no_grad():
        q_t = torch.softmax(teacher_logits.float() / p.teacher_temp, dim=-1)
        update_prior(prior, q_t, p.prior_momentum)  # compute_weight runs before the loss
        weight = (q_t[:, 0] * q_t[:, 1]).sum(-1).mean(0)  # (B,), averaged over heads
    pmi = [beta_pmi(q_s[:, v], q_t[:, 1 - v], prior[:, None], p.beta) for v in (0, 1)]  # student view v, teacher 1-v
    per_head = -0.5 * ((weight * pmi[0]).mean(-1) + (weight * pmi[1]).mean(-1))
    return {"loss": per_head.mean(), "weight": weight.mean(), **{f"head{h}": v for h, v in enumerate(per_head)}}


class Teacher(nn.Module):
    """EMA copy of the student heads and the per-head cluster prior (checkpointed together)."""

    heads: nn.ModuleList
    prior: torch.Tensor  # (H, K), a buffer

    def __init__(self, student: nn.ModuleList, num_clusters: int) -> None:
        super().__init__()
        self.heads = copy.deepcopy(student).requires_grad_(False)
        self.register_buffer("prior", torch.full((len(student), num_clusters), 1.0 / num_clusters))

    @torch.no_grad()
    def follow(self, student: nn.ModuleList, momentum: float) -> None:
        for t, s in zip(self.heads.parameters(), student.parameters()):
            t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)


class Standardize(nn.Module):
    """``--embed_norm`` (model_builders.py: ``set_mean_std`` with the train embeddings' statistics):
    the heads read (x - mean) / std; the neighbours stay those of the raw embeddings (gen_embeds.py).
    Identity when off. With ``finetune=last-block`` the statistics stay those of the frozen features."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, train: torch.Tensor, enabled: bool) -> None:
        super().__init__()
        self.enabled = enabled
        std = train.float().std(0, unbiased=False)
        self.register_buffer("mean", train.float().mean(0))
        self.register_buffer("std", torch.where(std > 0, std, torch.ones_like(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std if self.enabled else x


def stack_heads(heads: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    return torch.stack([head(x) for head in heads])


class PartnerPairs:
    """(x, x') for a random subset of train rows whose size is a multiple of the batch (drop_last);
    x' uniform among x's ``knn`` nearest neighbours, self excluded. Also unfreezes the prototype
    layer once ``freeze_last_layer`` epochs have passed (a parameter without gradient is not
    updated by AdamW, as train_main.py's cancel_gradients_last_layer)."""

    def __init__(self, neighbors: torch.Tensor, batch_size: int, prototypes: list[nn.Parameter], frozen_epochs: int) -> None:
        self.neighbors, self.batch_size = neighbors, batch_size
        self.prototypes, self.frozen_epochs = prototypes, frozen_epochs

    def __call__(self, epoch: int, generator: torch.Generator) -> torch.Tensor:
        for param in self.prototypes:
            param.requires_grad_(epoch >= self.frozen_epochs)
        n, k = self.neighbors.shape
        device = self.neighbors.device
        keep = torch.randperm(n, generator=generator, device=generator.device)[: n - n % self.batch_size].to(device)
        pick = torch.randint(k, (len(keep),), generator=generator, device=generator.device).to(device)
        return torch.stack([keep, self.neighbors[keep, pick]], dim=1)


class TEMI(Method[TEMIParams]):
    name = "temi"
    display_name = "TEMI"
    description = "Teacher-ensemble weighted beta-PMI on kNN pairs, 16 DINO heads, best head by loss"
    paper = "Adaloglou et al., BMVC 2023"
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering"})
    Params = TEMIParams
    model_selection = "last epoch; the teacher head of lowest mean loss in the last epoch (label-free)"

    @classmethod
    def defaults_for(cls, dataset: str, task: Task) -> dict[str, Any]:
        """``DATASET_DEFAULTS`` (the README's commands for the paper's datasets)."""
        return dict(DATASET_DEFAULTS.get(dataset, {}))

    def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
        p = self.params
        n, num_clusters = len(data.train), data.num_classes
        k = min(p.knn, n - 1)
        neighbors = knn(data.train.features, k + 1, "cosine", ctx.device)[1][:, 1:].to(ctx.device)
        batch = batch_for(n) if p.batch_size == AUTO else min(int(p.batch_size), n)  # drop_last needs one batch
        train = TrainParams(
            **{**p.model_dump(include=set(TrainParams.model_fields)), "batch_size": batch, "lr": p.lr * batch / 256}
        )
        standardize = Standardize(data.train.features, p.embed_norm).to(ctx.device)

        mode = resolve_finetune(p.finetune, data)
        encoder = Encoder(data, mode, ctx.device, p.workers)
        in_dim = data.train.features.shape[1]
        student = seeded_head(
            lambda: nn.ModuleList(DINOHead(in_dim, num_clusters, p.hidden, p.bottleneck) for _ in range(p.num_heads)),
            ctx.seed,
            data,
        )
        teacher = Teacher(student, num_clusters)
        steps_per_epoch = n // batch  # drop_last
        # train_main.py momentum_schedule: cosine from momentum_teacher to max_momentum_teacher, per iteration
        momentum = cosine_schedule(p.momentum_teacher, p.max_momentum_teacher, p.epochs, steps_per_epoch)

        def objective(rows: torch.Tensor, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
            b, m, d = embeddings.shape
            flat = standardize(embeddings.reshape(b * m, d))
            s = stack_heads(student, flat).view(p.num_heads, b, m, -1).transpose(1, 2)
            with torch.no_grad():
                t = stack_heads(teacher.heads, flat.detach()).view(p.num_heads, b, m, -1).transpose(1, 2)
            return temi_loss(s, t, teacher.prior, p)

        def after_step(it: int) -> None:
            teacher.follow(student, float(momentum[it]))

        prototypes = [prm for name, prm in student.named_parameters() if ".last_layer." in name]  # DINOHead.last_layer
        trainer = Trainer(
            encoder,
            {"student": student},
            train,
            ctx,
            followers={"teacher": teacher},
            after_step=after_step,
            steps_per_epoch=steps_per_epoch,
        )
        trainer.fit(PartnerPairs(neighbors, batch, prototypes, p.freeze_last_layer), objective)

        last = ctx.log[-1]
        head_losses = [last[f"head{h}"] for h in range(p.num_heads)]
        best = int(np.argmin(head_losses))
        labels, confidence, train_assignments = encoder.assign(nn.Sequential(standardize, teacher.heads[best]), p.teacher_temp)
        return Prediction(
            labels=labels,
            train_assignments=train_assignments,
            confidence=confidence,
            diagnostics={
                "finetune": mode,
                "knn": k,
                "best_head": best,
                "batch_size": batch,
                "steps": p.epochs * steps_per_epoch,
                "lr": train.lr,
                "head_losses": [round(v, 6) for v in head_losses],
                "clusters_used": int(len(np.unique(labels))),
            },
        )


@hookimpl
def register_methods(register: Callable[[type], None]) -> None:
    register(TEMI)
