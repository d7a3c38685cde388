"""``scan``: SCAN (Van Gansbeke et al., ECCV 2020) on a pretrained backbone, as the UNIC paper's
SCAN-dagger baseline (Table 1; Table 6 "L_SCAN + ViT-B/16 + heads").

Facts from wvangansbeke/Unsupervised-Classification:

- Mining (utils/memory.py): cosine kNN (faiss inner product on L2-normalised features), the
  top-(k+1) *including self*; k = 20 for CIFAR/STL, 50 for ImageNet (configs/scan/*.yml). Each
  epoch every anchor draws one of its k+1 entries uniformly (data/custom_dataset.py), so the
  "neighbour" is the anchor itself with probability 1/(k+1).
- Loss (losses/losses.py:SCANLoss): BCE(<p_i, p_j>, 1) - lambda * H(mean of the *anchors'*
  probabilities), lambda = 5 in every config; gradients flow through both branches. With several
  heads the per-head losses are summed (utils/train_utils.py:scan_train).
- Heads (models/models.py): one Linear(d -> K) per head. UNIC Table 6: "heads" (frozen
  backbone, several heads) = SCAN-dagger, 85.48 on ImageNet-50, the default here; "Tune" (last
  block, single head) = 87.12 is ``finetune=last-block`` (``num_heads`` then defaults to 1).
- Per-dataset settings: ``SCAN_CONFIGS`` / ``SELFLABEL_CONFIGS`` below are the official
  ``configs/scan/*.yml`` and ``configs/selflabel/*.yml``, keyed by exact dataset names. Two
  regimes: the ImageNet configs train heads on a frozen backbone with SGD (lr 5.0, momentum 0.9,
  no weight decay, batch 512 for ImageNet-50 and 1024 for 100/200, constant lr, 100 epochs); the
  CIFAR/STL configs train the network with Adam (lr 1e-4, wd 1e-4, batch 128, CIFAR-100-20 512;
  50 epochs CIFAR-10, 100 otherwise). ``auto`` optimiser fields take the dataset's config; a
  head-only (ImageNet) config applies only when the backbone is frozen -- when the last block
  trains, the Adam regime is used (lr 5.0 on a ViT block is not a setting any paper used).
  Datasets without a config take the Adam regime with 100 epochs. UNIC does not state
  SCAN-dagger's optimiser.
- Head selection (utils/evaluate_utils.py:scan_evaluate): the head with the lowest
  ``consistency - entropy`` -- note the entropy weight is **1** there, not lambda = 5; the code
  is followed. The official script scores it on the *validation* split's own 5-NN after every
  epoch and keeps the best (epoch, head); here it is scored once, after the last epoch, on the
  train split with the mining neighbours (the harness never shows the method the eval images).
- Self-labelling (selflabel.py, losses.py:ConfidenceBasedCE; off by default, as in the UNIC
  tables): continue from the selected head; target = argmax of the weak view where its
  probability > 0.99; CE on the strong view over the confident samples, classes weighted n/n_c
  (CIFAR/STL configs: Adam 1e-4, wd 1e-4, batch 1000, constant lr, 200 epochs, STL-10 100;
  ImageNet configs: SGD 0.03, batch 512, 25 epochs, weight EMA 0.999, no class balancing).

Deviation (docs/methods/scan.md): with a frozen backbone the head trains on the cached features of the
feature-extraction transform (no augmentation; the official code re-encodes augmented views
every step); with ``finetune=last-block`` anchor and neighbour are independent draws of the
dataset's train transform, as in SCAN.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from unic_bench.api.component import Task
from unic_bench.api.hookspecs import hookimpl
from unic_bench.api.method import Method
from unic_bench.api.taskdata import Prediction, RunContext, TaskData
from unic_bench.methods.common.limits import seeded_head
from unic_bench.methods.common.neighbors import knn
from unic_bench.methods.common.training import Encoder, Finetune, Trainer, TrainParams, resolve_finetune

EPS = 1e-8  # losses.py: probabilities are clamped at 1e-8 inside the entropy
LOG_FLOOR = -100.0  # nn.BCELoss clamps log(x) at -100
AUTO: Literal["auto"] = "auto"


@dataclasses.dataclass(frozen=True)
class ScanConfig:
    """The settings of one official ``configs/scan/scan_<dataset>.yml``."""

    k: int  # num_neighbors
    epochs: int
    batch_size: int
    optimizer: Literal["adam", "sgd"]
    lr: float
    weight_decay: float
    head_only: bool  # update_cluster_head_only: frozen backbone, several heads (ImageNet)


@dataclasses.dataclass(frozen=True)
class SelfLabelConfig:
    """The settings of one official ``configs/selflabel/selflabel_<dataset>.yml``."""

    epochs: int
    batch_size: int
    optimizer: Literal["adam", "sgd"]
    lr: float
    weight_decay: float
    class_balance: bool  # criterion_kwargs.apply_class_balancing
    ema: float  # ema_alpha when use_ema, else 0


# wvangansbeke/Unsupervised-Classification, configs/scan/*.yml (commit 57dff92; cifar20: 2af8f51).
# Keyed by exact dataset names: a dataset not listed (digits, imagenet-r, ...) never inherits them.
SCAN_CONFIGS: dict[str, ScanConfig] = {
    "cifar10": ScanConfig(20, 50, 128, "adam", 1e-4, 1e-4, head_only=False),  # scan_cifar10.yml
    "cifar100-20": ScanConfig(20, 100, 512, "adam", 1e-4, 1e-4, head_only=False),  # scan_cifar20.yml
    "stl10": ScanConfig(20, 100, 128, "adam", 1e-4, 1e-4, head_only=False),  # scan_stl10.yml
    "imagenet50": ScanConfig(50, 100, 512, "sgd", 5.0, 0.0, head_only=True),  # scan_imagenet_50.yml
    "imagenet100": ScanConfig(50, 100, 1024, "sgd", 5.0, 0.0, head_only=True),  # scan_imagenet_100.yml
    "imagenet200": ScanConfig(50, 100, 1024, "sgd", 5.0, 0.0, head_only=True),  # scan_imagenet_200.yml
}
# configs/selflabel/*.yml of the same repository.
SELFLABEL_CONFIGS: dict[str, SelfLabelConfig] = {
    "cifar10": SelfLabelConfig(200, 1000, "adam", 1e-4, 1e-4, class_balance=True, ema=0.0),  # selflabel_cifar10.yml
    "cifar100-20": SelfLabelConfig(200, 1000, "adam", 1e-4, 1e-4, class_balance=True, ema=0.0),  # selflabel_cifar20.yml
    "stl10": SelfLabelConfig(100, 1000, "adam", 1e-4, 1e-4, class_balance=True, ema=0.0),  # selflabel_stl10.yml
    "imagenet50": SelfLabelConfig(25, 512, "sgd", 0.03, 0.0, class_balance=False, ema=0.999),  # selflabel_imagenet_50.yml
    "imagenet100": SelfLabelConfig(25, 512, "sgd", 0.03, 0.0, class_balance=False, ema=0.999),  # selflabel_imagenet_100.yml
    "imagenet200": SelfLabelConfig(25, 512, "sgd", 0.03, 0.0, class_balance=False, ema=0.999),  # selflabel_imagenet_200.yml
}
# Datasets of no official config: the end-to-end Adam regime of the CIFAR/STL configs with the
# 100 epochs of STL-10 and ImageNet, and CIFAR-10's self-labelling.
FALLBACK = ScanConfig(20, 100, 128, "adam", 1e-4, 1e-4, head_only=False)
FALLBACK_SELFLABEL = SELFLABEL_CONFIGS["cifar10"]
# Not paper datasets: digits (a head on 64-d pixels gets 15 steps an epoch, too few for the Adam
# regime's 1e-4) takes lr 1e-3 by the rule UNIC's digits default follows.
EXTRA_DEFAULTS: dict[str, dict[str, Any]] = {"digits": {"lr": 1e-3}}
FROZEN_HEADS = 10  # ImageNet configs' num_heads; 1 when the network trains

OptimizerName = Literal["adam", "adamw", "sgd"]
REGIME_KEYS = ("optimizer", "lr", "weight_decay", "batch_size")  # the fields ``regime`` derives


class SCANParams(TrainParams):
    finetune: Finetune = Field("none", description="none = Table 6 'heads' (SCAN-dagger); last-block = 'Tune' (single head)")
    # The four optimiser fields widen TrainParams' types by "auto" (mypy: an incompatible
    # override, hence the ignores); ``regime`` turns them into a plain TrainParams.
    num_heads: int | Literal["auto"] = Field(AUTO, description="auto = 10 with a frozen backbone, 1 when finetuning")
    optimizer: OptimizerName | Literal["auto"] = Field(AUTO, description="auto = the dataset's official config (see regime)")  # type: ignore[assignment]
    lr: float | Literal["auto"] = Field(AUTO, description="auto = the dataset's official config (see regime)")  # type: ignore[assignment]
    weight_decay: float | Literal["auto"] = Field(AUTO, description="auto = the dataset's official config (see regime)")  # type: ignore[assignment]
    batch_size: int | Literal["auto"] = Field(AUTO, description="auto = the dataset's official config (see regime)")  # type: ignore[assignment]
    epochs: int = Field(FALLBACK.epochs, ge=1, description="the dataset's config (CIFAR-10: 50), else 100")
    schedule: Literal["cosine", "constant"] = "constant"
    k: int = Field(FALLBACK.k, ge=1, description="neighbours besides self (20 CIFAR/STL; 50 ImageNet)")
    entropy_weight: float = Field(5.0, ge=0, description="lambda of the entropy term (5.0 in every official config)")
    self_label: bool = Field(False, description="run SCAN's self-labelling step after training")
    confidence: float = Field(0.99, gt=0, lt=1, description="self-labelling: confidence threshold")
    class_balance: bool = Field(True, description="self-labelling: weight classes by n / n_c (not on ImageNet)")
    self_label_epochs: int = Field(FALLBACK_SELFLABEL.epochs, ge=1)
    self_label_lr: float = Field(FALLBACK_SELFLABEL.lr, gt=0)
    self_label_batch_size: int = Field(FALLBACK_SELFLABEL.batch_size, ge=1)
    self_label_optimizer: Literal["adam", "sgd"] = Field(FALLBACK_SELFLABEL.optimizer)
    self_label_weight_decay: float = Field(FALLBACK_SELFLABEL.weight_decay, ge=0)
    self_label_ema: float = Field(
        FALLBACK_SELFLABEL.ema, ge=0, lt=1, description="EMA of the head's weights (ImageNet 0.999); 0 = off"
    )

    @field_validator(*REGIME_KEYS, "num_heads", mode="before")
    @classmethod
    def _none_is_auto(cls, value: Any) -> Any:
        """Records written before ``auto`` spell the derived values None: read them as ``auto``."""
        return AUTO if value is None else value

    def regime(self, mode: Literal["none", "last-block"], dataset: str) -> TrainParams:
        """The optimisation settings actually used; ``auto`` fields from the dataset's official config.

        A head-only config (ImageNet: SGD lr 5.0) applies only when the backbone is frozen; when the
        last block trains, the end-to-end Adam regime is used (lr 5.0 on a ViT block is not a
        setting any paper used). End-to-end configs (CIFAR/STL) apply in both modes.
        """
        config = SCAN_CONFIGS.get(dataset, FALLBACK)
        if config.head_only and mode != "none":
            config = FALLBACK
        chosen = {key: getattr(config, key) if getattr(self, key) == AUTO else getattr(self, key) for key in REGIME_KEYS}
        common = self.model_dump(include=set(TrainParams.model_fields) - set(chosen) - {"finetune"})
        return TrainParams(finetune=mode, **common, **chosen)

    def heads_for(self, mode: Literal["none", "last-block"]) -> int:
        if self.num_heads != AUTO:
            return int(self.num_heads)
        return FROZEN_HEADS if mode == "none" else 1


def dataset_defaults(dataset: str) -> dict[str, Any]:
    """The one place SCAN's per-dataset values are decided (mode-free ones; see ``regime``)."""
    config, selflabel = SCAN_CONFIGS.get(dataset, FALLBACK), SELFLABEL_CONFIGS.get(dataset, FALLBACK_SELFLABEL)
    values = {
        "k": config.k,
        "epochs": config.epochs,
        "self_label_epochs": selflabel.epochs,
        "self_label_lr": selflabel.lr,
        "self_label_batch_size": selflabel.batch_size,
        "self_label_optimizer": selflabel.optimizer,
        "self_label_weight_decay": selflabel.weight_decay,
        "self_label_ema": selflabel.ema,
        "class_balance": selflabel.class_balance,
    }
    return {**values, **EXTRA_DEFAULTS.get(dataset, {})}


