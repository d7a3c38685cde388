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
- Optimiser: two official regimes. The ImageNet configs train heads on a frozen backbone with
  SGD (lr 5.0, momentum 0.9, no weight decay, batch 512, constant lr, 100 epochs); the CIFAR/STL
  configs train the network with Adam (lr 1e-4, wd 1e-4, batch 128, constant lr). Unset
  (``None``) optimiser fields take the SGD regime for a frozen backbone on an ImageNet subset
  and the Adam regime otherwise (other datasets, and whenever the last block trains: lr 5.0
  on a ViT block is not a setting any paper used). UNIC does not state SCAN-dagger's optimiser.
- Head selection (utils/evaluate_utils.py:scan_evaluate): the head with the lowest
  ``consistency - entropy`` -- note the entropy weight is **1** there, not lambda = 5; the code
  is followed. The official script scores it on the *validation* split's own 5-NN after every
  epoch and keeps the best (epoch, head); here it is scored once, after the last epoch, on the
  train split with the mining neighbours (the harness never shows the method the eval images).
- Self-labelling (selflabel.py, losses.py:ConfidenceBasedCE; off by default, as in the UNIC
  tables): continue from the selected head; target = argmax of the weak view where its
  probability > 0.99; CE on the strong view over the confident samples, classes weighted n/n_c
  (CIFAR/STL configs: Adam 1e-4, wd 1e-4, batch 1000, constant lr).

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
from pydantic import Field
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

# The two official optimiser regimes (configs/scan/scan_imagenet_*.yml vs scan_cifar10/stl10.yml).
SGD_REGIME = {"optimizer": "sgd", "lr": 5.0, "weight_decay": 0.0, "batch_size": 512}
ADAM_REGIME = {"optimizer": "adam", "lr": 1e-4, "weight_decay": 1e-4, "batch_size": 128}
FROZEN_HEADS = 10  # ImageNet configs' num_heads; 1 when the network trains


class SCANParams(TrainParams):
    finetune: Finetune = Field("none", description="none = Table 6 'heads' (SCAN-dagger); last-block = 'Tune' (single head)")
    num_heads: int | None = Field(None, ge=1, description="None = 10 with a frozen backbone, 1 when finetuning")
    optimizer: Literal["adam", "adamw", "sgd"] | None = Field(None, description="None = sgd (frozen, ImageNet) / adam (else)")  # type: ignore[assignment]  # see regime()
    lr: float | None = Field(None, gt=0, description="None = 5.0 (frozen, ImageNet; SGD) / 1e-4 (else; Adam)")  # type: ignore[assignment]  # see regime()
    weight_decay: float | None = Field(None, ge=0, description="None = 0 (frozen, ImageNet) / 1e-4 (else)")  # type: ignore[assignment]  # see regime()
    batch_size: int | None = Field(None, ge=1, description="None = 512 (frozen, ImageNet) / 128 (else)")  # type: ignore[assignment]  # see regime()
    schedule: Literal["cosine", "constant"] = "constant"
    k: int = Field(20, ge=1, description="neighbours besides self (20 CIFAR/STL; 50 ImageNet via defaults_for)")
    entropy_weight: float = Field(5.0, ge=0, description="lambda of the entropy term (5.0 in every official config)")
    self_label: bool = Field(False, description="run SCAN's self-labelling step after training")
    confidence: float = Field(0.99, gt=0, lt=1, description="self-labelling: confidence threshold")
    class_balance: bool = Field(True, description="self-labelling: weight classes by n / n_c")
    self_label_epochs: int = Field(200, ge=1)
    self_label_lr: float = Field(1e-4, gt=0)
    self_label_batch_size: int = Field(1000, ge=1)

    def regime(self, mode: Literal["none", "last-block"], dataset: str) -> TrainParams:
        """The optimisation settings actually used: unset fields from the matching official regime.

        The four regime fields widen TrainParams' types with ``None`` (the ``type: ignore`` above):
        a SCANParams is never handed to the Trainer itself, only the TrainParams built here.
        """
        base = SGD_REGIME if mode == "none" and dataset.startswith("imagenet") else ADAM_REGIME
        values = {key: default if getattr(self, key) is None else getattr(self, key) for key, default in base.items()}
        common = self.model_dump(include=set(TrainParams.model_fields) - set(values) - {"finetune"})
        return TrainParams(finetune=mode, **common, **values)

    def heads_for(self, mode: Literal["none", "last-block"]) -> int:
        return self.num_heads or (FROZEN_HEADS if mode == "none" else 1)


def entropy(p: torch.Tensor) -> torch.Tensor:
    """H(p) of distributions (..., K), probabilities clamped at 1e-8 as in losses.py:entropy."""
    q = p.clamp_min(EPS)
    return -(q * q.log()).sum(-1)


def scan_loss(anchor: torch.Tensor, neighbor: torch.Tensor, entropy_weight: float) -> dict[str, torch.Tensor]:
    """SCANLoss on logits (..., B, K): BCE(<p_a, p_n>, 1) - entropy_weight * H(mean_b p_a).

    Leading dimensions are heads; every term keeps them (one value per head).
    """
    p_a, p_n = torch.softmax(anchor.float(), dim=-1), torch.softmax(neighbor.float(), dim=-1)
    consistency = -(p_a * p_n).sum(-1).log().clamp_min(LOG_FLOOR).mean(-1)
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

    @classmethod
    def defaults_for(cls, dataset: str, task: Task) -> dict[str, Any]:
        """configs/scan/scan_imagenet_{50,100,200}.yml: 50 neighbours (20 for CIFAR/STL).

        Digits (not a paper dataset) takes lr 1e-3 by the rule UNIC's digits default follows: a
        head on 64-d pixels gets 15 steps an epoch, too few for the Adam regime's 1e-4.
        """
        if dataset.startswith("imagenet"):
            return {"k": 50}
        return {"lr": 1e-3} if dataset == "digits" else {}

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
        params = TrainParams(
            finetune=mode,
            epochs=p.self_label_epochs,
            batch_size=p.self_label_batch_size,
            lr=p.self_label_lr,
            weight_decay=1e-4,
            optimizer="adam",
            schedule="constant",
            workers=p.workers,
        )
        weak: dict[str, torch.Tensor] = {}

        def rows_of_epoch(epoch: int, generator: torch.Generator) -> torch.Tensor:
            weak["embeddings"] = encoder.embed("train")  # refreshed once per epoch when the tail trains
            return torch.arange(len(weak["embeddings"]), device=encoder.device).unsqueeze(1)

        def objective(rows: torch.Tensor, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                weak_logits = head(weak["embeddings"][rows[:, 0]])
            return self_label_loss(weak_logits, head(embeddings[:, 0]), p.confidence, p.class_balance)

        phase_dir = None if ctx.checkpoint_dir is None else Path(ctx.checkpoint_dir) / "selflabel"
        Trainer(encoder, {"head": head}, params, dataclasses.replace(ctx, checkpoint_dir=phase_dir)).fit(rows_of_epoch, objective)


@hookimpl
def register_methods(register: Callable[[type], None]) -> None:
    register(SCAN)