def entropy(p: torch.Tensor) -> torch.Tensor:
    """H(p) of distributions (..., K), probabilities clamped at 1e-8 as in losses.py:entropy."""
    q = p.clamp_min(EPS)
    return -(q * q.log()).sum(-1)


def consistency_bce(p_a: torch.Tensor, p_n: torch.Tensor) -> torch.Tensor:
    """``nn.BCELoss(<p_a, p_n>, 1)`` per pair, as losses.py:SCANLoss computes it.

    torch's binary cross-entropy clamps the log at -100 *and* its backward divides by
    ``max(x (1 - x), 1e-12)``, so a similarity that underflows to 0 has a finite gradient
    (taking ``log`` and clamping it would give 0 * inf = NaN there). Run in float32 outside
    autocast, which refuses binary_cross_entropy; similarities a rounding error above 1 are cut
    to 1 (the function rejects inputs outside [0, 1]).
    """
    sim = (p_a * p_n).sum(-1).clamp_max(1.0)
    with torch.autocast(sim.device.type, enabled=False):
        return F.binary_cross_entropy(sim.float(), torch.ones_like(sim, dtype=torch.float32), reduction="none")


def scan_loss(anchor: torch.Tensor, neighbor: torch.Tensor, entropy_weight: float) -> dict[str, torch.Tensor]:
    """SCANLoss on logits (..., B, K): BCE(<p_a, p_n>, 1) - entropy_weight * H(mean_b p_a).

    Leading dimensions are heads; every term keeps them (one value per head).
    """
    p_a, p_n = torch.softmax(anchor.float(), dim=-1), torch.softmax(neighbor.float(), dim=-1)
    consistency = consistency_bce(p_a, p_n).mean(-1)
    ent = entropy(p_a.mean(-2))
    return {"loss": consistency - entropy_weight * ent, "consistency": consistency, "entropy": ent}


@torch.no_grad()
def selection_losses(probs: torch.Tensor, neighbors: torch.Tensor, budget: int = 2**24) -> torch.Tensor:
    """scan_evaluate's per-head criterion: consistency over every (anchor, listed neighbour) pair
    minus the entropy of the split's mean prediction (weight 1, as the official code).

    ``probs`` (H, N, K); ``neighbors`` (N, k+1) rows of the same split. Returns (H,). Anchors are
    taken in chunks of at most ``budget`` gathered probabilities (ImageNet: N*(k+1)*K is large).
    """
    heads, n, k = probs.shape
    neighbors = neighbors.to(probs.device)
    chunk = max(1, budget // (heads * neighbors.shape[1] * k))
    log_sum = torch.zeros(heads, dtype=torch.float64, device=probs.device)
    for start in range(0, n, chunk):
        nb = neighbors[start : start + chunk]
        sims = (probs[:, start : start + chunk, None, :] * probs[:, nb]).sum(-1)  # (H, c, k+1)
        log_sum += sims.log().clamp_min(LOG_FLOOR).sum((1, 2)).double()
    consistency = -log_sum / neighbors.numel()
    return (consistency - entropy(probs.mean(1)).double()).float()


def self_label_loss(weak: torch.Tensor, strong: torch.Tensor, confidence: float, class_balance: bool) -> dict[str, torch.Tensor]:
    """ConfidenceBasedCE: targets = argmax softmax(weak) where its max > confidence; CE of the
    strong logits on those, class c weighted n / n_c over the confident targets when balancing."""
    prob, target = torch.softmax(weak.float(), dim=1).max(1)
    mask = prob > confidence
    n = int(mask.sum())
    if n == 0:  # the official loss raises here; an empty batch simply contributes nothing
        zero = strong.sum() * 0.0
        return {"loss": zero, "confident": zero.detach()}
    weight = None
    if class_balance:
        classes, counts = torch.unique(target[mask], return_counts=True)
        weight = torch.ones(strong.shape[1], device=strong.device)
        weight[classes] = n / counts.float()
    loss = F.cross_entropy(strong.float()[mask], target[mask], weight=weight)
    return {"loss": loss, "confident": mask.float().mean()}


class Heads(nn.Module):
    """H linear heads (models/models.py: one Linear(d -> K) each, PyTorch's default init), stored
    as one (H, K, D) weight so that all heads run as a single batched product: (B, D) -> (H, B, K)."""

    def __init__(self, in_dim: int, num_clusters: int, num_heads: int) -> None:
        super().__init__()
        linears = [nn.Linear(in_dim, num_clusters) for _ in range(num_heads)]
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in linears]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in linears]))

    def __len__(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bd,hkd->hbk", x, self.weight) + self.bias[:, None]

    def head(self, index: int) -> nn.Linear:
        """Head ``index`` as a standalone Linear (a copy), e.g. the selected one."""
        layer = nn.Linear(self.weight.shape[2], self.weight.shape[1]).to(self.weight.device)
        with torch.no_grad():
            layer.weight.copy_(self.weight[index])
            layer.bias.copy_(self.bias[index])
        return layer


class NeighborPairs:
    """(anchor, one of its k+1 listed neighbours incl. self) for every train row, each epoch."""

    def __init__(self, neighbors: torch.Tensor) -> None:
        self.neighbors = neighbors

    def __call__(self, epoch: int, generator: torch.Generator) -> torch.Tensor:
        n, width = self.neighbors.shape
        pick = torch.randint(width, (n,), generator=generator, device=generator.device).to(self.neighbors.device)
        partner = self.neighbors[torch.arange(n, device=self.neighbors.device), pick]
        return torch.stack([torch.arange(n, device=partner.device), partner], dim=1)


class SCAN(Method[SCANParams]):
    name = "scan"
    display_name = "SCAN"
    description = "SCAN-ViT: neighbour consistency + entropy, linear heads, lowest-loss head (UNIC Table 6)"
    paper = "Van Gansbeke et al., ECCV 2020; UNIC (arXiv 2503.14500) Table 6"
    tasks: ClassVar[frozenset[Task]] = frozenset({"clustering"})
    Params = SCANParams
    model_selection = "last epoch; the head of lowest SCAN loss on the train split (label-free)"

    @classmethod
    def defaults_for(cls, dataset: str, task: Task) -> dict[str, Any]:
        """The dataset's official config values (``SCAN_CONFIGS``/``SELFLABEL_CONFIGS``)."""
        return dataset_defaults(dataset)

    def fit_predict(self, data: TaskData, ctx: RunContext) -> Prediction:
        p = self.params
        mode = resolve_finetune(p.finetune, data)
        train = p.regime(mode, data.dataset)
        k = min(p.k, len(data.train) - 1)
        neighbors = knn(data.train.features, k + 1, "cosine", ctx.device)[1].to(ctx.device)

        encoder = Encoder(data, mode, ctx.device, p.workers)
        heads = seeded_head(lambda: Heads(data.train.features.shape[1], data.num_classes, p.heads_for(mode)), ctx.seed, data)

        def objective(rows: torch.Tensor, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
            b, m, d = embeddings.shape
            logits = heads(embeddings.reshape(b * m, d)).view(len(heads), b, m, -1)
            per_head = scan_loss(logits[:, :, 0], logits[:, :, 1], p.entropy_weight)
            # scan_train: backprop the sum over heads, log the mean of each term
            return {"loss": per_head["loss"].sum(), **{name: v.mean() for name, v in per_head.items() if name != "loss"}}

        Trainer(encoder, {"heads": heads}, train, ctx).fit(NeighborPairs(neighbors), objective)
        with torch.no_grad():
            probs = torch.softmax(heads(encoder.embed("train")).float(), dim=-1)
        criterion = selection_losses(probs, neighbors)
        best = int(criterion.argmin())
        head = heads.head(best)
        if p.self_label:
            self._self_label(head, encoder, p, mode, ctx)
        labels, confidence, train_assignments = encoder.assign(head)
        return Prediction(
            labels=labels,
            train_assignments=train_assignments,
            confidence=confidence,
            diagnostics={
                "finetune": mode,
                "k": k,
                "num_heads": len(heads),
                "best_head": best,
                "selection_losses": [round(float(v), 6) for v in criterion],
                "optimizer": train.optimizer,
                "lr": train.lr,
                "weight_decay": train.weight_decay,
                "batch_size": train.batch_size,
                "clusters_used": int(len(np.unique(labels))),
            },
        )

    @staticmethod
    def _self_label(
        head: nn.Module, encoder: Encoder, p: SCANParams, mode: Literal["none", "last-block"], ctx: RunContext
    ) -> None:
        """selflabel.py on the selected head: weak view = the feature-extraction transform (no
        gradient), strong view = the train transform (with a frozen backbone both are the cached
        feature, so the step only sharpens confident predictions)."""
        params = TrainParams.model_validate(
            {
                "finetune": mode,
                "epochs": p.self_label_epochs,
                "batch_size": p.self_label_batch_size,
                "lr": p.self_label_lr,
                "weight_decay": p.self_label_weight_decay,
                "optimizer": p.self_label_optimizer,
                "schedule": "constant",
                "workers": p.workers,
            }
        )
        weak: dict[str, torch.Tensor] = {}

        def rows_of_epoch(epoch: int, generator: torch.Generator) -> torch.Tensor:
            weak["embeddings"] = encoder.embed("train")  # refreshed once per epoch when the tail trains
            return torch.arange(len(weak["embeddings"]), device=encoder.device).unsqueeze(1)

        ema = WeightEMA([*head.parameters(), *encoder.trainable()], p.self_label_ema) if p.self_label_ema > 0 else None

        def objective(rows: torch.Tensor, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
            if ema is not None:
                ema.remember()
            with torch.no_grad():
                weak_logits = head(weak["embeddings"][rows[:, 0]])
            return self_label_loss(weak_logits, head(embeddings[:, 0]), p.confidence, p.class_balance)

        phase_dir = None if ctx.checkpoint_dir is None else Path(ctx.checkpoint_dir) / "selflabel"
        trainer = Trainer(encoder, {"head": head}, params, dataclasses.replace(ctx, checkpoint_dir=phase_dir), after_step=ema)
        trainer.fit(rows_of_epoch, objective)


class WeightEMA:
    """utils/ema.py as selflabel_train uses it: after every step the weights become
    ``alpha * before + (1 - alpha) * stepped`` (``update_params`` then ``apply_shadow``, so the
    shadow always equals the weights). ``remember`` runs in the objective, i.e. before the step,
    so a resumed run blends from the restored weights exactly as an uninterrupted one."""

    def __init__(self, params: list[nn.Parameter], alpha: float) -> None:
        self.params, self.alpha = params, alpha
        self.before: list[torch.Tensor] = []

    @torch.no_grad()
    def remember(self) -> None:
        self.before = [q.detach().clone() for q in self.params]

    @torch.no_grad()
    def __call__(self, step: int) -> None:
        for before, q in zip(self.before, self.params):
            q.mul_(1 - self.alpha).add_(before, alpha=self.alpha)


@hookimpl
def register_methods(register: Callable[[type], None]) -> None:
    register(SCAN)
